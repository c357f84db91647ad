"""Derived tables, the writer (determinism, atomic writes), the data package and the row schemas."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from vramatlas import matrix as mx
from vramatlas import tables as tb
from vramatlas.api import estimate
from vramatlas.catalog import load_catalog
from vramatlas.paths import SCHEMA_DIR

GPUS = ["rtx-a4000", "rtx-4090", "h100-sxm"]
VARIANTS = ["llama-2-7b", "llama-3.1-8b", "mixtral-8x7b", "mmfreelm-370m"]
METHODS = ["inference-bf16", "inference-nf4", "inference-ternary", "qlora", "full-mixed"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def sub(catalog):
    return mx.subset_catalog(catalog, gpus=GPUS, variants=VARIANTS, methods=METHODS)


@pytest.fixture(scope="module")
def tables(catalog, sub):
    from vramatlas.thumbs import rules_of_thumb

    matrix = mx.compute_matrix(sub)
    out = {"matrix": matrix, **tb.derived_tables(matrix, sub)}
    out["rules_of_thumb"] = rules_of_thumb(catalog)
    return out


@pytest.fixture()
def epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01


# ------------------------------------------------------------ derived tables


def test_context_grid():
    assert tb.context_grid(4096) == [512, 768, 1024, 1536, 2048, 3072, 4096]
    assert tb.context_grid(5000)[-2:] == [4096, 5000]


def test_longest_context_is_the_edge(sub, tables):
    lc = tables["longest_context"]
    assert len(lc) == len(GPUS) * (len(VARIANTS) * (len(METHODS) - 1) + 1)
    for r in lc.sample(25, random_state=1).itertuples(index=False):
        grid = tb.context_grid(r.max_position_embeddings)
        kw = dict(model=str(r.model), method=str(r.method), gpu=str(r.gpu), batch=1)
        if pd.isna(r.longest_context):
            assert r.limited_by == "does-not-fit"
            assert not estimate(sub, seq_len=grid[0], **kw).fits
            continue
        e = estimate(sub, seq_len=int(r.longest_context), **kw)
        assert e.fits and e.peak_bytes == r.peak_bytes
        if r.longest_context < r.max_position_embeddings:
            assert r.limited_by == "memory"
            nxt = grid[grid.index(int(r.longest_context)) + 1]
            assert not estimate(sub, seq_len=nxt, **kw).fits
        else:
            assert r.limited_by == "model-max"


def test_fewest_gpus_is_the_smallest_rung(sub, tables):
    fg = tables["fewest_gpus"]
    for r in fg.sample(25, random_state=2).itertuples(index=False):
        kw = dict(model=str(r.model), method=str(r.method), gpu=str(r.gpu), seq_len=int(r.seq_len))
        assert r.seq_len == min(8192, sub.variants[str(r.model)]["config"]["max_position_embeddings"])
        if pd.isna(r.min_gpus):
            assert not estimate(sub, gpus=max(tb.GPU_LADDER), **kw).fits
            continue
        assert estimate(sub, gpus=int(r.min_gpus), **kw).fits
        if r.min_gpus > 1:
            assert not estimate(sub, gpus=int(r.min_gpus) // 2, **kw).fits
        assert r.nodes == -(-int(r.min_gpus) // 8)


def test_gpu_summary_counts(tables):
    gs, m = tables["gpu_summary"], tables["matrix"]
    one = m[(m["gpu_count"] == 1) & (m["batch"] == 1) & (m["seq_len"] == 2048)]
    for r in gs.itertuples(index=False):
        rows = one[(one["gpu"] == r.gpu) & (one["method"] == r.method)]
        assert r.models_considered == len(rows)
        assert r.models_fitting == int(rows["fits"].sum())
        listed = set(filter(None, str(r.models_fitting_list or "").split(";")))
        assert listed == set(rows.loc[rows["fits"], "model"].astype(str))


# ------------------------------------------------------------------ writing


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_writes_are_byte_identical(tmp_path, sub, tables, epoch):
    a = tb.write_tables(tables, tmp_path / "a", sub)
    b = tb.write_tables(tables, tmp_path / "b", sub)
    assert [p.name for p in a] == [p.name for p in b]
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa.keys() == fb.keys()
    assert all(fa[k] == fb[k] for k in fa)
    # recomputing from the catalogue gives the same bytes too
    again = {
        "matrix": mx.compute_matrix(sub),
        **tb.derived_tables(mx.compute_matrix(sub), sub),
        "rules_of_thumb": tables["rules_of_thumb"],
    }
    tb.write_tables(again, tmp_path / "c", sub)
    assert _files(tmp_path / "c") == fa


def test_build_date_comes_from_the_catalogue(sub, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert tb.build_date(sub) == "1970-01-01T00:00:00Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    first = tb.build_date(sub)
    assert first == tb.build_date(sub) and first.endswith("Z")


def test_failed_write_leaves_previous_tables_whole(tmp_path, sub, tables, epoch, monkeypatch):
    out = tmp_path / "tables"
    tb.write_tables(tables, out, sub)
    before = _files(out)
    calls = {"n": 0}
    real = tb.csv_bytes

    def failing(df):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full (simulated)")
        return real(df)

    monkeypatch.setattr(tb, "csv_bytes", failing)
    changed = {
        name: (df.assign(peak_bytes=df["peak_bytes"].astype("Int64") + 1) if "peak_bytes" in df else df)
        for name, df in tables.items()
    }
    with pytest.raises(RuntimeError, match="simulated"):
        tb.write_tables(changed, out, sub)
    after = _files(out)
    assert not [k for k in after if k.endswith(".tmp") or "/." in "/" + k]
    # every file is whole: the old bytes or (already renamed) a complete new file; the package is the old one
    assert after["datapackage.json"] == before["datapackage.json"]
    assert after.keys() == before.keys()
    pd.read_parquet(out / "matrix.parquet")
    for name in after:
        if name.endswith(".json"):
            json.loads(after[name])


def test_atomic_write_cleans_up_on_error(tmp_path, monkeypatch):
    target = tmp_path / "x.csv"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        tb._atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


# ------------------------------------------------------------ data package


@pytest.fixture(scope="module")
def written(tmp_path_factory, sub, tables):
    out = tmp_path_factory.mktemp("tables")
    os.environ["SOURCE_DATE_EPOCH"] = "1767225600"
    try:
        tb.write_tables(tables, out, sub)
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    return out


def test_datapackage_validates_with_frictionless(written, sub):
    frictionless = pytest.importorskip("frictionless")
    pkg = frictionless.Package(str(written / "datapackage.json"))
    report = pkg.validate()
    assert report.valid, report.flatten(["type", "message"])[:10]
    assert len(report.tasks) == len(pkg.resources)
    assert all(task.stats.get("rows", 0) > 0 for task in report.tasks)
    desc = json.loads((written / "datapackage.json").read_text())
    assert desc["vramatlas"]["catalog_content_hash"] == sub.content_hash
    assert desc["created"] == desc["vramatlas"]["build_date"] == "2026-01-01T00:00:00Z"
    names = {r["name"] for r in desc["resources"]}
    assert {
        "matrix--parquet",
        "longest_context--csv",
        "fewest_gpus--json",
        "gpu_summary--parquet",
        "rules_of_thumb--csv",
    } <= names
    assert {f"matrix--{m}--csv" for m in METHODS} <= names
    for res in desc["resources"]:
        assert (written / res["path"]).is_file()
        assert res["x_size_bytes"] == (written / res["path"]).stat().st_size
        for field in res["schema"]["fields"]:
            assert field["description"] and field["type"] in ("string", "integer", "number", "boolean")


def test_frictionless_types_match_the_data(written, tables):
    for name, df in tables.items():
        for col in df.columns:
            ftype = tb.FIELDS[col][0]
            dtype = df[col].dtype
            if ftype == "integer":
                assert pd.api.types.is_integer_dtype(dtype), (name, col, dtype)
            elif ftype == "boolean":
                assert pd.api.types.is_bool_dtype(dtype), (name, col, dtype)
            elif ftype == "number":
                assert pd.api.types.is_float_dtype(dtype), (name, col, dtype)


def test_committed_row_schemas_are_current(tables):
    for fname, schema in tb.json_schemas(tables).items():
        path = SCHEMA_DIR / "tables" / fname
        assert path.is_file(), f"{path} missing: python -m vramatlas.tables --write-schemas schema/tables"
        assert json.loads(path.read_text()) == schema, f"{path} is stale: rerun with --write-schemas"
        jsonschema.Draft202012Validator.check_schema(schema)
        for prop, spec in schema["properties"].items():
            assert spec.get("description") and spec.get("examples"), (fname, prop)
            jsonschema.validate(spec["examples"][0], {k: v for k, v in spec.items() if k != "examples"})


def test_written_rows_match_their_schemas(written, tables):
    for name in tables:
        schema = json.loads((SCHEMA_DIR / "tables" / f"{name}.schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema)
        if name == "matrix":
            rows = tb._plain(pd.read_parquet(written / "matrix.parquet").sample(300, random_state=3))
            rows = [{k: tb._json_value(v) for k, v in r.items()} for r in rows.to_dict(orient="records")]
        else:
            rows = json.loads((written / f"{name}.json").read_text())
        assert rows
        for row in rows:
            errors = sorted(validator.iter_errors(row), key=str)
            assert not errors, (name, row, errors[0].message)


def test_csv_is_byte_for_byte_what_pandas_writes(tables):
    """The Arrow writer (the matrix's per-method CSVs) renders every value as DataFrame.to_csv does."""
    matrix = tables["matrix"]
    assert tb._arrow_csv_columns(matrix) is not None  # the matrix takes the fast path
    with_missing = matrix.assign(prefill_tokens_per_s=matrix["prefill_tokens_per_s"].where(matrix["fits"]))
    for name, df in {**tables, "with_missing": with_missing}.items():
        assert tb.csv_bytes(df) == tb._plain(df).to_csv(index=False, lineterminator="\n").encode("utf-8"), name
    quoted = pd.DataFrame({"a": pd.Categorical(["x,y", "z"]), "b": [1, 2]})  # a label that needs quotes: pandas
    assert tb.csv_bytes(quoted) == b'a,b\n"x,y",1\nz,2\n'


def test_json_rows_convert_each_value_as_before(tables):
    """json_bytes converts whole columns at once; each cell comes out as _json_value makes it."""
    missing = pd.DataFrame(
        {
            "cat": pd.Categorical(["a", None, "b"]),
            "int_cat": pd.Categorical([3, 1, None]),
            "nullable": pd.array([1, None, 2**40], dtype="Int64"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "x": [0.5, float("nan"), 1e20],
        }
    )
    for name, df in {**tables, "missing": missing}.items():
        plain = tb._plain(df)
        cols = list(df.columns)
        rows = [
            {c: tb._json_value(v) for c, v in zip(cols, values)} for values in plain.itertuples(index=False, name=None)
        ]
        expected = (json.dumps(rows, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n").encode("utf-8")
        assert tb.json_bytes(df) == expected, name


def test_derived_tables_carry_the_runtime_pairings(catalog):
    """Each runtime's `matrix` pairings reach the derived tables, on the GPUs and counts its file names."""
    rt = mx.subset_catalog(
        catalog, gpus=["rtx-4090", "h100-sxm", "m4-max"], variants=["llama-3.1-8b"], methods=["inference"]
    )
    derived = tb.derived_tables(mx.compute_matrix(rt), rt)
    for name, table in derived.items():
        got = set(zip(table["gpu"].astype(str), table["runtime"].astype(str), table["quant"].astype(str)))
        assert ("h100-sxm", "vllm", "awq-int4") in got and ("m4-max", "mlx", "mlx-4bit") in got, name
        assert ("rtx-4090", "ollama", "q4_k_m") in got and ("h100-sxm", "transformers", "bf16") in got, name
        assert not {g for g, r, _ in got if r in ("vllm", "sglang")} - {"h100-sxm"}, name
        assert not {g for g, r, _ in got if r == "mlx"} - {"m4-max"}, name
    few = derived["fewest_gpus"]
    sglang = few[few["runtime"] == "sglang"]
    assert set(sglang["max_gpus_searched"]) == {8} and set(sglang["min_gpus"].dropna()) <= {1, 8}
    lc = derived["longest_context"]
    row = lc[(lc["runtime"] == "vllm") & (lc["quant"] == "bf16")].iloc[0]
    e = estimate(
        catalog,
        model="llama-3.1-8b",
        method="inference",
        runtime="vllm",
        quant="bf16",
        gpu="h100-sxm",
        seq_len=int(row["longest_context"]),
        ctx=int(row["longest_context"]) + mx.DEFAULT_NEW_TOKENS,
    )
    assert e.fits and e.peak_bytes == row["peak_bytes"]
