"""Published GPU-memory figures beside the estimate, for the methodology page.

Every measurement whose id starts with ``pub-`` is a figure copied from a
paper, README, wiki, blog post or issue (``catalog/measurements/pub-*.yaml``,
with its source and the conditions it ran under). :func:`published_table`
estimates each one with the same code as ``vramatlas accuracy`` and returns
one row per figure: the published value, the estimate, the error, and whether
the figure is comparable (and why not).

The estimate is a process peak (what nvidia-smi shows). Where a source
published ``torch.cuda.max_memory_allocated`` (``compare:
peak_allocated_bytes``), the estimate it is judged against is the process peak
less the CUDA context and the allocator's slack, the two components that
allocated memory does not contain; both numbers are in the table.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

PREFIX = "pub-"
GiB = 2**30

COLUMNS = [
    "measurement",
    "source",
    "date",
    "url",
    "model",
    "method",
    "gpu",
    "seq_len",
    "new_tokens",
    "batch",
    "gpus",
    "quantity",
    "published_bytes",
    "published_gib",
    "estimate_bytes",
    "estimate_compared_bytes",
    "estimate_compared_gib",
    "error",
    "comparable",
    "status",
    "why_not_comparable",
]


def _model_label(m: dict[str, Any]) -> str:
    if m.get("model"):
        return str(m["model"])
    config = m.get("config") or {}
    if config:
        return f"config ({config.get('model_type') or 'unknown'}, {m.get('parameters') or '?'} parameters)"
    return "shapes not published"


def _estimate(catalog, m: dict[str, Any]) -> tuple[float, float]:
    """(process peak, the estimate of the quantity the figure is); NaN when the model is not described."""
    if not (m.get("model") or m.get("config")):
        return math.nan, math.nan
    from .accuracy import measurement_case, predicted_quantity
    from .memory import estimate_frame

    try:
        result = estimate_frame(pd.DataFrame([measurement_case(catalog, m)]))
    except (ValueError, KeyError):
        return math.nan, math.nan
    compared = predicted_quantity(result, [m.get("compare", "published_bytes")])[0]
    return float(result["peak_bytes"].iloc[0]), float(compared)


def is_memory_figure(m: dict[str, Any]) -> bool:
    """A published GPU-memory figure, judged by accuracy.predicted_quantity.

    A runtime start-up log line (``compare: runtime_log.<key>``) is not: its
    estimate is that runtime's predicted log line, which ``vramatlas accuracy``
    reports per runtime and quantity (accuracy.runtime_log_quantity); judging
    it against the process peak here would be a wrong number.
    """
    return not str(m.get("compare", "")).startswith("runtime_log.")


def published_table(catalog) -> pd.DataFrame:
    """One row per published memory figure (``pub-*`` measurement, not a runtime log line), sorted by id; see the module docstring."""
    rows = []
    for mid in sorted(catalog.measurements):
        m = catalog.measurements[mid]
        if not mid.startswith(PREFIX) or not is_memory_figure(m):
            continue
        w = m.get("workload") or {}
        prov = m.get("provenance") or {}
        quantity = m.get("compare", "published_bytes")
        value = (m.get("measured") or {}).get(quantity)
        peak, compared = _estimate(catalog, m)
        error = compared / value - 1 if value and not math.isnan(compared) else math.nan
        comparable = bool(m.get("comparable", False))
        rows.append(
            {
                "measurement": mid,
                "source": prov.get("by", ""),
                "date": prov.get("date"),
                "url": prov.get("source", ""),
                "model": _model_label(m),
                "method": m.get("method"),
                "gpu": m.get("gpu"),
                "seq_len": w.get("seq_len"),
                "new_tokens": w.get("new_tokens"),
                "batch": w.get("batch"),
                "gpus": w.get("gpus") or 1,
                "quantity": quantity,
                "published_bytes": value,
                "published_gib": value / GiB if value else math.nan,
                "estimate_bytes": peak,
                "estimate_compared_bytes": compared,
                "estimate_compared_gib": compared / GiB,
                "error": error,
                "comparable": comparable,
                "status": "comparable" if comparable else "not comparable",
                "why_not_comparable": m.get("why_not_comparable"),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.reset_index(drop=True)


def summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts and the error on the comparable figures (for the page's prose and the lead's notes)."""
    comparable = frame[frame["comparable"]]
    errors = comparable["error"].abs()
    return {
        "figures": int(len(frame)),
        "comparable": int(len(comparable)),
        "not_comparable": int(len(frame) - len(comparable)),
        "median_abs_error": float(errors.median()) if len(errors) else math.nan,
        "max_abs_error": float(errors.max()) if len(errors) else math.nan,
    }
