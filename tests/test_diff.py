"""`vramatlas diff`: finds planted changes between two builds."""

from __future__ import annotations

import pandas as pd
import pytest

from vramatlas import matrix as mx
from vramatlas.catalog import load_catalog
from vramatlas.cli import main
from vramatlas.diff import diff_builds, render


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    catalog = load_catalog()
    sub = mx.subset_catalog(
        catalog,
        gpus=["rtx-4090", "h100-sxm"],
        variants=["llama-2-7b", "llama-3.1-8b"],
        methods=["inference-bf16", "qlora"],
    )
    old = mx.compute_matrix(sub)
    root = tmp_path_factory.mktemp("diff")
    (root / "old" / "tables").mkdir(parents=True)
    (root / "new").mkdir()
    old.to_parquet(root / "old" / "tables" / "matrix.parquet")
    new = old.copy()
    fit = new.index[new["fits"]][0]
    new.loc[fit, ["peak_bytes", "fits"]] = [int(new.loc[fit, "capacity_bytes"]) + 1, False]  # no longer fits
    moved = new.index[new["fits"]][5]
    new.loc[moved, "peak_bytes"] = int(new.loc[moved, "peak_bytes"] * 1.05)  # +5%, still fits?
    tiny = new.index[new["fits"]][7]
    new.loc[tiny, "peak_bytes"] = int(new.loc[tiny, "peak_bytes"] * 1.001)  # +0.1%: not reported
    dropped = new.index[-1]
    new = new.drop(index=dropped)  # removed
    new.to_parquet(root / "new" / "matrix.parquet")
    return root, old, fit, moved, tiny, dropped


def _key(frame, i):
    r = frame.loc[i]
    return (str(r.gpu), int(r.gpu_count), str(r.model), str(r.method), int(r.seq_len), int(r.batch))


def test_diff_finds_the_planted_changes(builds):
    root, old, fit, moved, tiny, dropped = builds
    diff = diff_builds(root / "old", root / "new")
    got = {(str(r.change), (r.gpu, r.gpu_count, r.model, r.method, r.seq_len, r.batch)) for r in diff.itertuples()}
    assert ("no-longer-fits", _key(old, fit)) in got
    assert ("removed", _key(old, dropped)) in got
    kinds = {k for k, key in got if key == _key(old, moved)}
    assert kinds in ({"peak-changed"}, {"no-longer-fits"})
    assert not any(key == _key(old, tiny) for _, key in got)
    assert len(diff) == 3
    row = diff[diff["change"] == "no-longer-fits"].iloc[0]
    assert bool(row.old_fits) and not bool(row.new_fits) and row.peak_change > 0


def test_same_build_has_no_diff(builds):
    root = builds[0]
    assert diff_builds(root / "old", root / "old").empty
    assert "No verdict changed" in render(diff_builds(root / "old", root / "old"))


def test_added_rows_when_swapped(builds):
    root, old, *_, dropped = builds
    diff = diff_builds(root / "new", root / "old")
    assert ("added", _key(old, dropped)) in {
        (str(r.change), (r.gpu, r.gpu_count, r.model, r.method, r.seq_len, r.batch)) for r in diff.itertuples()
    }


def test_cli(builds, tmp_path, capsys):
    root = builds[0]
    assert main(["diff", str(root / "old"), str(root / "new")]) == 0
    out = capsys.readouterr().out
    assert "no-longer-fits: 1" in out and "removed" in out
    assert main(["diff", str(root / "old"), str(root / "new"), "--exit-code"]) == 1
    capsys.readouterr()
    md = tmp_path / "diff.md"
    assert main(["diff", str(root / "old"), str(root / "new"), "--format", "markdown", "--out", str(md)]) == 0
    assert md.read_text().startswith("## Matrix diff")
    assert main(["diff", str(root / "old"), str(root / "new"), "--format", "csv"]) == 0
    csv = capsys.readouterr().out
    assert csv.splitlines()[0].startswith("change,gpu,gpu_count")
    assert main(["diff", str(root / "old"), str(tmp_path / "missing")]) == 2
    assert "no matrix.parquet" in capsys.readouterr().err


def test_a_changed_gpu_line_says_its_usable_memory_moved_not_a_zero_percent_peak():
    from vramatlas.diff import diff_frames, render

    key = {
        "gpu": "rtx-4090",
        "gpu_count": 1,
        "model": "llama-3.1-8b",
        "method": "inference-bf16",
        "seq_len": 8192,
        "batch": 1,
    }
    old = pd.DataFrame([{**key, "fits": True, "peak_bytes": 25_190_000_000, "capacity_bytes": 25_757_220_864}])
    new = pd.DataFrame([{**key, "fits": False, "peak_bytes": 25_190_000_000, "capacity_bytes": 25_190_000_000 - 1}])
    text = render(diff_frames(old, new))
    line = next(line for line in text.splitlines() if "llama-3.1-8b" in line)
    assert "peak 23.46 GiB (unchanged)" in line and "usable memory 23.99 -> 23.46 GiB" in line
    assert "+0.0%" not in line
