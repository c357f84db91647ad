"""Derived answers and the downloadable tables (CSV, JSON, Parquet + datapackage.json).

Entry points (stable; the site and ``vramatlas build`` call them):

* :func:`derived_tables(matrix, catalog) <derived_tables>` -> ``{"longest_context",
  "fewest_gpus", "gpu_summary"}`` DataFrames;
* :func:`build_tables(catalog) <build_tables>` -> every table (matrix, derived,
  rules of thumb), ready for :func:`write_tables`;
* :func:`write_tables(tables, out_dir, catalog) <write_tables>` -> the paths
  written: ``<name>.parquet``, ``<name>.csv``, ``<name>.json`` per table (the
  full matrix as Parquet, and as gzipped CSV per method, since its CSV is over
  100 MB), and a Frictionless ``datapackage.json`` describing every column.

Determinism: the same catalogue gives byte-identical files (no timestamps in
any file; the package's ``created`` date is the catalogue's last git commit
date, or ``SOURCE_DATE_EPOCH`` when set). Every file is written to a temporary
name in the output folder and renamed over the old one, and the data package
last, so a build that fails halfway leaves the previous tables whole.

``python -m vramatlas.tables [--catalog DIR] [--out DIR]`` writes the tables
alone (the pull-request workflow uses it to build base and head).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from . import bounds
from . import matrix as mx
from .files import write_atomic
from .memory import COMPONENTS

TABLES_DIRNAME = "tables"
DEFAULT_OUT = Path("dist") / TABLES_DIRNAME
MATRIX_CSV_DIR = "matrix-csv"
PACKAGE_NAME = "vramatlas-tables"

# Longest-context search: powers of two and 1.5x steps from 512, plus the model's maximum.
CONTEXT_SEARCH_START = 512
# Fewest-GPUs search: 1, 2, 4, 8 GPUs, then nodes of 8 up to 64 nodes.
GPU_LADDER = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
FEWEST_GPUS_CONTEXT = 8192


# ---------------------------------------------------------------- derived


def halfway_ladder(low: int, high: int) -> list[int]:
    """Powers of two from ``low`` and 1.5x between (512, 768, 1024, 1536, ...), none above ``high``."""
    out, p = [], low
    while p <= high:
        out.append(p)
        if p * 3 // 2 <= high:
            out.append(p * 3 // 2)
        p *= 2
    return out


def context_grid(max_positions: float, start: int = CONTEXT_SEARCH_START) -> list[int]:
    """512, 768, 1024, 1536, 2048, ... (powers of two and 1.5x between) up to the max, and the max."""
    top = int(max_positions) if max_positions and max_positions > 0 else 131072
    return sorted(set(halfway_ladder(start, top)) | {top})


def _pair_keys(vt: pd.DataFrame, mt: pd.DataFrame, gt: pd.DataFrame) -> pd.DataFrame:
    """(g, v, m) for every GPU a method row has rows on (a runtime pairing: its segments and vendors)."""
    pairs = mx.method_pairs(vt, mt)
    keys = pd.DataFrame({"g": np.arange(len(gt), dtype=np.int64)}).merge(pairs, how="cross")
    keep = mx.gpu_allowed(mt, gt)[keys["m"].to_numpy(), keys["g"].to_numpy()]
    return keys[keep].reset_index(drop=True)


def longest_context(catalog, vt=None, mt=None, gt=None) -> pd.DataFrame:
    """Per GPU x model x method (one GPU, batch 1): the longest context that fits, from a fine grid.

    The peak grows with the context (a property the tests hold the model to), so the fitting lengths of a
    case are a prefix of its grid: a bisection finds the last one in about log2(grid) rounds of the memory
    model over the cases still open, instead of evaluating every length of every case.
    """
    vt = mx.variant_table(catalog) if vt is None else vt
    mt = mx.method_table(catalog) if mt is None else mt
    gt = mx.gpu_table(catalog) if gt is None else gt
    grids = [context_grid(top) for top in vt["max_positions"]]
    width = max(len(g) for g in grids)
    grid = np.asarray([g + [g[-1]] * (width - len(g)) for g in grids], dtype=np.int64)  # (variant, step)
    length = np.asarray([len(g) for g in grids], dtype=np.int64)
    base = _pair_keys(vt, mt, gt)
    v = base["v"].to_numpy()
    lo = np.full(len(base), -1, dtype=np.int64)  # last grid step known to fit (-1: none yet)
    hi = length[v].copy()  # first grid step known not to fit (the grid's end: none known)
    peak = np.zeros(len(base), dtype=np.int64)
    headroom = np.zeros(len(base), dtype=np.int64)
    while True:
        open_ = np.flatnonzero(hi - lo > 1)
        if not len(open_):
            break
        mid = (lo[open_] + hi[open_]) // 2
        keys = base.iloc[open_].reset_index(drop=True)
        keys["seq_len"] = grid[v[open_], mid]
        keys["gpu_count"] = 1
        keys["batch"] = 1
        est = mx._estimate_keys(keys, vt, mt, gt)
        fits = est["fits"].to_numpy(dtype=bool)
        lo[open_[fits]], hi[open_[~fits]] = mid[fits], mid[~fits]
        peak[open_[fits]] = est["peak_bytes"].to_numpy()[fits]
        headroom[open_[fits]] = est["headroom_bytes"].to_numpy(dtype=np.int64)[fits]
    ok = lo >= 0
    longest_seq = np.where(ok, grid[v, np.maximum(lo, 0)], 0)
    maxpos = vt["max_positions"].to_numpy()[base["v"].to_numpy()].astype(np.int64)
    longest = longest_seq
    out = _ids(base, vt, mt, gt)
    out["max_position_embeddings"] = maxpos.astype(np.int32)
    out["longest_context"] = pd.array(np.where(ok, longest, 0), dtype="Int32")
    out.loc[~ok, "longest_context"] = pd.NA
    out["limited_by"] = pd.Categorical(
        np.where(~ok, "does-not-fit", np.where(longest >= maxpos, "model-max", "memory")),
        categories=["model-max", "memory", "does-not-fit"],
    )
    out["peak_bytes"] = _nullable(peak, ok)
    out["headroom_bytes"] = _nullable(headroom, ok)
    out["capacity_bytes"] = gt["capacity_bytes"].to_numpy()[base["g"].to_numpy()].astype(np.int64)
    return out


def fewest_gpus(
    catalog, vt=None, mt=None, gt=None, ladder: Iterable[int] = GPU_LADDER, context: int = FEWEST_GPUS_CONTEXT
) -> pd.DataFrame:
    """Per GPU kind x model x method at 8k (or the model's maximum if shorter), batch 1:
    the fewest GPUs that fit (tensor parallel for inference, FSDP for training)."""
    vt = mx.variant_table(catalog) if vt is None else vt
    mt = mx.method_table(catalog) if mt is None else mt
    gt = mx.gpu_table(catalog) if gt is None else gt
    ladder = tuple(ladder)
    base = _pair_keys(vt, mt, gt)
    maxpos = vt["max_positions"].to_numpy()
    seq_v = np.where(maxpos > 0, np.minimum(context, maxpos), context).astype(np.int64)
    # a runtime pairing only at the GPU counts its file names
    counts = np.repeat(np.asarray(ladder, dtype=np.int64)[None, :], len(base), axis=0)
    allowed = mx.count_allowed(mt, np.repeat(base["m"].to_numpy(), len(ladder)), counts.ravel()).reshape(counts.shape)
    # rung by rung, only the cases that have not fitted yet: the first rung that fits, as a scan of every rung
    # would find, with the memory model run on a fraction of the rows (most cases fit on one GPU)
    first = np.full(len(base), -1, dtype=np.int64)
    peak_at = np.zeros(len(base), dtype=np.int64)
    for j, n in enumerate(ladder):
        todo = np.flatnonzero((first < 0) & allowed[:, j])
        if not len(todo):
            continue
        keys = base.iloc[todo].reset_index(drop=True)
        keys["gpu_count"] = n
        keys["seq_len"] = seq_v[keys["v"].to_numpy()]
        keys["batch"] = 1
        est = mx._estimate_keys(keys, vt, mt, gt)
        fits = est["fits"].to_numpy(dtype=bool)
        first[todo[fits]] = j
        peak_at[todo[fits]] = est["peak_bytes"].to_numpy()[fits]
    ok = first >= 0
    count = np.asarray(ladder)[np.maximum(first, 0)]
    training = mt["training"].to_numpy()[base["m"].to_numpy()] > 0
    out = _ids(base, vt, mt, gt)
    out["seq_len"] = seq_v[base["v"].to_numpy()].astype(np.int32)
    out["batch"] = np.ones(len(base), dtype=np.int16)
    out["min_gpus"] = _nullable(count, ok, "Int32")
    out["nodes"] = _nullable(-(-count // mx.NODE_SIZE), ok, "Int32")
    par = np.where(count <= 1, "none", np.where(training, "fsdp", "tp"))
    out["parallelism"] = pd.Categorical(np.where(ok, par, None), categories=["none", "tp", "fsdp"])
    out["peak_bytes"] = _nullable(peak_at, ok)
    out["capacity_bytes"] = gt["capacity_bytes"].to_numpy()[base["g"].to_numpy()].astype(np.int64)
    out["max_gpus_searched"] = np.where(allowed, np.asarray(ladder), 0).max(axis=1).astype(np.int32)
    return out


def gpu_summary(matrix: pd.DataFrame, catalog) -> pd.DataFrame:
    """Per GPU x method: which models fit at all on one GPU (shortest context in the matrix, batch 1)."""
    one = matrix[(matrix["gpu_count"] == 1) & (matrix["batch"] == 1)]
    shortest = one.groupby("model", observed=True)["seq_len"].transform("min")
    one = one[one["seq_len"] == shortest]
    params = {vid: int(v.get("parameters") or 0) for vid, v in catalog.variants.items()}
    one = one.assign(parameters=one["model"].map(params).astype(np.int64))
    by = ["gpu", "method", "runtime", "quant"]
    group = one.groupby(by, observed=True, sort=True)
    out = group.agg(
        method_kind=("method_kind", "first"),
        capacity_bytes=("capacity_bytes", "first"),
        context=("seq_len", "min"),
        models_considered=("model", "size"),
        models_fitting=("fits", "sum"),
    ).reset_index()
    fit = one[one["fits"]].sort_values([*by, "parameters", "model"], kind="stable")
    fit_group = fit.groupby(by, observed=True, sort=True)
    largest = fit_group.tail(1).set_index(by)
    names = (
        fit_group["model"].agg(lambda s: ";".join(str(x) for x in s)).astype(object)
    )  # (one model: not its category)
    idx = pd.MultiIndex.from_frame(out[by])
    out["largest_model"] = pd.Series(largest["model"].astype(object).reindex(idx).to_numpy(), dtype="string")
    out["largest_model_parameters"] = pd.array(largest["parameters"].reindex(idx).to_numpy(), dtype="Int64")
    out["models_fitting_list"] = pd.Series(names.reindex(idx).fillna("").to_numpy(), dtype="string")
    out["models_fitting"] = out["models_fitting"].astype(np.int32)
    out["models_considered"] = out["models_considered"].astype(np.int32)
    out["context"] = out["context"].astype(np.int32)
    return out


def search_tables(catalog) -> dict[str, pd.DataFrame]:
    """The derived tables that search the catalogue themselves (they need no matrix): longest context,
    fewest GPUs."""
    vt, mt, gt = mx.variant_table(catalog), mx.method_table(catalog), mx.gpu_table(catalog)
    return {"longest_context": longest_context(catalog, vt, mt, gt), "fewest_gpus": fewest_gpus(catalog, vt, mt, gt)}


def start_search_tables(catalog):
    """:func:`search_tables` in a forked process (vramatlas.forked), for the build to run beside the matrix;
    its ``result()`` is what :func:`derived_tables` takes as ``searched``."""
    from .forked import Forked

    return Forked(search_tables, catalog)


def derived_tables(
    matrix: pd.DataFrame, catalog, searched: Mapping[str, pd.DataFrame] | None = None
) -> dict[str, pd.DataFrame]:
    """The answers people ask for, each its own table (see the module docstring); ``searched``: the
    :func:`search_tables` of this catalogue when they are computed already."""
    return {
        **(searched if searched is not None else search_tables(catalog)),
        "gpu_summary": gpu_summary(matrix, catalog),
    }


def build_tables(catalog) -> dict[str, pd.DataFrame]:
    """Every downloadable table: the matrix, the derived answers and the rules of thumb."""
    from .thumbs import rules_of_thumb

    matrix = mx.compute_matrix(catalog)
    tables = {"matrix": matrix}
    tables.update(derived_tables(matrix, catalog))
    tables["rules_of_thumb"] = rules_of_thumb(catalog)
    return tables


def _ids(base: pd.DataFrame, vt, mt, gt) -> pd.DataFrame:
    v, m, g = base["v"].to_numpy(), base["m"].to_numpy(), base["g"].to_numpy()
    family_cats = list(dict.fromkeys(vt["model_family"]))
    family_code = pd.Index(family_cats).get_indexer(vt["model_family"])
    return pd.DataFrame(
        {
            "gpu": pd.Categorical.from_codes(g, categories=list(gt["gpu"])),
            "model_family": pd.Categorical.from_codes(family_code[v], categories=family_cats),
            "model": pd.Categorical.from_codes(v, categories=list(vt["model"])),
            "method": mx._id_column(mt["method"], m),
            "runtime": mx._id_column(mt["runtime"], m),
            "quant": mx._id_column(mt["quant"], m),
            "method_kind": pd.Categorical(mt["method_kind"].to_numpy()[m], categories=["inference", "training"]),
        }
    )


def _nullable(values: np.ndarray, ok: np.ndarray, dtype: str = "Int64") -> pd.arrays.IntegerArray:
    arr = pd.array(np.where(ok, values, 0).astype(np.int64), dtype=dtype)
    arr[~ok] = pd.NA
    return arr


# ------------------------------------------------------- column documentation

# name -> (frictionless type, unit or None, description, example)
FIELDS: dict[str, tuple[str, str | None, str, Any]] = {
    "gpu": ("string", None, "GPU id (catalog/gpus/<id>.yaml)", "rtx-4090"),
    "gpu_count": ("integer", "GPUs", "Number of GPUs the model is spread over; peak and capacity are per GPU", 1),
    "model_family": ("string", None, "Model family id (catalog/models/<id>.yaml)", "llama-3.1"),
    "model": ("string", None, "Model variant id (a variant inside its family's file)", "llama-3.1-8b"),
    "method": ("string", None, "Method id (catalog/methods/<id>.yaml)", "qlora"),
    "runtime": (
        "string",
        None,
        "Runtime the number is for (catalog/runtimes/<id>.yaml): the method's own, or a runtime "
        "pairing of the runtime's `matrix` field (vramatlas estimate --runtime)",
        "llama.cpp",
    ),
    "quant": (
        "string",
        None,
        "Weight format of the linear layers: a runtime pairing's --quant (catalog/quants), "
        "else the method's own format",
        "q4_k_m",
    ),
    "method_kind": ("string", None, "inference or training", "training"),
    "seq_len": ("integer", "tokens", "Context length: prompt tokens for inference, sequence length for training", 8192),
    "batch": ("integer", "sequences", "Sequences processed at once", 1),
    "parallelism": (
        "string",
        None,
        "How the model is split over several GPUs: none (one GPU), tp (tensor parallel, "
        "inference), fsdp (fully sharded data parallel, training)",
        "tp",
    ),
    "new_tokens": ("integer", "tokens", "Tokens generated after the prompt (inference; 0 for training)", 16),
    "grad_checkpointing": ("boolean", None, "Gradient (activation) checkpointing on (training methods' default)", True),
    "optimizer": ("string", None, "Optimizer of a training method (empty for inference)", "adamw"),
    "lora_rank": ("integer", None, "LoRA rank on all linear layers (0 when no adapter is trained)", 16),
    "peak_bytes": (
        "integer",
        "bytes",
        "Predicted peak GPU memory of the process per GPU, as nvidia-smi shows it",
        17179869184,
    ),
    "phase": (
        "string",
        None,
        "Phase at which the peak occurs: prefill, decode (inference); loss, backward, "
        "optimizer-step (training); start-up (a runtime that preallocates its buffers: llama.cpp for the GGUF methods)",
        "decode",
    ),
    "capacity_bytes": (
        "integer",
        "bytes",
        "Usable memory of one GPU (driver-reported total; times the GPU's share of unified memory)",
        25757220864,
    ),
    "fits": ("boolean", None, "Whether the peak fits in the GPU's capacity (headroom_bytes >= 0)", True),
    "headroom_bytes": ("integer", "bytes", "capacity_bytes - peak_bytes (negative: short by that much)", 4294967296),
    # speed (vramatlas.speed), empty where the row does not fit or the runtime has no speed data for the GPU
    "prefill_tokens_per_s": (
        "number",
        "tokens/s",
        "Predicted prompt throughput: seq_len tokens per sequence x batch over the "
        "prefill time (llama-bench ppN), at the method's runtime defaults; empty for training rows",
        9645.9,
    ),
    "decode_tokens_per_s": (
        "number",
        "tokens/s",
        "Predicted generation speed of one sequence after the prompt (llama-bench tgN); empty for training rows",
        134.9,
    ),
    "output_tokens_per_s": (
        "number",
        "tokens/s",
        "Predicted generation throughput of all batch sequences together; empty for training rows",
        1079.2,
    ),
    "time_to_first_token_s": (
        "number",
        "s",
        "Predicted time to the first token: the whole batch's prefill; empty for training rows",
        0.21,
    ),
    "train_tokens_per_s": (
        "number",
        "tokens/s",
        "Predicted training throughput over all GPUs (batch x seq_len tokens per step); empty for inference rows",
        1789.5,
    ),
    # derived tables
    "max_position_embeddings": (
        "integer",
        "tokens",
        "The model's maximum context (config.json max_position_embeddings)",
        131072,
    ),
    "longest_context": (
        "integer",
        "tokens",
        "Longest context that fits on one GPU at batch 1, searched over powers of "
        "two and 1.5x steps from 512 and the model's maximum (empty: not even 512 fits)",
        49152,
    ),
    "limited_by": (
        "string",
        None,
        "What stops a longer context: model-max (the model's own limit), memory, or does-not-fit (no context fits)",
        "memory",
    ),
    "min_gpus": (
        "integer",
        "GPUs",
        "Fewest GPUs of this kind that fit (ladder 1, 2, 4, 8, then nodes of 8; empty: more than max_gpus_searched)",
        2,
    ),
    "nodes": ("integer", "nodes", "Nodes of 8 GPUs that min_gpus needs (ceil(min_gpus / 8))", 1),
    "max_gpus_searched": (
        "integer",
        "GPUs",
        "Largest GPU count tried (a runtime pairing: the most its gpu_counts allow)",
        512,
    ),
    "context": ("integer", "tokens", "Context length of the check (the shortest in the matrix, 2048)", 2048),
    "models_considered": ("integer", "models", "Model variants this method applies to", 33),
    "models_fitting": ("integer", "models", "Model variants that fit on one GPU at this context, batch 1", 12),
    "largest_model": (
        "string",
        None,
        "Largest fitting model variant by parameter count (empty: none fits)",
        "qwen2.5-14b",
    ),
    "largest_model_parameters": ("integer", "parameters", "Parameter count of largest_model", 14770033664),
    "models_fitting_list": (
        "string",
        None,
        "Fitting model variant ids, by size, separated by ';'",
        "llama-3.2-1b;llama-3.2-3b",
    ),
    # rules of thumb
    "claim_id": ("string", None, "Short id of the claim", "fp16-2gb-per-billion"),
    "claim": ("string", None, "The rule of thumb as people repeat it", "About 2 GB per billion parameters at 16 bit"),
    "setting": (
        "string",
        None,
        "The setting checked (model, method, context, batch, ...); 'overall' sums up the claim",
        "llama-2-7b, inference-bf16, 2k context, batch 1",
    ),
    "claimed": ("string", None, "What the claim says for this setting", "7B ~ 14 GB"),
    "computed": ("string", None, "What the memory model computes, in GB (10^9 bytes) and GiB", "14.6 GB (13.6 GiB)"),
    "computed_value": (
        "number",
        None,
        "The computed number the verdict rests on (bytes, or a ratio where the claim is a ratio; see value_unit)",
        14600000000.0,
    ),
    "value_unit": ("string", None, "Unit of computed_value: bytes, ratio, tokens or GPUs", "bytes"),
    "verdict": (
        "string",
        None,
        "holds, breaks, or depends (overall rows: holds in some settings, breaks in others)",
        "holds",
    ),
    "explanation": (
        "string",
        None,
        "Why the verdict, in one or two sentences",
        "Weights are 13.5 GB; the KV cache adds ...",
    ),
}
for _c in COMPONENTS:
    FIELDS[_c] = (
        "integer",
        "bytes",
        f"Component of peak_bytes: {_c.replace('_', ' ')} at the peak phase, per GPU",
        1073741824,
    )

TITLES = {
    "matrix": "Compatibility matrix: every GPU x count x model x method (x runtime and weight format) x context x batch",
    "longest_context": "Longest context that fits on one GPU, per GPU x model x method (batch 1)",
    "fewest_gpus": "Fewest GPUs of each kind per model x method (8k context or the model's maximum, batch 1)",
    "gpu_summary": "Per GPU, method and runtime: which models fit on one GPU at all",
    "rules_of_thumb": "Rules of thumb, checked against the memory model",
}
PRIMARY_KEYS = {
    "matrix": ["gpu", "gpu_count", "model", "method", "runtime", "quant", "seq_len", "batch"],
    "longest_context": ["gpu", "model", "method", "runtime", "quant"],
    "fewest_gpus": ["gpu", "model", "method", "runtime", "quant"],
    "gpu_summary": ["gpu", "method", "runtime", "quant"],
    "rules_of_thumb": ["claim_id", "setting"],
}


def field_descriptor(name: str) -> dict[str, Any]:
    ftype, unit, description, _ = FIELDS[name]
    desc = {"name": name, "type": ftype, "description": description}
    if unit:
        desc["unit"] = unit
    return desc


def table_schema(name: str, columns: Iterable[str]) -> dict[str, Any]:
    """The Frictionless Table Schema of one table."""
    schema: dict[str, Any] = {"fields": [field_descriptor(c) for c in columns], "missingValues": [""]}
    if name in PRIMARY_KEYS:
        schema["primaryKey"] = PRIMARY_KEYS[name]
    return schema


# The physical maximum of each numeric column (vramatlas.bounds, with its reason): by unit, then by name.
_UNIT_LIMITS = {
    "tokens": bounds.TOKENS,
    "sequences": bounds.BATCH,
    "GPUs": bounds.GPUS,
    "nodes": bounds.GPUS,  # a node holds at least one GPU
    "bytes": bounds.PREDICTED_BYTES,
    "parameters": bounds.PARAMETERS,
    "models": bounds.CATALOGUE_ENTRIES,
    "tokens/s": bounds.THROUGHPUT,
    "s": bounds.SECONDS,
}
_COLUMN_LIMITS = {
    "capacity_bytes": bounds.GPU_BYTES,
    "headroom_bytes": bounds.GPU_BYTES,  # one GPU's memory, not a prediction
    "lora_rank": bounds.LORA_RANK,
    "computed_value": bounds.PREDICTED_BYTES,  # bytes, a ratio, tokens or GPUs: the bytes bound covers them all
}


def column_limit(name: str) -> bounds.Limit | None:
    """The physical maximum of a numeric column, or None for a column that is not a number."""
    ftype, unit, _, _ = FIELDS[name]
    if ftype not in ("integer", "number"):
        return None
    return _COLUMN_LIMITS.get(name) or _UNIT_LIMITS[unit]


_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
_NULLABLE = {
    "longest_context",
    "min_gpus",
    "nodes",
    "peak_bytes@longest_context",
    "headroom_bytes@longest_context",
    "peak_bytes@fewest_gpus",
    "parallelism@fewest_gpus",
    "largest_model",
    "largest_model_parameters",
    "optimizer",
    "prefill_tokens_per_s",
    "decode_tokens_per_s",
    "output_tokens_per_s",
    "time_to_first_token_s",
    "train_tokens_per_s",
}


def row_json_schema(name: str, columns: Iterable[str]) -> dict[str, Any]:
    """Draft 2020-12 JSON Schema of one row of a table (schema/tables/<name>.schema.json)."""
    props = {}
    for col in columns:
        ftype, unit, description, example = FIELDS[col]
        jtype: Any = _JSON_TYPES[ftype]
        if col in _NULLABLE or f"{col}@{name}" in _NULLABLE:
            jtype = [jtype, "null"]
        limit = column_limit(col)
        description += f" (unit: {unit})" if unit else ""
        if limit:
            description += f". Physical maximum: {limit.reason}."
        prop = {"type": jtype, "description": description, "examples": [example]}
        if (
            unit in ("bytes", "tokens", "GPUs", "nodes", "sequences", "models", "parameters", "tokens/s", "s")
            and col != "headroom_bytes"
        ):
            prop["minimum"] = 0
        if limit:
            prop["maximum"] = limit.maximum
        props[col] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://vramatlas.invalid/schema/tables/{name}.schema.json",
        "title": TITLES.get(name, name),
        "description": (
            f"One row of the '{name}' table, as written to {name}.json (an array of such objects)."
            if name != "matrix"
            else "One row of the compatibility matrix (matrix.parquet; matrix-csv/<method>.csv.gz)."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": list(columns),
        "properties": props,
    }


def json_schemas(tables: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """file name -> the row JSON Schema of each table (schema/tables/<name>.schema.json)."""
    return {f"{name}.schema.json": row_json_schema(name, df.columns) for name, df in tables.items()}


def schema_text(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------- writing


def build_date(catalog) -> str:
    """SOURCE_DATE_EPOCH, else the catalogue's last git commit date, else its newest file's mtime (UTC, ISO 8601)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return _iso(int(epoch))
    root = Path(catalog.root)
    try:
        res = subprocess.run(
            ["git", "log", "-1", "--format=%ct", "--", "."],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if res.returncode == 0 and res.stdout.strip().isdigit():
            return _iso(int(res.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    mtimes = [p.stat().st_mtime for p in root.rglob("*.yaml")]
    return _iso(int(max(mtimes))) if mtimes else _iso(0)


def _iso(epoch: int) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write to a temporary file beside ``path``, then rename over it."""
    return write_atomic(path, data, mode=0o644)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as strings, nullable ints kept (for CSV/JSON)."""
    out = {}
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object).where(s.notna(), None)
        out[col] = s
    return pd.DataFrame(out)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as CSV, exactly as ``DataFrame.to_csv(index=False)`` writes it (minimal quoting, "" for missing).

    Tables of categories, numbers and booleans (the matrix) go through Arrow's C++ CSV writer, 8x faster than
    pandas' per-row formatting, with each value rendered as pandas renders it; any other table, or a text value
    that would need quotes, is written by pandas itself.
    """
    arrays = _arrow_csv_columns(df)
    if arrays is None:
        return _plain(df).to_csv(index=False, lineterminator="\n").encode("utf-8")
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    buf = io.BytesIO()
    buf.write((",".join(map(str, df.columns)) + "\n").encode("utf-8"))
    pa_csv.write_csv(
        pa.Table.from_arrays(arrays, names=[str(c) for c in df.columns]),
        buf,
        pa_csv.WriteOptions(include_header=False, quoting_style="none"),
    )
    return buf.getvalue()


_NEEDS_QUOTES = (",", '"', "\r", "\n")


def _arrow_csv_columns(df: pd.DataFrame) -> list | None:
    """Arrow arrays whose CSV text is pandas' for each column, or None when a column needs pandas."""
    import pyarrow as pa

    if any(not isinstance(c, str) or any(ch in c for ch in _NEEDS_QUOTES) for c in df.columns):
        return None
    arrays = []
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            labels = [str(c) for c in s.cat.categories]
            if any(ch in label for label in labels for ch in _NEEDS_QUOTES):
                return None
            codes = s.cat.codes.to_numpy()
            arrays.append(
                pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(labels, pa.string()))
            )
        elif s.dtype == bool:  # pandas writes True / False
            arrays.append(
                pa.DictionaryArray.from_arrays(
                    pa.array(s.to_numpy().astype(np.int8)), pa.array(["False", "True"], pa.string())
                )
            )
        elif isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":
            arrays.append(pa.array(s.to_numpy()))
        elif isinstance(s.dtype, pd.Int64Dtype):  # nullable integers: missing is ""
            arrays.append(pa.Array.from_pandas(s))
        elif isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":  # numpy's repr, as pandas uses (7830.0, 1e+20)
            v = s.to_numpy()
            arrays.append(pa.array(v.astype(str), pa.string(), mask=np.isnan(v)))
        else:
            return None
    return arrays


def _json_value(x: Any) -> Any:
    if x is None or x is pd.NA:
        return None
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) else float(x)
    return x


def _json_column(s: pd.Series) -> list:
    """A column as Python values for json.dumps (what :func:`_json_value` makes of each cell), converted at once."""
    if isinstance(s.dtype, pd.CategoricalDtype):  # each category converted once, then picked by code (-1: None)
        values = [_json_value(c) for c in s.cat.categories.tolist()] + [None]
        return np.array(values, dtype=object)[s.cat.codes.to_numpy()].tolist()
    if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and s.dtype.kind in "biu":  # Int64, boolean
        return s.to_numpy(dtype=object, na_value=None).tolist()
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biu":
        return s.to_numpy().tolist()
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
        v = s.to_numpy(dtype=np.float64)
        return [None if nan else x for x, nan in zip(v.tolist(), np.isnan(v).tolist())]
    return [_json_value(v) for v in s.tolist()]


def json_bytes(df: pd.DataFrame) -> bytes:
    cols = list(df.columns)
    rows = [dict(zip(cols, values)) for values in zip(*(_json_column(df[c]) for c in cols))]
    return (json.dumps(rows, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n").encode("utf-8")


PARQUET_ROW_GROUP = 1024 * 1024  # rows per row group: pyarrow's default, which write_table used


def _write_parquet_to(df: pd.DataFrame, where) -> None:
    """The table as Parquet, converted to Arrow and written one row group at a time (ParquetWriter), so
    that only one row group's Arrow copy exists at once; the bytes are those of ``pq.write_table`` of the
    whole table (the same row groups, schema and footer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = pa.Table.from_pandas(df.iloc[:PARQUET_ROW_GROUP], preserve_index=False)
    with pq.ParquetWriter(where, first.schema, compression="zstd", write_statistics=True) as writer:
        writer.write_table(first, row_group_size=PARQUET_ROW_GROUP)
        del first
        for start in range(PARQUET_ROW_GROUP, len(df), PARQUET_ROW_GROUP):
            part = pa.Table.from_pandas(df.iloc[start : start + PARQUET_ROW_GROUP], preserve_index=False)
            writer.write_table(part, row_group_size=PARQUET_ROW_GROUP)


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    _write_parquet_to(df, buf)
    return buf.getvalue()


def write_parquet(df: pd.DataFrame, path: Path) -> tuple[int, str]:
    """:func:`parquet_bytes` streamed into ``path`` (atomically): its size and sha256."""
    import hashlib

    from .files import atomic_file

    with atomic_file(path) as fh:
        _write_parquet_to(df, fh)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return path.stat().st_size, h.hexdigest()


# The matrix's CSV is 550 MB of text before gzip, which took 8.4 s of CPU at level 6, the build's largest
# single share; level 3 takes 2.6x less for 13 % more bytes (measured on its first six methods:
# 14.2 % -> 16.1 % of the text).
GZIP_LEVEL = 3


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=GZIP_LEVEL) as gz:
        gz.write(data)
    return buf.getvalue()


def _resource(name: str, path: str, fmt: str, df: pd.DataFrame, data: bytes, **extra: Any) -> dict[str, Any]:
    import hashlib

    return _resource_of(name, path, fmt, df.columns, len(data), hashlib.sha256(data).hexdigest(), **extra)


def _resource_of(
    name: str, path: str, fmt: str, columns: Iterable[str], size: int, sha256: str, **extra: Any
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "name": name,
        "type": "table",
        "path": path,
        "title": extra.pop("title", TITLES.get(name.split("--")[0], name)),
        "format": fmt,
    }
    res.update(extra)
    digest = "sha256:" + sha256
    if fmt == "csv":  # frictionless checks bytes and hash while it streams CSV (not JSON or Parquet)
        res["bytes"] = size
        res["hash"] = digest
    # size and digest of the file as downloaded, for every format (vramatlas' own keys)
    res["x_size_bytes"] = size
    res["x_sha256"] = sha256
    res["schema"] = table_schema(name.split("--")[0], columns)
    return res


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def csv_methods(df: pd.DataFrame) -> list[str]:
    """The matrix's methods that have rows, in the order of the method categories (the files' order)."""
    col = df["method"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = np.bincount(
            col.cat.codes.to_numpy()[col.cat.codes.to_numpy() >= 0], minlength=len(col.cat.categories)
        )
        return [str(m) for m, n in zip(col.cat.categories, present) if n]
    return [str(m) for m in sorted(col.unique())]


def matrix_csv_parts(df: pd.DataFrame, only: set[str] | None = None) -> Iterator[tuple[str, pd.DataFrame]]:
    """(method, its rows) for each method of the matrix with rows (``only``: those methods), in
    :func:`csv_methods` order."""
    for method in csv_methods(df):
        if only is None or method in only:
            yield method, df[df["method"] == method]


def write_matrix_csv(df: pd.DataFrame, out_dir: Path | str, share: tuple[int, int] = (0, 1)) -> list[dict[str, Any]]:
    """Write the matrix as one gzipped CSV per method (matrix-csv/<method>.csv.gz); what was written:
    method, slug, path (relative to ``out_dir``), bytes and sha256 of each file.

    ``share=(k, n)``: only the k-th of n shares of the methods (:func:`csv_shares`), for n processes."""
    import hashlib

    records = []
    for method, part in matrix_csv_parts(df, csv_shares(df, share[1])[share[0]]):
        rel = f"{MATRIX_CSV_DIR}/{_slug(method)}.csv.gz"
        data = gzip_bytes(csv_bytes(part))
        _atomic_write(Path(out_dir) / rel, data)
        records.append(
            {
                "method": method,
                "slug": _slug(method),
                "path": rel,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return records


def csv_shares(df: pd.DataFrame, n: int) -> list[set[str]]:
    """The methods split into ``n`` shares of about equal rows (largest first, each to the lightest share)."""
    counts = df["method"].value_counts()
    counts = counts[counts > 0]
    shares: list[set[str]] = [set() for _ in range(n)]
    load = [0] * n
    for method, rows in sorted(((str(m), int(r)) for m, r in counts.items()), key=lambda kv: (-kv[1], kv[0])):
        k = load.index(min(load))
        shares[k].add(method)
        load[k] += int(rows)
    return shares


CSV_PROCESSES = 2  # the matrix CSV's processes: with the parent's own tables, three on the two cores


class MatrixCsvJob:
    """:func:`write_matrix_csv` in CSV_PROCESSES forked processes (:class:`vramatlas.forked.Forked`), each a
    share of the methods, so that the matrix's CSV text and its gzip (the tables' largest CPU share) run on
    the second core (and the first, once the other tables are written); ``result()`` gives the records in
    the methods' order, ``cancel()`` stops them. The files are the same bytes as one process writes."""

    def __init__(self, df: pd.DataFrame, out_dir: Path | str, fork: bool = True):
        from .forked import Forked

        n = CSV_PROCESSES if fork else 1
        self._order = csv_methods(df)
        self._jobs = [Forked(write_matrix_csv, df, out_dir, (k, n), fork=fork) for k in range(n)]

    def result(self) -> list[dict[str, Any]]:
        records = {r["method"]: r for job in self._jobs for r in job.result()}
        return [records[m] for m in self._order]

    def cancel(self) -> None:
        for job in self._jobs:
            job.cancel()


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path | str, catalog) -> list[Path]:
    """Write every table as Parquet, CSV and JSON (the matrix: Parquet, and CSV.gz per method),
    then ``datapackage.json``; return the paths written (the data package last).

    The matrix's CSV files are written by a :class:`MatrixCsvJob` while the other tables are written in
    this process."""
    return TablesJob(tables, out_dir, catalog, fork=False).result()


class TablesJob:
    """:func:`write_tables` in the background: the matrix's CSV in its own processes (:class:`MatrixCsvJob`)
    and every other file in one more (``fork``), so that the build writes its pages meanwhile. ``result()``
    waits for them and writes ``datapackage.json`` (it needs every file's size and hash); ``cancel()``
    stops them. All are this process's own children, so cancel() leaves none running."""

    def __init__(
        self,
        tables: Mapping[str, pd.DataFrame],
        out_dir: Path | str,
        catalog,
        fork: bool = True,
    ):
        from .forked import Forked

        self._out, self._catalog = Path(out_dir), catalog
        self._written: list[Path] | None = None
        # started first: it runs while everything else is written
        self._csv = MatrixCsvJob(tables["matrix"], self._out) if "matrix" in tables else None
        try:
            self._files = Forked(_table_files, tables, self._out, fork=fork)
        except BaseException:
            self.cancel()
            raise

    def result(self) -> list[Path]:
        if self._written is not None:
            return self._written
        try:
            written, resources, matrix_slot = self._files.result()
            if matrix_slot is not None:  # the matrix's CSV files, in their place after matrix.parquet
                at_file, at_resource, columns = matrix_slot
                records = self._csv.result()
                written[at_file:at_file] = [self._out / r["path"] for r in records]
                resources[at_resource:at_resource] = [_matrix_csv_resource(r, columns) for r in records]
            written.append(_write_data_package(self._out, self._catalog, resources))
            self._written = written
            return written
        except BaseException:
            self.cancel()
            raise

    def cancel(self) -> None:
        for job in (self._csv, getattr(self, "_files", None)):
            if job is not None:
                job.cancel()


def start_write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path | str, catalog) -> TablesJob:
    """The build's table writer: a :class:`TablesJob`, whose ``result()`` is what write_tables returns."""
    return TablesJob(tables, out_dir, catalog)


def _table_files(tables, out: Path) -> tuple[list[Path], list[dict[str, Any]], tuple | None]:
    """Every table's files but the matrix's CSV: the paths and resources written, in order, and where the
    matrix's CSV files go among them (file index, resource index, the matrix's columns)."""
    written: list[Path] = []
    resources: list[dict[str, Any]] = []
    matrix_slot = None
    for name, df in tables.items():
        size, digest = write_parquet(df, out / f"{name}.parquet")
        written.append(out / f"{name}.parquet")
        resources.append(
            _resource_of(
                f"{name}--parquet",
                f"{name}.parquet",
                "parquet",
                df.columns,
                size,
                digest,
                mediatype="application/vnd.apache.parquet",
                title=TITLES.get(name, name),
            )
        )
        if name == "matrix":
            matrix_slot = (len(written), len(resources), list(df.columns))
            continue
        data = csv_bytes(df)
        written.append(_atomic_write(out / f"{name}.csv", data))
        resources.append(
            _resource(f"{name}--csv", f"{name}.csv", "csv", df, data, mediatype="text/csv", encoding="utf-8")
        )
        data = json_bytes(df)
        written.append(_atomic_write(out / f"{name}.json", data))
        resources.append(
            _resource(f"{name}--json", f"{name}.json", "json", df, data, mediatype="application/json", encoding="utf-8")
        )
    return written, resources, matrix_slot


def _matrix_csv_resource(record: dict[str, Any], columns: list) -> dict[str, Any]:
    return _resource_of(
        f"matrix--{record['slug']}--csv",
        record["path"],
        "csv",
        columns,
        record["bytes"],
        record["sha256"],
        compression="gz",
        mediatype="text/csv",
        encoding="utf-8",
        title=f"Compatibility matrix, method {record['method']} (gzipped CSV)",
    )


def _write_data_package(out: Path, catalog, resources: list[dict[str, Any]]) -> Path:
    package = {
        "name": PACKAGE_NAME,
        "title": "vramatlas: which language models run, or can be fine-tuned, on which GPUs",
        "description": "Predicted peak GPU memory for every GPU x GPU count x model x method x context x batch "
        "in the vramatlas catalogue, with derived answers and checked rules of thumb. "
        "Bytes are integers; GB = 10^9 bytes, GiB = 2^30 bytes.",
        "version": _version(),
        "created": build_date(catalog),
        "licenses": [
            {"name": "Apache-2.0", "path": "https://www.apache.org/licenses/LICENSE-2.0", "title": "Apache License 2.0"}
        ],
        "sources": [{"title": "vramatlas catalogue (catalog/*.yaml)", "path": "catalog/"}],
        "vramatlas": {
            "catalog_content_hash": catalog.content_hash,
            "build_date": build_date(catalog),
            "catalog_counts": catalog.counts(),
        },
        "resources": resources,
    }
    data = (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return _atomic_write(out / "datapackage.json", data)


def _version() -> str:
    from . import __version__

    return str(__version__)


# ------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    from .catalog import load_catalog
    from .paths import CATALOG_DIR

    parser = argparse.ArgumentParser(
        prog="python -m vramatlas.tables", description="Compute the matrix and write the tables (no site)."
    )
    parser.add_argument("--catalog", default=str(CATALOG_DIR), help="catalogue folder (default: the repository's)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: dist/tables)")
    parser.add_argument(
        "--write-schemas", metavar="DIR", help="also (re)write the tables' row JSON Schemas into DIR (schema/tables)"
    )
    args = parser.parse_args(argv)
    catalog = load_catalog(args.catalog)
    tables = build_tables(catalog)
    if args.write_schemas:
        for fname, schema in json_schemas(tables).items():
            _atomic_write(Path(args.write_schemas) / fname, schema_text(schema).encode("utf-8"))
    paths = write_tables(tables, args.out, catalog)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} files, {total / 2**20:.1f} MiB, to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
