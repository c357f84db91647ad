"""Predicted against measured, for every comparable measurement in the catalogue.

``vramatlas accuracy`` prints one line per measurement, then the median,
90th-percentile and largest absolute error by method family and overall; then the
same for speed (vramatlas.speed_accuracy) by kind, runtime and GPU family.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .api import case_row
from .lazy import lazy
from .memory import COMPONENTS, estimate_frame
from .speed_accuracy import is_speed, print_report, speed_accuracy_frame, speed_summary

np, pd = lazy("numpy"), lazy("pandas")  # imported on first use: `--help` stays fast

GiB = 2**30


def method_family(method: dict) -> str:
    """inference, lora, qlora or full: the groups the accuracy targets are stated for."""
    if method["kind"] == "inference":
        return "inference"
    if method.get("trainable") == "lora":
        return "qlora" if method["weights"]["linear"]["format"] == "nf4" else "lora"
    return "full"


def measurement_case(catalog, m: dict) -> dict[str, Any]:
    w = m["workload"]
    model_args = (
        {"config": m["config"], "parameters": m.get("parameters")} if m.get("config") else {"model": m["model"]}
    )
    row = case_row(
        catalog,
        **model_args,
        method=m["method"],
        seq_len=w["seq_len"],
        new_tokens=w.get("new_tokens") or 0,
        batch=w.get("batch") or 1,
        gpu=m.get("gpu"),
        gpus=w.get("gpus") or 1,
        parallelism=w.get("parallelism"),
        grad_checkpointing=w.get("gradient_checkpointing"),
        lora_rank=w.get("lora_rank"),
        lora_targets=w.get("lora_targets"),
        optimizer=w.get("optimizer"),
        runtime=w.get("runtime"),
        quant=w.get("quant"),
        **{k: w[k] for k in RUNTIME_OPTIONS if w.get(k) is not None},
    )
    row["measurement"] = m["id"]
    return row


# workload fields that are runtime options of `estimate` (vramatlas.runtimes.RunOptions)
RUNTIME_OPTIONS = (
    "ctx",
    "ubatch",
    "parallel",
    "kv_dtype",
    "flash_attn",
    "gpu_layers",
    "cpu_moe",
    "gpu_memory_utilization",
    "max_num_seqs",
    "max_num_batched_tokens",
)


def runtime_log_quantity(rows: list[dict], compare: list[str]) -> list[float | None]:
    """For measurements of a runtime's log line (compare = runtime_log.<key>): the predicted line, else None."""
    from .memory import estimate_columns

    out: list[float | None] = []
    for row, q in zip(rows, compare):
        if not q.startswith("runtime_log."):
            out.append(None)
            continue
        key = q.split(".", 1)[1]
        result = estimate_columns(row)
        value = result.get("log_" + key)
        if value is None and key == "peak_memory_bytes":
            value = result["peak_bytes"]
        out.append(float(value) if value is not None else float("nan"))
    return out


def _measured(measured: dict, compare: str) -> float:
    value: Any = measured
    for part in compare.split("."):
        value = value[part]
    return value


def predicted_quantity(predicted: pd.DataFrame, compare: list[str]) -> np.ndarray:
    """The estimate of the quantity each measurement reports.

    The model predicts the process peak (what nvidia-smi shows); PyTorch's
    reserved memory is that less the CUDA context, and its allocated memory
    is that less the allocator's slack too.
    """
    peak = predicted["peak_bytes"].to_numpy()
    context = predicted["cuda_context"].to_numpy()
    slack = predicted["allocator_slack"].to_numpy()
    q = np.asarray(compare, dtype=object)
    return np.where(
        q == "peak_allocated_bytes", peak - context - slack, np.where(q == "peak_reserved_bytes", peak - context, peak)
    )


def accuracy_frame(catalog) -> pd.DataFrame:
    """One row per comparable measurement: measured, predicted, signed and absolute error."""
    chosen = [
        m
        for m in catalog.measurements.values()
        if m.get("comparable", True) and m.get("outcome", "ok") == "ok" and not is_speed(m)
    ]
    if not chosen:
        return pd.DataFrame(
            columns=["measurement", "method", "family", "measured_bytes", "predicted_bytes", "error", "abs_error"]
        )
    rows = [measurement_case(catalog, m) for m in chosen]
    cases = pd.DataFrame(rows)
    predicted = estimate_frame(cases)
    compare = [m.get("compare", "process_peak_bytes") for m in chosen]
    measured = [_measured(m["measured"], q) for m, q in zip(chosen, compare)]
    logged = runtime_log_quantity(rows, compare)
    peak_quantity = predicted_quantity(predicted, compare)
    predicted_bytes = np.asarray([p if p is not None else q for p, q in zip(logged, peak_quantity)], dtype=np.float64)
    out = pd.DataFrame(
        {
            "measurement": cases["measurement"],
            "model": [m.get("model") or "config" for m in chosen],
            "method": cases["method"],
            "family": [method_family(catalog.methods[m["method"]]) for m in chosen],
            "gpu": cases["gpu"],
            "seq_len": cases["seq_len"].astype(int),
            "batch": cases["batch"].astype(int),
            "runtime": [r["runtime"] for r in rows],
            "quantity": [q.split(".", 1)[-1] if q.startswith("runtime_log.") else "peak" for q in compare],
            "measured_bytes": np.asarray(measured, dtype=np.float64),
            "compare": compare,
            "predicted_bytes": predicted_bytes,
            "phase": predicted["phase"],
        }
    )
    for name in COMPONENTS:
        out[f"predicted_{name}"] = predicted[name].to_numpy()
    out["error"] = out["predicted_bytes"] / out["measured_bytes"] - 1
    out["abs_error"] = out["error"].abs()
    return out.sort_values("measurement").reset_index(drop=True)


def summary(frame: pd.DataFrame, by: str = "family") -> pd.DataFrame:
    """Median, 90th percentile and largest absolute error, by family (or another column) and overall."""
    groups = [(name, g) for name, g in frame.groupby(by, sort=True)] + [("overall", frame)]
    rows = []
    for name, g in groups:
        errors = g["abs_error"].to_numpy()
        rows.append(
            {
                "group": name,
                "cases": len(g),
                "median": float(np.median(errors)) if len(errors) else float("nan"),
                "p90": float(np.percentile(errors, 90)) if len(errors) else float("nan"),
                "max": float(errors.max()) if len(errors) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def left_out(catalog) -> list[dict[str, str]]:
    """The memory measurements the comparison leaves out, each with the reason its file gives (why_not_comparable)."""
    out = []
    for mid, m in sorted(catalog.measurements.items()):
        if is_speed(m) or (m.get("comparable", True) and m.get("outcome", "ok") == "ok"):
            continue
        why = m.get("why_not_comparable") or m.get("outcome_detail") or f"outcome {m.get('outcome')}"
        out.append({"measurement": mid, "why": str(why)})
    return out


def _reason_group(why: str) -> str:
    """The first clause of a reason, so that measurements left out for the same reason count together."""
    head = why.split(";")[0].split(" (")[0].strip().rstrip(".")
    return head if len(head) <= 90 else head[:87] + "..."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the cases and the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from .catalog import load_catalog

    catalog = load_catalog()
    frame = accuracy_frame(catalog)
    stats = summary(frame)
    speed = speed_accuracy_frame(catalog)
    skipped = left_out(catalog)
    if getattr(args, "json", False):
        json.dump(
            {
                "cases": json.loads(frame.to_json(orient="records")),
                "summary": json.loads(stats.to_json(orient="records")),
                "by_runtime": json.loads(
                    summary(
                        frame.assign(runtime_quantity=frame["runtime"] + " " + frame["quantity"]), "runtime_quantity"
                    ).to_json(orient="records")
                ),
                "left_out": skipped,
                "speed_cases": json.loads(speed.to_json(orient="records")),
                "speed_summary": {
                    by: json.loads(speed_summary(speed, by).to_json(orient="records"))
                    for by in ("kind", "runtime", "gpu_family")
                },
            },
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    print(f"{'measurement':40s} {'method':16s} {'measured GiB':>12s} {'predicted GiB':>13s} {'error':>8s}  phase")
    for r in frame.itertuples():
        print(
            f"{r.measurement:40s} {r.method:16s} {r.measured_bytes / GiB:12.2f} {r.predicted_bytes / GiB:13.2f} {r.error:+8.1%}  {r.phase}"
        )
    print()
    print(f"{'absolute error':16s} {'cases':>5s} {'median':>8s} {'p90':>8s} {'max':>8s}")
    for r in stats.itertuples():
        print(f"{r.group:16s} {r.cases:5d} {r.median:8.1%} {r.p90:8.1%} {r.max:8.1%}")
    frame = frame.assign(runtime_quantity=frame["runtime"] + " " + frame["quantity"])
    print()
    print(f"{'runtime, quantity':40s} {'cases':>5s} {'median':>8s} {'p90':>8s} {'max':>8s}")
    for r in summary(frame, "runtime_quantity").itertuples():
        print(f"{r.group:40s} {r.cases:5d} {r.median:8.1%} {r.p90:8.1%} {r.max:8.1%}")
    if skipped:
        total = sum(not is_speed(m) for m in catalog.measurements.values())
        print()
        print(
            f"{len(skipped)} of {total} measurements left out: not comparable with what the model predicts "
            "(each file's why_not_comparable says why; --json lists them one by one):"
        )
        counts: dict[str, int] = {}
        for item in skipped:
            key = _reason_group(item["why"])
            counts[key] = counts.get(key, 0) + 1
        for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"{n:5d}  {reason}")
    if len(speed):
        print()
        print_report(speed)
    return 0
