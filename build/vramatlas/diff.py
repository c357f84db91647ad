"""`vramatlas diff OLD NEW`: what a change does to the built matrix.

Compares two builds' ``matrix.parquet`` (each given as the tables folder, or a
folder holding ``tables/``, e.g. ``dist``) row by row on the matrix's key
(gpu, gpu_count, model, method, seq_len, batch) and lists:

* ``no-longer-fits`` / ``now-fits``: the verdict changed;
* ``peak-changed``: same verdict, peak per GPU moved by more than 1% (``--threshold``);
* ``added`` / ``removed``: pairings that exist in only one build (a new GPU, model or method).

``diff_builds(old_dir, new_dir)`` returns that list as a DataFrame; the
command prints it as text, Markdown (for a pull-request comment), CSV or JSON.
The pull-request workflow (.github/workflows/matrix-diff.yml) builds the base
and the head and uploads the Markdown as an artifact.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .lazy import lazy

np, pd = lazy("numpy"), lazy("pandas")  # imported on first use: `--help` stays fast

KEYS = ["gpu", "gpu_count", "model", "method", "seq_len", "batch"]
VALUES = ["fits", "peak_bytes", "capacity_bytes"]
CHANGES = ["no-longer-fits", "now-fits", "peak-changed", "added", "removed"]
DEFAULT_THRESHOLD = 0.01
DIFF_COLUMNS = [
    "change",
    *KEYS,
    "old_fits",
    "new_fits",
    "old_peak_bytes",
    "new_peak_bytes",
    "peak_change",
    "old_capacity_bytes",
    "new_capacity_bytes",
]


def matrix_path(folder: Path | str) -> Path:
    """``folder/matrix.parquet`` or ``folder/tables/matrix.parquet``."""
    folder = Path(folder)
    for candidate in (folder / "matrix.parquet", folder / "tables" / "matrix.parquet", folder):
        if candidate.is_file() and candidate.suffix == ".parquet":
            return candidate
    raise FileNotFoundError(f"no matrix.parquet in {folder} (nor in {folder / 'tables'}); build the tables first")


class TableError(ValueError):
    """A matrix file that exists but cannot be read as the matrix (corrupt, truncated, other columns)."""


def _read(folder: Path | str) -> pd.DataFrame:
    path = matrix_path(folder)
    try:
        df = pd.read_parquet(path, columns=KEYS + VALUES)
    except (OSError, ValueError, KeyError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise TableError(f"{path}: not a readable matrix table ({first})") from None
    for col in ("gpu", "model", "method"):
        df[col] = df[col].astype(str)
    for col in ("gpu_count", "seq_len", "batch"):
        df[col] = df[col].astype(np.int64)
    return df


def diff_frames(old: pd.DataFrame, new: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The changed rows between two matrices (see the module docstring)."""
    merged = old[KEYS + VALUES].merge(
        new[KEYS + VALUES], on=KEYS, how="outer", suffixes=("_old", "_new"), indicator=True
    )
    both = merged["_merge"] == "both"
    old_fits = merged["fits_old"].astype("boolean")
    new_fits = merged["fits_new"].astype("boolean")
    old_peak = merged["peak_bytes_old"].astype("Float64")
    new_peak = merged["peak_bytes_new"].astype("Float64")
    rel = (new_peak / old_peak - 1).astype("Float64")
    change = np.select(
        [
            (merged["_merge"] == "left_only").to_numpy(),
            (merged["_merge"] == "right_only").to_numpy(),
            (both & (old_fits & ~new_fits).fillna(False)).to_numpy(dtype=bool),
            (both & (~old_fits & new_fits).fillna(False)).to_numpy(dtype=bool),
            (both & (rel.abs() > threshold).fillna(False)).to_numpy(dtype=bool),
        ],
        ["removed", "added", "no-longer-fits", "now-fits", "peak-changed"],
        default="",
    )
    out = pd.DataFrame(
        {
            "change": change,
            **{k: merged[k] for k in KEYS},
            "old_fits": old_fits,
            "new_fits": new_fits,
            "old_peak_bytes": old_peak.round().astype("Int64"),
            "new_peak_bytes": new_peak.round().astype("Int64"),
            "peak_change": rel.round(6),
            "old_capacity_bytes": merged["capacity_bytes_old"].astype("Float64").round().astype("Int64"),
            "new_capacity_bytes": merged["capacity_bytes_new"].astype("Float64").round().astype("Int64"),
        }
    )
    out = out[out["change"] != ""].copy()
    out["change"] = pd.Categorical(out["change"], categories=CHANGES)
    return out.sort_values(["change", *KEYS], kind="stable").reset_index(drop=True)[DIFF_COLUMNS]


def diff_builds(old_dir: Path | str, new_dir: Path | str, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The verdicts that changed, peaks that moved by more than ``threshold``, and rows added or removed."""
    return diff_frames(_read(old_dir), _read(new_dir), threshold)


# ------------------------------------------------------------------ output


def _gib(x) -> str:
    return "" if pd.isna(x) else f"{x / 2**30:.2f}"


def _row_text(r) -> str:
    where = f"{r.gpu} x{r.gpu_count}  {r.model}  {r.method}  {r.seq_len} tok  batch {r.batch}"
    if r.change in ("added", "removed"):
        peak = r.new_peak_bytes if r.change == "added" else r.old_peak_bytes
        fits = r.new_fits if r.change == "added" else r.old_fits
        return f"{where}: {_gib(peak)} GiB, {'fits' if fits else 'does not fit'}"
    # say what moved: the peak, the GPU's usable memory, or both
    parts = []
    if not pd.isna(r.peak_change) and r.old_peak_bytes != r.new_peak_bytes:
        parts.append(f"peak {_gib(r.old_peak_bytes)} -> {_gib(r.new_peak_bytes)} GiB ({r.peak_change * 100:+.1f}%)")
    else:
        parts.append(f"peak {_gib(r.new_peak_bytes)} GiB (unchanged)")
    old_cap, new_cap = getattr(r, "old_capacity_bytes", None), getattr(r, "new_capacity_bytes", None)
    if (
        old_cap is not None
        and new_cap is not None
        and not pd.isna(old_cap)
        and not pd.isna(new_cap)
        and old_cap != new_cap
    ):
        parts.append(f"usable memory {_gib(old_cap)} -> {_gib(new_cap)} GiB")
    return f"{where}: " + "; ".join(parts)


def summary_counts(diff: pd.DataFrame) -> dict[str, int]:
    counts = diff["change"].value_counts()
    return {c: int(counts.get(c, 0)) for c in CHANGES}


def render(diff: pd.DataFrame, fmt: str = "text", limit: int = 50) -> str:
    """Text or Markdown: counts per kind of change, then up to ``limit`` rows of each."""
    if fmt == "csv":
        return diff.to_csv(index=False, lineterminator="\n")
    if fmt == "json":
        return diff.astype(object).where(diff.notna(), None).to_json(orient="records", indent=1) + "\n"
    counts = summary_counts(diff)
    md = fmt == "markdown"
    lines = ["## Matrix diff" if md else "matrix diff", ""]
    if not len(diff):
        lines.append("No verdict changed, no peak moved by more than the threshold, no row added or removed.")
        return "\n".join(lines) + "\n"
    lines += [("| change | rows |\n|---|---:|" if md else "")] if md else []
    for c in CHANGES:
        lines.append(f"| {c} | {counts[c]} |" if md else f"{c:>15}: {counts[c]}")
    for c in CHANGES:
        part = diff[diff["change"] == c]
        if part.empty:
            continue
        lines += ["", f"### {c} ({len(part)})" if md else f"{c} ({len(part)}):"]
        if c in ("added", "removed"):
            # many rows per new GPU / model / method: group them
            key = "new_fits" if c == "added" else "old_fits"
            grouped = (
                part.assign(fit=part[key].fillna(False).astype(bool))
                .groupby(["gpu", "model", "method"], sort=True)
                .agg(rows=("fit", "size"), fitting=("fit", "sum"))
                .reset_index()
            )
            for r in grouped.head(limit).itertuples(index=False):
                lines.append(f"{'- ' if md else '  '}{r.gpu} / {r.model} / {r.method}: {r.rows} rows, {r.fitting} fit")
            if len(grouped) > limit:
                lines.append(f"{'- ' if md else '  '}... and {len(grouped) - limit} more groups")
            continue
        for r in part.head(limit).itertuples(index=False):
            lines.append(f"{'- ' if md else '  '}{_row_text(r)}")
        if len(part) > limit:
            lines.append(f"{'- ' if md else '  '}... and {len(part) - limit} more (use --format csv for all)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD_DIR", help="the base build's tables folder (or the folder holding tables/)")
    parser.add_argument("new", metavar="NEW_DIR", help="the new build's tables folder (or the folder holding tables/)")
    parser.add_argument("--format", choices=["text", "markdown", "csv", "json"], default="text", help="output format")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="relative peak change to report when the verdict stays (default 0.01 = 1%%)",
    )
    parser.add_argument("--limit", type=int, default=50, help="rows shown per kind of change (text/markdown)")
    parser.add_argument("--out", metavar="FILE", help="write the output to FILE instead of stdout")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when any verdict changed")


def run(args: argparse.Namespace) -> int:
    from .cli import CLIError

    if args.threshold < 0:
        raise CLIError(f"--threshold must be >= 0, got {args.threshold}")
    try:
        diff = diff_builds(args.old, args.new, args.threshold)
    except (FileNotFoundError, TableError) as exc:
        raise CLIError(f"vramatlas diff: {exc}") from None
    text = render(diff, args.format, args.limit)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    changed = bool(diff["change"].isin(["no-longer-fits", "now-fits"]).any())
    return 1 if (args.exit_code and changed) else 0
