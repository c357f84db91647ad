"""The full compatibility matrix: every GPU x count x model x method x context x batch.

``compute_matrix(catalog)`` returns one row per pairing with the per-GPU peak,
its components, the GPU's capacity, ``fits`` and ``headroom_bytes``. It is
built without a per-row Python loop:

1. the architecture columns are computed once per model variant
   (:func:`variant_table`), the method columns once per method
   (:func:`method_table`), the GPU columns once per GPU (:func:`gpu_table`);
2. the grid of keys is a chain of pandas merges (``how="cross"`` for
   independent axes, an inner merge where an axis depends on the model,
   e.g. its context lengths);
3. the wide case frame is assembled by gathering each small table's columns
   with the grid's integer codes (what a merge on the code would do, without
   the hash join), and :func:`vramatlas.memory.estimate_frame` - the one
   implementation of the memory model - runs ONCE on the whole frame.

Which rows exist (the grid, documented on the site's methodology page):

* GPU counts 1, 2, 4, 8 for every pairing; nodes of 8 GPUs (16, 32, 64) only
  for a model x method that does not fit on one node of the largest GPU in the
  catalogue at the shortest context (batch 1): more GPUs only matter for those.
* Parallelism: ``none`` on one GPU; tensor parallel (``tp``) for inference and
  ``fsdp`` for training on several.
* Methods that name the weights they are for (``for_weights_native``: the
  ternary methods) only for families whose published weights are those (BitNet b1.58, MatMul-free LM); every
  other method for every model.
* Runtimes: each method runs in its own runtime (the ``runtime`` column;
  llama.cpp for the GGUF methods, vLLM for fp8, transformers for the rest), and
  each runtime file's ``matrix`` field adds the pairings people use: its base
  method with each weight format it lists (``quant``), on the GPU segments and
  vendors and at the GPU counts it names: llama.cpp and Ollama GGUF on consumer
  and workstation cards and Macs, vLLM and SGLang on data-centre cards, MLX on
  Apple. A pairing lists only the formats no method already gives in that
  runtime: llama.cpp's q4_k_m and q8_0 are the inference-gguf-* methods' rows
  (on every GPU), vLLM's fp8 is inference-fp8's. A pairing's row is
  ``vramatlas estimate --runtime R --quant Q --ctx
  seq_len+new_tokens`` (the runtime allocates the row's context). For a server
  that preallocates (vLLM, SGLang) the peak is the start-up share of the GPU
  (gpu_memory_utilization, SGLang's mem_fraction_static) and a row fits when
  weights, the profiled activations and the non-torch memory leave a KV pool of
  at least one sequence of the row's context inside that share.
* Context lengths 2k, 8k, 32k, 128k and the model's own
  ``max_position_embeddings``, skipping lengths beyond it; batch 1 and 8 on
  one GPU, batch 1 on several (what the site's pages and charts show), at
  every context while the rows fit the budget (the grid ladder below).
* Defaults as ``vramatlas estimate`` uses them: 16 new tokens for inference,
  each method's optimizer and gradient-checkpointing setting, LoRA rank 16 on
  all linear layers. A row can be reproduced with ``vramatlas estimate``.

Size, a deliberate choice: rows = GPUs x model-method pairs x contexts x
(2 batches on one GPU + 3 counts and the node rungs at batch 1), plus the
runtime pairings on their GPUs. The matrix holds the pairings people look up
(every GPU, the usual counts, contexts and batches); every other setting (any
length, batch, count, parallelism, LoRA rank, optimizer, runtime option) is
one ``vramatlas estimate`` away, in the terminal or in the site's calculator.

The rows stay under ROW_BUDGET by design, not by luck: the grid is the
richest of GRIDS, a ladder counted before anything is evaluated, whose rows
fit the budget:

1. every context for every count and batch (above);
2. several GPUs (2, 4, 8 and the node rungs) only at the reference context
   (8k, or the model's longest below it: what the site's pages compare) and at
   the model's longest; one GPU keeps every context;
3. as 2, and batch 8 only at the reference context.

The site's pages read one-GPU rows only (the fewest-GPUs and longest-context
answers come from their own tables), so grid 2 gives the same pages and drops
rows of the downloadable matrix only; grid 3 also leaves the explorer's
batch-8 curves one point each (each one a ``vramatlas estimate`` away). Grid 1 held 2,997,566 rows for 86
GPUs and 107 variants; with 111 variants it would be 3,125,078, so the matrix
is on grid 2: 2,192,930 rows (grid 3: 1,728,490, and room for about 1.7x
today's catalogue); beyond that the build refuses in one line until the
budget is raised knowingly or a leaner rung is
added. At ~160 bytes a row of results and ~260,000 rows/s on the 2-core
development machine (both cores, ``benchmarks/``), 3M rows are ~12 s and ~480 MB.
Evaluation runs in chunks of CHUNK_ROWS rows, so peak memory is the compact
result plus one chunk's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from .api import (
    DEFAULT_LORA_RANK,
    DEFAULT_NEW_TOKENS,
    LORA_MODULES,
    gpu_columns,
    lora_columns,
    method_columns,
    optimizer_columns,
    runtime_cache_columns,
)
from .arch import read
from .memory import COMPONENTS, PHASES, estimate_columns, frame_of_columns
from .runtimes import unsupported_reason
from .speed import SPEED_COLUMNS, speed_frame, speed_table

CHUNK_ROWS = 1 << 15  # rows evaluated at once: ~100 float64 inputs x 32Ki rows ~ 25 MiB of case frame
ROW_BUDGET = 3_000_000  # the matrix's size is a choice (see "Size" above): growing past this is deliberate

CONTEXTS = (2048, 8192, 32768, 131072)
BATCHES = (1, 8)
MULTI_GPU_BATCHES = (1,)  # on several GPUs only these batches (see "Size")
REFERENCE_CONTEXT = 8192  # the site's pages compare models at 8k (or their longest context below it)


@dataclass(frozen=True)
class Grid:
    """One choice of which (context, batch, count) rows the matrix holds (see "Size")."""

    name: str
    multi_gpu_every_context: bool  # several GPUs at every context (else the reference and the longest only)
    batches_every_context: bool  # batch 8 on one GPU at every context (else at the reference context only)


# Richest first: the matrix takes the first one whose rows fit ROW_BUDGET.
GRIDS = (
    Grid("every context", True, True),
    Grid("several GPUs at the reference and the longest context", False, True),
    Grid("several GPUs at the reference and the longest context, batch 8 at the reference", False, False),
)
GPU_COUNTS = (1, 2, 4, 8)
NODE_SIZE = 8
NODE_COUNTS = (16, 32, 64)

# Output columns of the matrix, in order (the table schema documents each).
KEY_COLUMNS = ("gpu", "gpu_count", "model_family", "model", "method", "runtime", "quant", "seq_len", "batch")
SETTING_COLUMNS = ("method_kind", "parallelism", "new_tokens", "grad_checkpointing", "optimizer", "lora_rank")
RESULT_COLUMNS = ("peak_bytes", *COMPONENTS, "phase", "capacity_bytes", "fits", "headroom_bytes", *SPEED_COLUMNS)
MATRIX_COLUMNS = KEY_COLUMNS + SETTING_COLUMNS + RESULT_COLUMNS


# ----------------------------------------------------------- small tables


def variant_table(catalog, variants: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per model variant: ids, family facts and the architecture columns."""
    rows = []
    for vid in variants if variants is not None else catalog.variants:
        v = catalog.variants[vid]
        family = catalog.models[v["family"]]
        reading = read(v["config"], v.get("parameters"))
        arch = reading.columns
        row: dict[str, Any] = {
            "model": vid,
            "model_family": v["family"],
            "weights_native": family.get("weights_native"),
            "mixers": reading.mixers,
            "parameters": int(v.get("parameters") or arch["params_total"]),
        }
        row.update(arch)
        # all-linear LoRA columns; zeroed later for methods that train no adapter
        lora = lora_columns(arch, LORA_MODULES)
        row["lora_io_default"] = lora["lora_io"]
        row["lora_in_width_default"] = lora["lora_in_width"]
        rows.append(row)
    return pd.DataFrame(rows)


def runtime_pairings(catalog, methods: Iterable[str] | None = None) -> list[tuple[str, str | None, str | None]]:
    """The matrix's method rows as (method, runtime, quant): every method with its own runtime and weights
    (runtime and quant None), then each runtime's ``matrix`` pairings (its catalogue file: the base method
    with each weight format it lists), for the methods asked for."""
    wanted = sorted(catalog.methods) if methods is None else list(methods)
    out: list[tuple[str, str | None, str | None]] = [(mid, None, None) for mid in wanted]
    for rid in sorted(catalog.runtimes):
        pairing = catalog.runtimes[rid].get("matrix")
        if pairing and pairing["method"] in wanted:
            out.extend((pairing["method"], rid, q) for q in pairing["quants"])
    return out


def method_table(catalog, methods: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per method row of the matrix (:func:`runtime_pairings`): the method's numbers with
    `vramatlas estimate`'s defaults, the runtime it runs in and the weight format."""
    rows = []
    for mid, runtime_id, quant_id in runtime_pairings(catalog, methods):
        spec = catalog.methods[mid]
        training = spec["kind"] == "training"
        lora = spec.get("trainable") == "lora"
        optimizer = spec.get("optimizer") if training else None
        row: dict[str, Any] = {
            "method": mid,
            "method_kind": spec["kind"],
            "for_weights_native": tuple(spec.get("for_weights_native") or ()),
            "optimizer": optimizer,
        }
        row.update(method_columns(spec))
        row.update(optimizer_columns(optimizer))
        row.update(runtime_cache_columns())
        # the runtime the method names (llama.cpp for the GGUF methods): its buffers, as `estimate` computes them
        runtime = catalog.runtimes.get(runtime_id or spec.get("runtime") or "transformers")
        row["runtime"] = runtime["id"] if runtime else "transformers"
        row["runtime_file"] = runtime  # what it can load: `supports` (None: a catalogue without that runtime file)
        row["runtime_spec"] = runtime if runtime and runtime["compute"]["model"] != "tensors" else None
        row["runtime_quants"] = catalog.quants
        # --runtime / --quant as `estimate` takes them (None: the method's own), and the weights' id
        row["runtime_arg"], row["quant_arg"] = runtime_id, quant_id
        row["quant"] = quant_id or spec["weights"]["linear"]["format"]
        pairing = runtime.get("matrix") if runtime_id else None
        row["gpu_segments"] = tuple(pairing["gpu_segments"]) if pairing else None
        row["gpu_vendors"] = tuple(pairing["vendors"]) if pairing else None
        row["gpu_counts"] = tuple(pairing["gpu_counts"]) if pairing else None
        row.update(
            new_tokens=float(0 if training else DEFAULT_NEW_TOKENS),
            grad_checkpointing=float(bool(spec.get("gradient_checkpointing")) and training),
            lora_rank=float(DEFAULT_LORA_RANK if lora else 0),
            lora_on=float(lora),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def gpu_table(catalog, gpus: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per GPU: capacity (usable bytes x unified-memory share) and CUDA context."""
    rows = []
    for gid in gpus if gpus is not None else sorted(catalog.gpus):
        g = catalog.gpus[gid]
        row: dict[str, Any] = {"gpu": gid, "vendor": g.get("vendor"), "segment": g.get("segment"), "gpu_spec": g}
        row.update(gpu_columns(g))
        rows.append(row)
    return pd.DataFrame(rows)


def context_table(variants: pd.DataFrame, contexts: Iterable[int] = CONTEXTS) -> pd.DataFrame:
    """(v, seq_len): the standard lengths up to each model's maximum, and the maximum itself."""
    maxpos = variants["max_positions"].to_numpy()
    grid = pd.DataFrame({"v": np.arange(len(variants))}).merge(
        pd.DataFrame({"seq_len": np.asarray(sorted(set(contexts)), dtype=np.int64)}), how="cross"
    )
    limit = maxpos[grid["v"].to_numpy()]
    grid = grid[(grid["seq_len"] <= limit) | (limit <= 0)]
    own = pd.DataFrame({"v": np.arange(len(variants)), "seq_len": maxpos.astype(np.int64)})
    own = own[own["seq_len"] > 0]
    out = pd.concat([grid, own]).drop_duplicates().sort_values(["v", "seq_len"], kind="stable")
    return out.reset_index(drop=True)


def gpu_allowed(methods: pd.DataFrame, gpus: pd.DataFrame) -> np.ndarray:
    """[m, g]: whether method row m has rows on GPU g (a runtime pairing: only the segments and vendors
    its catalogue file names; a method: every GPU)."""
    seg, ven = gpus["segment"].tolist(), gpus["vendor"].tolist()
    return np.array(
        [
            [(s is None or seg[g] in s) and (v is None or ven[g] in v) for g in range(len(gpus))]
            for s, v in zip(methods["gpu_segments"], methods["gpu_vendors"])
        ],
        dtype=bool,
    ).reshape(len(methods), len(gpus))


def count_allowed(methods: pd.DataFrame, m: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Whether method row m takes each GPU count (a runtime pairing: its ``gpu_counts``; a method: any)."""
    top = np.array([max(c) if c else np.iinfo(np.int64).max for c in methods["gpu_counts"]], dtype=np.int64)
    listed = [set(c) if c else None for c in methods["gpu_counts"]]
    return np.array(
        [listed[mi] is None or int(n) in listed[mi] for mi, n in zip(m.tolist(), counts.tolist())], dtype=bool
    ) & (counts <= top[m])


def method_pairs(variants: pd.DataFrame, methods: pd.DataFrame) -> pd.DataFrame:
    """(v, m) for every sensible model x method: a method that names the weights it is
    for (`for_weights_native`, e.g. ternary inference) pairs only with those families, and a
    runtime pairs only with the models it can load (its file's ``supports``, as `estimate` refuses)."""
    allowed = np.array(
        [
            [
                (not wanted or native in wanted)
                and (runtime is None or unsupported_reason(runtime, mixers, native) is None)
                for wanted, runtime in zip(methods["for_weights_native"], methods["runtime_file"])
            ]
            for native, mixers in zip(variants["weights_native"], variants["mixers"])
        ],
        dtype=bool,
    ).reshape(len(variants), len(methods))
    v, m = np.nonzero(allowed)
    return pd.DataFrame({"v": v, "m": m})


# ------------------------------------------------------------ case frames

# Columns of `variants` / `methods` / `gpus` that are not inputs of the memory model.
_NOT_INPUTS = {
    "model",
    "model_family",
    "weights_native",
    "mixers",
    "parameters",
    "lora_io_default",
    "lora_in_width_default",
    "method",
    "method_kind",
    "for_weights_native",
    "optimizer",
    "lora_on",
    "gpu",
    "vendor",
    "segment",
    "runtime",
    "runtime_spec",
    "runtime_file",
    "runtime_quants",
    "runtime_arg",
    "quant_arg",
    "quant",
    "gpu_segments",
    "gpu_vendors",
    "gpu_counts",
    "gpu_spec",
}


_NOT_INPUTS |= {f"lora_{name}" for name in LORA_MODULES} | {"max_positions", "moe_layers"}


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in _NOT_INPUTS]


def _coded_tables(variants: pd.DataFrame, methods: pd.DataFrame, gpus: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The dimensions that are catalogue entities: key code -> its small table (one row per entity).

    A new entity dimension (e.g. a runtime) is a code here, a table function
    above, a merge in :func:`matrix_keys` and its id column in :func:`result_frame`.
    """
    return {"v": variants, "m": methods, "g": gpus}


def case_frame(keys: pd.DataFrame, variants: pd.DataFrame, methods: pd.DataFrame, gpus: pd.DataFrame) -> pd.DataFrame:
    """The memory model's input for every row of ``keys`` (codes v, m, g; seq_len, batch, gpu_count).

    Each small table's column is gathered with the row's code: the same result
    as merging on the code, without a hash join over millions of rows.
    """
    v = keys["v"].to_numpy()
    m = keys["m"].to_numpy()
    cols: dict[str, np.ndarray] = {}
    for code, table in _coded_tables(variants, methods, gpus).items():
        rows = keys[code].to_numpy()
        for name in _numeric(table):
            cols[name] = table[name].to_numpy(dtype=np.float64)[rows]
    lora_on = methods["lora_on"].to_numpy(dtype=np.float64)[m]
    cols["lora_io"] = variants["lora_io_default"].to_numpy(dtype=np.float64)[v] * lora_on
    cols["lora_in_width"] = variants["lora_in_width_default"].to_numpy(dtype=np.float64)[v] * lora_on
    count = keys["gpu_count"].to_numpy()
    training = methods["training"].to_numpy()[m] > 0
    cols["seq_len"] = keys["seq_len"].to_numpy(dtype=np.float64)
    cols["batch"] = keys["batch"].to_numpy(dtype=np.float64)
    cols["gpus"] = count.astype(np.float64)
    cols["parallelism"] = np.asarray(["none", "tp", "fsdp"])[np.where(count <= 1, 0, np.where(training, 2, 1))]
    runtime_case_columns(keys, variants, methods, gpus, cols)
    return pd.DataFrame(cols, copy=False)


_RUNTIME_ROWS: dict[tuple, dict[str, float]] = {}  # (model, method, runtime, quant, seq_len, batch) -> rt columns
_GPU_ROWS: dict[tuple, dict[str, float]] = {}  # (method, runtime, quant, gpu, count) -> runtime_gpu_columns
_QUANT_ROWS: dict[tuple, dict[str, float]] = {}  # (model, --quant) -> the format's bpw_* columns for that model


def _spec_token(spec: Any) -> str:
    """A GPU file's content as a cache key (a test may change a GPU under the same id)."""
    import json

    return json.dumps(spec, sort_keys=True, default=str)


def run_options(seq_len: int, new_tokens: int):
    """The runtime options of a matrix row: the context the runtime allocates is the row's (seq_len + new
    tokens, `estimate --ctx`); every other option at the runtime's default."""
    from .runtimes import RunOptions

    return RunOptions(ctx=int(seq_len) + int(new_tokens))


def runtime_case_columns(
    keys: pd.DataFrame, variants: pd.DataFrame, methods: pd.DataFrame, gpus: pd.DataFrame, cols: dict[str, np.ndarray]
) -> None:
    """Add the rt_* columns (vramatlas.runtimes) to ``cols``, for rows whose method row runs on a
    preallocating runtime (llama.cpp for the GGUF methods, each runtime's ``matrix`` pairings), that
    runtime's cache layout and KV dtype, and the weight format's bits (a pairing's --quant) on those rows.

    Most depend on the model, the method row and the context only, so they are computed once per distinct
    (model, method row, seq_len, batch) and gathered; the few that depend on the GPU and the count
    (vramatlas.runtimes.runtime_gpu_columns) once per distinct (method row, GPU, count). Other rows keep
    the memory model's PyTorch terms (rt_model 0).
    """
    from types import SimpleNamespace

    from .runtimes import quant_columns, runtime_columns, runtime_gpu_columns

    m = keys["m"].to_numpy()
    specs = methods["runtime_spec"].to_numpy()
    uses = np.asarray([spec is not None for spec in specs], dtype=bool)[m]
    n = len(keys)
    cols["rt_model"] = np.zeros(n)
    if not uses.any():
        return
    uniq, inverse = np.unique(
        keys[uses][["v", "m", "seq_len", "batch"]].to_numpy(dtype=np.int64), axis=0, return_inverse=True
    )
    computed = []
    variant_records = method_records = None
    model_ids = variants["model"].tolist()
    method_ids = list(zip(methods["method"], methods["runtime"], methods["quant"]))
    for v, mi, seq, batch in uniq.tolist():
        key = (model_ids[v], *method_ids[mi], seq, batch)
        if key not in _RUNTIME_ROWS:
            if variant_records is None:  # rows as dicts, once: a frame's row (iloc) costs about 0.1 ms
                variant_records, method_records = variants.to_dict("records"), methods.to_dict("records")
            method = method_records[int(mi)]
            quants = SimpleNamespace(quants=method["runtime_quants"])
            row = runtime_columns(
                quants,
                method["runtime_spec"],
                run_options(seq, method["new_tokens"]),
                variant_records[int(v)],
                gpu=None,
                gpus=1,
                seq_len=int(seq),
                new_tokens=int(method["new_tokens"]),
                batch=int(batch),
                training=bool(method["training"]),
            )
            if isinstance(method["quant_arg"], str):  # depends on the model and the format only
                qkey = (model_ids[v], method["quant_arg"])
                if qkey not in _QUANT_ROWS:
                    _QUANT_ROWS[qkey] = quant_columns(
                        quants, method["runtime_quants"][method["quant_arg"]], variant_records[int(v)]
                    )
                row.update(_QUANT_ROWS[qkey])
            _RUNTIME_ROWS[key] = {name: value for name, value in row.items() if isinstance(value, float)}
        computed.append(_RUNTIME_ROWS[key])
    rows = np.flatnonzero(uses)
    names = sorted(set().union(*computed))
    table = np.asarray([[c.get(name, np.nan) for name in names] for c in computed], dtype=np.float64)
    for j, name in enumerate(names):
        values = table[inverse.ravel(), j]
        if name not in cols:
            cols[name] = np.zeros(n)
        known = ~np.isnan(values) | (name.startswith("rt_"))  # a format's bits: only where the row has --quant
        cols[name][rows[known]] = values[known]
    per_gpu, where = np.unique(
        keys[uses][["m", "g", "gpu_count"]].to_numpy(dtype=np.int64), axis=0, return_inverse=True
    )
    specs_of_gpu, gpu_ids = gpus["gpu_spec"].tolist(), gpus["gpu"].tolist()
    gpu_cols = []
    for mi, g, count in per_gpu.tolist():
        key = (*method_ids[mi], gpu_ids[g], _spec_token(specs_of_gpu[g]), count)
        if key not in _GPU_ROWS:
            _GPU_ROWS[key] = runtime_gpu_columns(
                methods["runtime_spec"].iloc[mi], run_options(0, 0), specs_of_gpu[g], int(count)
            )
        gpu_cols.append(_GPU_ROWS[key])
    for name in gpu_cols[0]:
        cols[name][rows] = np.asarray([c[name] for c in gpu_cols], dtype=np.float64)[where.ravel()]


def _speed_of_chunk(
    keys: pd.DataFrame, case: pd.DataFrame, fits: np.ndarray, speeds: dict, n_gpus: int
) -> dict[str, np.ndarray]:
    """The speed model (vramatlas.speed) on one chunk: the case columns with each row's method x GPU speed
    columns; NaN where the case does not fit (nothing runs) or the runtime has no speed data for the GPU."""
    code = keys["m"].to_numpy() * n_gpus + keys["g"].to_numpy()
    cols = {name: case[name].to_numpy() for name in case.columns if case[name].dtype.kind == "f"}
    cols.update({name: values[code] for name, values in speeds.items()})
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN rows: GPUs the runtime has no speed data for
        out = speed_frame(cols)
    return {
        name: np.where(fits, np.asarray(out[name], dtype=np.float64), np.nan).astype(np.float32)
        for name in SPEED_COLUMNS
    }


# What _estimate_keys keeps of each chunk's estimate_columns: what frame_of_columns reads, and the speed.
_KEPT = frozenset(COMPONENTS) | {"peak_bytes", "phase_code", "headroom_bytes", "fits"} | frozenset(SPEED_COLUMNS)


MATRIX_PROCESSES = 2  # the build's matrix on both cores: every other chunk in a forked process


def _estimate_keys(
    keys,
    variants,
    methods,
    gpus,
    chunk_rows: int | None = None,
    speeds: dict | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    processes: int = 1,
) -> pd.DataFrame:
    """:func:`estimate_frame` for every row of ``keys``, :data:`CHUNK_ROWS` rows at a time (and, with the
    method x GPU ``speeds`` of :func:`vramatlas.speed.speed_table`, the speed columns).

    The wide case frame (one float64 column per model input, about 100) and the
    model's temporaries exist for one chunk only; what is kept per row is the
    compact result (integers and a phase), so memory grows with the rows'
    results, not with the model's inputs. ``on_progress(done, total)`` is called
    after each chunk (the build's terminal progress). ``processes=2``: every other
    chunk is evaluated by a forked process (vramatlas.forked) meanwhile; the result
    is the same.
    """
    from .forked import Forked

    step, n = chunk_rows or CHUNK_ROWS, len(keys)
    chunks = [(start, min(start + step, n)) for start in range(0, n, step)]
    # every other chunk to the second process: the chunks' costs differ by model and runtime (a llama.cpp
    # row replays its graph), and neighbours cost alike
    ours, theirs = (chunks[0::2], chunks[1::2]) if processes > 1 and len(chunks) > 1 else (chunks, [])
    other = Forked(_estimate_rows, keys, variants, methods, gpus, theirs, speeds, None) if theirs else None
    try:
        own_rows = sum(b - a for a, b in ours)
        # the progress counts this process's share, scaled to the whole (the other goes as fast)
        scaled = (lambda done, _total: on_progress(done * n // own_rows, n)) if on_progress and theirs else on_progress
        parts = [(ours, _estimate_rows(keys, variants, methods, gpus, ours, speeds, scaled))]
        if other is not None:
            parts.append((theirs, other.result()))
    except BaseException:
        if other is not None:
            other.cancel()
        raise
    full: dict[str, np.ndarray] = {}
    for spans, cols in parts:
        for name in list(cols):
            values = cols.pop(name)  # each share's column freed once copied: one copy of the result at a time
            if name not in full:
                full[name] = np.empty(n, dtype=values.dtype)
            at = 0
            for a, b in spans:
                full[name][a:b] = values[at : at + b - a]
                at += b - a
    del parts
    frame = frame_of_columns(full, pd.RangeIndex(n))
    for name in SPEED_COLUMNS if speeds is not None else ():
        frame[name] = full[name]
    return frame


def _estimate_rows(keys, variants, methods, gpus, spans: list[tuple[int, int]], speeds, on_progress) -> dict:
    """The kept estimate columns (:data:`_KEPT`) of the rows of ``keys`` in ``spans`` (chunks, each
    ``(start, stop)``), evaluated one chunk at a time, one after the other in the result."""
    total = sum(b - a for a, b in spans)
    full: dict[str, np.ndarray] = {}
    at = 0
    for a, b in spans:
        part = keys.iloc[a:b]
        case = case_frame(part, variants, methods, gpus)
        cols = estimate_columns(case)
        if speeds is not None:
            cols.update(_speed_of_chunk(part, case, np.asarray(cols["fits"], dtype=bool), speeds, len(gpus)))
        for name, values in cols.items():
            if name not in _KEPT:  # phase (strings: carried as phase_code), the log_* and host columns
                continue
            if name not in full:
                full[name] = np.empty(total, dtype=values.dtype)
            full[name][at : at + len(values)] = values
        at += b - a
        if on_progress is not None:
            on_progress(at, total)
    return full


def gpu_count_table(
    pairs: pd.DataFrame, variants, methods, gpus, counts: Iterable[int] = GPU_COUNTS, nodes: Iterable[int] = NODE_COUNTS
) -> pd.DataFrame:
    """(v, m, gpu_count): the base counts for every pair; node counts where one node is not enough.

    A pair gets 16, 32, ... GPUs until it fits (at the shortest context, batch 1)
    on that many of the largest GPU in the catalogue; the last node count is kept
    either way.
    """
    counts, nodes = tuple(counts), tuple(nodes)
    base = pairs.merge(pd.DataFrame({"gpu_count": np.asarray(counts, dtype=np.int64)}), how="cross")
    if not nodes:
        return base
    ladder = (max(counts),) + nodes
    big = int(np.argmax(gpus["capacity_bytes"].to_numpy()))
    shortest = np.minimum(
        min(CONTEXTS), np.where(variants["max_positions"] > 0, variants["max_positions"], min(CONTEXTS))
    )
    probe = pairs.merge(pd.DataFrame({"gpu_count": np.asarray(ladder, dtype=np.int64)}), how="cross")
    probe["g"] = big
    probe["seq_len"] = shortest[probe["v"].to_numpy()]
    probe["batch"] = 1
    fits = _estimate_keys(probe, variants, methods, gpus)["fits"].to_numpy(dtype=bool)
    # the smallest rung of the ladder that fits, per pair (the last rung if none does)
    rung = np.where(fits, np.arange(len(probe)) % len(ladder), len(ladder) - 1)
    first = pd.Series(rung).groupby(probe.index // len(ladder)).min().to_numpy()
    need = np.asarray(ladder)[first]
    extra = pairs.assign(need=need).merge(pd.DataFrame({"gpu_count": np.asarray(nodes, dtype=np.int64)}), how="cross")
    extra = extra[extra["gpu_count"] <= extra["need"]].drop(columns="need")
    out = pd.concat([base, extra]).sort_values(["v", "m", "gpu_count"], kind="stable")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------- the matrix


def _categorical(values: np.ndarray, codes: np.ndarray, ordered_categories: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes), categories=pd.Index(ordered_categories, dtype=object))


def _id_column(ids: pd.Series, codes: np.ndarray) -> pd.Categorical:
    """A small table's id column gathered by row codes, as a categorical of its distinct ids (in first order)."""
    cats = list(dict.fromkeys(ids))
    return pd.Categorical.from_codes(pd.Index(cats).get_indexer(ids)[codes], categories=cats)


def result_frame(keys: pd.DataFrame, variants, methods, gpus, est: pd.DataFrame) -> pd.DataFrame:
    """The matrix's output columns (ids as categoricals, compact integers)."""
    v, m, g = keys["v"].to_numpy(), keys["m"].to_numpy(), keys["g"].to_numpy()
    family_cats = list(dict.fromkeys(variants["model_family"]))
    family_code = pd.Index(family_cats).get_indexer(variants["model_family"])
    opt_cats = sorted({o for o in methods["optimizer"] if isinstance(o, str)})
    opt_code = np.array([opt_cats.index(o) if isinstance(o, str) else -1 for o in methods["optimizer"]], dtype=np.int64)
    count = keys["gpu_count"].to_numpy()
    training = methods["training"].to_numpy()[m] > 0
    out = {
        "gpu": pd.Categorical.from_codes(g, categories=list(gpus["gpu"])),
        "gpu_count": count.astype(np.int16),
        "model_family": pd.Categorical.from_codes(family_code[v], categories=family_cats),
        "model": pd.Categorical.from_codes(v, categories=list(variants["model"])),
        "method": _id_column(methods["method"], m),
        "runtime": _id_column(methods["runtime"], m),
        "quant": _id_column(methods["quant"], m),
        "seq_len": keys["seq_len"].to_numpy().astype(np.int32),
        "batch": keys["batch"].to_numpy().astype(np.int16),
        "method_kind": pd.Categorical.from_codes(np.where(training, 1, 0), categories=["inference", "training"]),
        "parallelism": pd.Categorical.from_codes(
            np.where(count <= 1, 0, np.where(training, 2, 1)), categories=["none", "tp", "fsdp"]
        ),
        "new_tokens": methods["new_tokens"].to_numpy()[m].astype(np.int32),
        "grad_checkpointing": methods["grad_checkpointing"].to_numpy()[m] > 0,
        "optimizer": pd.Categorical.from_codes(opt_code[m], categories=opt_cats),
        "lora_rank": methods["lora_rank"].to_numpy()[m].astype(np.int16),
        "peak_bytes": est["peak_bytes"].to_numpy(),
    }
    for name in COMPONENTS:
        out[name] = est[name].to_numpy()
    out["phase"] = est["phase"].astype(pd.CategoricalDtype(list(PHASES)))
    out["capacity_bytes"] = gpus["capacity_bytes"].to_numpy()[g].astype(np.int64)
    out["headroom_bytes"] = est["headroom_bytes"].to_numpy(dtype=np.int64)
    out["fits"] = est["fits"].to_numpy(dtype=bool)
    for name in SPEED_COLUMNS:  # empty when evaluated without the speed table
        out[name] = (
            est[name].to_numpy(dtype=np.float32) if name in est else np.full(len(keys), np.nan, dtype=np.float32)
        )
    return pd.DataFrame(out, copy=False)[list(MATRIX_COLUMNS)]


def reference_contexts(variants: pd.DataFrame, contexts: Iterable[int] = CONTEXTS) -> np.ndarray:
    """Per variant, the reference context of the site's pages: REFERENCE_CONTEXT, or the variant's longest
    grid length below it when it has no 8k (its maximum when that is shorter)."""
    grid = context_table(variants, contexts)
    below = grid[grid["seq_len"] <= REFERENCE_CONTEXT].groupby("v")["seq_len"].max()
    shortest = grid.groupby("v")["seq_len"].min()
    return below.reindex(range(len(variants))).fillna(shortest).to_numpy(dtype=np.int64)


def grid_mask(inner: pd.DataFrame, grid: Grid, ref: np.ndarray, maxpos: np.ndarray) -> np.ndarray:
    """Which rows of the full (v, m, gpu_count, seq_len, batch) grid ``grid`` keeps (see "Size")."""
    count, batch, seq = inner["gpu_count"].to_numpy(), inner["batch"].to_numpy(), inner["seq_len"].to_numpy()
    v = inner["v"].to_numpy()
    own_ref = seq == ref[v]
    keep = (count == 1) | np.isin(batch, MULTI_GPU_BATCHES)
    if not grid.multi_gpu_every_context:
        keep &= (count == 1) | own_ref | (seq == maxpos[v])
    if not grid.batches_every_context:
        keep &= (batch == 1) | own_ref
    return keep


class MatrixBudgetError(ValueError):
    """Even the leanest grid holds more rows than the budget: a choice to make, not a bug."""


def choose_grid(
    inner: pd.DataFrame, per_method_gpus: np.ndarray, ref: np.ndarray, maxpos: np.ndarray, budget: int
) -> tuple[Grid, np.ndarray]:
    """The first grid of GRIDS (the richest) whose rows fit ``budget``, and its mask over ``inner``;
    MatrixBudgetError when even the leanest does not (raise ROW_BUDGET knowingly, or add a leaner grid)."""
    weight = per_method_gpus[inner["m"].to_numpy()]  # each row of inner is one row per GPU it is allowed on
    sizes = []
    for grid in GRIDS:
        keep = grid_mask(inner, grid, ref, maxpos)
        rows = int(weight[keep].sum())
        if rows <= budget:
            return grid, keep
        sizes.append(f"{grid.name}: {rows:,}")
    raise MatrixBudgetError(
        f"the matrix is over its budget of {budget:,} rows at every grid ({'; '.join(sizes)}): raise ROW_BUDGET "
        "in vramatlas/matrix.py knowingly, or add a leaner grid to GRIDS"
    )


def matrix_keys(variants, methods, gpus, budget: int = ROW_BUDGET) -> pd.DataFrame:
    """The grid as codes: (g, v, m, gpu_count, seq_len, batch), in output order, at the richest of GRIDS
    that holds ``budget`` rows."""
    pairs = method_pairs(variants, methods)
    counted = gpu_count_table(pairs, variants, methods, gpus)
    counted = counted[count_allowed(methods, counted["m"].to_numpy(), counted["gpu_count"].to_numpy())]
    inner = counted.merge(context_table(variants), on="v", how="inner").merge(
        pd.DataFrame({"batch": np.asarray(BATCHES, dtype=np.int64)}), how="cross"
    )
    allowed_gpus = gpu_allowed(methods, gpus)  # [m, g]
    maxpos = variants["max_positions"].to_numpy().astype(np.int64)
    _grid, keep = choose_grid(inner, allowed_gpus.sum(axis=1), reference_contexts(variants), maxpos, budget)
    inner = inner[keep]
    inner = inner.sort_values(["gpu_count", "v", "m", "seq_len", "batch"], kind="stable").reset_index(drop=True)
    allowed = allowed_gpus[inner["m"].to_numpy()]  # [row of inner, g]
    picks = [np.flatnonzero(allowed[:, g]) for g in range(len(gpus))]
    keys = inner.iloc[np.concatenate(picks)].reset_index(drop=True)
    keys.insert(0, "g", np.repeat(np.arange(len(gpus), dtype=np.int64), [len(p) for p in picks]))
    return keys


def pairing_rows(frame: pd.DataFrame, catalog) -> np.ndarray:
    """Which rows of a matrix or derived table are runtime pairings (a runtime file's ``matrix`` field),
    as opposed to a method's own rows in its own runtime."""
    if "runtime" not in frame:
        return np.zeros(len(frame), dtype=bool)
    wanted = {(mid, rid, q) for mid, rid, q in runtime_pairings(catalog) if rid}
    if not wanted:
        return np.zeros(len(frame), dtype=bool)
    # the distinct (method, runtime, quant) triples are few: test each once, then look the rows up
    cols = [pd.Categorical(frame[c]) for c in ("method", "runtime", "quant")]
    labels = [[str(x) for x in c.categories] for c in cols]
    sizes = [len(x) + 1 for x in labels]  # code -1 (missing) -> 0
    combined = np.zeros(len(frame), dtype=np.int64)
    for c, size in zip(cols, sizes):
        combined = combined * size + (c.codes.astype(np.int64) + 1)
    uniq, inverse = np.unique(combined, return_inverse=True)
    hit = np.zeros(len(uniq), dtype=bool)
    for i, code in enumerate(uniq.tolist()):
        parts = []
        for size in reversed(sizes):
            code, k = divmod(code, size)
            parts.append(k - 1)
        parts.reverse()
        hit[i] = all(k >= 0 for k in parts) and tuple(labels[j][k] for j, k in enumerate(parts)) in wanted
    return hit[inverse]


def _ids_or_none(column: pd.Series) -> list[str | None]:
    return [x if isinstance(x, str) else None for x in column]


def compute_matrix(
    catalog,
    *,
    variants: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
    gpus: Iterable[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    budget: int = ROW_BUDGET,
    processes: int = MATRIX_PROCESSES,
) -> pd.DataFrame:
    """The full matrix (see the module docstring). Optional id lists restrict it to a subset;
    ``on_progress(rows_done, rows_total)`` follows the evaluation chunk by chunk; the grid is the
    richest of GRIDS whose rows fit ``budget``."""
    vt, mt, gt = variant_table(catalog, variants), method_table(catalog, methods), gpu_table(catalog, gpus)
    keys = matrix_keys(vt, mt, gt, budget)
    speeds = speed_table(
        catalog, list(mt["method"]), list(gt["gpu"]), _ids_or_none(mt["runtime_arg"]), _ids_or_none(mt["quant_arg"])
    )
    est = _estimate_keys(keys, vt, mt, gt, speeds=speeds, on_progress=on_progress, processes=processes)
    return result_frame(keys, vt, mt, gt, est)


def subset_catalog(
    catalog,
    *,
    gpus: Iterable[str] | None = None,
    variants: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
):
    """A copy of the catalogue restricted to some GPUs, model variants and methods (for tests and previews).

    Families keep only the listed variants; the content hash is the full catalogue's.
    """
    from dataclasses import replace

    keep_v = list(catalog.variants) if variants is None else list(variants)
    models = {}
    for vid in keep_v:
        fid = catalog.variants[vid]["family"]
        fam = models.setdefault(fid, {**catalog.models[fid], "variants": []})
        fam["variants"].append({k: v for k, v in catalog.variants[vid].items() if k != "family"})
    return replace(
        catalog,
        gpus={g: catalog.gpus[g] for g in (catalog.gpus if gpus is None else gpus)},
        models=models,
        variants={v: catalog.variants[v] for v in keep_v},
        methods={m: catalog.methods[m] for m in (catalog.methods if methods is None else methods)},
    )
