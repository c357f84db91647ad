"""The speed model: prefill, decode and training throughput, term by term, on columns.

Like the memory model, every function takes whole columns (a mapping of name
-> plain float for one ``vramatlas estimate``, or name -> numpy array for the
matrix) and returns whole columns; the few element-wise choices go through
:mod:`vramatlas.xp`, so one estimate needs neither numpy nor pandas.

The speed model is a roofline per phase, with the costs the roofline leaves out:

* decode (one token per sequence per step) streams every active weight
  and the KV cache of the current context from memory. The achieved bandwidth
  is the lower of the kernel's streaming efficiency times the nominal
  bandwidth and what the GPU's compute units can keep in flight (Little's law:
  a matrix-vector kernel has a bounded number of bytes outstanding per unit
  and clock, so HBM parts with few units per TB/s stream well below their
  nominal rate). On top comes a fixed cost per layer in GPU clock cycles (the
  launches, norms, rope, softmax and reductions whose time does not depend on
  the weights' size) and a fixed host cost per token.
* prefill (a prompt of N tokens, in micro-batches of ``ubatch``) is
  compute-bound in the matrix products, at the peak of the compute unit the
  runtime's kernel really uses (int8 tensor cores for quantized llama.cpp
  weights, FP16 accumulate for F16 on GeForce, fp16 SIMD on Metal ...) times
  the kernel's efficiency; the weights are streamed once per micro-batch, the
  element-wise work between the products moves the activations (per token, in
  the runtime's activation dtype), attention adds its own FLOPs (and, without
  flash attention, the score matrix's traffic), and each micro-batch pays the
  per-layer fixed cost.
* **several GPUs**: a layer split runs the layers one GPU after the other
  (times add, a hop per boundary); tensor parallel divides the streamed bytes
  and FLOPs and adds two all-reduces per layer over the interconnect.
* partial offload: the layers kept on the host stream at host RAM
  bandwidth in decode; in prefill their weights cross the host link once
  per micro-batch (llama.cpp's op offload).
* training: FLOPs per token (6N for full fine-tuning, 4N for adapters,
  +2N when checkpointed layers are recomputed, plus attention) at the
  framework's achieved fraction of the bf16 peak (times a runtime's measured
  speed-up), plus the memory-bound optimizer step and the dequantization of
  a 4-bit base, per step.

Where each constant comes from: the runtime files' ``speed`` blocks
(catalog/runtimes/*.yaml), each value with its benchmarks and mechanism; the
GPU files' bandwidth, peaks, unit count and clock. The site's methodology page
shows predicted against published figures per GPU family and runtime.
"""

from __future__ import annotations

from . import xp as ops
from .memory import kv_cache_bytes

# Columns this module reads besides the architecture, method and runtime columns (vramatlas.runtimes:
# rt_act_bytes, rt_graph_tokens, rt_flash_attn, rt_gpu_layer_share, rt_cpu_moe_share, rt_output_on_gpu,
# rt_kv_on_host); speed_columns fills them.
SPEED_INPUTS = (
    "bandwidth",  # GPU memory bandwidth, bytes/s (nominal)
    "units",  # SMs / CUs / GPU cores
    "clock_hz",  # boost clock
    "interconnect_bandwidth",  # GPU-to-GPU link, bytes/s (total, both directions)
    "host_bandwidth",  # host RAM, bytes/s, for layers kept on the CPU
    "host_link_bandwidth",  # host <-> GPU link (PCIe), bytes/s, one direction
    "decode_efficiency",  # share of nominal bandwidth the decode kernels stream at
    "decode_bytes_per_unit_cycle",  # bytes one unit keeps in flight per clock (Little's law cap)
    "decode_layer_cycles",  # fixed GPU cycles per layer per decode step
    "token_seconds",  # fixed host time per decode step
    "prefill_peak",  # FLOP/s of the compute unit the prefill kernel uses
    "prefill_efficiency",  # share of that peak the kernel reaches
    "prefill_layer_cycles",  # fixed GPU cycles per layer per micro-batch
    "prefill_tile",  # output tile edge of the prefill matmul kernel (tokens and features)
    "prefill_dequantize",  # 1: the kernel expands quantized weights to compute_bits before multiplying
    "attention_peak",  # FLOP/s of the attention kernels (fp16 unit)
    "layer_split",  # 1: several GPUs run the layers in turn (llama.cpp's default split)
    "hop_seconds",  # one GPU-to-GPU hand-over in a layer split (latency)
    "allreduce_seconds",  # fixed latency of one all-reduce under tensor parallelism
    "train_efficiency",  # framework's achieved share of the bf16 peak in training
    "train_peak",  # FLOP/s of the training matmul unit (bf16, fp32 accumulate)
    "train_speedup",  # a runtime's measured speed-up over that (Unsloth), 1 otherwise
)


# ------------------------------------------------------------ model sizes


def active_linear_params(c) -> object:
    """Linear weights one token multiplies through: dense, shared and its routed experts."""
    return c["params_attn"] + c["params_mlp"] + c["params_experts_active"]


def experts_touched(c, tokens) -> object:
    """Expected distinct routed experts per MoE layer when `tokens` tokens are routed (uniform router)."""
    experts = ops.maximum(c["experts"], 1.0)
    miss = ops.maximum(1.0 - c["experts_active"] / experts, 0.0)
    return ops.where(c["experts"] > 0, experts * (1.0 - miss**tokens), 0.0)


def streamed_weight_bytes(c, tokens) -> object:
    """Weight bytes one forward step over `tokens` tokens reads: dense linears, the experts those
    tokens touch, the output matrix and the norms; an embedding lookup reads one row per token."""
    experts = ops.maximum(c["experts"], 1.0)
    per_expert = c["params_experts"] / experts
    linear = c["params_attn"] + c["params_mlp"] + per_expert * experts_touched(c, tokens)
    return (linear * c["bpw_linear"] + c["params_other"] * c["bpw_other"]) / 8 + output_bytes(c)


def kv_read_bytes(c, context) -> object:
    """KV cache bytes one sequence reads per step at `context` tokens: the memory model's cache
    (sliding windows, MLA latents, recurrent state, the KV dtype) for one sequence of the batch."""
    return kv_cache_bytes(c, context) / ops.maximum(c["batch"], 1.0)


def attention_flops(c, queries, context) -> object:
    """Score and value products of `queries` tokens against `context` keys, every layer:
    2 FLOP per multiply-add, QK^T over head_dim and PV over v_head_dim."""
    return 2 * c["attention_layers"] * c["heads"] * (c["head_dim"] + c["v_head_dim"]) * queries * context


def activation_elements_per_token(c) -> object:
    """Activation values each token writes and reads back between the kernels of all layers:
    norm, q/k/v, rope, attention output, o-projection, residual (attention half) and norm,
    gate, up, the gated product, down projection, residual (MLP half)."""
    kv = c["kv_heads"] * c["head_dim"]
    q = c["heads"] * c["head_dim"]
    mlp = ops.where(
        c["dense_layers"] > 0, c["intermediate"], c["moe_intermediate"] * (c["experts_active"] + c["shared_experts"])
    )
    attention_side = 4 * c["hidden"] + 2 * q + 2 * kv + c["heads"] * c["v_head_dim"]
    mlp_side = 3 * c["hidden"] + c["mlp_matrices"] * mlp
    return 2 * c["layers"] * (attention_side + mlp_side)  # written once, read once


# --------------------------------------------------------------- decode


def decode_bandwidth(c) -> object:
    """Bytes/s the decode kernels stream at: the kernel's share of nominal bandwidth, or what the
    units keep in flight (units x clock x bytes per unit-cycle), whichever is lower."""
    in_flight = c["units"] * c["clock_hz"] * c["decode_bytes_per_unit_cycle"]
    return ops.minimum(c["decode_efficiency"] * c["bandwidth"], in_flight)


def layer_seconds(c, cycles) -> object:
    return c["layers"] * cycles / c["clock_hz"]


def gpus_splitting(c) -> object:
    """How many GPUs share each layer's bytes (tensor parallel), 1 under a layer split."""
    n = ops.maximum(c["gpus"], 1.0)
    return ops.where(c["layer_split"] > 0, 1.0, n)


def allreduce_seconds(c, tokens) -> object:
    """Tensor parallel: two all-reduces of the hidden state per layer (ring: 2(n-1)/n of it each way)."""
    n = ops.maximum(c["gpus"], 1.0)
    split = (n > 1) & (c["layer_split"] <= 0)
    message = tokens * c["hidden"] * 2  # fp16/bf16 partial sums
    one_way = c["interconnect_bandwidth"] / 2
    each = c["allreduce_seconds"] + 2 * (n - 1) / n * message / ops.maximum(one_way, 1.0)
    return ops.where(split, 2 * c["layers"] * each, 0.0)


def hop_seconds(c) -> object:
    """Layer split: one hand-over of the hidden state per GPU boundary."""
    n = ops.maximum(c["gpus"], 1.0)
    return ops.where(c["layer_split"] > 0, (n - 1) * c["hop_seconds"], 0.0)


def output_bytes(c) -> object:
    """The output matrix (the token embedding when tied: vocab x hidden, not the rest of params_embed, such as
    Gemma 3n's per-layer embedding table, which is looked up row by row), at its storage bits."""
    return (c["params_lm_head"] * c["bpw_lm_head"] + c["tied"] * c["vocab"] * c["hidden"] * c["bpw_embedding"]) / 8


def host_weight_bytes(c, tokens) -> object:
    """Weight bytes a step over `tokens` tokens finds in host memory: the layers kept on the host
    (``--gpu-layers``), the experts ``--cpu-moe`` keeps there (of the layers on the GPU), and the
    output matrix when it stays on the host (llama.cpp keeps it there unless every layer is offloaded)."""
    share = c["rt_gpu_layer_share"]
    output = output_bytes(c)
    experts = c["params_experts"] / ops.maximum(c["experts"], 1.0) * experts_touched(c, tokens) * c["bpw_linear"] / 8
    layers = streamed_weight_bytes(c, tokens) - output
    return (
        (1 - share) * layers
        + ops.minimum(c["rt_cpu_moe_share"], share) * experts
        + (1 - c["rt_output_on_gpu"]) * output
    )


def decode_step_seconds(c, sequences, context) -> object:
    """One decode step of `sequences` sequences at `context` tokens each.

    Memory time: the active weights (the experts the batch touches) once, each
    sequence's KV cache; what sits on the GPU at the decode bandwidth (divided
    over tensor-parallel GPUs), what sits in host memory (host_weight_bytes,
    and the KV cache of host layers where the runtime keeps it there) at host
    RAM bandwidth. Compute time (2 FLOP per weight per sequence, at the
    prefill unit) only matters for large batches: the step takes the longer of
    the two, plus the fixed per-layer cycles, the host's per-token cost and
    the GPUs' hand-overs.
    """
    share = c["rt_gpu_layer_share"]
    kv = sequences * kv_read_bytes(c, context)
    host = host_weight_bytes(c, sequences) + c["rt_kv_on_host"] * (1 - share) * kv
    on_gpu = streamed_weight_bytes(c, sequences) + kv - host
    gpu_memory = on_gpu / (decode_bandwidth(c) * gpus_splitting(c))
    host_memory = host / c["host_bandwidth"]
    flops = 2 * sequences * active_linear_params(c) + attention_flops(c, sequences, context)
    compute = share * flops / (c["prefill_efficiency"] * c["prefill_peak"] * gpus_splitting(c))
    fixed = layer_seconds(c, c["decode_layer_cycles"]) + c["token_seconds"] + hop_seconds(c)
    return ops.maximum(gpu_memory, compute) + host_memory + fixed + allreduce_seconds(c, sequences)


# -------------------------------------------------------------- prefill


def _tiles(width, tile) -> object:
    return -(-width // tile)  # ceil


def wave_efficiency(c, width, tokens) -> object:
    """Share of the compute units busy in a matrix product with `width` outputs over `tokens` tokens:
    the kernel cuts the output into tile x tile blocks, one per unit at a time, so the last wave
    runs partly empty (2 waves of 128 tiles on 114 SMs keep them 56 % busy)."""
    tile = c["prefill_tile"]
    tiles = _tiles(width, tile) * _tiles(tokens, tile)
    waves = ops.maximum(_tiles(tiles, c["units"]), 1.0)  # a projection of width 0 (none in this layer): one empty wave
    return ops.maximum(tiles, 1.0) / (waves * c["units"])


def layer_matmuls(c) -> tuple:
    """(input width, output width, count per layer) of each linear projection of one layer."""
    q = c["heads"] * c["head_dim"]
    kv = c["kv_heads"] * c["head_dim"]
    mlp = ops.where(
        c["dense_layers"] > 0, c["intermediate"], c["moe_intermediate"] * (c["experts_active"] + c["shared_experts"])
    )
    hidden = c["hidden"]
    return (
        (hidden, q, 1.0),
        (hidden, kv, 2.0),
        (c["heads"] * c["v_head_dim"], hidden, 1.0),
        (hidden, mlp, c["mlp_matrices"] - 1),
        (mlp, hidden, 1.0),
    )


def mean_wave_efficiency(c, ubatch) -> object:
    """The tile waves' busy share over one layer's projections, weighted by their FLOPs."""
    flops, busy_time = 0.0, 0.0
    for width_in, width_out, count in layer_matmuls(c):
        f = width_in * width_out * count
        flops = flops + f
        busy_time = busy_time + f / wave_efficiency(c, width_out / gpus_splitting(c), ubatch)
    return ops.where(flops > 0, flops / ops.maximum(busy_time, 1.0), 1.0)  # no projections at all (Mamba-1): 1


def matmul_seconds(c, tokens, ubatch) -> object:
    """The linear projections of `tokens` tokens in micro-batches of `ubatch`: 2 FLOP per active
    weight per token at the kernel's unit, over the share of units the tiles keep busy; the output
    matrix only for the last token of each sequence (the runtimes compute logits for it alone)."""
    peak = c["prefill_efficiency"] * c["prefill_peak"] * gpus_splitting(c)
    linear = 2 * tokens * active_linear_params(c) / (peak * mean_wave_efficiency(c, ubatch))
    output = 2 * c["batch"] * c["hidden"] * c["vocab"] / peak
    return linear + output


def prefill_seconds(c) -> object:
    """A prompt of `seq_len` tokens for each of `batch` sequences, in micro-batches of `ubatch` tokens.

    Per micro-batch the matrix products take the longer of their FLOPs at the
    kernel's unit and reading the weights (a kernel that expands quantized
    weights to fp16 first also writes and reads the expanded copy); per token
    the activations move through memory; attention adds its FLOPs and, without
    flash attention, writes, softmaxes and reads back its score matrix; every
    micro-batch pays the per-layer fixed cycles. Host-kept layers send their
    weights over the host link once per micro-batch.
    """
    tokens = c["seq_len"] * c["batch"]
    ubatch = ops.where(c["rt_graph_tokens"] > 0, ops.minimum(c["rt_graph_tokens"], tokens), tokens)
    micro_batches = -(-tokens // ubatch)  # ceil
    split = gpus_splitting(c)
    bandwidth = c["decode_efficiency"] * c["bandwidth"] * split
    weights = streamed_weight_bytes(c, ubatch)
    linear = c["params_attn"] + c["params_mlp"] + c["params_experts"]
    expanded = c["prefill_dequantize"] * linear * 2 * c["compute_bits"] / 8
    matmul = ops.maximum(matmul_seconds(c, tokens, ubatch), micro_batches * weights / bandwidth)
    dequant = micro_batches * expanded / bandwidth
    # causal: token i attends to i+1 keys; the micro-batch's mask is computed whole without flash attention
    context = c["seq_len"] / 2 + ops.where(c["rt_flash_attn"] > 0, 0.0, ubatch / 2)
    attention = attention_flops(c, tokens, context) / (c["prefill_efficiency"] * c["attention_peak"] * split)
    scores = (1 - c["rt_flash_attn"]) * 4 * c["attention_layers"] * c["heads"] * tokens * context * c["rt_act_bytes"]
    activations = (tokens * activation_elements_per_token(c) * c["rt_act_bytes"] + scores) / bandwidth
    fixed = micro_batches * (layer_seconds(c, c["prefill_layer_cycles"]) + hop_seconds(c))
    host = (
        micro_batches * host_weight_bytes(c, ubatch) / c["host_link_bandwidth"]
    )  # op offload: host weights cross the link
    gpu = c["rt_gpu_layer_share"] * (matmul + dequant + attention + activations)
    return gpu + fixed + host + allreduce_seconds(c, ubatch) * micro_batches


# ------------------------------------------------------------- training


def train_flops_per_token(c) -> object:
    """Forward 2N, backward 2N for the activations' gradients and 2N more for the weights' when
    they train (6N full, 4N adapters), +2N when checkpointed layers are recomputed; attention:
    causal, the same 1 + 2 (+1) passes."""
    n = active_linear_params(c) + c["params_lm_head"] + c["tied"] * c["vocab"] * c["hidden"]
    passes = 2 + 2 + 2 * c["train_all"] + 2 * c["grad_checkpointing"]
    adapters = 6 * c["train_lora"] * c["lora_rank"] * c["lora_io"]
    attention = attention_flops(c, 1.0, c["seq_len"] / 2) * passes / 2
    return passes * n + adapters + attention


def train_step_bytes(c) -> object:
    """Memory-bound work once per optimizer step: the optimizer reads and writes the trained
    parameters' states, master weights and gradients; a quantized frozen base is dequantized
    (read at its storage bits, written and read back at compute bits) in forward, recompute
    and backward."""
    trained = ops.where(c["train_all"] > 0, c["params_total"], c["train_lora"] * c["lora_rank"] * c["lora_io"])
    param_bits = ops.where(c["train_all"] > 0, c["bpw_linear"], c["adapter_bits"])
    states = c["opt_states"] * ops.where(
        c["opt_state_bytes"] == c["opt_state_bytes"], c["opt_state_bytes"], param_bits / 8
    )
    per_param = 2 * (param_bits / 8 + states + c["master_weight_bits"] / 8) + c["gradient_bits"] / 8
    optimizer = trained * per_param
    passes = 2 + c["grad_checkpointing"]
    linear = c["params_attn"] + c["params_mlp"] + c["params_experts"]
    dequant = c["dequantize_for_matmul"] * passes * linear * (c["bpw_linear"] + 2 * c["compute_bits"]) / 8
    return optimizer + dequant


def train_tokens_per_s(c) -> object:
    """Training tokens per second over all GPUs (data parallel: each GPU its own batch)."""
    tokens_step = c["batch"] * c["seq_len"]
    achieved = c["train_efficiency"] * c["train_speedup"] * c["train_peak"]
    compute = (
        tokens_step * train_flops_per_token(c) / ops.where(achieved > 0, achieved, 1.0)
    )  # 0: not a training runtime
    memory = train_step_bytes(c) / (c["decode_efficiency"] * c["bandwidth"])
    return ops.maximum(c["gpus"], 1.0) * tokens_step / (compute + memory)


# ------------------------------------------------------------ the frame

SPEED_COLUMNS = (
    "prefill_tokens_per_s",
    "decode_tokens_per_s",
    "output_tokens_per_s",
    "time_to_first_token_s",
    "train_tokens_per_s",
)


def speed_frame(c) -> dict[str, object]:
    """Every speed output for every row: a dict of columns (floats for one case, arrays for many).

    Inference: prefill of `seq_len` tokens (llama-bench ppN), decode of
    `new_tokens` after it for one sequence (tgN, at the mean context of the
    run), all `batch` sequences together, and the time to the first token
    (the batch's prompts). Training rows get train_tokens_per_s; the other
    outputs of a row of the other kind are NaN.
    """
    training = c["training"] > 0
    prefill = prefill_seconds(c)
    context = c["seq_len"] + c["new_tokens"] / 2
    single = decode_step_seconds(c, 1.0, context)
    batched = decode_step_seconds(c, c["batch"], context)
    infer = ops.logical_not(training)
    return {
        "prefill_tokens_per_s": ops.where(infer, c["seq_len"] * c["batch"] / prefill, ops.nan),
        "decode_tokens_per_s": ops.where(infer, 1.0 / single, ops.nan),
        "output_tokens_per_s": ops.where(infer, c["batch"] / batched, ops.nan),
        "time_to_first_token_s": ops.where(infer, prefill, ops.nan),
        "train_tokens_per_s": ops.where(training, train_tokens_per_s(c), ops.nan),
    }


def train_hours(train_tokens_per_s, tokens) -> object:
    """Hours for `tokens` training tokens at the predicted throughput."""
    return tokens / train_tokens_per_s / 3600


# ------------------------------------------------- catalogue -> columns

DEFAULT_HOST_BANDWIDTH = 60e9  # bytes/s: dual-channel DDR5-4800 is 76.8 GB/s nominal; STREAM reaches ~80 % of it
DEFAULT_HOST_LINK = 25e9  # bytes/s one way: PCIe 4.0 x16 is 32 GB/s nominal, ~25 GB/s achieved host-to-device
PEAKS = {  # compute unit name in the runtime's speed block -> the GPU file's field (TFLOPS / TOPS)
    "int8": "int8_tops",
    "fp16_acc16": "fp16_acc16_tflops",
    "fp16": "fp16_tflops",
    "bf16": "bf16_tflops",
    "fp8": "fp8_tflops",
    "fp4": "fp4_tflops",
    "fp32": "fp32_tflops",
}


class SpeedDataError(ValueError):
    """The catalogue cannot answer a speed question (no backend or kernel for this GPU and format)."""


def _matches(entry, **want) -> bool:
    """Whether each listed field of the entry contains the wanted value (an absent field matches any)."""
    return all(entry.get(key) is None or value in entry[key] for key, value in want.items())


def _first(entries, **want):
    return next((entry for entry in entries if _matches(entry, **want)), None)


def _peak(gpu, units) -> tuple[str, float]:
    for unit in units:
        value = gpu["compute"].get(PEAKS[unit])
        if value:
            return unit, float(value) * 1e12
    raise SpeedDataError(f"{gpu['id']} has none of the compute peaks {', '.join(units)}")


def backend_for(block, gpu) -> str:
    entry = _first(block["backends"], vendors=gpu["vendor"], architectures=gpu["architecture"], segments=gpu["segment"])
    if entry is None:
        raise SpeedDataError(f"no backend for {gpu['vendor']} {gpu['architecture']} GPUs")
    return entry["backend"]


def kernel_for(block, backend: str, quant, gpu):
    """The kernel entry for this backend and GPU that names the weight format's id, else its family,
    else the backend's catch-all entry (one without `formats`)."""
    candidates = [
        k
        for k in block["kernels"]
        if _matches(
            k, backends=backend, vendors=gpu["vendor"], architectures=gpu["architecture"], segments=gpu["segment"]
        )
    ]
    for fmt in (quant["id"], quant["family"]):
        named = next((k for k in candidates if k.get("formats") and fmt in k["formats"]), None)
        if named is not None:
            return named
    fallback = next((k for k in candidates if not k.get("formats")), None)
    if fallback is None:
        raise SpeedDataError(f"no {backend} kernel for {quant['id']} ({quant['family']})")
    return fallback


def speed_columns(runtime, quant, gpu, *, layer_split: bool, host_bandwidth: float | None = None) -> dict[str, float]:
    """The columns of SPEED_INPUTS for one runtime x weight format x GPU, from the catalogue.

    `runtime` is the runtime file (its `speed` block), `quant` the weight
    format file, `gpu` the GPU file; `layer_split` whether several GPUs run
    the layers in turn; `host_bandwidth` (bytes/s) the host RAM's.
    """
    block = runtime["speed"]
    backend = backend_for(block, gpu)
    kernel = kernel_for(block, backend, quant, gpu)
    cost = _first(
        block["costs"],
        backends=backend,
        vendors=gpu["vendor"],
        architectures=gpu["architecture"],
        segments=gpu["segment"],
    )
    if cost is None:
        raise SpeedDataError(f"no fixed costs for the {backend} backend")
    compute, memory, link = gpu["compute"], gpu["memory"], gpu["interconnect"]
    training = block.get("training") or {}
    unified = link["kind"] == "unified"
    return {
        "bandwidth": float(memory["bandwidth_bytes_per_s"]),
        "units": float(compute["units"]),
        "clock_hz": float(compute["boost_clock_mhz"]) * 1e6,
        "interconnect_bandwidth": float(link.get("bandwidth_bytes_per_s") or DEFAULT_HOST_LINK * 2),
        # unified memory: the CPU's share streams from the same memory
        "host_bandwidth": float(
            memory["bandwidth_bytes_per_s"] if unified else (host_bandwidth or DEFAULT_HOST_BANDWIDTH)
        ),
        "host_link_bandwidth": float(memory["bandwidth_bytes_per_s"] if unified else DEFAULT_HOST_LINK),
        "decode_efficiency": float(kernel["decode_efficiency"]),
        "decode_bytes_per_unit_cycle": float(kernel["decode_bytes_per_unit_cycle"]),
        "decode_layer_cycles": float(cost["decode_layer_cycles"]),
        "token_seconds": float(cost["token_seconds"]),
        "prefill_peak": _peak(gpu, kernel["prefill_units"])[1],
        "prefill_efficiency": float(kernel["prefill_efficiency"]),
        "prefill_layer_cycles": float(cost["prefill_layer_cycles"]),
        "prefill_tile": float(kernel["prefill_tile"]),
        "prefill_dequantize": float(bool(kernel.get("prefill_dequantize")) and quant["family"] != "float"),
        "attention_peak": _peak(gpu, block["attention_units"])[1],
        "layer_split": float(bool(layer_split)),
        "hop_seconds": float(cost["hop_seconds"]),
        "allreduce_seconds": float(cost.get("allreduce_seconds") or 0.0),
        "train_efficiency": float(training.get("efficiency") or 0.0),
        "train_peak": _peak(gpu, training["units"])[1] if training else 0.0,
        "train_speedup": float(training.get("speedup") or 1.0),
    }


def case_speed(
    row,
    runtime,
    quant,
    gpu,
    *,
    parallelism: str | None = None,
    host_bandwidth: float | None = None,
    train_tokens: float | None = None,
) -> dict[str, float | None]:
    """The `speed` block of one estimate: the row's columns with the runtime x format x GPU speed columns.

    `parallelism` is the one asked for (None: the runtime's own default split
    of several GPUs, e.g. llama.cpp's layer split). Inference:
    prefill_tokens_per_s, decode_tokens_per_s, output_tokens_per_s,
    time_to_first_token_s. Training: train_tokens_per_s and train_hours (with
    `train_tokens`, else None).
    """
    layer_split = parallelism == "pp" if parallelism else runtime["speed"]["default_split"] == "layer"
    cols = dict(row)
    cols.update(speed_columns(runtime, quant, gpu, layer_split=layer_split, host_bandwidth=host_bandwidth))
    out = speed_frame(cols)
    if float(row["training"]) > 0:
        tps = float(out["train_tokens_per_s"])
        return {
            "train_tokens_per_s": tps,
            "train_hours": float(train_hours(tps, train_tokens)) if train_tokens else None,
        }
    return {
        key: float(out[key])
        for key in ("prefill_tokens_per_s", "decode_tokens_per_s", "output_tokens_per_s", "time_to_first_token_s")
    }


def subjects(catalog, method_id: str, runtime_id: str | None = None, quant_id: str | None = None):
    """(runtime file, weight-format file) whose speed data a case uses; (None, None) when the runtime has none.

    The runtime is the one asked for, else the method's own when it is a catalogue runtime, else
    transformers (as `estimate` resolves it); the format is the one asked for, else the method's
    linear-weight format (a catalogue quant where one has its name; a kernel entry may also name
    the method's format string, e.g. gguf-q4_k_m).
    """
    method = catalog.methods[method_id]
    own = method.get("runtime")
    runtime = catalog.runtimes.get(runtime_id or (own if own in catalog.runtimes else "transformers"))
    if not runtime or not runtime.get("speed"):
        return None, None
    fmt = method["weights"]["linear"]["format"]
    quant = catalog.quants.get(quant_id or "") or catalog.quants.get(fmt) or {"id": fmt, "family": fmt}
    return runtime, quant


def default_run_columns(runtime) -> dict[str, float]:
    """The runtime columns (rt_*) the speed model reads, at the runtime's defaults with every layer on the GPU."""
    defaults = runtime.get("defaults") or {}
    return {
        "rt_flash_attn": float(defaults.get("flash_attn") in ("on", "auto")),
        "rt_graph_tokens": float(defaults.get("ubatch") or 0),
        "rt_act_bytes": float(runtime["compute"]["activation_bits"]) / 8,
        "rt_gpu_layer_share": 1.0,
        "rt_cpu_moe_share": 0.0,
        "rt_output_on_gpu": 1.0,
        "rt_kv_on_host": 0.0,
    }


def speed_table(catalog, method_ids, gpu_ids, runtime_ids=None, quant_ids=None) -> dict[str, object]:
    """The speed columns of every method x GPU at the method's runtime defaults, for the matrix:
    arrays of len(method_ids) x len(gpu_ids), row m * len(gpu_ids) + g; NaN where the runtime has
    no speed data for that GPU or format. ``runtime_ids`` / ``quant_ids`` (one per method, None: the
    method's own) are a matrix method row's --runtime and --quant."""
    import numpy as np

    keys = SPEED_INPUTS + (
        "rt_flash_attn",
        "rt_graph_tokens",
        "rt_act_bytes",
        "rt_gpu_layer_share",
        "rt_cpu_moe_share",
        "rt_output_on_gpu",
        "rt_kv_on_host",
    )
    out = {k: np.full(len(method_ids) * len(gpu_ids), np.nan) for k in keys}
    for m, mid in enumerate(method_ids):
        runtime, quant = subjects(
            catalog, mid, (runtime_ids or {}) and runtime_ids[m], (quant_ids or {}) and quant_ids[m]
        )
        if runtime is None:
            continue
        run = default_run_columns(runtime)
        layer_split = runtime["speed"]["default_split"] == "layer"
        for g, gid in enumerate(gpu_ids):
            try:
                cols = speed_columns(runtime, quant, catalog.gpus[gid], layer_split=layer_split)
            except SpeedDataError:
                continue
            cols.update(run)
            for k in keys:
                out[k][m * len(gpu_ids) + g] = cols[k]
    return out
