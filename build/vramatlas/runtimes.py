"""From a runtime file, a weight format and the run's options to the columns of a case.

``runtime_columns`` reads the runtime's catalogue fields (its defaults, its KV
layout, what sizes its buffers, its overheads) and the options the user gave,
refuses an option the runtime does not have, and returns plain numbers (the
``rt_*`` columns the runtime terms of :mod:`vramatlas.runtime_memory` read).
Nothing here tests a runtime id: every difference between runtimes is a field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .ggml_graph import Shape, compute_buffer_bytes
from .quants import bits_per_kind, storage_bits

GiB = 2**30

# The mechanisms a runtime's `compute.model` names, as the numbers the column terms test.
POOL_BUDGETS = {"none": 0.0, "total": 1.0, "free": 2.0}  # overheads.pool_budget, as the pool term tests it
COMPUTE_MODELS = {"tensors": 0.0, "ggml-graph": 1.0, "profile-run": 2.0, "lazy": 3.0, "static-fraction": 4.0}

# CLI option -> the keyword of `estimate` that carries it (an option given is checked against the runtime's `options`).
OPTIONS = {
    "ctx": "ctx",
    "ubatch": "ubatch",
    "parallel": "parallel",
    "kv-dtype": "kv_dtype",
    "flash-attn": "flash_attn",
    "gpu-layers": "gpu_layers",
    "cpu-moe": "cpu_moe",
    "host-memory": "host_memory",
    "gpu-memory-utilization": "gpu_memory_utilization",
    "max-num-seqs": "max_num_seqs",
    "max-num-batched-tokens": "max_num_batched_tokens",
}
ALL_LAYERS = 1 << 20  # --gpu-layers larger than the model: every layer and the output (llama.cpp -ngl 999)


class RuntimeInputError(ValueError):
    """A runtime option that cannot be used (one line, names the problem)."""


@dataclass(frozen=True)
class RunOptions:
    """The runtime options of one estimate; None = the runtime's default."""

    ctx: int | None = None
    ubatch: int | None = None
    parallel: int | None = None
    kv_dtype: str | None = None
    flash_attn: str | None = None  # "on" | "off"
    gpu_layers: int | None = None
    cpu_moe: int | None = None  # layers whose experts stay on the CPU (ALL_LAYERS: every layer)
    host_memory: float | None = None  # GiB
    gpu_memory_utilization: float | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None

    def given(self) -> list[str]:
        return [cli for cli, kw in OPTIONS.items() if getattr(self, kw) is not None]


def check_options(runtime: Mapping[str, Any], options: RunOptions) -> None:
    """Refuse, in one line, an option the runtime does not have."""
    missing = [o for o in options.given() if o not in runtime["options"]]
    if missing:
        has = ", ".join("--" + o for o in runtime["options"]) or "none of these options"
        raise RuntimeInputError(f"--{missing[0]} is not an option of {runtime['id']} (its options: {has})")


def _positive(name: str, value: Any, minimum: float = 1) -> None:
    if value is not None and (isinstance(value, bool) or value < minimum):
        raise RuntimeInputError(f"--{name} must be >= {minimum:g}, got {value!r}")


def unsupported_reason(runtime: Mapping[str, Any], mixers: Iterable[str], weights_native: str | None) -> str | None:
    """Why this runtime cannot load a model with these token mixers and this checkpoint precision (its
    file's ``supports``), or None when it can. A precision of None (a bare config.json) is not judged."""
    supports = runtime["supports"]
    missing = sorted(set(mixers) - set(supports["mixers"]))
    if missing:
        return (
            f"{runtime['id']} implements no {'/'.join(missing)} token mixer, which this model's layers use "
            f"(it runs: {', '.join(supports['mixers'])})"
        )
    if weights_native is not None and weights_native not in supports["native_weights"]:
        return (
            f"{runtime['id']} loads no {weights_native} checkpoint, which is how this model is published "
            f"(it loads: {', '.join(supports['native_weights'])})"
        )
    return None


def default_context(runtime: Mapping[str, Any], gpu_total_bytes: float | None, max_positions: int, prompt: int) -> int:
    """The context the runtime allocates when --ctx is not given.

    A tier by total GPU memory (Ollama) when the runtime has one and the GPU is known, else its fixed
    default, else the prompt plus the generated tokens (the contract's default).
    """
    defaults = runtime["defaults"]
    for tier in defaults.get("ctx_by_gpu_memory") or ():
        if gpu_total_bytes is not None and gpu_total_bytes >= tier["min_bytes"]:
            return int(tier["ctx"])
    if defaults.get("ctx"):
        return int(defaults["ctx"])
    return prompt


def kv_dtype_quant(runtime: Mapping[str, Any], name: str | None) -> str:
    dtypes = runtime["kv_cache"]["dtypes"]
    chosen = name or runtime["defaults"]["kv_dtype"]
    if chosen not in dtypes:
        raise RuntimeInputError(
            f"--kv-dtype {chosen} is not a KV-cache dtype of {runtime['id']} (it has: {', '.join(sorted(dtypes))})"
        )
    return dtypes[chosen]


def resolve_quant(catalog, runtime: Mapping[str, Any], quant: str | None) -> Mapping[str, Any] | None:
    """The weight format asked for (checked against what the runtime loads), or None for the method's own."""
    if quant is None:
        return None
    spec = catalog.quants.get(quant)
    if spec is None:
        from .api import unknown_id_message

        raise RuntimeInputError(unknown_id_message("quant", quant, catalog.quants))
    if quant not in runtime["weight_formats"]:
        raise RuntimeInputError(
            f"{runtime['id']} does not load {quant} (it loads: {', '.join(runtime['weight_formats'])})"
        )
    return spec


def quant_columns(catalog, quant: Mapping[str, Any], arch: Mapping[str, float]) -> dict[str, float]:
    """The method columns a weight format replaces: bits per weight kind for this model, dequantization."""
    bits = bits_per_kind(quant, catalog.quants, arch)
    return {f"bpw_{k}": float(v) for k, v in bits.items()} | {
        "dequantize_for_matmul": float(bool(quant["dequantize_for_matmul"])),
    }


def runtime_columns(
    catalog,
    runtime: Mapping[str, Any],
    options: RunOptions,
    arch: Mapping[str, float],
    *,
    gpu: Mapping[str, Any] | None,
    gpus: int,
    seq_len: int,
    new_tokens: int,
    batch: int,
    training: bool,
) -> dict[str, float]:
    """The rt_* columns of one case (see vramatlas.runtime_memory for what each term does with them)."""
    check_options(runtime, options)
    for name, value, low in (
        ("ctx", options.ctx, 1),
        ("ubatch", options.ubatch, 1),
        ("parallel", options.parallel, 1),
        ("gpu-layers", options.gpu_layers, 0),
        ("cpu-moe", options.cpu_moe, 0),
        ("host-memory", options.host_memory, 0),
        ("max-num-seqs", options.max_num_seqs, 1),
        ("max-num-batched-tokens", options.max_num_batched_tokens, 1),
    ):
        _positive(name, value, low)
    util = options.gpu_memory_utilization
    if util is not None and not 0 < util <= 1:
        raise RuntimeInputError(f"--gpu-memory-utilization must be in (0, 1], got {util!r}")
    if options.flash_attn not in (None, "on", "off"):
        raise RuntimeInputError(f"--flash-attn must be on or off, got {options.flash_attn!r}")
    d, kv, comp, over, host = (
        runtime["defaults"],
        runtime["kv_cache"],
        runtime["compute"],
        runtime["overheads"],
        runtime["host"],
    )

    total_gpu = None
    if gpu is not None:
        total_gpu = float(gpu["memory"]["usable_bytes"]) * gpus
    ctx = options.ctx or default_context(runtime, total_gpu, int(arch.get("max_positions") or 0), seq_len + new_tokens)
    parallel = options.parallel or d.get("parallel") or 1
    seqs = parallel if d.get("parallel") else batch
    cells = ctx * (parallel if kv["per_sequence_context"] else 1)
    pad = kv["pad_tokens"]
    cells = int(math.ceil(cells / pad) * pad)
    ubatch = options.ubatch or d.get("ubatch") or 0
    # llama.cpp: n_batch = min(n_ctx, n_batch), n_ubatch = min(n_batch, n_ubatch); the graph is reserved at n_ubatch
    graph_tokens = min(ubatch, cells) if ubatch else 0
    window = int(arch.get("sliding_window") or 0)
    swa_extra = graph_tokens if kv["sliding_window_extra"] == "ubatch" else 0
    swa_cells = cells
    if kv["sliding_window_capped"] and window:
        swa_cells = min(
            cells, int(math.ceil((window * (1 if kv["per_sequence_context"] else seqs) + swa_extra) / pad) * pad)
        )

    flash = options.flash_attn or d["flash_attn"]
    flash_on = flash in ("on", "auto")  # auto: on where the backend supports it (CUDA, Metal, Vulkan, ROCm do)
    kv_quant = catalog.quants[kv_dtype_quant(runtime, options.kv_dtype)]
    kv_bits = storage_bits(kv_quant)
    if kv["quantized_v_needs_flash_attn"] and kv_quant["family"] == "gguf" and not flash_on:
        raise RuntimeInputError(
            f"a {kv_quant['id']} KV cache needs --flash-attn on in {runtime['id']} "
            "(V cache quantization requires flash_attn)"
        )

    layers = int(arch["layers"])
    gpu_layers = options.gpu_layers if options.gpu_layers is not None else ALL_LAYERS
    on_gpu = min(gpu_layers, layers)
    output_on_gpu = float(gpu_layers > layers)
    cpu_moe = min(options.cpu_moe or 0, layers) if arch.get("experts") else 0
    host_memory = (
        options.host_memory * GiB if options.host_memory is not None else float(host["default_host_memory_bytes"])
    )

    full_buffer = layers_buffer = 0.0
    if comp["model"] == "ggml-graph":
        shape = graph_shape(arch)
        full_buffer = float(compute_buffer_bytes(shape, graph_tokens, cells, flash_on, True))
        layers_buffer = float(compute_buffer_bytes(shape, graph_tokens, cells, flash_on, False))
    cols = {
        "rt_model": COMPUTE_MODELS[comp["model"]],
        "rt_compute_full": full_buffer,
        "rt_compute_layers": layers_buffer,
        "rt_ctx": float(ctx),
        "rt_cells": float(cells),
        "rt_swa_cells": float(swa_cells),
        "rt_seqs": float(seqs),
        "rt_graph_tokens": float(graph_tokens),
        "rt_flash_attn": float(flash_on),
        "rt_act_bytes": comp["activation_bits"] / 8,
        "rt_logits_per_token": float(comp["logits_rows"] == "tokens"),
        "rt_gpu_layer_share": on_gpu / max(layers, 1),
        "rt_output_on_gpu": output_on_gpu,
        "rt_token_embd_on_cpu": float(bool(host["token_embd_on_cpu"])),
        "rt_cpu_moe_share": cpu_moe / max(layers, 1),
        "rt_kv_on_host": float(bool(kv["offloaded_layers_on_host"])),
        "rt_host_memory": float(host_memory),
        "rt_max_seqs": float(options.max_num_seqs or d.get("max_num_seqs") or 0),
        "rt_pool_budget": POOL_BUDGETS[over["pool_budget"]],
        "rt_block_tokens": float(kv["block_tokens"]),
        "rt_cublas": float(over["cublas_workspace_bytes"]),
        "rt_nccl": float(over["nccl_bytes_per_gpu"]),
        "rt_graph_per_seq": float(over["cuda_graph_bytes_per_sequence"]),
        "rt_counts_context": float(bool(over["counts_cuda_context_in_peak"]) and over["cuda_context"] == "gpu"),
        "rt_loss_chunk": float(runtime["training"]["chunked_loss_tokens"] or 0),
        "rt_offload_checkpoints": float(bool(runtime["training"]["offload_checkpoints"])),
        "kv_cache_bits": float(kv_bits),
        "mla_compressed": float(bool(kv["mla_compressed"])),
        "sliding_window_capped": float(bool(kv["sliding_window_capped"])),
    }
    cols.update(runtime_gpu_columns(runtime, options, gpu, gpus))
    if training and options.flash_attn is None:
        cols["rt_flash_attn"] = float(bool(runtime["training"]["flash_attention"]))
    if comp["model"] == "tensors" and not training and options.flash_attn is None:
        cols["rt_flash_attn"] = 0.0
    return cols


def runtime_gpu_columns(
    runtime: Mapping[str, Any], options: RunOptions, gpu: Mapping[str, Any] | None, gpus: int
) -> dict[str, float]:
    """The rt_* columns that depend on the GPU and the count (the rest depend on the model and the context
    only): its memory, and the memory share and chunked-prefill tokens a server picks from it."""
    d = runtime["defaults"]
    util = options.gpu_memory_utilization
    batched_tokens = options.max_num_batched_tokens or d.get("max_num_batched_tokens") or 0
    if util is None and d.get("gpu_memory_utilization_rule") and gpu is not None:
        util, tier_tokens = fraction_from_rule(
            d["gpu_memory_utilization_rule"], float(gpu["memory"]["usable_bytes"]), options.max_num_batched_tokens, gpus
        )
        batched_tokens = options.max_num_batched_tokens or tier_tokens
    return {
        "rt_mem_util": float(util if util is not None else (d.get("gpu_memory_utilization") or 0.0)),
        "rt_batched_tokens": float(batched_tokens),
        "rt_total_gpu": float(gpu["memory"]["usable_bytes"]) if gpu is not None else math.nan,
    }


def fraction_from_rule(
    rule: Mapping[str, Any], gpu_bytes: float, batched_tokens: int | None, gpus: int
) -> tuple[float, int]:
    """(memory share, chunked-prefill tokens) a server picks itself from the GPU's memory (SGLang's
    server_args._handle_gpu_memory_settings): the tier's defaults, then (memory - reserve) / memory."""
    mib = gpu_bytes / 2**20
    tier = next(t for t in rule["tiers"] if t["below_mib"] is None or mib < t["below_mib"])
    tokens = batched_tokens or tier["batched_tokens"]
    reserved = (
        rule["base_mib"]
        + rule["per_token_mib"] * max(tokens, rule["min_tokens"])
        + rule["per_8_gpus_mib"] * gpus / 8
        + rule["per_graph_sequence_mib"] * tier["graph_sequences"]
    )
    if mib > rule["floor_above_mib"]:
        reserved = max(reserved, rule["floor_mib"])
    return round((mib - reserved) / mib, 3), int(tokens)


def graph_shape(arch: Mapping[str, float]) -> Shape:
    """The decoder layer llama.cpp builds for this model (MoE: the routed experts' widths)."""
    moe = arch.get("experts", 0) > 0
    return Shape(
        hidden=int(arch["hidden"]),
        heads=int(arch["heads"]),
        head_dim=int(arch["head_dim"]),
        v_head_dim=int(arch["v_head_dim"]),
        kv_heads=max(int(arch["kv_heads"]), 1),
        ffn=int(arch["moe_intermediate"] if moe else arch["intermediate"]),
        gated=arch["mlp_matrices"] >= 3,
        vocab=int(arch["vocab"]),
        layers=int(arch["layers"]),
        experts_used=int(arch["experts_active"]) if moe else 0,
        experts=int(arch["experts"]) if moe else 0,
    )


def shown_options(cols: Mapping[str, float], runtime: Mapping[str, Any], options: RunOptions) -> dict[str, Any]:
    """The runtime settings used, defaults included, for the JSON's `inputs`."""
    kv_name = options.kv_dtype or runtime["defaults"]["kv_dtype"]
    out: dict[str, Any] = {
        "runtime": runtime["id"],
        "runtime_version": runtime["version"],
        "kv_dtype": kv_name,
        "flash_attn": "on" if cols["rt_flash_attn"] else "off",
    }
    if "ctx" in runtime["options"]:
        out["ctx"] = int(cols["rt_ctx"])
    for key, col in (("ubatch", "rt_graph_tokens"), ("parallel", "rt_seqs")):
        if key in runtime["options"]:
            out[key] = int(cols[col])
    if "gpu-layers" in runtime["options"]:
        out["gpu_layers"] = options.gpu_layers if options.gpu_layers is not None else "all"
        out["cpu_moe"] = options.cpu_moe or 0
        out["host_memory_bytes"] = int(cols["rt_host_memory"])
    if "gpu-memory-utilization" in runtime["options"]:
        out["gpu_memory_utilization"] = cols["rt_mem_util"]
        out["max_num_seqs"] = int(cols["rt_max_seqs"])
        out["max_num_batched_tokens"] = int(cols["rt_batched_tokens"])
    return out
