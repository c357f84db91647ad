"""One case on plain Python floats and the matrix on numpy give the same bytes.

`vramatlas estimate` (and the browser calculator) runs the memory model on a
dict of floats through vramatlas.xp; the matrix runs it on numpy columns.
Every component, the peak, the phase, the headroom and the verdict must agree
exactly, for every catalogue variant and method.
"""

import itertools
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramatlas import xp
from vramatlas.api import InputError, case_row
from vramatlas.catalog import load_catalog
from vramatlas.memory import COMPONENTS, estimate_columns, estimate_frame

WORKLOADS = (
    {"seq_len": 512, "batch": 1, "new_tokens": 16},
    {"seq_len": 8192, "batch": 2, "new_tokens": 256},
    {"seq_len": 131072, "batch": 1, "new_tokens": 0},
)
# (GPU count, parallelism): every parallelism, one GPU and several
SPLITS = ((1, None), (4, "tp"), (2, "pp"), (4, "ddp"), (8, "zero1"), (8, "zero2"), (16, "zero3"), (8, "fsdp"))
OPTIMIZERS = (None, "adamw", "adamw-fp32", "adamw8bit", "sgd", "sgd-nomomentum", "lion")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def rows(catalog):
    """Every variant x every method x every workload; the splits, GPUs and training options in turn,
    so each variant meets every parallelism across its methods and each GPU many cases."""
    gpus = [None, *sorted(catalog.gpus)]
    turn = itertools.count()
    out = []
    for variant in sorted(catalog.variants):
        for method in sorted(catalog.methods):
            training = catalog.methods[method]["kind"] == "training"
            for work in WORKLOADS:
                i = next(turn)
                count, par = SPLITS[i % len(SPLITS)]
                inputs = dict(
                    model=variant, method=method, gpu=gpus[i % len(gpus)], gpus=count, parallelism=par, **work
                )
                if training:
                    inputs.update(
                        optimizer=OPTIMIZERS[i % len(OPTIMIZERS)], grad_checkpointing=(None, True, False)[i % 3]
                    )
                try:
                    out.append(case_row(catalog, **inputs))
                except InputError as exc:  # only a runtime that cannot load this model refuses a case here
                    assert " implements no " in str(exc) or " loads no " in str(exc), exc
                    REFUSED.append(inputs)
    return out


REFUSED: list[dict] = []  # the cases `rows` left out: a runtime that cannot load the model (its `supports`)


def _same(single: dict, frame_row) -> None:
    for name in (*COMPONENTS, "peak_bytes"):
        assert type(single[name]) is int, name  # a Python int: no int64 wrap on the scalar path
        assert single[name] == int(frame_row[name]), name
    assert single["phase"] == frame_row["phase"]
    if math.isnan(single["headroom_bytes"]):
        assert pd.isna(frame_row["headroom_bytes"]) and pd.isna(frame_row["fits"])
    else:
        assert round(single["headroom_bytes"]) == int(frame_row["headroom_bytes"])
        assert single["fits"] == bool(frame_row["fits"])


def test_every_catalogue_case_is_byte_identical_on_floats_and_on_numpy(catalog, rows):
    assert len(rows) + len(REFUSED) == len(catalog.variants) * len(catalog.methods) * len(WORKLOADS)
    # refused: the ternary checkpoints (BitNet, MatMul-free LM) on runtimes without a ternary loader
    assert {catalog.variants[case["model"]]["family"] for case in REFUSED} <= {"bitnet-b1.58", "matmul-free-lm"}
    frame = estimate_frame(pd.DataFrame(rows))
    for row, expected in zip(rows, frame.to_dict("records")):
        _same(estimate_columns(row), expected)


def test_the_cases_reach_every_phase_and_parallelism(rows):
    # the equality above means something only if the cases take every branch
    frame = estimate_frame(pd.DataFrame(rows))
    assert {r["gpus"] for r in rows} == {float(n) for n, _ in SPLITS}
    assert {r["parallelism"] for r in rows} == {p or "none" for _, p in SPLITS}
    assert set(frame["phase"]) == {"prefill", "decode", "loss", "backward", "optimizer-step", "start-up"}
    assert frame["fits"].any() and not frame["fits"].fillna(True).all()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_cases_are_byte_identical(catalog, data):
    variant = data.draw(st.sampled_from(sorted(catalog.variants)))
    method = data.draw(st.sampled_from(sorted(catalog.methods)))
    count, par = data.draw(st.sampled_from(SPLITS))
    inputs = dict(
        model=variant,
        method=method,
        gpu=data.draw(st.sampled_from([None, *sorted(catalog.gpus)])),
        seq_len=data.draw(st.integers(1, 2**20)),
        batch=data.draw(st.integers(1, 512)),
        new_tokens=data.draw(st.integers(0, 4096)),
        gpus=count,
        parallelism=par,
        lora_rank=data.draw(st.integers(1, 1024)),
        optimizer=data.draw(st.sampled_from(OPTIMIZERS)),
        grad_checkpointing=data.draw(st.sampled_from([None, True, False])),
    )
    try:
        row = case_row(catalog, **inputs)
    except InputError:
        return
    _same(estimate_columns(row), estimate_frame(pd.DataFrame([row])).iloc[0])


def test_a_dict_of_numpy_columns_gives_the_frame_s_numbers(rows):
    frame = pd.DataFrame(rows[:500])
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    cols = estimate_columns(columns)
    assert cols["peak_bytes"].dtype == np.int64
    assert (cols["peak_bytes"] == estimate_frame(frame)["peak_bytes"].to_numpy()).all()


# ------------------------------------------------------------------ the ops


FLOATS = st.floats(allow_nan=True, allow_infinity=True)  # the model reads every column as floats (_a)


@settings(max_examples=200, deadline=None)
@given(a=FLOATS, b=FLOATS, cond=st.booleans())
def test_each_scalar_op_is_numpy_s(a, b, cond):
    def same(x, y):
        y = y.item() if hasattr(y, "item") else y
        assert (x != x and y != y) or x == y, (x, y)

    same(xp.maximum(a, b), np.maximum(np.float64(a), np.float64(b)))
    same(xp.minimum(a, b), np.minimum(np.float64(a), np.float64(b)))
    same(xp.where(cond, a, b), np.where(cond, np.float64(a), np.float64(b)))
    same(xp.isnan(float(a)), np.isnan(np.float64(a)))
    options = [float(a), float(b), float(a) - 1]
    same(xp.argmax(options), np.argmax(np.vstack([np.asarray([o]) for o in options]), axis=0)[0])
    if math.isfinite(a) and abs(a) < 2**62:
        same(xp.to_int(float(a)), np.rint(np.asarray([float(a)])).astype(np.int64)[0])


def test_plain_floats_stay_off_numpy_and_arrays_go_to_it():
    assert type(xp.where(True, 1.0, 0.0)) is float
    assert type(xp.where(True, 1, 0.5)) is float  # numpy's promotion: one float input makes a float
    assert xp.logical_not(True) is False
    assert xp.take(("a", "b"), 1) == "b"
    assert isinstance(xp.where(np.asarray([True]), 1.0, 0.0), np.ndarray)
    assert isinstance(xp.maximum(pd.Series([1.0]), 0.0), (np.ndarray, pd.Series))


def test_one_estimate_imports_neither_numpy_nor_pandas():
    code = (
        "import sys; from vramatlas.catalog import load_catalog; from vramatlas.api import estimate; "
        "e = estimate(load_catalog(), model='llama-3.1-8b', method='qlora', seq_len=8192, gpu='rtx-4090'); "
        "assert e.fewest_gpus == 2 and e.fits is False; "
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
