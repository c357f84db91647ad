"""The site's generated Markdown pages.

Every page is a pure function of :class:`SiteData` (the catalogue, the matrix,
its derived tables, the rules of thumb, the accuracy frame, the written table
files). :func:`write_pages` writes them under a docs folder and returns the
MkDocs ``nav``.

Catalogue strings never reach a page raw: :func:`esc` makes them text in
Markdown (and the HTML it becomes), :func:`attr` in HTML attributes,
:func:`script_json` inside ``<script type="application/json">``, and
:func:`link_url` lets only http(s) URLs become links.

Units: bytes in the data, GiB (2^30 bytes) in prose, tables and charts; every
column header and axis title says which.
"""

from __future__ import annotations

import inspect
import json
import math
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote, quote_plus, urlencode

import numpy as np
import pandas as pd

from ..escape import html_text, json_for_html, link_url as escape_link_url, vega_safe
from .. import memory
from ..memory import COMPONENTS
from . import charts
from .render import MD, render

GiB = 2**30

# Methods shown as columns where a page compares methods side by side.
KEY_METHODS = (
    "inference-bf16",
    "inference-fp8",
    "inference-int8",
    "inference-gguf-q4-k-m",
    "inference-nf4",
    "lora",
    "qlora",
    "full-mixed",
)
SHORT = {
    "inference-fp32": "fp32",
    "inference-bf16": "bf16",
    "inference-fp16": "fp16",
    "inference-fp8": "fp8",
    "inference-int8": "int8",
    "inference-nf4": "NF4",
    "inference-gptq-int4": "GPTQ int4",
    "inference-awq-int4": "AWQ int4",
    "inference-gguf-q4-k-m": "Q4_K_M",
    "inference-gguf-q8-0": "Q8_0",
    "inference-ternary": "ternary",
    "full-mixed": "full, mixed",
    "full-bf16": "full, bf16",
    "full-adamw8bit": "full, 8-bit Adam",
    "lora": "LoRA",
    "qlora": "QLoRA",
    "train-ternary": "ternary QAT",
}
# Cards people most often ask about: rules on model charts, "where it runs out" tables.
COMMON_CARDS = (
    "rtx-3060-12gb",
    "rtx-4060-ti-16gb",
    "rtx-3090",
    "rtx-4090",
    "rtx-5090",
    "rtx-a6000",
    "l40s",
    "a100-80gb",
    "h100-sxm",
    "h200",
    "mi300x",
    "m4-max",
)
REF_CONTEXT = 8192
SPEED_COLUMN = "decode_tokens_per_s"  # the speed model's column in the matrix, once it has one
VENDORS = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel", "apple": "Apple"}
DASH = "\u2014"
SEGMENTS = ("consumer", "workstation", "datacenter", "unified-memory")
SEGMENT_TITLES = {
    "consumer": "Consumer",
    "workstation": "Workstation",
    "datacenter": "Data centre",
    "unified-memory": "Unified memory (Apple)",
}


# ------------------------------------------------------------- escaping

_MD_ESCAPE = {c: "\\" + c for c in "\\`*_{}[]()#+!|"}
_MD_ESCAPE.update({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": " ", "\r": " "})


def esc(value: Any) -> str:
    """A catalogue string as Markdown that renders as exactly that text (no links, tags or emphasis)."""
    return "".join(_MD_ESCAPE.get(c, c) for c in str(value))


def attr(value: Any) -> str:
    """A string for an HTML attribute value (double-quoted)."""
    return html_text(value)


# JSON inside <script> and Vega specs, and link targets: one implementation, in vramatlas.escape
script_json = json_for_html
link_url = escape_link_url


def code(value: Any) -> str:
    """An id or a column name as a Markdown code span, shown as it is: backslash escapes do not apply in
    a span (esc() there showed "gpu\\_count"), and Python-Markdown escapes <, > and & itself."""
    text = str(value).replace("\n", " ")  # (a "|" in a code span does not split a table's cells)
    if "`" in text:  # ids and column names never hold one (the schemas' patterns)
        raise ValueError(f"a backtick in {text!r}, shown as code")
    return f"`{text}`"


def md_link(text: Any, url: Any) -> str:
    target = link_url(url)
    return f"[{esc(text)}]({target})" if target else esc(text)


def slug(ident: Any) -> str:
    """A safe file name for an id (ids are lowercase-kebab already; this is a guard)."""
    s = re.sub(r"[^a-z0-9._-]+", "-", str(ident).lower()).strip("-.")
    return s or "x"


def rel(from_page: str, to_page: str) -> str:
    """Relative link between two docs-relative Markdown paths."""
    return _relpath(to_page, posixpath.dirname(from_page) or ".")


# cached by folder: a build links each page from a handful of folders, tens of thousands of times
_relpath = lru_cache(maxsize=None)(posixpath.relpath)


# ------------------------------------------------------------- numbers


def gib(nbytes: Any, digits: int = 1) -> str:
    """Bytes as a GiB number (no unit: the column header says GiB)."""
    if nbytes is None or (isinstance(nbytes, float) and math.isnan(nbytes)):
        return "\u2014"
    return f"{float(nbytes) / GiB:,.{digits}f}"


def gib_text(nbytes: Any, digits: int = 1) -> str:
    return f"{gib(nbytes, digits)} GiB"


def k(n: Any) -> str:
    """A token count as people say it: 8192 -> 8k, 131072 -> 128k, 40000 -> 40,000."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "\u2014"
    n = int(n)
    return f"{n / 1024:g}k" if n >= 1024 and n % 512 == 0 else f"{n:,}"


def params_text(n: Any) -> str:
    """A parameter count as people say it: 374 M, 1.0 B (Gemma 3 1B's 999.9 M too, not "1,000 M"), 671 B."""
    n = float(n or 0)
    if n >= 999.5e6:  # what rounds to 1,000 M is said in billions
        return f"{n / 1e9:,.1f} B" if n < 1e11 else f"{n / 1e9:,.0f} B"
    return f"{n / 1e6:,.0f} M"


def pct(x: float, signed: bool = False) -> str:
    return f"{x:+.1%}" if signed else f"{x:.1%}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table; cells are Markdown already (escape catalogue text before)."""
    rows = [list(r) for r in rows]
    align = align or ("l" + "r" * (len(headers) - 1))
    sep = {"l": ":--", "r": "--:", "c": ":-:"}
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep[a] for a in align) + " |"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("\n", " ") for c in r) + " |")
    return "\n".join(out) + "\n"


def chart_block(chart_id: str, spec: dict, label: str, numbers: str = "") -> str:
    """A chart's place on a page: charts.js renders the embedded Vega-Lite spec.

    ``numbers``: the chart's text alternative with its numbers, read out with the figure's label
    (aria-describedby), for readers who cannot see the chart; the table beside it has them all.
    """
    desc = f'<p class="va-sr" id="{attr(chart_id)}-desc">{attr(numbers)}</p>' if numbers else ""
    described = f' aria-describedby="{attr(chart_id)}-desc"' if numbers else ""
    return (
        f'\n<div class="vega-chart" id="{attr(chart_id)}" role="figure" aria-label="{attr(label)}"{described}>'
        f'{desc}<div class="vega-target"></div>'
        f'<script type="application/json">{script_json(spec)}</script></div>\n\n'
    )


def sort_key(text: Any, key: Any) -> str:
    """A table cell whose column sorts by ``key`` (a number), not by its text: "374 M" before "6.7 B"."""
    return f'<span data-sort="{attr(key)}">{text}</span>'


CALCULATOR = "calculator.md"


# the calculator links repeat a few hundred ids and numbers across tens of thousands of cells
_quote_cached = lru_cache(maxsize=None)(quote_plus)


def calc_link(text: Any, from_page: str, **options: Any) -> str:
    """``text`` as a Markdown link into the calculator with these estimate options (CLI names, ``_`` as ``-``)."""
    query = urlencode(
        {name.replace("_", "-"): value for name, value in options.items() if value is not None},
        quote_via=_quote_cached,
    )
    return f"[{text}]({rel(from_page, CALCULATOR)}?{query})"


def page_url(md_path: str) -> str:
    """The site-root-relative URL MkDocs gives a docs-relative Markdown path (directory URLs)."""
    stem = md_path[:-3] if md_path.endswith(".md") else md_path
    if stem == "index" or stem.endswith("/index"):
        stem = stem[: -len("index")]
    return stem if not stem or stem.endswith("/") else stem + "/"


def noscript_note() -> str:
    return (
        "<noscript><p><em>The chart needs JavaScript; the table beside it holds the same numbers."
        "</em></p></noscript>\n\n"
    )


# ------------------------------------------------------------- the data


def _id_keys(t: pd.DataFrame) -> list[tuple[str, str, str]]:
    """A table's (gpu, model, method) per row, as plain strings."""
    return list(zip(*(t[c].astype(str).tolist() for c in ("gpu", "model", "method"))))


def _plain_ids(rows: pd.DataFrame) -> pd.DataFrame:
    """Matrix rows with the ids as plain strings, indexed from 0 (filter first: converting is the slow part)."""
    cols = {c: rows[c].astype(str) for c in ("gpu", "model", "method", "model_family") if c in rows}
    return rows.assign(**cols).reset_index(drop=True)


@dataclass
class SiteData:
    """Everything the pages are made from."""

    catalog: Any
    matrix: pd.DataFrame
    derived: dict[str, pd.DataFrame] = field(default_factory=dict)
    thumbs: pd.DataFrame | None = None
    accuracy: pd.DataFrame | None = None
    accuracy_summary: pd.DataFrame | None = None
    table_files: list[Path] = field(default_factory=list)
    tables_dir: Path | None = None
    downloads: list[dict] = field(default_factory=list)  # {name, path (docs-relative), bytes, format, description}
    contributing: str | None = None  # CONTRIBUTING.md text

    def __post_init__(self) -> None:
        # the pages show each method in its own runtime, one row per (gpu, model, method, ...); a runtime
        # file's `matrix` pairings (the same method in another runtime) are in the downloadable tables
        from ..matrix import pairing_rows

        self.matrix_rows = len(self.matrix)  # the downloadable matrix's rows, pairings included
        self.matrix = self.matrix[~pairing_rows(self.matrix, self.catalog)]
        self.derived = {name: t[~pairing_rows(t, self.catalog)] for name, t in self.derived.items()}

    # ---- catalogue views

    @cached_property
    def gpu_ids(self) -> list[str]:
        """GPUs by segment, then usable memory, then name."""

        def key(gid):
            g = self.catalog.gpus[gid]
            seg = g.get("segment")
            return (SEGMENTS.index(seg) if seg in SEGMENTS else 9, self.capacity(gid), str(g.get("name")))

        return sorted(self.catalog.gpus, key=key)

    def capacity(self, gid: str) -> int:
        g = self.catalog.gpus[gid]
        mem = g.get("memory") or {}
        share = mem.get("gpu_share") or 1.0
        return int(math.floor(int(mem.get("usable_bytes") or 0) * share))

    def gpu_name(self, gid: str) -> str:
        return str(self.catalog.gpus[gid].get("name") or gid)

    def gpu_short(self, gid: str) -> str:
        """The name without the vendor's brand prefix, for table rows and chart labels."""
        name = self.gpu_name(gid)
        for prefix in ("NVIDIA GeForce ", "NVIDIA "):
            if name.startswith(prefix) and len(name) > len(prefix) + 2:
                return name[len(prefix) :]
        return name

    @cached_property
    def variant_ids(self) -> list[str]:
        """Variants by parameter count."""
        return sorted(self.catalog.variants, key=lambda v: (int(self.catalog.variants[v].get("parameters") or 0), v))

    @cached_property
    def _max_positions(self) -> dict[str, int]:
        from ..arch import architecture

        out = {}
        for v, var in self.catalog.variants.items():
            try:
                out[v] = int(architecture(var.get("config") or {}, var.get("parameters")).get("max_positions") or 0)
            except Exception:  # noqa: BLE001 - a config the arch reader refuses has no maximum to show
                out[v] = 0
        return out

    def max_context(self, vid: str) -> int:
        """The model's maximum context as the estimate reads it (nested text_config too); 0: none."""
        return self._max_positions.get(vid, 0)

    def calc(
        self, text: Any, from_page: str, model: str, method: str, seq_len: int | None = None, **options: Any
    ) -> str:
        """A link into the calculator for the matrix's case: where the prompt plus the generated tokens
        run past the model's maximum (the matrix goes up to the maximum itself), it says so with
        --allow-beyond-max, as the CLI asks."""
        from ..api import DEFAULT_NEW_TOKENS

        longest = self.max_context(model)
        new = 0 if self.catalog.methods[method].get("kind") == "training" else DEFAULT_NEW_TOKENS
        beyond = 1 if seq_len and longest and int(seq_len) + new > longest else None
        return calc_link(
            text, from_page, model=model, method=method, seq_len=seq_len, allow_beyond_max=beyond, **options
        )

    def released(self, vid: str) -> bool:
        """A published checkpoint exists (an ``hf_repo``), not only a paper's size point."""
        return bool(self.catalog.variants[vid].get("hf_repo"))

    def variant_name(self, vid: str) -> str:
        return str(self.catalog.variants[vid].get("name") or vid)

    @cached_property
    def family_ids(self) -> list[str]:
        return sorted(self.catalog.models, key=lambda f: str(self.catalog.models[f].get("name") or f).lower())

    def family_variants(self, fid: str) -> list[str]:
        return [v for v in self.variant_ids if self.catalog.variants[v].get("family") == fid]

    @cached_property
    def method_ids(self) -> list[str]:
        """Inference methods first (by weight bits, high to low), then training."""

        def key(mid):
            m = self.catalog.methods[mid]
            bits = float(((m.get("weights") or {}).get("linear") or {}).get("bits") or 0)
            return (m.get("kind") != "inference", -bits, mid)

        return sorted(self.catalog.methods, key=key)

    def method_label(self, mid: str) -> str:
        return SHORT.get(mid, mid)

    def method_name(self, mid: str) -> str:
        return str(self.catalog.methods[mid].get("name") or mid)

    @cached_property
    def runtimes_note(self) -> str:
        """Which runtime each method's numbers are for (the matrix's runtime column), as one sentence."""
        if "runtime" not in self.matrix or not len(self.matrix):
            return ""
        by_runtime: dict[str, list[str]] = {}
        for mid, rid in self.matrix.groupby("method", observed=True)["runtime"].first().items():
            by_runtime.setdefault(str(rid), []).append(str(mid))
        ordered = sorted(by_runtime.items(), key=lambda kv: (len(kv[1]), kv[0]))
        parts = [f"{rid} for {', '.join(self.method_label(m) for m in sorted(mids))}" for rid, mids in ordered[:-1]]
        parts.append(f"{ordered[-1][0]} for {'the other methods' if parts else 'every method'}")
        return (
            "Runtime of each number: " + "; ".join(parts) + " (other runtimes and formats: the downloadable "
            "tables and the calculator's --runtime)."
        )

    @cached_property
    def key_methods(self) -> list[str]:
        return [m for m in KEY_METHODS if m in self.catalog.methods]

    def common_cards(self) -> list[str]:
        cards = [g for g in COMMON_CARDS if g in self.catalog.gpus]
        return cards or self.gpu_ids[:: max(1, len(self.gpu_ids) // 8)]

    def card_tiers(self) -> list[str]:
        """Common cards with clearly different capacities (each at least 25% above the last)."""
        out: list[str] = []
        for g in sorted(self.common_cards(), key=self.capacity):
            if not out or self.capacity(g) >= 1.25 * self.capacity(out[-1]):
                out.append(g)
        return out

    # ---- paths

    def gpu_page(self, gid: str) -> str:
        return f"gpus/{slug(gid)}.md"

    def family_page(self, fid: str) -> str:
        return f"models/{slug(fid)}/index.md"

    def variant_page(self, vid: str) -> str:
        return f"models/{slug(self.catalog.variants[vid].get('family'))}/{slug(vid)}.md"

    def method_page(self, mid: str) -> str:
        return f"methods/{slug(mid)}.md"

    # ---- matrix views

    @cached_property
    def _one_card(self) -> np.ndarray:
        """Which matrix rows are for one card (a mask: the views below take only the rows they need)."""
        return (self.matrix["gpu_count"] == 1).to_numpy()

    @cached_property
    def m1(self) -> pd.DataFrame:
        """One card, every context and batch; ids as plain strings."""
        return _plain_ids(self.matrix[self._one_card])

    @cached_property
    def curves(self) -> pd.DataFrame:
        """GPU-independent peaks: model x method x context x batch, without the CUDA context."""
        one = np.flatnonzero(self._one_card)
        # each (model, method, context, batch) once: its first row
        first = one[~self.matrix[["model", "method", "seq_len", "batch"]].iloc[one].duplicated().to_numpy()]
        m1 = _plain_ids(self.matrix.iloc[first])
        need = m1["peak_bytes"].to_numpy(np.int64) - (
            m1["cuda_context"].to_numpy(np.int64) if "cuda_context" in m1 else 0
        )
        frame = pd.DataFrame(
            {
                "model": m1["model"],
                "method": m1["method"],
                "seq_len": m1["seq_len"].astype(int),
                "batch": m1["batch"].astype(int),
                "need": need,
            }
        )
        for c in COMPONENTS:
            if c in m1:
                frame[c] = m1[c].to_numpy(np.int64)
        if "phase" in m1:
            frame["phase"] = m1["phase"].astype(str)
        return frame

    # The pages look up one model, one (model, method) or one (gpu, model) tens of thousands of times:
    # the lookups below split the frames once, so a page reads dicts instead of filtering a frame.

    @cached_property
    def _batch1(self) -> dict[str, list[dict[str, Any]]]:
        c = self.curves
        out: dict[str, list[dict[str, Any]]] = {}
        for row in c[c["batch"] == 1].to_dict("records"):
            out.setdefault(row["model"], []).append(row)
        return out

    def batch1(self, vid: str) -> list[dict[str, Any]]:
        """The model's curve rows at batch 1 (a dict each, the curves' columns), in the curves' order."""
        return self._batch1.get(vid, [])

    @cached_property
    def _needs(self) -> dict[tuple[str, str], dict[int, int]]:
        out: dict[tuple[str, str], dict[int, int]] = {}
        for vid, rows in self._batch1.items():
            for r in rows:
                out.setdefault((vid, r["method"]), {})[r["seq_len"]] = r["need"]
        return out

    def needs(self, vid: str, mid: str) -> dict[int, int]:
        """Context -> peak bytes without the CUDA context, one card, batch 1 (empty: not in the matrix)."""
        return self._needs.get((vid, mid), {})

    def ref_context(self, vid: str) -> int:
        """8k, or the model's longest context in the matrix when that is shorter."""
        lens = self.contexts_of(vid)
        if not lens:
            return REF_CONTEXT
        return REF_CONTEXT if REF_CONTEXT in lens else max([x for x in lens if x <= REF_CONTEXT] or [min(lens)])

    @cached_property
    def _contexts(self) -> dict[str, list[int]]:
        c = self.curves
        return {m: sorted(set(g["seq_len"])) for m, g in c.groupby("model", sort=False)}

    def contexts_of(self, vid: str) -> list[int]:
        return self._contexts.get(vid, [])

    @cached_property
    def ref_rows(self) -> pd.DataFrame:
        """One card, batch 1, each model at its reference context."""
        m = self.matrix
        refs = {v: self.ref_context(v) for v in self.catalog.variants}
        rows = _plain_ids(m[self._one_card & (m["batch"] == 1) & m["seq_len"].isin(set(refs.values()))])
        return rows[rows["seq_len"] == rows["model"].map(refs)].reset_index(drop=True)

    @cached_property
    def longest(self) -> pd.DataFrame:
        """(gpu, model, method) -> the longest context that fits on one card at batch 1 (0: none)."""
        m1 = self.m1
        b1 = m1[(m1["batch"] == 1)]
        fit = b1[b1["fits"].astype(bool)]
        got = fit.groupby(["gpu", "model", "method"], sort=False)["seq_len"].max()
        all_keys = b1[["gpu", "model", "method"]].drop_duplicates()
        out = all_keys.merge(got.rename("longest").reset_index(), how="left", on=["gpu", "model", "method"])
        out["longest"] = out["longest"].fillna(0).astype(int)
        return out

    @cached_property
    def longest_index(self) -> dict[tuple[str, str, str], int]:
        """Longest context per (gpu, model, method): the tables' fine grid when built, else the matrix's."""
        t = self.derived.get("longest_context")
        if t is not None and {"gpu", "model", "method", "longest_context"} <= set(t.columns):
            vals = pd.to_numeric(t["longest_context"], errors="coerce").fillna(0).astype(int)
            return dict(zip(_id_keys(t), vals.tolist()))
        return {
            (g, m, x): int(n)
            for g, m, x, n in self.longest[["gpu", "model", "method", "longest"]].itertuples(index=False)
        }

    @cached_property
    def fewest(self) -> dict[tuple[str, str, str], int]:
        """(gpu, model, method) -> the fewest cards of that kind that fit (reference context, batch 1)."""
        t = self.derived.get("fewest_gpus")
        if t is not None and {"gpu", "model", "method", "min_gpus"} <= set(t.columns):
            t = t[t["min_gpus"].notna()]
            return dict(zip(_id_keys(t), t["min_gpus"].astype(int).tolist()))
        m = self.matrix
        sub = m[(m["batch"] == 1) & m["fits"].astype(bool)]
        ref = sub["model"].astype(str).map({v: self.ref_context(v) for v in self.catalog.variants})
        sub = sub[sub["seq_len"] == ref]
        got = sub.groupby([sub["gpu"].astype(str), sub["model"].astype(str), sub["method"].astype(str)], sort=False)[
            "gpu_count"
        ].min()
        return {key: int(v) for key, v in got.items()}

    @cached_property
    def max_count(self) -> int:
        t = self.derived.get("fewest_gpus")
        if t is not None and "max_gpus_searched" in t and len(t):
            return int(t["max_gpus_searched"].max())
        return int(self.matrix["gpu_count"].max()) if len(self.matrix) else 1

    @cached_property
    def pairs(self) -> set[tuple[str, str]]:
        """(model, method) pairs the matrix covers (ternary methods only for ternary models)."""
        c = self.curves
        return set(zip(c["model"], c["method"]))

    def context_cell(self, gid: str, vid: str, mid: str) -> str:
        if (vid, mid) not in self.pairs:
            return ""
        n = self.longest_index.get((gid, vid, mid), 0)
        return k(n) if n else "\u2014"

    def count_cell(self, gid: str, vid: str, mid: str) -> str:
        if (vid, mid) not in self.pairs:
            return ""
        n = self.fewest.get((gid, vid, mid))
        # No count tried fits: sharding divides weights, gradients and optimizer states, but each GPU
        # keeps its own activations and logits whole, so beyond that more cards do not help.
        return str(n) if n else sort_key("**no count**", 10**9)

    @cached_property
    def best_format(self) -> pd.DataFrame:
        """(gpu, model) -> the most precise inference format that fits on one card, at the reference context."""
        cat_of = {}
        for mid, m in self.catalog.methods.items():
            if m.get("kind") != "inference":
                continue
            bits = float(((m.get("weights") or {}).get("linear") or {}).get("bits") or 0)
            cat_of[mid] = (
                "bf16"
                if bits == 16
                else "8-bit"
                if bits == 8
                else "4-bit"
                if 2 < bits < 8
                else "ternary"
                if bits <= 2
                else None
            )
        rows = self.ref_rows
        rows = rows[rows["method"].isin([m for m, c in cat_of.items() if c])]
        rows = rows.assign(cat=rows["method"].map(cat_of))
        rows = rows.assign(rank=rows["cat"].map({c: i for i, c in enumerate(charts.PRECISION_ORDER)}))
        fit = rows[rows["fits"].astype(bool)].sort_values(["rank", "peak_bytes"], kind="stable")
        best = fit.drop_duplicates(["gpu", "model"])[["gpu", "model", "cat", "peak_bytes", "method", "seq_len"]]
        grid = pd.MultiIndex.from_product([self.gpu_ids, self.variant_ids], names=["gpu", "model"]).to_frame(
            index=False
        )
        out = grid.merge(best, how="left", on=["gpu", "model"])
        out["cat"] = out["cat"].fillna("does not fit")
        out["seq_len"] = out["model"].map({v: self.ref_context(v) for v in self.variant_ids})
        return out

    @cached_property
    def best(self) -> dict[tuple[str, str], Any]:
        """(gpu, model) -> its :attr:`best_format` row (cat, peak_bytes, method, seq_len)."""
        return {(r.gpu, r.model): r for r in self.best_format.itertuples(index=False)}

    def best_cat(self, gid: str, vid: str) -> str:
        return self.best[(gid, vid)].cat


# ------------------------------------------------------------- the pages


@dataclass
class Page:
    path: str  # docs-relative
    title: str  # plain text (escaped for the nav by the builder)
    text: str


def _sources(items: Any) -> str:
    lines = []
    for s in items or []:
        if not isinstance(s, dict):
            continue
        facts = f": {esc(s.get('facts'))}" if s.get("facts") else ""
        kind = f" ({esc(s.get('kind'))})" if s.get("kind") else ""
        lines.append(f"- {md_link(s.get('url'), s.get('url'))}{kind}{facts}")
    return "\n".join(lines) + "\n" if lines else "No sources listed.\n"


def home(d: SiteData) -> Page:
    p = "index.md"
    cat = d.catalog
    segments = []
    for seg in SEGMENTS:
        ids = [g for g in d.gpu_ids if d.catalog.gpus[g].get("segment") == seg]
        if ids:
            segments.append(
                {
                    "title": SEGMENT_TITLES.get(seg, seg),
                    "gpus": [
                        {"id": g, "name": d.gpu_name(g), "link": MD(f"[{esc(d.gpu_name(g))}]({rel(p, d.gpu_page(g))})")}
                        for g in ids
                    ],
                }
            )
    params = {v: int(d.catalog.variants[v].get("parameters") or 0) for v in d.variant_ids}
    released = [v for v in d.variant_ids if d.released(v)]
    rows = []
    for g in d.gpu_ids:
        cells = []
        for c in ("bf16", "8-bit", "4-bit"):
            good = charts.PRECISION_ORDER[: charts.PRECISION_ORDER.index(c) + 1]
            ok = [v for v in released if d.best_cat(g, v) in good]
            if ok:
                v = max(ok, key=lambda x: params[x])
                cells.append(sort_key(f"[{esc(d.variant_name(v))}]({rel(p, d.variant_page(v))})", params[v]))
            else:
                cells.append(sort_key(DASH, 0))
        gpu = d.catalog.gpus[g]
        rows.append(
            [
                f"[{esc(d.gpu_short(g))}]({rel(p, d.gpu_page(g))})",
                sort_key(esc((gpu.get("memory") or {}).get("nominal", "")), d.capacity(g)),
                gib(d.capacity(g)),
            ]
            + cells
        )
    spec = charts.spec(
        charts.heatmap(
            "data/heatmap.json", [d.gpu_name(g) for g in d.gpu_ids], [d.variant_name(v) for v in d.variant_ids]
        )
    )
    heat_alt = heatmap_alt(d)
    default_gpu = "rtx-4090" if "rtx-4090" in cat.gpus else d.gpu_ids[0]
    text = render(
        "home.md.j2",
        gpus=len(cat.gpus),
        families=len(cat.models),
        variants=len(cat.variants),
        methods=len(cat.methods),
        rows=d.matrix_rows,
        segments=segments,
        default_gpu=default_gpu,
        heatmap=MD(chart_block("home-heatmap", spec, "Heatmap: best inference format per GPU and model", heat_alt)),
        largest=MD(
            md_table(["GPU", "nominal", "usable (GiB)", "bf16", "8-bit or better", "4-bit or better"], rows, "lrrlll")
        ),
        unreleased=[d.variant_name(v) for v in d.variant_ids if not d.released(v)],
    )
    return Page(p, "Home", text)


def heatmap_alt(d: SiteData) -> str:
    """The heatmap's numbers in words: per GPU, how many models fit at each best format."""
    parts = []
    for g in d.gpu_ids:
        counts = Counter(d.best_cat(g, v) for v in d.variant_ids)
        said = ", ".join(f"{counts[c]} at {c}" for c in charts.PRECISION_ORDER if counts.get(c))
        parts.append(f"{d.gpu_name(g)}: {said}")
    return (
        f"Of {len(d.variant_ids)} models, per GPU, how many fit on one card at each best format. "
        + "; ".join(parts)
        + "."
    )


def picker_data(d: SiteData) -> dict:
    """The home page's GPU picker: per GPU, each model's best format on one card, its longest context,
    its peak, and otherwise the fewest cards that fit (data/picker.json)."""
    methods = [m for m in d.method_ids if d.catalog.methods[m].get("kind") == "inference"]
    index = {m: i for i, m in enumerate(methods)}
    # tokens per second where the matrix has the speed model's column (one card, the reference context)
    speed = {}
    if SPEED_COLUMN in d.matrix.columns:
        r = d.ref_rows
        speed = dict(zip(_id_keys(r), r[SPEED_COLUMN].astype(float).tolist()))
    rows: dict[str, list] = {}
    for g in d.gpu_ids:
        out = []
        for v in d.variant_ids:
            r = d.best[(g, v)]
            mid = r.method if isinstance(r.method, str) else None
            if mid:
                tps = speed.get((g, v, mid))
                out.append(
                    [
                        v,
                        index[mid],
                        int(d.longest_index.get((g, v, mid), 0)),
                        round(float(r.peak_bytes) / GiB, 2),
                        1,
                        index[mid],
                    ]
                    + ([round(tps, 1) if tps == tps else None] if speed else [])
                )
                continue
            counts = [(d.fewest[(g, v, m)], -i, m) for i, m in enumerate(methods) if (g, v, m) in d.fewest]
            n, _, m = min(counts) if counts else (0, 0, None)
            out.append([v, -1, 0, None, int(n), index[m] if m else -1] + ([None] if speed else []))
        rows[g] = out
    return {
        "methods": [{"id": m, "label": d.method_label(m), "name": d.method_name(m)} for m in methods],
        "models": {
            v: {
                "name": d.variant_name(v),
                "params": int(d.catalog.variants[v].get("parameters") or 0),
                "url": page_url(d.variant_page(v)),
                "ref": d.ref_context(v),
                "max": d.max_context(v),
            }
            for v in d.variant_ids
        },
        "gpus": {
            g: {"name": d.gpu_name(g), "cap": round(d.capacity(g) / GiB, 2), "url": page_url(d.gpu_page(g))}
            for g in d.gpu_ids
        },
        "rows": rows,
        "speed": bool(speed),
        "new_tokens": _default_new_tokens(),
        "max_count": d.max_count,
    }


def heatmap_data(d: SiteData) -> list[dict]:
    rows = []
    for r in d.best.values():  # the grid's order: GPU by GPU, each model in turn
        rows.append(
            {
                "g": d.gpu_name(r.gpu),
                "m": d.variant_name(r.model),
                "c": r.cat,
                "p": None if pd.isna(r.peak_bytes) else round(float(r.peak_bytes) / GiB, 2),
                "s": int(r.seq_len),
            }
        )
    return rows


def curves_data(d: SiteData) -> list[dict]:
    """Explorer and GPU-page curves: model x method x context x batch, GiB without CUDA context."""
    c = d.curves
    names = {v: d.variant_name(v) for v in d.catalog.variants}
    return [
        {"i": m, "m": names.get(m, m), "t": t, "s": int(s), "b": int(b), "n": round(float(n) / GiB, 3)}
        for m, t, s, b, n in c[["model", "method", "seq_len", "batch", "need"]].itertuples(index=False)
    ]


def gpus_data(d: SiteData) -> list[dict]:
    from ..memory import DEFAULT_CUDA_CONTEXT

    out = []
    for g in d.gpu_ids:
        ctx = d.catalog.gpus[g].get("cuda_context_bytes") or DEFAULT_CUDA_CONTEXT
        out.append(
            {"id": g, "name": d.gpu_name(g), "cap": round(d.capacity(g) / GiB, 3), "ctx": round(float(ctx) / GiB, 3)}
        )
    return out


def _relevant_models(d: SiteData, gid: str, method: str, context_bytes: int) -> list[str]:
    """The models the GPU page's chart draws for ``method``: smallest peak within 0.2-1.3x the card."""
    cap = d.capacity(gid)
    smallest = {v: min(needs) + context_bytes for v in d.variant_ids if (needs := d.needs(v, method).values())}
    return [v for v, peak in smallest.items() if 0.2 * cap <= peak <= 1.3 * cap]


def gpu_page(d: SiteData, gid: str) -> Page:
    from ..memory import DEFAULT_CUDA_CONTEXT

    p = d.gpu_page(gid)
    g = d.catalog.gpus[gid]
    mem = g.get("memory") or {}
    comp = g.get("compute") or {}
    link = g.get("interconnect") or {}
    cap = d.capacity(gid)
    name = d.gpu_name(gid)
    ctx = g.get("cuda_context_bytes") or DEFAULT_CUDA_CONTEXT

    def ctx_cell(v: str, m: str) -> str:
        cell = d.context_cell(gid, v, m)
        n = d.longest_index.get((gid, v, m), 0)
        return d.calc(cell, p, model=v, method=m, gpu=gid, seq_len=n) if cell and n else cell

    fits_rows = [
        [
            f"[{esc(d.variant_name(v))}]({rel(p, d.variant_page(v))})",
            sort_key(
                params_text(d.catalog.variants[v].get("parameters")), int(d.catalog.variants[v].get("parameters") or 0)
            ),
        ]
        + [ctx_cell(v, m) for m in d.key_methods]
        for v in d.variant_ids
    ]
    models = _relevant_models(d, gid, "inference-bf16", ctx)
    methods = d.method_ids
    default = "inference-bf16" if "inference-bf16" in methods else methods[0]
    spec = charts.memory_vs_context.spec(
        "data/curves.json",
        [d.variant_name(v) for v in d.variant_ids],
        methods,
        [d.method_name(m) for m in methods],
        default,
        cap / GiB,
        float(ctx) / GiB,
        name,
    )
    lens = sorted({L for v in models for L in d.needs(v, default)})
    chart_rows, said = [], []
    for v in models:
        s_ = d.needs(v, default)
        chart_rows.append([esc(d.variant_name(v))] + [gib(s_[L] + ctx) if L in s_ else "" for L in lens])
        said.append(f"{d.variant_name(v)}: " + ", ".join(f"{gib(s_[L] + ctx)} GiB at {k(L)}" for L in lens if L in s_))
    count_rows, one_card = [], 0
    for v in d.variant_ids:
        cells = [d.count_cell(gid, v, m) for m in d.key_methods]
        if all(c in ("", "1") for c in cells):
            one_card += 1  # fits on one card with every method: the table above says how far
            continue
        count_rows.append([f"[{esc(d.variant_name(v))}]({rel(p, d.variant_page(v))})"] + cells)
    facts = [
        ("Memory (nominal)", esc(mem.get("nominal", ""))),
        ("Memory (usable, bytes)", f"{int(mem.get('usable_bytes') or 0):,}"),
        ("How usable was obtained", esc(mem.get("usable_basis", ""))),
        ("Memory bandwidth", f"{float(mem.get('bandwidth_bytes_per_s') or 0) / 1e9:,.0f} GB/s"),
        ("bf16 / fp16 (TFLOPS, dense)", f"{comp.get('bf16_tflops') or DASH} / {comp.get('fp16_tflops') or DASH}"),
        ("int8 (TOPS) / fp8 (TFLOPS)", f"{comp.get('int8_tops') or DASH} / {comp.get('fp8_tflops') or DASH}"),
        ("Compute basis", esc(comp.get("basis", ""))),
        ("Interconnect", f"{esc(link.get('name', ''))} ({esc(link.get('kind', ''))})"),
        ("CUDA / runtime context", gib_text(ctx, 2) + ("" if g.get("cuda_context_bytes") else " (default)")),
    ]
    method_heads = [esc(d.method_label(m)) for m in d.key_methods]
    text = render(
        "gpu.md.j2",
        name=name,
        nominal=mem.get("nominal", ""),
        usable=MD(gib_text(cap)),
        runtimes=d.runtimes_note,
        share=MD(f"{mem['gpu_share']:.0%}") if mem.get("gpu_share") else None,
        machine=MD(gib_text(mem.get("usable_bytes"))),
        memory_type=mem.get("type", ""),
        vendor=VENDORS.get(g.get("vendor"), g.get("vendor", "")),
        architecture=g.get("architecture", ""),
        segment=SEGMENT_TITLES.get(g.get("segment"), g.get("segment", "")),
        year=g.get("release_year", ""),
        calculator=MD(calc_link("calculator", p, gpu=gid)),
        max_count=d.max_count,
        fits=MD(md_table(["model", "parameters"] + method_heads, fits_rows, "lr" + "r" * len(d.key_methods))),
        chart=MD(
            chart_block(
                f"gpu-{slug(gid)}-context",
                spec,
                f"Peak memory against context on {name}",
                f"{name}: {gib_text(cap)} usable. {d.method_name(default)}, batch 1: " + "; ".join(said) + ".",
            )
        ),
        chart_method=d.method_name(default),
        chart_table=MD(md_table(["model"] + [k(L) for L in lens], chart_rows)),
        counts=MD(md_table(["model"] + method_heads, count_rows)) if count_rows else None,
        one_card=one_card,
        facts=MD(md_table(["fact", "value"], facts, "ll")),
        sources=MD(_sources(g.get("sources"))),
    )
    return Page(p, name, text)


def gpu_index(d: SiteData) -> Page:
    p = "gpus/index.md"
    rows = []
    for gid in d.gpu_ids:
        g = d.catalog.gpus[gid]
        mem = g.get("memory") or {}
        biggest = [v for v in d.variant_ids if d.best_cat(gid, v) != "does not fit" and d.released(v)]
        params = {v: int(d.catalog.variants[v].get("parameters") or 0) for v in biggest}
        top = max(params, key=params.get) if params else None
        bandwidth = float(mem.get("bandwidth_bytes_per_s") or 0)
        rows.append(
            [
                f"[{esc(d.gpu_name(gid))}]({rel(p, d.gpu_page(gid))})",
                esc(VENDORS.get(g.get("vendor"), g.get("vendor", ""))),
                esc(SEGMENT_TITLES.get(g.get("segment"), g.get("segment", ""))),
                sort_key(esc(mem.get("nominal", "")), d.capacity(gid)),
                gib(d.capacity(gid)),
                f"{bandwidth / 1e9:,.0f}",
                sort_key(f"[{esc(d.variant_name(top))}]({rel(p, d.variant_page(top))})", params[top])
                if top
                else sort_key(DASH, 0),
            ]
        )
    table = md_table(
        [
            "GPU",
            "vendor",
            "segment",
            "nominal",
            "usable (GiB)",
            "bandwidth (GB/s)",
            "largest released model on one card (8k, any format)",
        ],
        rows,
        "lllrrrl",
    )
    return Page(p, "All GPUs", render("gpu_index.md.j2", count=len(d.gpu_ids), table=MD(table)))


def _arch_facts(v: dict) -> list[tuple[str, str]]:
    c = v.get("config") or {}
    facts = [("Parameters", f"{int(v.get('parameters') or 0):,} ({esc(v.get('parameters_published', ''))})")]
    if v.get("active_parameters"):
        facts.append(("Active parameters", f"{int(v['active_parameters']):,}"))
    for key, label in (
        ("num_hidden_layers", "Layers"),
        ("hidden_size", "Hidden size"),
        ("intermediate_size", "MLP intermediate"),
        ("num_attention_heads", "Attention heads"),
        ("num_key_value_heads", "KV heads"),
        ("head_dim", "head_dim"),
        ("vocab_size", "Vocabulary"),
        ("max_position_embeddings", "Max context"),
        ("sliding_window", "Sliding window"),
        ("num_local_experts", "Experts"),
        ("n_routed_experts", "Routed experts"),
        ("num_experts_per_tok", "Experts per token"),
        ("kv_lora_rank", "MLA KV rank"),
    ):
        if c.get(key) not in (None, ""):
            val = c[key]
            facts.append((label, f"{val:,}" if isinstance(val, int) and not isinstance(val, bool) else esc(val)))
    if v.get("hf_repo"):
        facts.append(("Hugging Face", md_link(v["hf_repo"], f"https://huggingface.co/{quote(str(v['hf_repo']))}")))
    return facts


def variant_page(d: SiteData, vid: str) -> Page:
    from ..memory import DEFAULT_CUDA_CONTEXT

    p = d.variant_page(vid)
    v = d.catalog.variants[vid]
    fid = v.get("family")
    fam = d.catalog.models.get(fid, {})
    name = d.variant_name(vid)
    ref = d.ref_context(vid)
    b1 = d.batch1(vid)
    by_method = {r["method"]: r for r in b1 if r["seq_len"] == ref}
    at_ref = [by_method[m] for m in d.method_ids if m in by_method]
    long_rows = []
    for r in at_ref:
        for i, c in enumerate(COMPONENTS):
            val = r.get(c, 0) if c != "cuda_context" else DEFAULT_CUDA_CONTEXT
            if c == "cuda_context" or val:
                long_rows.append(
                    {
                        "method": d.method_label(r["method"]),
                        "component": c,
                        "gib": round(float(val) / GiB, 3),
                        "order": i,
                    }
                )
    bars = None
    if long_rows:
        spec = charts.component_bars.spec(long_rows, f"{name}: memory by method")
        bars = MD(
            chart_block(
                f"model-{slug(vid)}-bars",
                spec,
                f"Memory by method for {name}",
                f"{name}, {k(ref)} context, batch 1, peak per GPU: "
                + "; ".join(
                    f"{d.method_label(r['method'])} {gib(float(r['need']) + DEFAULT_CUDA_CONTEXT)} GiB" for r in at_ref
                )
                + ".",
            )
        )
    rows = []
    for r in at_ref:
        mid = r["method"]
        total = float(r["need"]) + DEFAULT_CUDA_CONTEXT
        parts = sorted(((r.get(c, 0), c) for c in COMPONENTS if c != "cuda_context"), reverse=True)[:3]
        main = ", ".join(f"{charts.component_label(c)} {gib(b)}" for b, c in parts if b)
        rows.append(
            [
                f"[{esc(d.method_name(mid))}]({rel(p, d.method_page(mid))})",
                sort_key(d.calc(gib(total), p, model=vid, method=mid, seq_len=ref), total),
                esc(r.get("phase", "")),
                main,
            ]
        )
    cards = d.common_cards()
    key = set(d.key_methods)
    lines = [
        {
            "method": d.method_label(r["method"]),
            "seq_len": r["seq_len"],
            "gib": (r["need"] + DEFAULT_CUDA_CONTEXT) / GiB,
        }
        for r in b1
        if r["method"] in key
    ]
    context_chart = None
    if lines:
        top = max(r["gib"] for r in lines)
        tiers = d.card_tiers()
        shown = [g for g in tiers if d.capacity(g) / GiB <= top * 1.05] or tiers[:1]
        cards_shown = [{"name": d.gpu_short(g), "gib": d.capacity(g) / GiB} for g in shown]
        spec = charts.model_context_lines.spec(lines, cards_shown, f"{name}: peak against context")
        context_chart = MD(
            chart_block(
                f"model-{slug(vid)}-context",
                spec,
                f"Peak against context for {name}",
                "The table below gives, for common cards, the longest context that fits with each method.",
            )
        )

    def ctx_cell(g: str, m: str) -> str:
        cell = d.context_cell(g, vid, m)
        n = d.longest_index.get((g, vid, m), 0)
        return d.calc(cell, p, model=vid, method=m, gpu=g, seq_len=n) if cell and n else cell

    heads = [esc(d.method_label(m)) for m in d.key_methods]
    card_rows = [
        [f"[{esc(d.gpu_short(g))}]({rel(p, d.gpu_page(g))})", gib(d.capacity(g))]
        + [ctx_cell(g, m) for m in d.key_methods]
        for g in cards
    ]
    count_rows, one_card = [], 0
    for g in d.gpu_ids:
        cells = [d.count_cell(g, vid, m) for m in d.key_methods]
        if all(c in ("", "1") for c in cells):
            one_card += 1
            continue
        count_rows.append([f"[{esc(d.gpu_short(g))}]({rel(p, d.gpu_page(g))})", gib(d.capacity(g))] + cells)
    text = render(
        "variant.md.j2",
        name=name,
        organization=fam.get("organization", ""),
        runtimes=d.runtimes_note,
        parameters=MD(params_text(v.get("parameters"))),
        family=fam.get("name", fid),
        license=fam.get("license", ""),
        notes=v.get("notes"),
        released=d.released(vid),
        ref=MD(k(ref)),
        cuda_context=MD(gib_text(DEFAULT_CUDA_CONTEXT, 2)),
        bars=bars,
        methods=MD(md_table(["method", "peak (GiB)", "phase", "largest parts (GiB)"], rows, "lrll")),
        context_chart=context_chart,
        cards=MD(md_table(["GPU", "usable (GiB)"] + heads, card_rows)),
        counts=MD(md_table(["GPU", "usable (GiB)"] + heads, count_rows)) if count_rows else None,
        one_card=one_card,
        max_count=d.max_count,
        calculator=MD(d.calc("calculator", p, model=vid, method="inference-bf16", seq_len=ref)),
        facts=MD(md_table(["fact", "value"], _arch_facts(v), "ll")),
        sources=MD(_sources(v.get("sources"))),
    )
    return Page(p, name, text)


def family_page(d: SiteData, fid: str) -> Page:
    from ..memory import DEFAULT_CUDA_CONTEXT

    p = d.family_page(fid)
    fam = d.catalog.models[fid]
    name = str(fam.get("name") or fid)
    shown = [
        m
        for m in ("inference-bf16", "inference-int8", "inference-nf4", "qlora", "lora", "full-mixed")
        if m in d.catalog.methods
    ]
    rows = []
    for v in d.family_variants(fid):
        var = d.catalog.variants[v]
        ref = d.ref_context(v)
        at_ref = {m: needs[ref] for m in shown if ref in (needs := d.needs(v, m))}
        rows.append(
            [
                f"[{esc(d.variant_name(v))}]({rel(p, d.variant_page(v))})",
                sort_key(params_text(var.get("parameters")), int(var.get("parameters") or 0)),
                k(d.max_context(v) or None),
                k(ref),
            ]
            + [
                sort_key(d.calc(gib(at_ref[m] + DEFAULT_CUDA_CONTEXT), p, model=v, method=m, seq_len=ref), at_ref[m])
                if m in at_ref
                else ""
                for m in shown
            ]
        )
    table = md_table(
        ["variant", "parameters", "max context", "at"] + [f"{esc(d.method_label(m))} (GiB)" for m in shown], rows
    )
    text = render(
        "family.md.j2",
        name=name,
        organization=fam.get("organization", ""),
        architecture=fam.get("architecture", ""),
        weights=fam.get("weights_native", ""),
        license=fam.get("license", ""),
        release=fam.get("release", ""),
        table=MD(table),
        sources=MD(_sources(fam.get("sources"))),
    )
    return Page(p, name, text)


def model_index(d: SiteData) -> Page:
    p = "models/index.md"
    rows = []
    for v in d.variant_ids:
        var = d.catalog.variants[v]
        fid = var.get("family")
        fam = d.catalog.models.get(fid, {})
        runs = sum(d.best_cat(g, v) != "does not fit" for g in d.gpu_ids)
        maxctx = d.max_context(v) or None
        rows.append(
            [
                f"[{esc(d.variant_name(v))}]({rel(p, d.variant_page(v))})",
                f"[{esc(fam.get('name', fid))}]({rel(p, d.family_page(fid))})",
                sort_key(params_text(var.get("parameters")), int(var.get("parameters") or 0)),
                esc(fam.get("architecture", "")),
                sort_key(k(maxctx), int(maxctx or 0)),
                sort_key(f"{runs} of {len(d.gpu_ids)}", runs),
            ]
        )
    table = md_table(
        ["model", "family", "parameters", "architecture", "max context", "GPUs it runs on alone (8k, any format)"],
        rows,
        "llrlrr",
    )
    return Page(
        p,
        "All models",
        render("model_index.md.j2", families=len(d.family_ids), variants=len(d.variant_ids), table=MD(table)),
    )


# ---- methods

_FORMULAS = {
    "weights": (
        "Every weight at its storage format; block scales add their own bits.",
        "W = (P_linear · b_linear + P_embed · b_embed + P_head · b_head + P_other · b_other) / 8",
    ),
    "kv_cache": (
        "Keys and values of every attention layer for every token, summed layer by layer (sliding-window "
        "and chunked layers keep at most their window where the runtime caps them; MLA layers keep their "
        "latent where the runtime compresses it, else the decompressed K and V; a sparse-attention indexer "
        "keeps its keys), plus the fixed per-sequence state of recurrent layers (Mamba, Gated DeltaNet).",
        "KV = batch · (Σ_layers kv_width_l · min(tokens, window_l) · b_kv / 8 + state),  "
        "kv_width_l = kv_heads_l · (head_dim_l + v_head_dim_l)",
    ),
    "gradients": ("One gradient per trained parameter.", "G = P_trained · b_grad / 8"),
    "optimizer_states": (
        "The optimizer's states per trained parameter.",
        "O = P_trained · (states · bytes_per_state + extra)",
    ),
    "master_weights": ("An fp32 copy of every weight (mixed precision).", "M = P · b_master / 8"),
    "adapter_weights": (
        "LoRA's A and B matrices on every adapted layer.",
        "A = rank · Σ(in + out) over adapted layers · b_adapter / 8",
    ),
}


def _weight_rows(m: dict) -> list[list[str]]:
    rows = []
    for kind in ("linear", "embedding", "lm_head", "other"):
        spec = (m.get("weights") or {}).get(kind) or {}
        eff = float(
            memory.bits_per_weight(
                spec.get("bits") or 0,
                spec.get("block_size") or 0,
                spec.get("scale_bits") or 0,
                spec.get("scale_block_size") or 0,
                spec.get("scale2_bits") or 0,
            )
        )
        block = spec.get("block_size")
        scales = f"{spec.get('scale_bits')}-bit scale per {block}" if block else "none"
        if spec.get("scale2_bits"):
            scales += f"; {spec.get('scale2_bits')}-bit scale per {spec.get('scale_block_size')} scales"
        rows.append(
            [
                esc(kind.replace("_", " ")),
                esc(spec.get("format", "")),
                esc(spec.get("bits", "")),
                esc(scales),
                f"{eff:.3f}",
                "yes" if spec.get("dequantize_for_matmul") else "no",
            ]
        )
    return rows


def method_page(d: SiteData, mid: str) -> Page:
    from ..memory import DEFAULT_CUDA_CONTEXT

    p = d.method_page(mid)
    m = d.catalog.methods[mid]
    name = d.method_name(mid)
    training = m.get("kind") == "training"
    facts = [
        ("Compute dtype (bits)", esc(m.get("compute_bits", ""))),
        ("KV cache (bits)", esc(m.get("kv_cache_bits") or m.get("compute_bits", ""))),
    ]
    opt = m.get("optimizer")
    if training:
        spec = memory.OPTIMIZERS.get(opt or "", {})
        state = spec.get("state_bytes")
        facts += [
            ("Trains", esc(m.get("trainable", ""))),
            ("Gradients (bits)", esc(m.get("gradient_bits") or DASH)),
            (
                "Optimizer",
                f"{esc(opt or 'none')}"
                + (
                    f": {spec.get('states', 0):g} states of "
                    f"{'the parameter dtype' if state is None else f'{state:g} bytes'}"
                    if spec
                    else ""
                ),
            ),
            ("Master weights (bits)", esc(m.get("master_weight_bits") or "none")),
            ("Autocast weight copies (bits)", esc(m.get("autocast_copy_bits") or "none")),
            ("Gradient checkpointing (default)", "yes" if m.get("gradient_checkpointing") else "no"),
            ("Loss / logits (bits)", esc(m.get("logits_bits", ""))),
        ]
        if m.get("trainable") == "lora":
            facts.append(("Adapters (bits)", esc(m.get("adapter_bits", ""))))
    lin = (m.get("weights") or {}).get("linear") or {}
    eff = float(
        memory.bits_per_weight(
            lin.get("bits") or 0,
            lin.get("block_size") or 0,
            lin.get("scale_bits") or 0,
            lin.get("scale_block_size") or 0,
            lin.get("scale2_bits") or 0,
        )
    )
    terms = ["weights", "kv_cache"] if not training else ["weights", "gradients", "optimizer_states", "master_weights"]
    if m.get("trainable") == "lora":
        terms.append("adapter_weights")
    formulas = [
        {"label": charts.component_label(t), "words": _FORMULAS[t][0], "formula": _FORMULAS[t][1]} for t in terms
    ]
    contexts = {L for v in d.variant_ids for L in d.needs(v, mid)}
    lens = [L for L in (2048, 8192, 32768, 131072) if L in contexts]
    rows = []
    for v in d.variant_ids:
        s_ = d.needs(v, mid)
        if not s_:
            continue
        rows.append(
            [
                f"[{esc(d.variant_name(v))}]({rel(p, d.variant_page(v))})",
                sort_key(
                    params_text(d.catalog.variants[v].get("parameters")),
                    int(d.catalog.variants[v].get("parameters") or 0),
                ),
            ]
            + [
                sort_key(d.calc(gib(s_[L] + DEFAULT_CUDA_CONTEXT), p, model=v, method=mid, seq_len=L), s_[L])
                if L in s_
                else ""
                for L in lens
            ]
        )
    runtimes = getattr(d.catalog, "runtimes", None) or {}
    text = render(
        "method.md.j2",
        name=name,
        id=mid,
        kind=m.get("kind", ""),
        runtime=m.get("runtime", ""),
        summary=m.get("summary", ""),
        training=training,
        lora=m.get("trainable") == "lora",
        quantized_base=bool(lin.get("dequantize_for_matmul")) and training,
        checkpointing=bool(m.get("gradient_checkpointing")),
        optimizer=opt or "none",
        lora_rank=_default_lora_rank(),
        logits_bits=m.get("logits_bits", ""),
        chunked_loss_runtime="unsloth" if "unsloth" in runtimes else None,
        unsloth_link=MD(calc_link("the calculator with --runtime unsloth", p, method=mid, runtime="unsloth"))
        if "unsloth" in runtimes
        else None,
        weights=MD(
            md_table(
                ["weights", "format", "bits", "block scales", "bits per weight (effective)", "dequantized for matmul"],
                _weight_rows(m),
                "lllrrl",
            )
        ),
        facts=MD(md_table(["", ""], facts, "ll")),
        phases="loss, backward sweep, optimizer step" if training else "load, prefill, decode",
        formulas=formulas,
        eff=MD(f"{eff:.3f}"),
        share=MD(f"{eff / 16:.0%}"),
        table=MD(md_table(["model", "parameters"] + [f"{k(L)} (GiB)" for L in lens], rows)) if rows else None,
        sources=MD(_sources(m.get("sources"))),
    )
    return Page(p, name, text)


def _default_new_tokens() -> int:
    from ..api import DEFAULT_NEW_TOKENS

    return DEFAULT_NEW_TOKENS


def _default_lora_rank() -> int:
    from ..api import DEFAULT_LORA_RANK

    return DEFAULT_LORA_RANK


def method_index(d: SiteData) -> Page:
    p = "methods/index.md"
    rows = []
    for mid in d.method_ids:
        m = d.catalog.methods[mid]
        lin = (m.get("weights") or {}).get("linear") or {}
        rows.append(
            [
                f"[{esc(d.method_name(mid))}]({rel(p, d.method_page(mid))})",
                code(mid),
                esc(m.get("kind", "")),
                esc(lin.get("format", "")),
                esc(m.get("trainable", "") or "none"),
            ]
        )
    table = md_table(["method", "id", "kind", "linear weights", "trains"], rows, "lllll")
    return Page(p, "All methods", render("method_index.md.j2", table=MD(table)))


# ---- explorer


def gpu_segments(d: SiteData) -> list[dict]:
    """GPUs grouped by segment, for the pickers' <optgroup>s."""
    out = []
    for seg in SEGMENTS:
        ids = [g for g in d.gpu_ids if d.catalog.gpus[g].get("segment") == seg]
        if ids:
            out.append({"title": SEGMENT_TITLES.get(seg, seg), "gpus": [{"id": g, "name": d.gpu_name(g)} for g in ids]})
    return out


def explorer(d: SiteData) -> Page:
    p = "explorer.md"
    cur = d.curves
    contexts = sorted(int(x) for x in set(cur["seq_len"]))
    batches = sorted(int(x) for x in set(cur["batch"]))
    gpu = "rtx-4090" if "rtx-4090" in d.catalog.gpus else d.gpu_ids[0]
    method = "inference-bf16" if "inference-bf16" in d.catalog.methods else d.method_ids[0]
    ctx = REF_CONTEXT if REF_CONTEXT in contexts else contexts[0]
    pairs: dict[str, list[str]] = {}
    for v, m in sorted(d.pairs):
        pairs.setdefault(v, []).append(m)
    meta = {
        "curves": "data/curves.json",
        "gpus": "data/gpus.json",
        "contexts": contexts,
        "methods": d.method_ids,
        "gpu": gpu,
        "method": method,
        "ctx": ctx,
        "batch": batches[0],
        "pairs": pairs,
        "models": [
            {"id": v, "name": d.variant_name(v), "max": d.max_context(v) or max(d.contexts_of(v) or [0])}
            for v in d.variant_ids
        ],
    }
    spec = charts.spec(charts.explorer([d.variant_name(v) for v in d.variant_ids]))
    text = render(
        "explorer.md.j2",
        meta=MD(script_json(meta)),
        segments=gpu_segments(d),
        gpu=gpu,
        method=method,
        methods=[{"id": m, "name": d.method_name(m)} for m in d.method_ids],
        contexts=contexts,
        ctx=ctx,
        ctx_index=contexts.index(ctx),
        batches=batches,
        chart=MD(
            chart_block(
                "explorer",
                spec,
                "Matrix explorer: peak memory per model against the GPU",
                "The table under the chart lists the same rows: every model's peak, headroom "
                "and verdict for the chosen GPU, method, context and batch.",
            )
        ),
    )
    return Page(p, "Explorer", text)


def calculator(d: SiteData) -> Page:
    from . import calculator as calc

    options = calc.estimate_options()
    labels = {"model": d.variant_name, "gpu": d.gpu_name, "method": d.method_name}
    choices = calc.catalogue_choices(d.catalog, labels)
    if "model" in choices:
        choices["model"] = [[v, d.variant_name(v)] for v in d.variant_ids]
    if "gpu" in choices:
        choices["gpu"] = [[g, d.gpu_name(g)] for g in d.gpu_ids]
    if "method" in choices:
        choices["method"] = [[m, d.method_name(m)] for m in d.method_ids]
    for o in options:
        o["choices_pairs"] = [[c, c] for c in o.get("choices") or []]
    groups = []
    for title in [g for g, _ in calc.GROUPS] + ["More options"]:
        members = [o for o in options if o["group"] == title]
        if members:
            groups.append({"title": title, "options": members})
    tokens = calc.token_steps()
    meta = {
        "options": [{k: o[k] for k in ("name", "flag", "kind", "exclusive", "off_flag") if k in o} for o in options],
        "tokens": tokens,
        "models": list(d.variant_ids),
        "example": calc.EXAMPLE,
        "gpu_names": {g: d.gpu_name(g) for g in d.gpu_ids},
        "package": calc.PACKAGE_FILE,
        "catalogue": calc.CATALOGUE_FILE,
        "catalogue_path": calc.CATALOGUE_PATH,
        "bootstrap": calc.BOOTSTRAP,
    }
    spec = charts.spec(charts.calculator_breakdown())
    text = render(
        "calculator.md.j2",
        meta=MD(script_json(meta)),
        groups=groups,
        options=options,
        choices=choices,
        searchable=calc.SEARCHABLE,
        tokens=tokens,
        weight_mib=f"{calc.first_visit_bytes(d.catalog) / 2**20:.1f}",
        chart=MD(
            chart_block(
                "calc-chart",
                spec,
                "The estimate's breakdown by component",
                "The breakdown table above holds the same numbers.",
            )
        ),
    )
    return Page("calculator.md", "Calculator", text)


# ---- methodology and accuracy

_TERMS = (
    ("weights", "weight_bytes", "Weights"),
    ("weight_copies", "weight_copy_bytes", "Weight copies"),
    ("kv_cache", "kv_cache_bytes", "KV cache"),
    ("activations", "prefill_activation_bytes", "Activations: inference prefill"),
    ("activations", "decode_activation_bytes", "Activations: decode"),
    ("activations", "saved_bytes_per_token_layer", "Activations: what training saves per token and layer"),
    ("activations", "training_activation_bytes", "Activations: training, with and without checkpointing"),
    ("logits", "logits_bytes", "Logits and loss buffers"),
    ("gradients", "gradient_bytes", "Gradients"),
    ("optimizer_states", "optimizer_bytes", "Optimizer states"),
    ("master_weights", "master_bytes", "Master weights"),
    ("adapter_weights", "adapter_bytes", "LoRA adapters"),
    ("allocator_slack", "allocator_slack", "Allocator slack"),
    ("weights", "shard_factors", "Several GPUs: what each parallelism splits"),
    ("weights", "gathered_layer_bytes", "Several GPUs: ZeRO-3 / FSDP gathered layers"),
)


def rst_inline(text: str) -> str:
    """reStructuredText's ``code`` and :role:`name` as Markdown's `code`."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def doc_markdown(text: str) -> str:
    """A docstring as Markdown for readers: ``code`` and :role:`names` as `code`, lists set off by a blank line."""
    text = rst_inline(text)
    out: list[str] = []
    for line in text.splitlines():
        item = re.match(r"^(\s*)([-*]|\d+\.)\s+", line)
        if item and out and out[-1].strip() and not re.match(r"^\s*([-*]|\d+\.)\s+|^\s{2,}", out[-1]):
            out.append("")
        out.append(re.sub(r"^(\s*)\*\s+", r"\1- ", line))
    return "\n".join(out).strip()


def _doc(obj: Any) -> str:
    return doc_markdown(inspect.getdoc(obj) or "")


def methodology(d: SiteData) -> Page:
    terms = []
    for comp, fn, title in _TERMS:
        obj = getattr(memory, fn, None)
        if obj is None:
            continue
        words = _doc(obj) or (_FORMULAS.get(comp, ("",))[0] if comp in _FORMULAS else "")
        terms.append({"title": title, "component": comp, "function": fn, "text": MD(words)})
    consts = [
        (n, getattr(memory, n))
        for n in (
            "CUBLAS_WORKSPACE",
            "DEFAULT_CUDA_CONTEXT",
            "LARGE_SEGMENT",
            "LOSS_BUFFERS",
            "PREFILL_POOL_REUSE",
            "SMALL_TENSOR_REGROWTH",
            "ACTIVATION_SLACK",
        )
        if hasattr(memory, n)
    ]
    const_table = (
        md_table(
            ["constant", "value"], [[f"`{n}`", f"{v:,}" if isinstance(v, int) else f"{v:g}"] for n, v in consts], "lr"
        )
        if consts
        else None
    )
    grid = None
    try:
        from .. import matrix as matrix_module

        doc = inspect.getdoc(matrix_module) or ""
        if "Which rows exist" in doc:
            grid = doc_markdown(doc.split("Which rows exist", 1)[-1].split(":", 1)[-1])
    except ImportError:  # the grid description is optional
        pass
    from .runtime_page import runtime_section
    from .speed_page import speed_section

    text = render(
        "methodology.md.j2",
        terms=terms,
        constants=MD(const_table) if const_table else None,
        grid=MD(grid) if grid else None,
        accuracy=MD(accuracy_section(d) + "\n\n" + runtime_section(d.catalog, d.accuracy)),
        speed=MD(rst_inline(speed_section(d.catalog))),
    )
    return Page("methodology.md", "Methodology & accuracy", text)


def accuracy_section(d: SiteData) -> str:
    acc = d.accuracy
    if acc is None or not len(acc):
        return render("accuracy.md.j2", count=0)
    stats = d.accuracy_summary
    summary = None
    if stats is not None and len(stats):
        summary = md_table(
            ["group", "cases", "median abs. error", "90th percentile", "largest"],
            [[esc(r.group), r.cases, pct(r.median), pct(r.p90), pct(r.max)] for r in stats.itertuples(index=False)],
            "lrrrr",
        )
    frame = pd.DataFrame(
        {
            "measurement": acc["measurement"].astype(str),
            "method": acc["method"].astype(str),
            "family": acc["family"].astype(str),
            "measured": acc["measured_bytes"].astype(float) / GiB,
            "predicted": acc["predicted_bytes"].astype(float) / GiB,
            "error": acc["error"].astype(float),
        }
    )
    spec = charts.spec(charts.predicted_vs_measured(frame))
    worst_first = acc.sort_values("abs_error", ascending=False)
    rows = [
        [
            esc(r.measurement),
            esc(r.model),
            esc(r.method),
            esc(r.gpu),
            sort_key(k(r.seq_len), int(r.seq_len)),
            r.batch,
            gib(r.measured_bytes, 2),
            gib(r.predicted_bytes, 2),
            sort_key(pct(r.error, True), r.error),
            esc(r.phase),
        ]
        for r in worst_first.itertuples(index=False)
    ]
    errors = acc["abs_error"].astype(float)
    numbers = (
        f"{len(acc)} measurements; median absolute error {pct(float(errors.median()))}, largest "
        f"{pct(float(errors.max()))}; the table below lists each."
    )
    worst = []
    for r in worst_first.head(3).itertuples(index=False):
        m = d.catalog.measurements.get(r.measurement, {})
        parts = sorted(((getattr(r, f"predicted_{c}", 0), c) for c in COMPONENTS), reverse=True)
        measured = m.get("measured") or {}
        alloc, reserved = measured.get("peak_allocated_bytes"), measured.get("peak_reserved_bytes")
        worst.append(
            {
                "id": r.measurement,
                "method": r.method,
                "tokens": MD(k(r.seq_len)),
                "batch": r.batch,
                "over": r.error > 0,
                "error": MD(pct(abs(r.error))),
                "predicted": MD(gib_text(r.predicted_bytes, 2)),
                "measured": MD(gib_text(r.measured_bytes, 2)),
                "phase": r.phase,
                "parts": MD(", ".join(f"{charts.component_label(c)} {gib(b, 2)}" for b, c in parts[:5] if b)),
                "allocated": MD(gib_text(alloc, 2)) if alloc and reserved else None,
                "reserved": MD(gib_text(reserved, 2)) if alloc and reserved else None,
                "unused": MD(gib_text(reserved - alloc, 2)) if alloc and reserved else None,
                "note": m.get("notes") or m.get("note"),
            }
        )
    nc = [m for m in d.catalog.measurements.values() if not m.get("comparable", True)]
    not_compared = (
        md_table(
            ["measurement", "why not comparable"],
            [[esc(m.get("id")), esc(m.get("why_not_comparable") or "")] for m in nc],
            "ll",
        )
        if nc
        else None
    )
    return render(
        "accuracy.md.j2",
        count=len(acc),
        summary=MD(summary) if summary else None,
        chart=MD(chart_block("accuracy-scatter", spec, "Predicted against measured peak memory", numbers)),
        table=MD(
            md_table(
                [
                    "measurement",
                    "model",
                    "method",
                    "GPU",
                    "context",
                    "batch",
                    "measured (GiB)",
                    "predicted (GiB)",
                    "error",
                    "peak phase",
                ],
                rows,
                "llllrrrrrl",
            )
        ),
        worst=worst,
        not_compared_count=len(nc),
        not_compared=MD(not_compared) if not_compared else None,
    )


def published_table_md(catalog) -> str:
    """The published figures beside the estimate (vramatlas.published), for published-figures.md."""
    try:
        from ..published import published_table
    except ImportError:
        return "The published-figures table is not available in this build.\n"
    t = published_table(catalog)
    if not len(t):
        return "No published figures in the catalogue.\n"
    rows = []
    for r in t.itertuples(index=False):
        src = md_link(r.source or "source", r.url) if r.url else esc(r.source or "")
        err = "n/a" if r.error is None or (isinstance(r.error, float) and math.isnan(r.error)) else pct(r.error, True)
        est = (
            "n/a"
            if isinstance(r.estimate_compared_bytes, float) and math.isnan(r.estimate_compared_bytes)
            else gib(r.estimate_compared_bytes, 2)
        )
        quantity = "allocated" if "allocated" in str(r.quantity) else "process"
        rows.append(
            [
                esc(r.measurement),
                src,
                esc(r.model),
                esc(r.method or ""),
                k(r.seq_len) if r.seq_len else "",
                esc(r.batch if r.batch is not None else ""),
                esc(r.gpus),
                quantity,
                gib(r.published_bytes, 2) if r.published_bytes else "n/a",
                est,
                err,
                '<span class="va-yes">yes</span>' if r.comparable else "no",
            ]
        )
    return (
        md_table(
            [
                "figure",
                "source",
                "model",
                "method",
                "context",
                "batch",
                "GPUs",
                "memory",
                "published (GiB)",
                "estimate (GiB)",
                "error",
                "counts",
            ],
            rows,
            "llllrrrlrrrl",
        )
        + "\nWhy a row does not count is in its catalogue file (`why_not_comparable`) and on the "
        "[methodology page](methodology.md#figures-not-compared-and-why).\n"
    )


# ---- rules of thumb, downloads, contributing


def rules_of_thumb(d: SiteData) -> Page:
    t = d.thumbs
    if t is None or not len(t):
        return Page("rules-of-thumb.md", "Rules of thumb", render("rules_of_thumb.md.j2", claims=[], overall=[]))
    cols = [c for c in ("setting", "claimed", "computed", "verdict", "explanation") if c in t.columns]
    verdict_css = {"holds": "va-yes", "breaks": "va-no"}

    def cell(c, v):
        text = esc("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
        if c == "verdict":
            css = verdict_css.get(str(v).strip().lower(), "")
            return f'<span class="{css}">{text}</span>' if css else f"**{text}**"
        return text

    counts = t["verdict"].astype(str).value_counts() if "verdict" in t else pd.Series(dtype=int)
    claims = []
    for claim in list(dict.fromkeys(t["claim"].astype(str))) if "claim" in t else [""]:
        sub = t[t["claim"].astype(str) == claim] if claim else t
        verdicts = sub["verdict"].astype(str).value_counts() if "verdict" in sub else pd.Series(dtype=int)
        claims.append(
            {
                "claim": claim,
                "verdicts": [[v, int(n)] for v, n in verdicts.items()],
                "table": MD(
                    md_table(
                        cols,
                        [[cell(c, v) for c, v in zip(cols, r)] for r in sub[cols].itertuples(index=False)],
                        "l" * len(cols),
                    )
                ),
            }
        )
    return Page(
        "rules-of-thumb.md",
        "Rules of thumb",
        render("rules_of_thumb.md.j2", claims=claims, overall=[[v, int(n)] for v, n in counts.items()]),
    )


def human_size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


TABLE_TITLES = {
    "matrix": "The compatibility matrix",
    "longest_context": "Longest context that fits",
    "fewest_gpus": "Fewest GPUs of each kind",
    "gpu_summary": "What fits on each GPU",
    "rules_of_thumb": "Rules of thumb, checked",
}


def downloads(d: SiteData, package: dict | None) -> Page:
    meta = []
    if package:
        for key in ("title", "version", "created"):
            if package.get(key):
                meta.append([key, package[key]])
        extra = package.get("vramatlas") or package.get("custom")
        if isinstance(extra, dict):
            meta += [[key, val] for key, val in extra.items()]
    shipped = [x for x in d.downloads if x.get("path")]
    rows = [
        [
            f"[{esc(x['name'])}]({x['path']})",
            esc(x.get("format", "")),
            sort_key(human_size(int(x["bytes"])), int(x["bytes"])),
            esc(x.get("description", "")),
        ]
        for x in shipped
    ]
    kept = [x for x in d.downloads if not x.get("path")]
    on_site = {x["name"] for x in shipped}
    tables, seen = [], set()
    for res in (package or {}).get("resources") or []:
        name = str(res.get("name") or "").split("--")[0]
        paths = res.get("path") if isinstance(res.get("path"), list) else [res.get("path")]
        fields = ((res.get("schema") or {}).get("fields")) or []
        if name in seen or not fields or not any(str(x) in on_site for x in paths):
            continue
        seen.add(name)
        tables.append(
            {
                "title": TABLE_TITLES.get(name) or res.get("title") or name,
                "description": res.get("description"),
                "columns": MD(
                    md_table(
                        ["column", "type", "unit", "meaning"],
                        [
                            [
                                code(f.get("name")),
                                esc(f.get("type", "")),
                                esc(f.get("unit", "") or ""),
                                esc(f.get("description", "")),
                            ]
                            for f in fields
                        ],
                        "llll",
                    )
                ),
            }
        )
    text = render(
        "downloads.md.j2",
        meta=meta,
        files=MD(md_table(["file", "format", "size", "what it holds"], rows, "llrl")) if rows else None,
        kept=len(kept),
        kept_names=[x["name"] for x in kept],
        kept_bytes=MD(human_size(sum(int(x["bytes"]) for x in kept))),
        tables=tables,
    )
    return Page("downloads.md", "Downloads", text)


def contributing_guide(d: SiteData) -> Page | None:
    if not d.contributing:
        return None
    text = d.contributing
    repo = "https://github.com/vramatlas/vramatlas/blob/main/"

    def fix(match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return match.group(0)
        return f"[{label}]({repo}{target.lstrip('./')})"

    text = re.sub(r"\[([^\]]*)\]\(([^)\s]+)\)", fix, text)
    return Page("contributing-guide.md", "Contributing guide (CONTRIBUTING.md)", text)


# ------------------------------------------------------------- all of it


def all_pages(d: SiteData, package: dict | None = None) -> list[Page]:
    pages = [home(d), gpu_index(d)] + [gpu_page(d, g) for g in d.gpu_ids]
    pages.append(model_index(d))
    for f in d.family_ids:
        pages.append(family_page(d, f))
        pages += [variant_page(d, v) for v in d.family_variants(f)]
    pages.append(method_index(d))
    pages += [method_page(d, m) for m in d.method_ids]
    pages += [explorer(d), calculator(d), methodology(d), rules_of_thumb(d), downloads(d, package)]
    guide = contributing_guide(d)
    if guide:
        pages.append(guide)
    return pages


def nav(d: SiteData, pages: list[Page], extra: Sequence[str] = ()) -> list:
    """The MkDocs nav; titles are escaped for HTML (MkDocs' templates do not escape them)."""
    title = {pg.path: pg.title for pg in pages}

    def item(path: str) -> dict:
        return {attr(title.get(path, path)): path}

    # GPU and variant pages stay out of the nav (their index pages list them): the nav is
    # rendered into every page, and 80 more entries would double each page's weight.
    models = [item("models/index.md")] + [item(d.family_page(f)) for f in d.family_ids]
    gpus = "gpus/index.md"
    contribute = ["contributing.md"] if "contributing.md" in extra else []
    if "contributing-guide.md" in title:
        contribute.append(item("contributing-guide.md"))
    if "measure.md" in extra:
        contribute.append("measure.md")
    out = [
        {"Home": "index.md"},
        {"GPUs": gpus},
        {"Models": models},
        {"Methods": [item("methods/index.md")] + [item(d.method_page(m)) for m in d.method_ids]},
        {"Calculator": "calculator.md"},
        {"Explorer": "explorer.md"},
        {"Accuracy": ["methodology.md"] + (["published-figures.md"] if "published-figures.md" in extra else [])},
        {"Rules of thumb": "rules-of-thumb.md"},
        {"Downloads": "downloads.md"},
    ]
    if contribute:
        out.append({"Contribute": contribute})
    return out


PUBLISHED_MARKER = "<!-- published-table -->"
WIDE = "---\nhide:\n  - navigation\n---\n\n"
WIDEST = "---\nhide:\n  - navigation\n  - toc\n---\n\n"


def _wide(pg: Page, d: SiteData) -> bool:
    """Pages with wide tables, or not in the nav, use the whole width (the tabs still navigate)."""
    return (
        pg.path
        in (
            "index.md",
            "gpus/index.md",
            "models/index.md",
            "explorer.md",
            "calculator.md",
            "methodology.md",
            "published-figures.md",
            "rules-of-thumb.md",
            "downloads.md",
        )
        or pg.path.startswith("gpus/")
        or (pg.path.startswith("models/") and not pg.path.endswith("index.md"))
    )


def front_matter(pg: Page, d: SiteData) -> str:
    """YAML front matter: the title, HTML-escaped (mkdocs-material prints page.meta.title as it is,
    while a title taken from the heading would be un-escaped by its striptags filter), and which
    sidebars to hide."""
    lines = ["---", "title: " + json.dumps(attr(pg.title), ensure_ascii=True)]
    if _wide(pg, d):
        lines += ["hide:", "  - navigation"]
        if pg.path in ("index.md", "explorer.md", "calculator.md") or pg.path.startswith(("gpus/", "models/")):
            lines.append("  - toc")
    return "\n".join(lines + ["---", "", ""])


def write_page(docs: Path, pg: Page, d: SiteData) -> None:
    target = docs / pg.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(front_matter(pg, d) + pg.text, encoding="utf-8")


def write_downloads_page(docs: Path, d: SiteData, package: dict | None) -> None:
    """The downloads page again, once the tables are written and copied (``d.downloads``): the build
    writes every other page meanwhile."""
    write_page(docs, downloads(d, package), d)


def write_pages(
    docs: Path, d: SiteData, package: dict | None = None, extra: Sequence[str] = ()
) -> tuple[list[Page], list]:
    """Write every generated page and the chart data under ``docs``; return the pages and the nav."""
    pages = all_pages(d, package)
    figures = docs / "published-figures.md"
    if figures.is_file():
        text = figures.read_text(encoding="utf-8")
        if PUBLISHED_MARKER in text:
            figures.write_text(
                WIDEST + text.replace(PUBLISHED_MARKER, "\n" + published_table_md(d.catalog) + "\n"), encoding="utf-8"
            )
    for pg in pages:
        write_page(docs, pg, d)
    data = docs / "data"
    data.mkdir(parents=True, exist_ok=True)
    from . import calculator as calc

    calc.write_assets(docs, d.catalog)
    for name, rows in (
        ("curves.json", curves_data(d)),
        ("gpus.json", gpus_data(d)),
        ("heatmap.json", heatmap_data(d)),
        ("picker.json", picker_data(d)),
    ):
        (data / name).write_text(
            json.dumps(vega_safe(rows), separators=(",", ":"), ensure_ascii=False), encoding="utf-8"
        )
    return pages, nav(d, pages, extra)
