"""The compatibility matrix: grid, properties, and agreement with `estimate`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vramatlas import matrix as mx
from vramatlas.api import estimate
from vramatlas.catalog import load_catalog
from vramatlas.memory import COMPONENTS

GPUS = ["rtx-a4000", "rtx-4090", "h100-sxm"]
VARIANTS = ["llama-2-7b", "llama-3.1-8b", "mixtral-8x7b", "llama-3.1-405b", "mmfreelm-370m", "bitnet-b1.58-2b-4t"]
METHODS = ["inference-bf16", "inference-nf4", "inference-ternary", "qlora", "full-mixed", "train-ternary"]
KEY = ["gpu", "gpu_count", "model", "method"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def small(catalog):
    return mx.compute_matrix(catalog, variants=VARIANTS, methods=METHODS, gpus=GPUS)


def expected_grid(catalog, gpus, variants, methods):
    """The grid, written out the slow way (one estimate per probe), to check the fast one."""
    biggest = max(gpus, key=lambda g: mx.gpu_columns(catalog.gpus[g])["capacity_bytes"])
    rows = set()
    for v in variants:
        family = catalog.models[catalog.variants[v]["family"]]
        maxpos = catalog.variants[v]["config"]["max_position_embeddings"]
        contexts = sorted({c for c in mx.CONTEXTS if c <= maxpos} | {maxpos})
        for m in methods:
            wanted = catalog.methods[m].get("for_weights_native")
            if wanted and family["weights_native"] not in wanted:
                continue
            counts = list(mx.GPU_COUNTS)
            for n in (8,) + mx.NODE_COUNTS:
                if n > 8:
                    counts.append(n)
                if estimate(catalog, model=v, method=m, seq_len=min(2048, maxpos), gpu=biggest, gpus=n).fits:
                    break
            for g in gpus:
                for n in counts:
                    for s in contexts:
                        for b in mx.BATCHES if n == 1 else mx.MULTI_GPU_BATCHES:
                            rows.add((g, n, v, m, s, b))
    return rows


def test_grid_is_the_documented_one(catalog, small):
    got = set(
        zip(
            small["gpu"].astype(str),
            small["gpu_count"],
            small["model"].astype(str),
            small["method"].astype(str),
            small["seq_len"],
            small["batch"],
        )
    )
    assert len(got) == len(small), "duplicate rows"
    assert got == expected_grid(catalog, GPUS, VARIANTS, METHODS)


def test_columns_and_dtypes(small):
    assert list(small.columns) == list(mx.MATRIX_COLUMNS)
    for col in ("gpu", "model_family", "model", "method", "parallelism", "phase", "optimizer", "method_kind"):
        assert isinstance(small[col].dtype, pd.CategoricalDtype), col
    for col in ("peak_bytes", "capacity_bytes", "headroom_bytes", *COMPONENTS):
        assert small[col].dtype == np.int64, col
    assert small["fits"].dtype == bool


def test_ids_come_from_the_catalogue(catalog, small):
    assert set(small["gpu"].astype(str)) <= set(catalog.gpus)
    assert set(small["model"].astype(str)) <= set(catalog.variants)
    assert set(small["method"].astype(str)) <= set(catalog.methods)
    fam = small["model"].astype(str).map(lambda v: catalog.variants[v]["family"])
    assert (fam == small["model_family"].astype(str)).all()


def test_ternary_methods_only_for_ternary_families(catalog, small):
    ternary = small["method"].isin(["inference-ternary", "train-ternary"])
    natives = {
        v for v in catalog.variants if catalog.models[catalog.variants[v]["family"]]["weights_native"] == "ternary"
    }
    assert set(small.loc[ternary, "model"].astype(str)) <= natives
    assert set(small.loc[ternary, "model"].astype(str)) == natives & set(VARIANTS)


def test_contexts_within_each_models_maximum(catalog, small):
    maxpos = small["model"].astype(str).map(lambda v: catalog.variants[v]["config"]["max_position_embeddings"])
    assert (small["seq_len"] <= maxpos).all()
    assert (small["seq_len"] == maxpos).groupby(small["model"].astype(str)).any().all()


def test_components_never_negative_and_sum_to_peak(small):
    comps = small[list(COMPONENTS)]
    assert (comps >= 0).all().all()
    assert (comps.sum(axis=1) == small["peak_bytes"]).all()


def test_fits_iff_headroom_not_negative(small):
    assert (small["fits"] == (small["headroom_bytes"] >= 0)).all()
    assert (small["headroom_bytes"] == small["capacity_bytes"] - small["peak_bytes"]).all()


def test_parallelism(small):
    one = small["gpu_count"] == 1
    assert (small.loc[one, "parallelism"] == "none").all()
    training = small["method_kind"] == "training"
    assert (small.loc[~one & training, "parallelism"] == "fsdp").all()
    assert (small.loc[~one & ~training, "parallelism"] == "tp").all()


def _decreasing_steps(frame, axis):
    other = "batch" if axis == "seq_len" else "seq_len"
    ordered = frame.sort_values([*KEY, other, axis], kind="stable")
    steps = ordered.groupby([*KEY, other], observed=True)["peak_bytes"].diff()
    bad = ordered[steps < 0]
    return set(zip(bad["model"].astype(str), bad["method"].astype(str)))


@pytest.mark.parametrize("axis", ["seq_len", "batch"])
def test_monotone_in_context_and_batch(small, axis):
    assert not _decreasing_steps(small, axis)


def test_rows_agree_with_estimate(catalog, small):
    sample = small.sample(40, random_state=7)
    multi = small[small["gpu_count"] > 8]
    sample = pd.concat([sample, multi.head(5)])
    for r in sample.itertuples(index=False):
        e = estimate(
            catalog,
            model=str(r.model),
            method=str(r.method),
            seq_len=int(r.seq_len),
            batch=int(r.batch),
            gpu=str(r.gpu),
            gpus=int(r.gpu_count),
        )
        assert e.peak_bytes == r.peak_bytes, r
        assert e.fits == r.fits and e.headroom_bytes == r.headroom_bytes
        assert e.components == {c: getattr(r, c) for c in COMPONENTS}
        assert e.inputs["parallelism"] == r.parallelism


@pytest.mark.slow
def test_full_catalogue_matrix(catalog, full_matrix):
    full = full_matrix  # the build's matrix.parquet when this run has built the site, else computed (conftest.py)
    assert 300_000 < len(full) <= mx.ROW_BUDGET  # the size is a choice: see matrix.py's "Size"
    assert set(full["gpu"].astype(str)) == set(catalog.gpus)
    assert set(full["model"].astype(str)) == set(catalog.variants)
    assert set(full["method"].astype(str)) == set(catalog.methods)
    assert full["gpu_count"].max() <= max(mx.NODE_COUNTS)
    # every method has the same number of rows on each GPU (the grid is rectangular over GPUs); a runtime's
    # `matrix` pairings only on the GPUs their file names
    pairing = (
        pd.Series(list(zip(full["method"].astype(str), full["runtime"].astype(str), full["quant"].astype(str))))
        .isin(
            {
                (spec["matrix"]["method"], rid, q)
                for rid, spec in catalog.runtimes.items()
                if spec.get("matrix")
                for q in spec["matrix"]["quants"]
            }
        )
        .to_numpy()
    )
    per_gpu = full[~pairing].groupby("gpu", observed=True).size()
    assert per_gpu.nunique() == 1
    assert set(full.loc[pairing, "runtime"].astype(str)) == {"llama.cpp", "ollama", "vllm", "sglang", "mlx"}


def test_chunked_evaluation_gives_the_same_matrix_as_one_chunk(catalog):
    vt, mt, gt = mx.variant_table(catalog, VARIANTS), mx.method_table(catalog, METHODS), mx.gpu_table(catalog, GPUS)
    keys = mx.matrix_keys(vt, mt, gt)
    whole = mx._estimate_keys(keys, vt, mt, gt, chunk_rows=len(keys))
    seen = []
    chunked = mx._estimate_keys(
        keys,
        vt,
        mt,
        gt,
        chunk_rows=97,  # a prime: chunks cut across every grouping
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (len(keys), len(keys)) and len(seen) == -(-len(keys) // 97)  # one report per chunk
    assert len(keys) > 10 * 97
    pd.testing.assert_frame_equal(chunked, whole)
    assert mx.result_frame(keys, vt, mt, gt, chunked).equals(mx.result_frame(keys, vt, mt, gt, whole))


def test_two_processes_give_the_same_matrix_as_one(catalog):
    vt, mt, gt = mx.variant_table(catalog, VARIANTS), mx.method_table(catalog, METHODS), mx.gpu_table(catalog, GPUS)
    keys = mx.matrix_keys(vt, mt, gt)
    one = mx._estimate_keys(keys, vt, mt, gt, chunk_rows=97)
    seen = []
    two = mx._estimate_keys(
        keys, vt, mt, gt, chunk_rows=97, processes=2, on_progress=lambda done, total: seen.append((done, total))
    )
    pd.testing.assert_frame_equal(two, one)
    assert seen[-1] == (len(keys), len(keys)) and all(d <= t for d, t in seen)  # this process's share, scaled
    assert mx.MATRIX_PROCESSES == 2


# ---- the runtime dimension: each runtime file's `matrix` pairings -------------------------------------

RT_GPUS = ["rtx-4090", "h100-sxm", "mi300x", "m4-max", "arc-b580"]
RT_VARIANTS = ["llama-3.1-8b", "mixtral-8x7b", "qwen2.5-14b"]
RT_METHODS = ["inference", "inference-gguf-q4-k-m"]


@pytest.fixture(scope="module")
def with_runtimes(catalog):
    return mx.compute_matrix(catalog, variants=RT_VARIANTS, methods=RT_METHODS, gpus=RT_GPUS)


def _pairings(catalog):
    return {
        (rid, q): spec["matrix"]
        for rid, spec in catalog.runtimes.items()
        if spec.get("matrix")
        for q in spec["matrix"]["quants"]
    }


def test_every_runtime_pairing_is_in_the_matrix_on_its_gpus_only(catalog, with_runtimes):
    pairings = _pairings(catalog)
    assert {"llama.cpp", "ollama", "vllm", "sglang", "mlx"} <= {rid for rid, _ in pairings}
    rows = with_runtimes[with_runtimes["method"] == "inference"]
    for (rid, q), pairing in pairings.items():
        mine = rows[(rows["runtime"] == rid) & (rows["quant"] == q)]
        want = {
            g
            for g in RT_GPUS
            if catalog.gpus[g]["segment"] in pairing["gpu_segments"] and catalog.gpus[g]["vendor"] in pairing["vendors"]
        }
        assert want, (rid, q)  # the sample has a GPU of every pairing
        assert set(mine["gpu"].astype(str)) == want, (rid, q)
        assert set(mine["gpu_count"]) == set(pairing["gpu_counts"]), (rid, q)
        assert set(mine["model"].astype(str)) == set(RT_VARIANTS)
    # the method's own rows stay on every GPU, with its own runtime
    own = rows[rows["runtime"] == "transformers"]
    assert set(own["gpu"].astype(str)) == set(RT_GPUS) and set(own["quant"].astype(str)) == {"bf16"}
    gguf = with_runtimes[with_runtimes["method"] == "inference-gguf-q4-k-m"]
    assert set(gguf["runtime"].astype(str)) == {"llama.cpp"} and set(gguf["gpu"].astype(str)) == set(RT_GPUS)
    keys = ["gpu", "gpu_count", "model", "method", "runtime", "quant", "seq_len", "batch"]
    assert not with_runtimes.duplicated(keys).any()


def test_runtime_rows_agree_with_estimate(catalog, with_runtimes):
    """A sample of every runtime's rows equals `vramatlas estimate --runtime R --quant Q --ctx seq_len+new_tokens`,
    the runtime's own terms included (llama.cpp buffers, vLLM/SGLang start-up with the preallocated pool, MLX)."""
    pairings = _pairings(catalog)
    checked, with_speed = set(), set()
    for (rid, q), part in with_runtimes.groupby(["runtime", "quant"], observed=True):
        sample = part.sample(min(len(part), 6), random_state=3)
        for r in sample.itertuples(index=False):
            pairing = (
                (str(r.runtime), str(r.quant)) in pairings
                and str(r.method) == "inference"
                and str(r.runtime) != "transformers"
            )
            extra = (
                dict(runtime=str(r.runtime), quant=str(r.quant), ctx=int(r.seq_len) + int(r.new_tokens))
                if pairing
                else {}
            )
            e = estimate(
                catalog,
                model=str(r.model),
                method=str(r.method),
                seq_len=int(r.seq_len),
                batch=int(r.batch),
                gpu=str(r.gpu),
                gpus=int(r.gpu_count),
                **extra,
            )
            assert e.peak_bytes == r.peak_bytes, r
            assert e.fits == r.fits and e.headroom_bytes == r.headroom_bytes, r
            assert e.components == {c: getattr(r, c) for c in COMPONENTS}, r
            assert e.inputs.get("runtime", "transformers") == str(r.runtime)
            speed = e.as_dict().get("speed") or {}
            for name in ("prefill_tokens_per_s", "decode_tokens_per_s"):  # the speed model at the same runtime
                if r.fits and speed.get(name) is not None:
                    assert getattr(r, name) == pytest.approx(speed[name], rel=1e-6), (name, r)
                    with_speed.add(str(r.runtime))
            checked.add(str(r.runtime))
    assert checked == {"transformers", "llama.cpp", "ollama", "vllm", "sglang", "mlx"}
    assert {"llama.cpp", "vllm", "mlx"} <= with_speed


def test_a_server_row_fits_only_with_a_pool_for_one_context(catalog, with_runtimes):
    """vLLM / SGLang rows: the start-up peak is the preallocated share of the GPU; a row fits when weights,
    activations and non-torch memory leave a KV pool of at least one sequence of the row's context."""
    servers = with_runtimes[with_runtimes["runtime"].isin(["vllm", "sglang"])]
    assert servers["fits"].any() and not servers["fits"].all()
    assert (servers.loc[servers["fits"], "kv_cache"] > 0).all()
    big = servers[
        (servers["model"] == "mixtral-8x7b")
        & (servers["gpu_count"] == 1)
        & (servers["quant"] == "bf16")
        & (servers["gpu"] == "h100-sxm")
    ]
    assert len(big) and not big["fits"].any()  # 93 GB of bf16 weights: more than one 80 GB H100
    on_four = servers[
        (servers["model"] == "mixtral-8x7b")
        & (servers["gpu_count"] == 4)
        & (servers["gpu"] == "h100-sxm")
        & (servers["seq_len"] == 2048)
    ]
    assert len(on_four) and on_four["fits"].all()  # tensor parallel over 4 leaves a pool


def test_grid_ladder_holds_the_budget(catalog):
    """Under a budget the full grid would break, the matrix takes the next rung of GRIDS: one GPU keeps every
    context and batch, several GPUs only the reference and the longest context; and never more rows than the
    budget; below the leanest rung it refuses."""
    vt, mt, gt = mx.variant_table(catalog, VARIANTS), mx.method_table(catalog, METHODS), mx.gpu_table(catalog, GPUS)
    full = mx.matrix_keys(vt, mt, gt)
    lean = mx.matrix_keys(vt, mt, gt, budget=len(full) - 1)
    assert len(lean) <= len(full) - 1
    one = ["g", "v", "m", "seq_len", "batch"]
    pd.testing.assert_frame_equal(
        full[full["gpu_count"] == 1][one].reset_index(drop=True),
        lean[lean["gpu_count"] == 1][one].reset_index(drop=True),
    )
    maxpos = vt["max_positions"].to_numpy()
    several = lean[lean["gpu_count"] > 1]
    ref = mx.reference_contexts(vt)[several["v"].to_numpy()]
    seq = several["seq_len"].to_numpy()
    assert ((seq == ref) | (seq == maxpos[several["v"].to_numpy()])).all()
    assert set(several["gpu_count"]) == set(full.loc[full["gpu_count"] > 1, "gpu_count"])  # the same rungs
    assert (mx.reference_contexts(vt) == [min(8192, int(p)) for p in maxpos]).all()
    leanest = mx.matrix_keys(vt, mt, gt, budget=len(lean) - 1)
    assert (leanest.loc[leanest["seq_len"].to_numpy() != mx.reference_contexts(vt)[leanest["v"]], "batch"] == 1).all()
    with pytest.raises(mx.MatrixBudgetError, match="over its budget"):
        mx.matrix_keys(vt, mt, gt, budget=len(leanest) - 1)


def test_a_catalogue_over_the_budget_is_refused_by_the_build_in_one_line(monkeypatch, tmp_path, capsys):
    from test_site import small_catalog

    from vramatlas.cli import main

    compute = mx.compute_matrix
    monkeypatch.setattr(mx, "compute_matrix", lambda catalog, **kw: compute(catalog, budget=100, **kw))
    assert main(["build", "--catalog", str(small_catalog(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vramatlas build: the matrix is over its budget of 100 rows at every grid")
    assert "raise ROW_BUDGET" in err and "internal error" not in err and len(err.splitlines()) == 1
