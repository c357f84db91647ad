"""Validation is the gate (issue 9), as a property: hypothesis mutates the real catalogue, and every
catalogue that ``vramatlas validate`` passes must build; what the build refuses, validate refuses first.

Each example takes a small subset of the real catalogue (3 GPUs, 4 model families of different
architectures, every method, quant and runtime), changes one or two things (a value replaced
by a hostile one, a key deleted, a file renamed), and runs ``validate``. When it reports no error the example runs
the build's own stages on it: ``load_catalog``, ``compute_matrix``, ``derived_tables``, ``write_tables``
and the pages' chart data (``curves_data``, ``gpus_data``, ``heatmap_data``); the page text with its
Altair charts (``all_pages``, about 4 s) only when the mutation put in a string, since strings are what
pages show; and never ``mkdocs build`` (15 s or more an example, too slow for hundreds of examples;
tests/test_site.py builds the full site with hostile names). The built matrix must hold only finite,
non-negative peaks below 1 EiB, and "fits" only where the peak is within the GPU's capacity.
When validate reports errors, each is located (a file of the catalogue, a line) in one line.

The default run is small (``VRAMATLAS_FUZZ_EXAMPLES``, default 12); the closing note of issue 9 quotes
a longer run.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from vramatlas.paths import CATALOG_DIR, KINDS  # noqa: E402

pytestmark = pytest.mark.slow

SUBSET = {
    "gpus": ("rtx-4090", "h100-sxm", "m4-max"),
    "models": ("llama-3.2", "qwen3-moe", "falcon-mamba", "gemma-3"),
}
EXAMPLES = int(os.environ.get("VRAMATLAS_FUZZ_EXAMPLES", "12"))


def make_subset(root: Path) -> Path:
    for kind in KINDS:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for f in sorted((CATALOG_DIR / kind).glob("*.yaml")):
            if kind == "measurements":
                continue  # they name variants the subset leaves out
            if kind in SUBSET and f.stem not in SUBSET[kind]:
                continue
            shutil.copyfile(f, root / kind / f.name)
    shutil.copyfile(CATALOG_DIR / "validation-exceptions.yaml", root / "validation-exceptions.yaml")
    return root


def leaves(data: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every value of a document (mappings and lists included)."""
    out = [path] if path else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += leaves(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += leaves(v, path + (i,))
    return out


@pytest.fixture(scope="module")
def subset(tmp_path_factory) -> dict[str, Any]:
    """The subset on disk, and the places a mutation can touch: every value, the numbers, the strings
    by key (to swap a value for one another file holds under the same key), the mappings."""
    from vramatlas.validate import validate

    root = make_subset(tmp_path_factory.mktemp("subset") / "catalog")
    report = validate([root])
    assert report.errors == [], "the subset itself must validate: " + "\n".join(p.format() for p in report.errors)
    every, numbers, strings, mappings = [], [], {}, []
    by_key: dict[str, set] = {}
    for f in sorted(root.rglob("*.yaml")):
        if f.name == "validation-exceptions.yaml":
            continue
        rel = f.relative_to(root).as_posix()
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        for path in leaves(data):
            every.append((rel, path))
            value = _get(data, path)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers.append((rel, path, value))
            elif isinstance(value, str) and isinstance(path[-1], str):
                strings.setdefault(path[-1], []).append((rel, path))
                by_key.setdefault(path[-1], set()).add(value)
            elif isinstance(value, dict):
                mappings.append((rel, path, value))
    swappable = {k: v for k, v in strings.items() if len(by_key[k]) > 1}
    return {
        "root": root,
        "every": every,
        "numbers": numbers,
        "strings": swappable,
        "values_by_key": {k: sorted(v) for k, v in by_key.items()},
        "mappings": mappings,
    }


def _get(data, path):
    for part in path:
        data = data[part]
    return data


SPECIAL_INTS = [0, -1, 1, 2, 3, 7, 2**31, 2**53 + 1, 2**63, 2**64 + 1, 2**70, 10**18, -(2**63)]
SPECIAL_STRINGS = [
    "",
    " ",
    "x" * 5000,
    "a\u2028b",
    "a\u2029b",
    "a\nb",
    "\x1b[31m",
    "0o17",
    "1e3",
    "yes",
    "null",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "rtx-4090",
    "llama-3.2-1b",
    "bf16",
    "../../etc/passwd",
    "\u202eevil",
    "9" * 400,
]
values = st.one_of(
    st.sampled_from(SPECIAL_INTS),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e-300, 0.5, 1.5, 1e308, 1e19]),
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=30),
    st.none(),
    st.booleans(),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.sampled_from(["a", "id", "bits"]), st.integers(min_value=0, max_value=5), max_size=2),
)


BOUNDARIES = [2**14, 2**16, 2**20, 2**22, 2**24, 2**30, 2**42, 2**50, 2**53]


@st.composite
def mutations(draw, subset):
    """One change: most stay within the schema (so validation passes and the build must cope), some are hostile."""
    kind = draw(st.sampled_from(["nudge", "nudge", "nudge", "swap", "swap", "graft", "delete", "hostile", "rename"]))
    if kind == "rename":
        rel = draw(st.sampled_from(sorted({rel for rel, _ in subset["every"]})))
        new = draw(st.sampled_from(["copy", "Upper", "x.y", "a--b", "rtx-4090", "llama-3.2"]))
        return ("rename", rel, (), new)
    if kind == "nudge":  # a number moved within (or just past) what the schema allows
        rel, path, old = draw(st.sampled_from(subset["numbers"]))
        factor = draw(st.sampled_from([0, 0.5, 2, 3, 10, 1000, 10**6]))
        value = draw(
            st.one_of(
                st.just(old * factor),
                st.sampled_from([old + 1, old - 1, 1, 2, 0]),
                st.sampled_from(BOUNDARIES),
                st.sampled_from([b + 1 for b in BOUNDARIES]),
            )
        )
        if isinstance(old, int) and isinstance(value, float) and value.is_integer():
            value = int(value)
        return ("replace", rel, path, value)
    if kind == "swap":  # a string replaced by one another file holds under the same key (an enum, an id)
        key = draw(st.sampled_from(sorted(subset["strings"])))
        rel, path = draw(st.sampled_from(subset["strings"][key]))
        return ("replace", rel, path, draw(st.sampled_from(subset["values_by_key"][key])))
    if kind == "graft":  # a key/value of one mapping copied into another (experts into a dense config ...)
        rel, path, _ = draw(st.sampled_from(subset["mappings"]))
        _, _, donor = draw(st.sampled_from(subset["mappings"]))
        if not donor:
            return ("noop", rel, path, None)
        key = draw(st.sampled_from(sorted(map(str, donor))))
        return ("replace", rel, path + (key,), donor[key])
    rel, path = draw(st.sampled_from(subset["every"]))
    if kind == "delete":
        return ("delete", rel, path, None)
    return ("replace", rel, path, draw(values))


def apply(root: Path, mutation) -> None:
    action, rel, path, value = mutation
    f = root / rel
    if action == "noop":
        return
    if action == "rename":
        f.rename(f.with_name(f"{value}.yaml"))
        return
    data = yaml.safe_load(f.read_text(encoding="utf-8"))
    parent = _get(data, path[:-1])
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    f.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**6), encoding="utf-8")


def build_stages(root: Path, work: Path, pages: bool) -> None:
    """The build's stages up to (not including) mkdocs; raises whatever the build would raise."""
    from vramatlas.catalog import load_catalog
    from vramatlas.matrix import compute_matrix
    from vramatlas.site import pages as site_pages
    from vramatlas.tables import derived_tables, write_tables

    catalog = load_catalog(root, cache=False)
    matrix = compute_matrix(catalog)
    peaks = matrix["peak_bytes"].to_numpy(dtype="float64")
    assert all(math.isfinite(p) and 0 <= p <= 2**60 for p in peaks), "a peak is negative, infinite or past 1 EiB"
    fits = matrix["fits"].fillna(False).to_numpy(dtype=bool)
    capacity = matrix["capacity_bytes"].to_numpy(dtype="float64")
    assert (peaks[fits] <= capacity[fits]).all(), "a row fits with a peak above the GPU's capacity"
    derived = derived_tables(matrix, catalog)
    write_tables({"matrix": matrix, **derived}, work / "tables", catalog)
    data = site_pages.SiteData(catalog=catalog, matrix=matrix, derived=derived)
    site_pages.curves_data(data)
    site_pages.gpus_data(data)
    site_pages.heatmap_data(data)
    if pages:
        site_pages.all_pages(data, None)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("VRAMATLAS_FUZZ_SEED") is None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_catalogue_validate_passes_builds(subset, data):
    from vramatlas.validate import validate

    changes = data.draw(st.lists(mutations(subset), min_size=1, max_size=2), label="mutations")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "catalog"
        shutil.copytree(subset["root"], root)
        for mutation in changes:
            try:
                apply(root, mutation)
            except (KeyError, IndexError, TypeError, FileNotFoundError, FileExistsError):
                pass  # an earlier change removed what this one names
        report = validate([root])
        event("refused by validate" if report.errors else "validated, so built")
        if report.errors:
            for problem in report.errors:  # refused, and located
                line = problem.format()
                assert "\n" not in line and len(line) < 2000
                assert Path(os.path.abspath(problem.path)).is_relative_to(root), line
                assert problem.line >= 1 or problem.path.is_dir() or problem.path == root, line
            return
        build_stages(root, Path(tmp), pages=any(isinstance(m[3], str) for m in changes))
