"""Predicted against published speed, for every speed measurement in the catalogue.

A speed measurement (``catalog/measurements/speed-*.yaml``) names the quantity it reports in
``compare`` (prefill_tokens_per_s, decode_tokens_per_s, output_tokens_per_s or
train_tokens_per_s); each is run through :func:`vramatlas.api.estimate` with its own model,
method, runtime, weight format, workload and GPU, and the estimate's ``speed`` block gives the
prediction. ``vramatlas accuracy`` prints the cases and the error by kind, runtime and GPU family.
"""

from __future__ import annotations

from typing import Any

from .lazy import lazy

np, pd = lazy("numpy"), lazy("pandas")

SPEED_QUANTITIES = ("prefill_tokens_per_s", "decode_tokens_per_s", "output_tokens_per_s", "train_tokens_per_s")
KINDS = {
    "prefill_tokens_per_s": "prefill",
    "decode_tokens_per_s": "decode",
    "output_tokens_per_s": "batched decode",
    "train_tokens_per_s": "training",
}
COLUMNS = [
    "measurement",
    "kind",
    "runtime",
    "model",
    "quant",
    "gpu",
    "gpu_family",
    "gpus",
    "measured",
    "predicted",
    "error",
    "abs_error",
    "source",
]


def is_speed(measurement: dict) -> bool:
    return measurement.get("compare") in SPEED_QUANTITIES


def gpu_family(gpu: dict) -> str:
    """The group a GPU's speed is judged in: vendor and architecture (Apple's generations, NVIDIA's and AMD's)."""
    return f"{gpu['vendor']} {gpu['architecture']}"


def estimate_inputs(m: dict) -> dict[str, Any]:
    """The `estimate` inputs of a speed measurement."""
    w = m["workload"]
    inputs: dict[str, Any] = {
        "model": m["model"],
        "method": m["method"],
        "gpu": m["gpu"],
        "seq_len": w["seq_len"],
        "new_tokens": w.get("new_tokens") or 0,
        "batch": w.get("batch") or 1,
        "gpus": w.get("gpus") or 1,
    }
    for key in (
        "runtime",
        "quant",
        "flash_attn",
        "gpu_layers",
        "ubatch",
        "parallelism",
        "lora_rank",
        "lora_targets",
        "optimizer",
    ):
        if w.get(key) is not None:
            inputs[key] = w[key]
    if w.get("gradient_checkpointing") is not None:
        inputs["grad_checkpointing"] = w["gradient_checkpointing"]
    return inputs


def predicted_speed(catalog, m: dict) -> float:
    """The estimate's value of the quantity the measurement reports (NaN when the estimate refuses the case)."""
    from .api import InputError, estimate

    try:
        speed = estimate(catalog, **estimate_inputs(m)).extra.get("speed") or {}
    except InputError:
        return float("nan")
    value = speed.get(m["compare"])
    return float("nan") if value is None else float(value)


def speed_accuracy_frame(catalog) -> pd.DataFrame:
    """One row per comparable speed measurement: kind, runtime, GPU family, measured, predicted, error."""
    rows = []
    for mid in sorted(catalog.measurements):
        m = catalog.measurements[mid]
        if not is_speed(m) or not m.get("comparable", True) or m.get("outcome", "ok") != "ok":
            continue
        measured = float(m["measured"][m["compare"]])
        predicted = predicted_speed(catalog, m)
        gpu = catalog.gpus[m["gpu"]]
        w = m["workload"]
        runtime = w.get("runtime") or catalog.methods[m["method"]].get("runtime") or "transformers"
        rows.append(
            {
                "measurement": mid,
                "kind": KINDS[m["compare"]],
                "runtime": runtime,
                "model": m["model"],
                "quant": w.get("quant") or "",
                "gpu": m["gpu"],
                "gpu_family": gpu_family(gpu),
                "gpus": int(w.get("gpus") or 1),
                "measured": measured,
                "predicted": predicted,
                "error": predicted / measured - 1,
                "abs_error": abs(predicted / measured - 1),
                "source": (m.get("provenance") or {}).get("source", ""),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def speed_summary(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Median, 90th percentile and largest absolute error per value of `by` (kind, runtime or gpu_family), and overall.
    A case the estimate did not answer counts as a 100 % error."""
    groups = [(str(name), g) for name, g in frame.groupby(by, sort=True)] + [("overall", frame)]
    rows = []
    for name, g in groups:
        errors = np.nan_to_num(g["abs_error"].to_numpy(dtype=float), nan=1.0)
        rows.append(
            {
                "group": name,
                "cases": len(g),
                "unanswered": int(g["predicted"].isna().sum()),
                "median": float(np.median(errors)) if len(errors) else float("nan"),
                "p90": float(np.percentile(errors, 90)) if len(errors) else float("nan"),
                "max": float(errors.max()) if len(errors) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def print_report(frame: pd.DataFrame) -> None:
    print(
        f"{'speed measurement':48s} {'kind':8s} {'runtime':12s} {'measured t/s':>12s} {'predicted':>10s} {'error':>8s}"
    )
    for r in frame.itertuples():
        print(f"{r.measurement:48s} {r.kind:8s} {r.runtime:12s} {r.measured:12.1f} {r.predicted:10.1f} {r.error:+8.1%}")
    for by in ("kind", "runtime", "gpu_family"):
        print()
        print(f"{'speed error by ' + by.replace('_', ' '):28s} {'cases':>5s} {'median':>8s} {'p90':>8s} {'max':>8s}")
        for r in speed_summary(frame, by).itertuples():
            print(f"{r.group:28s} {r.cases:5d} {r.median:8.1%} {r.p90:8.1%} {r.max:8.1%}")
