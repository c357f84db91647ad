"""Published measured figures (catalog/measurements/pub-*.yaml): schema, references, comparability, accuracy.

Tolerance for comparable figures, per source (|estimate / published - 1|):
- HF optimize-llm (octocoder): the post prints max_memory_allocated / 1024^3 to 15 digits, so rounding adds
  nothing; 5% is the issue's median target for measured peaks.
- torchtune (Llama 3.2 3B, packed): 'Peak Memory Active (GiB)' printed to one decimal (60.0, +-0.05 GiB,
  under 0.1%); 5% likewise.
A figure judged on peak_allocated_bytes is compared with the estimate less the CUDA context and the
allocator slack (vramatlas.published). A comparable figure outside its tolerance is a finding for the
memory model, never a reason to widen the tolerance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml

from vramatlas.catalog import load_catalog
from vramatlas.published import PREFIX, is_memory_figure, published_table, summary

ROOT = Path(__file__).resolve().parents[1]
ALL_FILES = sorted((ROOT / "catalog" / "measurements").glob(f"{PREFIX}*.yaml"))
# The memory figures are judged here; a runtime start-up log line (compare: runtime_log.<key>) is judged against
# that runtime's predicted log line by `vramatlas accuracy` (tests/test_runtimes.py), and checked below for its
# own provenance and printed units.
FILES = [p for p in ALL_FILES if is_memory_figure(yaml.safe_load(p.read_text()))]
RUNTIME_FILES = [p for p in ALL_FILES if p not in FILES]
# a runtime log prints MiB (llama.cpp, Ollama) or GiB (vLLM, MLX) to at most 3 decimals
LOG_UNITS = (2**20, 2**30)
SCHEMA = json.loads((ROOT / "schema" / "measurement.schema.json").read_text())
TOLERANCE = {"pub-hf-optimize-llm-": 0.05, "pub-torchtune-": 0.05}
UNITS = {2**30: "GiB", 10**9: "GB"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def table(catalog):
    return published_table(catalog)


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_there_are_published_figures():
    assert len(FILES) >= 80
    assert len(RUNTIME_FILES) >= 10


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.stem)
def test_file_matches_schema(path):
    data = _load(path)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["id"] == path.stem


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_references_exist(path, catalog):
    data = _load(path)
    assert data["method"] in catalog.methods
    assert data["gpu"] is None or data["gpu"] in catalog.gpus
    assert data["model"] is None or data["model"] in catalog.variants
    if data["model"] and data.get("parameters"):
        assert data["parameters"] == catalog.variants[data["model"]]["parameters"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_provenance_and_reason(path):
    data = _load(path)
    prov = data["provenance"]
    assert prov["source"].startswith("https://")
    assert prov["by"] and prov["protocol"]
    assert data["measured"][data["compare"]] > 0
    # every published figure says why it is, or is not, comparable
    assert data["why_not_comparable"]
    if data["comparable"]:
        assert data["why_not_comparable"].startswith("comparable")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_published_value_is_a_round_unit_conversion(path):
    """The bytes come from the printed number times 10^9 (GB) or 2^30 (GiB), not a re-measurement."""
    value = _load(path)["measured"]
    (quantity,) = [k for k, v in value.items() if v is not None]
    v = value[quantity]
    printed = [v / unit for unit in UNITS]
    # octocoder prints 15 digits; every other source at most 2 decimals
    assert any(abs(p * 100 - round(p * 100)) < 1e-3 for p in printed) or "octocoder" in path.stem


def test_octocoder_config_counts_15_5b(catalog):
    data = _load(ROOT / "catalog" / "measurements" / "pub-hf-optimize-llm-octocoder-bf16.yaml")
    assert data["config"]["multi_query"] is True
    assert 15.4e9 < data["parameters"] < 15.6e9


def test_table_has_every_figure(table):
    assert sorted(table["measurement"]) == sorted(p.stem for p in FILES)
    assert set(table["status"]) <= {"comparable", "not comparable"}
    assert table.loc[~table["comparable"], "why_not_comparable"].str.len().min() > 20


def test_summary_counts(table):
    s = summary(table)
    assert s["figures"] == len(FILES)
    assert s["comparable"] + s["not_comparable"] == s["figures"]
    assert s["comparable"] >= 3


def _tolerance(mid: str) -> float:
    for prefix, tol in TOLERANCE.items():
        if mid.startswith(prefix):
            return tol
    raise AssertionError(f"no tolerance stated for comparable figure {mid}")


def test_comparable_figures_within_tolerance(table):
    rows = table[table["comparable"]]
    assert len(rows) >= 3
    misses = []
    for r in rows.itertuples():
        tol = _tolerance(r.measurement)
        if math.isnan(r.error) or abs(r.error) > tol:
            misses.append(
                f"{r.measurement}: published {r.published_gib:.2f} GiB, estimate {r.estimate_compared_gib:.2f} GiB "
                f"({r.error:+.1%}, tolerance {tol:.0%})"
            )
    assert not misses, "\n".join(misses)


def test_allocated_figures_compare_without_context_and_slack(table):
    rows = table[table["quantity"] == "peak_allocated_bytes"].dropna(subset=["estimate_bytes"])
    assert (rows["estimate_compared_bytes"] < rows["estimate_bytes"]).all()


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: p.stem)
def test_runtime_log_figure_provenance_and_units(path, catalog):
    """A runtime log figure names a catalogued runtime and model, quotes its log line, and is that line's round number."""
    data = _load(path)
    assert data["workload"]["runtime"] in catalog.runtimes
    assert data["method"] in catalog.methods
    assert data["model"] in catalog.variants if data["model"] else data["config"]["model_type"]
    prov = data["provenance"]
    assert prov["source"].startswith("https://") and prov["by"] and prov["protocol"]
    key = data["compare"].removeprefix("runtime_log.")
    v = data["measured"]["runtime_log"][key]
    assert v > 0
    assert any(abs(v / unit * 1000 - round(v / unit * 1000)) < 1e-2 for unit in LOG_UNITS)


def test_runtime_log_figures_are_not_in_the_memory_table(table):
    assert not set(table["measurement"]) & {p.stem for p in RUNTIME_FILES}
