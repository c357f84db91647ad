"""The runtime terms: how llama.cpp, vLLM, SGLang and MLX allocate, on columns.

Each runtime file names its mechanism (`compute.model`, the ``rt_model``
column) and its fields become ``rt_*`` columns (vramatlas.runtimes). The terms
here read those columns, like every term of vramatlas.memory (through
vramatlas.xp, so one case needs no numpy), and give the quantities the runtime
prints at start-up (``log_*``, totals over the run's GPUs) and the per-GPU
peak. PyTorch-eager runtimes (transformers, Unsloth: ``rt_model`` 0) keep the
memory model's own terms; :func:`apply` picks, row by row.

ggml-graph (llama.cpp, Ollama's llama-server): model buffer = the weights of
the layers on the GPUs (and the output layer when every layer is there),
token_embd in host memory (llama-model.cpp dev_input = CPU); KV buffer =
cells x (K + V) per layer, cells = n_ctx padded to 256 (x n_parallel for
Ollama), sliding-window layers n_swa + n_ubatch cells; compute buffer = what
ggml-alloc reserves for the graph of one micro-batch of n_ubatch tokens, the
logits of every token included (vramatlas.ggml_graph replays the allocator).

profile-run (vLLM): weights, then one forward at max_num_batched_tokens whose
PyTorch peak is the activation memory, then the non-torch memory the worker
added since it started (cuBLAS workspace, NCCL); the KV pool is
gpu_memory_utilization x total minus the three, in blocks (the CUDA context
lies outside the share); tokens = blocks x block size, maximum concurrency =
tokens / max_model_len.

static-fraction (SGLang): the KV pool is mem_fraction_static x the memory free
after the CUDA context, minus the weights and the non-torch memory;
activations live in the remaining share. Without a fraction given, SGLang's
own rule picks it from the GPU's memory (vramatlas.runtimes.fraction_from_rule).

lazy (MLX): peak = weights + a KV cache grown in 256-token steps + one prefill
step's activations; no CUDA context on unified memory.
"""

from __future__ import annotations

from typing import Any, Mapping

from . import xp as np
from .memory import (
    _a,
    kv_cache_bytes,
    prefill_activation_bytes,
    shard_factors,
    weight_bytes_by_kind,
)

TENSORS, GGML_GRAPH, PROFILE_RUN, LAZY, STATIC_FRACTION = 0.0, 1.0, 2.0, 3.0, 4.0
SAMPLER_LOGITS_COPIES = 2  # vLLM's sampler dummy run: fp32 logits and their softmax for max_num_seqs rows
LOG_KEYS = (
    "model_buffer_bytes",
    "kv_buffer_bytes",
    "compute_buffer_bytes",
    "host_model_buffer_bytes",
    "host_kv_buffer_bytes",
    "model_weights_bytes",
    "activation_peak_bytes",
    "non_torch_bytes",
    "cuda_graph_bytes",
    "kv_cache_bytes",
    "kv_cache_tokens",
    "max_concurrency",
    "peak_memory_bytes",
)


def _with(c: Mapping[str, Any], **cols) -> dict[str, Any]:
    return {**c, **cols}


# ------------------------------------------------------------- llama.cpp


def ggml_kv_bytes(c) -> Any:
    """K and V of every layer for the allocated cells (sliding layers: their own, smaller cache).

    The memory model's KV term on n_seq sequences of cells / n_seq tokens, the window set to the
    SWA cache's cells per sequence, so full layers hold `rt_cells` and sliding ones `rt_swa_cells`.
    """
    seqs = np.maximum(_a(c["rt_seqs"]), 1)
    cells = _a(c["rt_cells"])
    window = np.where(_a(c["sliding_window"]) > 0, _a(c["rt_swa_cells"]) / seqs, 0.0)
    return kv_cache_bytes(_with(c, batch=seqs, sliding_window=window), cells / seqs)


def ggml_output_buffer(c) -> Any:
    """The output: the final norm and the logits of every token of the micro-batch (llama.cpp reserves
    the graph with every token an output), f32."""
    t, ab = _a(c["rt_graph_tokens"]), _a(c["rt_act_bytes"])
    rows = np.where(_a(c["rt_logits_per_token"]) > 0, t, _a(c["rt_seqs"]))
    return t * _a(c["hidden"]) * ab + rows * _a(c["vocab"]) * ab


def ggml_terms(c) -> dict[str, Any]:
    """llama.cpp's buffers, totals over the GPUs, and the per-GPU peak (the last GPU of a layer split,
    which also holds the output)."""
    kinds = weight_bytes_by_kind(c)
    layers_share = _a(c["rt_gpu_layer_share"])
    out_on_gpu = _a(c["rt_output_on_gpu"])
    tied = _a(c["params_lm_head"]) == 0
    # a tied model's output is a copy of token_embd (vocab x hidden; params_embed may also hold a per-layer
    # embedding table, Gemma 3n's, which stays with the input layer)
    embd_share = np.minimum(_a(c["vocab"]) * _a(c["hidden"]) / np.maximum(_a(c["params_embed"]), 1.0), 1.0)
    output = np.where(tied, kinds["embedding"] * embd_share, kinds["lm_head"])
    experts = _a(c["params_experts"]) * _a(c["bpw_linear"]) / 8
    cpu_experts = experts * np.minimum(_a(c["rt_cpu_moe_share"]), layers_share)
    per_layer_total = kinds["linear"] + kinds["other"]
    gpu_weights = per_layer_total * layers_share - cpu_experts + out_on_gpu * output
    embd_on_cpu = _a(c["rt_token_embd_on_cpu"]) > 0
    host_weights = (
        per_layer_total * (1 - layers_share)
        + cpu_experts
        + (1 - out_on_gpu) * output
        + np.where(embd_on_cpu, kinds["embedding"], 0.0)
    )
    gpu_weights = gpu_weights + np.where(embd_on_cpu, 0.0, kinds["embedding"])
    kv = ggml_kv_bytes(c)
    kv_gpu = kv * np.where(_a(c["rt_kv_on_host"]) > 0, layers_share, 1.0)
    kv_host = kv - kv_gpu
    # the graph reserved at n_ubatch through ggml-alloc (vramatlas.ggml_graph): with the output, without it
    layer_buf = _a(c["rt_compute_layers"])
    out_buf = ggml_output_buffer(c)
    n = np.maximum(_a(c["gpus"]), 1)
    any_gpu = layers_share > 0
    last_gpu = np.where(out_on_gpu > 0, _a(c["rt_compute_full"]), layer_buf)
    compute_total = np.where(any_gpu, (n - 1) * layer_buf + last_gpu, np.where(out_on_gpu > 0, out_buf, 0.0))
    host_compute = np.where(out_on_gpu > 0, 0.0, out_buf)
    context = _a(c["cuda_context_bytes"]) * _a(c["rt_counts_context"])
    return {
        "log_model_buffer_bytes": gpu_weights,
        "log_kv_buffer_bytes": kv_gpu,
        "log_compute_buffer_bytes": compute_total,
        "log_host_model_buffer_bytes": host_weights,
        "log_host_kv_buffer_bytes": kv_host,
        "weights": (gpu_weights - out_on_gpu * output) / n + out_on_gpu * output,
        "kv_cache": kv_gpu / n,
        "activations": last_gpu,
        "workspace": _a(c["rt_cublas"]),
        "cuda_context": context,
        "host_bytes": host_weights + kv_host + host_compute,
    }


# ------------------------------------------------------- vLLM / SGLang


def profiled_activation_bytes(c) -> Any:
    """vLLM's profile run: one forward over max_num_batched_tokens tokens (the memory model's prefill
    peak, whole, in the compute dtype) plus the sampler's dummy run over max_num_seqs rows of logits."""
    tokens = _a(c["rt_batched_tokens"])
    forward = prefill_activation_bytes(_with(c, seq_len=tokens, batch=1.0, prefill_chunk=0.0, sliding_window=0.0))
    sampler = SAMPLER_LOGITS_COPIES * _a(c["rt_max_seqs"]) * _a(c["vocab"]) * 4
    return forward + sampler


def pool_terms(c) -> dict[str, Any]:
    """The KV pool of a server that claims a share of GPU memory up front (vLLM, SGLang)."""
    shard = shard_factors(c)
    n = np.maximum(_a(c["gpus"]), 1)
    weights = (
        weight_bytes_by_kind(c)["linear"]
        + weight_bytes_by_kind(c)["embedding"]
        + weight_bytes_by_kind(c)["lm_head"]
        + weight_bytes_by_kind(c)["other"]
    ) * shard["weights"]
    profiled = _a(c["rt_model"]) == PROFILE_RUN
    activation = np.where(profiled, profiled_activation_bytes(c) * shard["activations"], 0.0)
    # what the server's own start-up adds outside PyTorch: cuBLAS workspaces, NCCL buffers with tensor parallelism
    non_torch = _a(c["rt_cublas"]) + np.where(n > 1, _a(c["rt_nccl"]), 0.0)
    total = _a(c["rt_total_gpu"])
    context = _a(c["cuda_context_bytes"])
    # vLLM: a share of the total (the CUDA context outside it); SGLang: a share of what was free after the context
    base = np.where(_a(c["rt_pool_budget"]) == 2.0, total - context, total)
    budget = base * _a(c["rt_mem_util"])
    kv_pool = np.maximum(budget - weights - activation - non_torch, 0.0)
    per_token = kv_cache_bytes(_with(c, batch=1.0, sliding_window=0.0), 1.0) * shard["kv_cache"]
    block = np.maximum(_a(c["rt_block_tokens"]), 1)
    tokens = np.floor(kv_pool / np.maximum(per_token * block, 1.0)) * block
    ctx = np.maximum(_a(c["rt_ctx"]), 1)
    graphs = _a(c["rt_graph_per_seq"]) * np.minimum(_a(c["rt_max_seqs"]), 512.0)
    has_gpu = np.logical_not(np.isnan(total))
    # without a GPU there is no pool to size: the cache one sequence of --ctx needs
    one_sequence = kv_cache_bytes(_with(c, batch=1.0), ctx) * shard["kv_cache"]
    kv_gpu = np.where(has_gpu, kv_pool, one_sequence)
    return {
        "log_model_weights_bytes": weights * n,
        "log_activation_peak_bytes": activation * n,
        "log_non_torch_bytes": non_torch * n,
        "log_cuda_graph_bytes": graphs * n,
        "log_kv_cache_bytes": kv_gpu * n,
        "log_kv_cache_tokens": np.where(has_gpu, tokens, ctx),
        "log_max_concurrency": np.where(has_gpu, tokens / ctx, 1.0),
        "weights": weights,
        "kv_cache": kv_gpu,
        "activations": activation,
        "workspace": non_torch + graphs,
        "cuda_context": context,
        "host_bytes": 0.0 * weights,
        "pool_too_small": has_gpu & (tokens < ctx),
    }


# ------------------------------------------------------------------ MLX


def lazy_terms(c) -> dict[str, Any]:
    """mlx-lm: weights, the KV cache grown in steps of `rt_block_tokens` (KVCache.step), one prefill step."""
    kinds = weight_bytes_by_kind(c)
    weights = kinds["linear"] + kinds["embedding"] + kinds["lm_head"] + kinds["other"]
    step = np.maximum(_a(c["rt_block_tokens"]), 1)
    context = _a(c["seq_len"]) + _a(c["new_tokens"])
    grown = np.floor((context + step - 1) / step) * step
    kv = kv_cache_bytes(c, grown)
    prefill = prefill_activation_bytes(_with(c, prefill_chunk=_a(c["rt_batched_tokens"])))
    logits = _a(c["batch"]) * _a(c["vocab"]) * 4
    peak = weights + kv + prefill + logits
    return {
        "log_peak_memory_bytes": peak,
        "weights": weights,
        "kv_cache": kv,
        "activations": prefill + logits,
        "workspace": 0.0 * weights,
        "cuda_context": 0.0 * weights,
        "host_bytes": 0.0 * weights,
    }


# -------------------------------------------------------------- picking


def apply(c, out: dict[str, Any]) -> dict[str, Any]:
    """The memory model's result with the runtime's terms in place where the runtime is not PyTorch-eager.

    Components follow the runtime's buffers (weights, kv_cache, activations, workspace, cuda_context);
    the rest are 0 for those rows. `host_bytes` and the `log_*` columns are added; `fits` also asks the
    host part to fit `rt_host_memory` and a server's pool to hold one sequence of --ctx.
    """
    model = _a(c["rt_model"])
    # only the mechanisms some row uses (the matrix's chunks mostly hold PyTorch rows and llama.cpp ones)
    present = {code for code in (GGML_GRAPH, PROFILE_RUN, LAZY, STATIC_FRACTION) if np.any_equal(model, code)}
    if not present:
        return out
    builders = {GGML_GRAPH: ggml_terms, PROFILE_RUN: pool_terms, STATIC_FRACTION: pool_terms, LAZY: lazy_terms}
    terms = {code: builders[code](c) for code in present}
    keys = ("weights", "kv_cache", "activations", "workspace", "cuda_context")
    result = dict(out)
    eager = model == TENSORS
    for key in out:
        if key in keys:
            chosen = 0.0
            for code, t in terms.items():
                chosen = np.where(model == code, t[key], chosen)
            result[key] = np.where(eager, out[key], np.to_int(chosen))
        elif key not in ("peak_bytes", "phase", "phase_code", "headroom_bytes", "fits") and not key.startswith("log_"):
            result[key] = np.where(eager, out[key], 0)
    from .memory import COMPONENTS

    result["peak_bytes"] = sum(result[k] for k in COMPONENTS)
    from .memory import PHASES

    result["phase_code"] = np.where(eager, out["phase_code"], PHASES.index("start-up"))
    result["phase"] = np.take(PHASES, result["phase_code"])
    host = np.zeros_like(model)
    for code, t in terms.items():
        host = np.where(model == code, t["host_bytes"], host)
    result["host_bytes"] = np.to_int(host)
    for key in LOG_KEYS:
        value = np.zeros_like(model) + np.nan
        for code, t in terms.items():
            if "log_" + key in t:
                value = np.where(model == code, t["log_" + key], value)
        result["log_" + key] = value
    if "capacity_bytes" in c:
        headroom = _a(c["capacity_bytes"]) - result["peak_bytes"]
        too_small = np.zeros_like(model) > 0
        for code in present & {PROFILE_RUN, STATIC_FRACTION}:
            too_small = too_small | ((model == code) & terms[code]["pool_too_small"])
        result["headroom_bytes"] = headroom
        result["fits"] = (headroom >= 0) & (host <= _a(c["rt_host_memory"])) & np.logical_not(too_small)
    return result
