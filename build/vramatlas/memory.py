"""The memory model: predicted peak GPU memory, term by term, on arrays.

Every function here takes a mapping of columns and returns columns: numpy
arrays (or pandas Series) for the compatibility matrix (millions of rows), or
plain Python floats for a single ``vramatlas estimate`` (a dict, one case), so
both run the same code and give the same bytes, and one case needs no numpy.

How to write a term (the arch, runtime and speed terms follow this too):

- read a column as ``_a(c["name"])`` (a float column, or one float);
- use Python's arithmetic (``+ - * /``, comparisons, ``&``, ``|``) and only the
  operations of :mod:`vramatlas.xp`, imported here as ``np``: ``np.where``,
  ``np.maximum``, ``np.minimum``, ``np.isnan``, ``np.logical_not``,
  ``np.ones_like``, ``np.zeros_like``, ``np.argmax([a, b, c])`` (the first
  largest of a few columns), ``np.choose``, ``np.take``, ``np.asarray``,
  ``np.to_int``; a new numpy function must be added to xp.py on both sides;
- never divide by a column that can be 0 (``np.where`` evaluates both sides;
  Python raises where numpy gives inf): guard the divisor with
  ``np.maximum(x, 1)`` or ``np.where(x > 0, x, 1.0)``; no ``np.errstate``;
- no ``~`` on conditions (``~True`` is -2): ``np.logical_not``; no methods
  of arrays (``.sum()``, ``.astype``), no pandas;
- add the term's case to ``tests/test_xp.py`` if it reads a new column, so the
  scalar and numpy paths stay equal to the byte.

The prediction is what nvidia-smi shows for the process at its peak, per GPU:

    peak = cuda_context + max over phases( tensors alive in that phase ) + allocator slack

Phases: inference = load, prefill, decode; training = the loss (end of the
forward pass), the backward sweep (recomputing one checkpointed layer), and
the optimizer step. The site's methodology page is generated from the
docstrings below, so it says what this code does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from . import xp as np  # numpy's names for the few operations used, on numpy arrays or plain floats

if TYPE_CHECKING:  # annotations only: any Mapping of columns works, a DataFrame or a dict
    import pandas as pd

MiB = 2**20

# Components of the breakdown, in display order.
COMPONENTS = (
    "weights",
    "weight_copies",
    "adapter_weights",
    "kv_cache",
    "activations",
    "logits",
    "gradients",
    "optimizer_states",
    "master_weights",
    "workspace",
    "cuda_context",
    "allocator_slack",
)

# Optimizer state, bytes per trained parameter; `None` in a slot = the
# parameter's own dtype (torch keeps AdamW's exp_avg/exp_avg_sq in it).
OPTIMIZERS = {
    "adamw": {"states": 2.0, "state_bytes": None, "extra_bytes": 0.0},
    "adamw-fp32": {"states": 2.0, "state_bytes": 4.0, "extra_bytes": 0.0},
    # bitsandbytes AdamW8bit: two uint8 states, one fp32 absmax per 256-value block each.
    "adamw8bit": {"states": 2.0, "state_bytes": 1.0, "extra_bytes": 2 * 4 / 256},
    "sgd": {"states": 1.0, "state_bytes": None, "extra_bytes": 0.0},  # momentum buffer
    "sgd-nomomentum": {"states": 0.0, "state_bytes": None, "extra_bytes": 0.0},
    "lion": {"states": 1.0, "state_bytes": None, "extra_bytes": 0.0},
}

# Phases the peak can fall in: inference, then training (the order of `phase_code`).
PHASES = (
    "prefill",
    "decode",
    "loss",
    "backward",
    "optimizer-step",
    "start-up",
)  # start-up: a runtime's preallocated buffers

PARALLELISMS = ("none", "tp", "pp", "ddp", "zero1", "zero2", "zero3", "fsdp")

# Runtime constants (each explained on the methodology page).
CUBLAS_WORKSPACE = 32 * MiB  # per cuBLAS handle: CUBLAS_WORKSPACE_CONFIG ":4096:8" on Hopper
DEFAULT_CUDA_CONTEXT = 650_969_088  # measured: H200, driver 580, CUDA 13, PyTorch 2.11
LARGE_SEGMENT = 10 * MiB  # the caching allocator gives tensors above this their own segment
LOSS_BUFFERS = 3  # fp32 vocab-sized buffers alive at once in cross-entropy backward
# Share of the prefill working set that the KV cache, re-allocated one token
# longer at the first decode step, can take over (fitted over all inference
# measurements at once; see methodology).
PREFILL_POOL_REUSE = 0.65
SMALL_TENSOR_REGROWTH = 0.40  # tensors <= 10 MiB share 20 MiB segments and regrow in place more often
# Training: share of each short-lived working set that stays reserved but unused.
LOSS_POOL_SLACK = 0.7  # the fp32 vocabulary-sized loss buffers, allocated and freed in a different order
RECOMPUTE_SLACK = 0.7  # one checkpointed layer recomputed in backward, interleaved with its gradients
SAVED_ACTIVATION_SLACK = 0.04  # activations kept for backward are allocated once, in order
COPY_POOL_SLACK = 0.5  # freed bf16 autocast copies are half the size fp32 gradients and states need


def _a(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


# ----------------------------------------------------------------- weights


def bits_per_weight(bits, block_size, scale_bits, scale_block_size, scale2_bits) -> np.ndarray:
    """Storage bits of one weight, block scales (and their own scales) included."""
    bits, block, sbits = _a(bits), _a(block_size), _a(scale_bits)
    sblock, s2bits = _a(scale_block_size), _a(scale2_bits)
    has_block, has_scales = block > 0, (block > 0) & (sblock > 0)
    first = np.where(has_block, sbits / np.where(has_block, block, 1.0), 0.0)
    second = np.where(has_scales, s2bits / np.where(has_scales, block * sblock, 1.0), 0.0)
    return bits + first + second


def linear_params(c: pd.DataFrame) -> np.ndarray:
    return _a(c["params_attn"]) + _a(c["params_mlp"]) + _a(c["params_experts"])


def weight_bytes_by_kind(c: pd.DataFrame) -> dict[str, np.ndarray]:
    """Bytes of each weight kind at its storage format (linear layers, token embedding, lm_head, the rest)."""
    return {
        "linear": linear_params(c) * _a(c["bpw_linear"]) / 8,
        "embedding": _a(c["params_embed"]) * _a(c["bpw_embedding"]) / 8,
        "lm_head": _a(c["params_lm_head"]) * _a(c["bpw_lm_head"]) / 8,
        "other": _a(c["params_other"]) * _a(c["bpw_other"]) / 8,
    }


def weight_bytes(c: pd.DataFrame) -> np.ndarray:
    """Every weight at its storage format; what stays unquantized keeps its own."""
    kinds = weight_bytes_by_kind(c)
    return kinds["linear"] + kinds["embedding"] + kinds["lm_head"] + kinds["other"]


def weight_copy_bytes(c: pd.DataFrame) -> np.ndarray:
    """bf16 copies of fp32 weights that autocast caches for forward and backward (the matmul weights: a tied
    model's output matrix is its token embedding, vocab x hidden; embedding lookups are not cast)."""
    tied_output = _a(c["vocab"]) * _a(c["hidden"]) * np.maximum(_a(c["tied"]), 0)
    copied = linear_params(c) + tied_output + _a(c["params_lm_head"])
    return copied * _a(c["autocast_copy_bits"]) / 8


def dequantized_layer_bytes(c: pd.DataFrame) -> np.ndarray:
    """One weight matrix dequantized to the compute dtype for a matmul over many tokens."""
    return _a(c["dequantize_for_matmul"]) * _a(c["largest_linear"]) * _a(c["compute_bits"]) / 8


# ---------------------------------------------------------------- KV cache


def kv_cache_bytes(c: pd.DataFrame, tokens) -> np.ndarray:
    """The attention KV cache for `tokens` tokens plus the fixed recurrent state, for the batch.

    Per token: K and V of the full-attention layers; of the sliding-window and chunked layers, at
    most `sliding_window` tokens when the runtime caps them (`sliding_window_capped`); of MLA layers
    the compressed latent when the runtime stores it (`mla_compressed`), else the decompressed K and
    V; the sparse-attention indexer's keys. Per sequence: the convolution and SSM states of
    recurrent layers (Mamba, Gated DeltaNet, HGRN), whatever the context.
    """
    tokens = _a(tokens)
    window = _a(c["sliding_window"])
    capped = (_a(c["sliding_window_capped"]) > 0) & (window > 0)
    windowed = np.where(capped, np.minimum(tokens, window), tokens)
    kv_bytes = _a(c["kv_cache_bits"]) / 8
    mla = np.where(_a(c["mla_compressed"]) > 0, _a(c["mla_latent_width"]), _a(c["mla_full_width"]))
    indexer_bits = np.where(_a(c["indexer_cache_bits"]) > 0, _a(c["indexer_cache_bits"]), _a(c["kv_cache_bits"]))
    attention = (
        (_a(c["kv_full_width"]) + mla) * tokens * kv_bytes
        + _a(c["kv_window_width"]) * windowed * kv_bytes
        + _a(c["indexer_width"]) * tokens * indexer_bits / 8
    )
    return _a(c["batch"]) * (attention + recurrent_state_bytes(c))


def recurrent_state_bytes(c: pd.DataFrame) -> np.ndarray:
    """Conv and SSM state of one sequence: compute dtype, fp32 where the model keeps its state so."""
    state_bits = _a(c["state_bits"])
    conv_bits = np.where(state_bits > 0, state_bits, _a(c["compute_bits"]))
    ssm_bits = np.where(state_bits > 0, state_bits, np.where(_a(c["state_ssm_fp32"]) > 0, 32.0, _a(c["compute_bits"])))
    return (_a(c["state_conv_values"]) * conv_bits + _a(c["state_ssm_values"]) * ssm_bits) / 8


# -------------------------------------------------------------- activations


def _mlp_width(c: pd.DataFrame) -> np.ndarray:
    """Intermediate width one token passes through in the widest MLP layer."""
    dense = np.where(_a(c["dense_layers"]) > 0, _a(c["intermediate"]), 0.0)
    routed = _a(c["moe_intermediate"]) * (_a(c["experts_active"]) + _a(c["shared_experts"]))
    return np.maximum(dense, np.where(_a(c["experts"]) > 0, routed, 0.0))


def _mlp_temp_width(c: pd.DataFrame) -> np.ndarray:
    """Width of the per-token MLP temporaries that exist at the same time.

    A dense MLP materialises the whole intermediate; an MoE layer runs its
    experts one at a time over the tokens routed to each, so its temporaries
    are those of one expert (tokens x k / E on average) plus the shared ones.
    """
    dense = np.where(_a(c["dense_layers"]) > 0, _a(c["intermediate"]), 0.0)
    experts = np.maximum(_a(c["experts"]), 1)
    per_expert = _a(c["moe_intermediate"]) * (_a(c["experts_active"]) / experts + _a(c["shared_experts"]))
    return np.maximum(dense, np.where(_a(c["experts"]) > 0, per_expert, 0.0))


def _attention_widths(c: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(query width, output width) per token of one attention layer."""
    q = _a(c["heads"]) * _a(c["head_dim"])
    out = _a(c["heads"]) * _a(c["v_head_dim"])
    hidden = _a(c["hidden"])
    recurrent = _a(c["recurrent"]) > 0
    return np.where(recurrent, hidden, q), np.where(recurrent, hidden, out)


def attention_mask_bytes(c: pd.DataFrame, tokens_per_sequence) -> np.ndarray:
    """A boolean batch x seq x seq mask, materialised once per forward.

    SDPA runs maskless (is_causal) unless a sliding window cuts into the
    sequence; then transformers builds the mask explicitly (one byte per
    query-key pair) and the kernel keeps it for backward.
    """
    seq = _a(tokens_per_sequence)
    window = _a(c["sliding_window"])
    windowed = (window > 0) & (seq > window) & (_a(c["sliding_share"]) > 0)
    flash = _runtime_col(c, "rt_flash_attn") > 0  # FlashAttention-2 takes the window as an argument: no mask
    return np.where(windowed & np.logical_not(flash), _a(c["batch"]) * seq * seq, 0.0)


def _runtime_col(c, name: str) -> np.ndarray:
    """A runtime column (vramatlas.runtimes), 0 for cases built without one (the matrix's transformers rows)."""
    return _a(c[name]) if name in c else 0.0


def prefill_activation_bytes(c: pd.DataFrame) -> np.ndarray:
    """Peak transient memory of one prompt pass (no_grad, SDPA attention).

    The residual stream holds about four hidden-sized tensors (embeddings,
    layer input, attention sum, normed input). On top, the larger of the
    attention moment (queries, output, and the K/V copies that repeat_kv makes
    for grouped-query attention) and the MLP moment (the gated MLP keeps
    act(gate), up and their product alive together; a quantized layer adds its
    dequantized weight while it multiplies). Runtimes that feed the prompt in
    chunks (llama.cpp's micro-batches, vLLM's chunked prefill) hold one chunk's.
    """
    seq = _a(c["seq_len"])
    chunk = _a(c["prefill_chunk"])
    tokens = _a(c["batch"]) * np.where(chunk > 0, np.minimum(seq, chunk), seq)
    cb = _a(c["compute_bits"]) / 8
    hidden = _a(c["hidden"])
    q_width, out_width = _attention_widths(c)
    grouped = (_a(c["kv_heads"]) < _a(c["heads"])) & (_a(c["recurrent"]) == 0)
    attention = tokens * cb * (q_width + out_width + np.where(grouped, q_width + out_width, 0.0))
    width = _mlp_temp_width(c)
    gated = _a(c["mlp_matrices"]) >= 3
    dequant = dequantized_layer_bytes(c)
    mlp = np.where(
        gated,
        np.maximum(3 * tokens * width * cb, 2 * tokens * width * cb + dequant),
        np.maximum(2 * tokens * width * cb, tokens * width * cb + dequant),
    )
    mask = attention_mask_bytes(c, tokens / _a(c["batch"]))
    return 4 * tokens * hidden * cb + np.maximum(attention, mlp) + mask


def decode_activation_bytes(c: pd.DataFrame) -> np.ndarray:
    """Per-step transients while generating: repeat_kv expands one layer's cache for GQA."""
    tokens = _a(c["seq_len"]) + _a(c["new_tokens"])
    cb = _a(c["compute_bits"]) / 8
    q_width, out_width = _attention_widths(c)
    grouped = (_a(c["kv_heads"]) < _a(c["heads"])) & (_a(c["recurrent"]) == 0)
    return np.where(grouped, _a(c["batch"]) * tokens * (q_width + out_width) * cb, 0.0)


def saved_bytes_per_token_layer(c: pd.DataFrame) -> np.ndarray:
    """What autograd keeps for backward, per token and layer, without checkpointing.

    Norms keep their fp32 input (and their output when the norm weight trains);
    trained linears keep their inputs (q/k/v share one, gate/up share one);
    SDPA keeps q, k, v and its output; a gated MLP keeps gate, act(gate) and up;
    peft keeps an fp32 copy of every adapted layer's input.
    """
    cb = _a(c["compute_bits"]) / 8
    hidden = _a(c["hidden"])
    train_all = _a(c["train_all"])
    width = _mlp_width(c)
    q_width, out_width = _attention_widths(c)
    recurrent = _a(c["recurrent"]) > 0
    kv_values = np.where(recurrent, 2 * hidden, 2 * _a(c["kv_heads"]) * _a(c["head_dim"]))
    norms = 2 * hidden * (4 + train_all * _a(c["bpw_other"]) / 8)
    linear_inputs = train_all * cb * (2 * hidden + out_width + width)
    attention = cb * (q_width + kv_values + out_width)
    mlp = cb * width * _a(c["mlp_matrices"])
    adapters = _a(c["train_lora"]) * _a(c["lora_in_width"]) * _a(c["adapter_bits"]) / 8
    return norms + linear_inputs + attention + mlp + adapters


def training_activation_bytes(c: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(at the loss, during the backward sweep) activation bytes.

    Without checkpointing every layer's saved tensors are alive at the loss.
    With it only each layer's input is kept, and backward recomputes one layer
    at a time (plus a dequantized weight for a quantized frozen base).
    """
    tokens = _a(c["batch"]) * _a(c["seq_len"])
    layers = _a(c["layers"])
    per_layer = tokens * saved_bytes_per_token_layer(c)
    stream = tokens * _a(c["hidden"]) * np.maximum(_a(c["compute_bits"]), _a(c["bpw_embedding"])) / 8
    checkpointed = _a(c["grad_checkpointing"]) > 0
    mask = attention_mask_bytes(c, c["seq_len"])
    # Unsloth's offloaded checkpointing moves each layer's input to host memory as the forward leaves it and
    # brings it back for that layer's backward: one on the GPU at a time, plus the one in flight
    kept = np.where(_runtime_col(c, "rt_offload_checkpoints") > 0, np.minimum(layers, 2.0), layers)
    at_loss = np.where(checkpointed, kept * stream, layers * per_layer) + mask
    sweep = np.where(checkpointed, kept * stream + per_layer, layers * per_layer) + dequantized_layer_bytes(c) + mask
    return at_loss, sweep


def logits_bytes(c: pd.DataFrame) -> np.ndarray:
    """Vocabulary-sized buffers: the loss's fp32 buffers in training, one row per sequence in generate.

    A final-logit soft-cap (Gemma 2: cap * tanh(logits / cap)) keeps its tanh
    output, in the compute dtype, for backward.
    """
    vocab = _a(c["vocab"])
    training = _a(c["training"]) > 0
    tokens = _a(c["batch"]) * _a(c["seq_len"])
    softcap = _a(c["logit_softcap"]) * tokens * vocab * _a(c["compute_bits"]) / 8
    # a fused cross-entropy (Unsloth: over vocabulary blocks, the gradient written into the logits) keeps
    # one logits buffer in the compute dtype instead of the fp32 copies
    fused = _runtime_col(c, "rt_loss_chunk") > 0
    loss = (
        np.where(
            fused, tokens * vocab * _a(c["compute_bits"]) / 8, LOSS_BUFFERS * tokens * vocab * _a(c["logits_bits"]) / 8
        )
        + softcap
    )
    generate = 2 * _a(c["batch"]) * vocab * 4  # last-token logits and scores, fp32
    return np.where(training, loss, generate)


# ----------------------------------------------------------- training state


def trained_params(c: pd.DataFrame) -> np.ndarray:
    lora = _a(c["lora_rank"]) * _a(c["lora_io"])
    return np.where(_a(c["train_all"]) > 0, _a(c["params_total"]), _a(c["train_lora"]) * lora)


def adapter_bytes(c: pd.DataFrame) -> np.ndarray:
    return _a(c["train_lora"]) * _a(c["lora_rank"]) * _a(c["lora_io"]) * _a(c["adapter_bits"]) / 8


def gradient_bytes(c: pd.DataFrame) -> np.ndarray:
    return trained_params(c) * _a(c["gradient_bits"]) / 8


def optimizer_bytes(c: pd.DataFrame) -> np.ndarray:
    """States per trained parameter; torch keeps them in the parameter's dtype unless the optimizer says."""
    param_bytes = np.where(_a(c["train_all"]) > 0, _a(c["bpw_linear"]) / 8, _a(c["adapter_bits"]) / 8)
    state_bytes = np.where(np.isnan(_a(c["opt_state_bytes"])), param_bytes, _a(c["opt_state_bytes"]))
    per_param = _a(c["opt_states"]) * state_bytes + _a(c["opt_extra_bytes"])
    return trained_params(c) * per_param


def master_bytes(c: pd.DataFrame) -> np.ndarray:
    return _a(c["train_all"]) * _a(c["params_total"]) * _a(c["master_weight_bits"]) / 8


# --------------------------------------------------------- several GPUs


def shard_factors(c: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-GPU share of each component under each parallelism (1 = replicated)."""
    n = np.maximum(_a(c["gpus"]), 1)
    par = np.asarray(c["parallelism"])
    one = np.ones_like(n)
    is_ = {p: (par == p) for p in PARALLELISMS}
    model_split = is_["tp"] | is_["pp"]
    full_shard = is_["zero3"] | is_["fsdp"]
    # KV heads cannot be split finer than one head per GPU under tensor parallelism.
    kv_split = np.where(is_["tp"], np.minimum(n, np.maximum(_a(c["kv_heads"]), 1)), n)
    return {
        "weights": np.where(model_split | full_shard, 1 / n, one),
        "kv_cache": np.where(model_split, 1 / kv_split, one),
        "activations": np.where(model_split, 1 / n, one),
        "logits": np.where(is_["tp"], 1 / n, one),
        "gradients": np.where(model_split | is_["zero2"] | full_shard, 1 / n, np.where(is_["ddp"], 2.0, one)),
        "optimizer_states": np.where(model_split | is_["zero1"] | is_["zero2"] | full_shard, 1 / n, one),
        "master_weights": np.where(model_split | is_["zero1"] | is_["zero2"] | full_shard, 1 / n, one),
    }


def gathered_layer_bytes(c: pd.DataFrame) -> np.ndarray:
    """ZeRO-3/FSDP: two layers' full weights gathered at once (current and prefetched)."""
    par = np.asarray(c["parallelism"])
    full_shard = (par == "zero3") | (par == "fsdp")
    per_layer = linear_params(c) / np.maximum(_a(c["layers"]), 1) * _a(c["compute_bits"]) / 8
    return np.where(full_shard & (_a(c["gpus"]) > 1), 2 * per_layer, 0.0)


# ------------------------------------------------------------ the peak


def allocator_slack(c: pd.DataFrame, kv_final, prefill_act, phases: dict[str, np.ndarray]) -> np.ndarray:
    """Memory the caching allocator holds but no tensor uses, at the peak.

    The allocator never gives memory back within a run, so segments reserved
    for one phase stay reserved in the next; the slack is the part of earlier
    working sets that the peak phase cannot reuse.

    Inference: at the first decode step every layer's cache tensors are
    re-allocated one token longer. Small cache tensors (up to 10 MiB) share
    20 MiB segments and mostly regrow in place; of what does not, blocks freed
    by the prefill take over part (small and large tensors both come from the
    allocator's large pool), the rest needs new segments.

    Training: part of the fp32 loss buffers, of one recomputed layer (with
    checkpointing) or of the saved activations (without), and, when the peak
    is the optimizer step, of the freed autocast weight copies.
    """
    training = _a(c["training"]) > 0
    per_layer_tensor = kv_final / np.maximum(_a(c["layers"]) * 2, 1)
    decoding = _a(c["new_tokens"]) > 0
    # The share of the cache that cannot regrow in place (all of it above LARGE_SEGMENT, SMALL_TENSOR_REGROWTH
    # below), less what the freed prefill blocks take over: both sizes come from the allocator's large pool,
    # so both reuse them. (Reuse for the small ones too keeps the peak monotone where a longer context
    # carries a layer's tensor across LARGE_SEGMENT: the slack can only grow there.)
    needs_new = np.where(per_layer_tensor > LARGE_SEGMENT, 1.0, SMALL_TENSOR_REGROWTH) * kv_final
    regrow = np.maximum(needs_new - PREFILL_POOL_REUSE * prefill_act, 0.0)
    inference = np.where(decoding & (_a(c["caching_allocator"]) > 0), regrow, 0.0)

    checkpointed = _a(c["grad_checkpointing"]) > 0
    loss_block = _a(c["batch"]) * _a(c["seq_len"]) * _a(c["vocab"]) * _a(c["logits_bits"]) / 8 * phases["logits_share"]
    activation = np.where(
        checkpointed, RECOMPUTE_SLACK * phases["layer_working_set"], SAVED_ACTIVATION_SLACK * phases["saved"]
    )
    copies = np.where(phases["at_step"], phases["step_slack"], 0.0)
    train = LOSS_POOL_SLACK * loss_block + activation + copies
    return np.where(training, train, inference)


def estimate_columns(c: Mapping[str, Any]) -> dict[str, Any]:
    """Predicted per-GPU peak for every case of a mapping of columns (or one case of floats).

    Returns one integer column per component (bytes at the peak phase),
    `peak_bytes`, `phase` (and its index in PHASES, `phase_code`), and with a `capacity_bytes` column, `headroom_bytes`
    (float, NaN where the capacity is NaN) and `fits` (False there).
    Integers are Python ints for one case of floats, int64 for arrays.
    """
    training = _a(c["training"]) > 0
    shard = shard_factors(c)
    weights = weight_bytes(c) * shard["weights"] + gathered_layer_bytes(c)
    copies = weight_copy_bytes(c) * shard["weights"]
    adapters = adapter_bytes(c)
    grads = gradient_bytes(c) * shard["gradients"]
    states = optimizer_bytes(c) * shard["optimizer_states"]
    master = master_bytes(c) * shard["master_weights"]
    workspace = np.where(training, 2.0, 1.0) * CUBLAS_WORKSPACE
    context = _a(c["cuda_context_bytes"])

    # Inference phases.
    kv_prompt = kv_cache_bytes(c, c["seq_len"]) * shard["kv_cache"]
    kv_final = kv_cache_bytes(c, _a(c["seq_len"]) + _a(c["new_tokens"])) * shard["kv_cache"]
    prefill = prefill_activation_bytes(c) * shard["activations"]
    decode = decode_activation_bytes(c) * shard["activations"]
    inf_prefill = kv_prompt + prefill
    inf_decode = kv_final + decode
    inf_act = np.where(inf_prefill >= inf_decode, prefill, decode)
    inf_kv = np.where(inf_prefill >= inf_decode, kv_prompt, kv_final)

    # Training phases.
    act_loss, act_sweep = training_activation_bytes(c)
    act_loss, act_sweep = act_loss * shard["activations"], act_sweep * shard["activations"]
    logits = logits_bytes(c) * np.where(training, shard["logits"], 1.0)
    resident = weights + adapters + states + master
    at_loss = resident + copies + act_loss + logits
    at_sweep = resident + copies + act_sweep
    at_step = resident + grads
    # The phase whose tensors *and* slack are largest is the peak: at the step,
    # the freed autocast copies add slack the other phases do not have.
    step_slack = COPY_POOL_SLACK * copies
    phase_idx = np.argmax([at_loss, at_sweep, at_step + step_slack])
    tr = {
        "weight_copies": np.where(phase_idx < 2, copies, 0.0),
        "activations": np.choose(phase_idx, [act_loss, act_sweep, np.zeros_like(act_loss)]),
        "logits": np.where(phase_idx == 0, logits, 0.0),
        "gradients": np.where(phase_idx == 2, grads, 0.0),
    }

    tokens = _a(c["batch"]) * _a(c["seq_len"])
    phases = {
        "logits_share": np.where(training, shard["logits"], 0.0),
        "layer_working_set": tokens * saved_bytes_per_token_layer(c) * shard["activations"],
        "saved": act_loss,
        "step_slack": step_slack,
        "at_step": phase_idx == 2,
    }
    slack = allocator_slack(c, kv_final, prefill, phases)
    comp = {
        "weights": weights,
        "weight_copies": np.where(training, tr["weight_copies"], 0.0),
        "adapter_weights": np.where(training, adapters, 0.0),
        "kv_cache": np.where(training, 0.0, inf_kv),
        "activations": np.where(training, tr["activations"], inf_act),
        "logits": np.where(training, tr["logits"], logits),
        "gradients": np.where(training, tr["gradients"], 0.0),
        "optimizer_states": np.where(training, states, 0.0),
        "master_weights": np.where(training, master, 0.0),
        "workspace": workspace,
        "cuda_context": context,
        "allocator_slack": slack,
    }
    out: dict[str, Any] = {k: np.to_int(comp[k]) for k in COMPONENTS}
    out["peak_bytes"] = sum(out[k] for k in COMPONENTS)
    out["phase_code"] = np.where(training, 2 + phase_idx, np.where(inf_prefill >= inf_decode, 0, 1))  # into PHASES
    out["phase"] = np.take(PHASES, out["phase_code"])
    if "capacity_bytes" in c:
        headroom = _a(c["capacity_bytes"]) - out["peak_bytes"]
        out["headroom_bytes"] = headroom
        out["fits"] = headroom >= 0
    if "rt_model" in c:  # a runtime's own buffers (llama.cpp, vLLM, SGLang, MLX): vramatlas.runtime_memory
        from .runtime_memory import apply

        out = apply(c, out)
    return out


def estimate_frame(c: pd.DataFrame) -> pd.DataFrame:
    """:func:`estimate_columns` as a DataFrame on ``c``'s index (the matrix and the tables).

    `phase` is a categorical of PHASES; `headroom_bytes` is nullable Int64 and
    `fits` nullable boolean: missing where the capacity is NaN (no GPU).
    """
    return frame_of_columns(estimate_columns(c), c.index)


def frame_of_columns(cols: Mapping[str, Any], index) -> pd.DataFrame:
    """:func:`estimate_columns`' numpy output as :func:`estimate_frame`'s DataFrame (`phase` from `phase_code`)."""
    import numpy
    import pandas

    out = pandas.DataFrame({k: cols[k] for k in COMPONENTS}, index=index)
    out["peak_bytes"] = numpy.asarray(cols["peak_bytes"], dtype=numpy.int64)
    out["phase"] = pandas.Categorical.from_codes(cols["phase_code"], categories=list(PHASES))
    if "headroom_bytes" in cols:
        headroom = cols["headroom_bytes"]
        has = ~numpy.isnan(headroom)
        out["headroom_bytes"] = pandas.array(numpy.where(has, numpy.rint(headroom), numpy.nan), dtype="Int64")
        out["fits"] = pandas.array(numpy.where(has, cols["fits"], None), dtype="boolean")
    return out
