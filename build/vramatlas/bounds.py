"""Physical ranges: the largest value each count and size can take, and why.

One table serves every place that needs a bound, so the bound is written once:

* the schemas' ``maximum`` (``tests/test_hardening.py`` checks that every
  numeric property of every schema has one, and that the config fields' agree
  with :data:`CONFIG_MAX`);
* the validation rule that checks a catalogue model's config (VA353), so a
  catalogue that validates never feeds the model a number it refuses;
* the estimate's own checks on its inputs (exit 2 with the reason), and the
  final check that no predicted byte count is absurd or not finite.

A bound is not a guess at "large": each is far above the largest real value
(so no real model, GPU or workload is refused) and far below where float64
arithmetic stops being exact or a product of counts overflows 64-bit integers
(so nothing past it can wrap into a negative peak and a "fits" verdict).
Nothing here imports numpy or pandas.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, NamedTuple


class Limit(NamedTuple):
    maximum: int | float
    reason: str


# ---- the kinds of quantity ------------------------------------------------------------

TOKENS = Limit(
    2**30, "about 1.07 billion tokens: 100x the longest context any published model accepts (Llama 4 Scout, 10M tokens)"
)
BATCH = Limit(
    2**20,
    "about a million sequences at once: 1000x the largest batch a serving engine schedules "
    "(vLLM's default max_num_seqs is 256)",
)
GPUS = Limit(2**17, "131,072 GPUs: above the largest training clusters built (about 100,000 GPUs)")
LORA_RANK = Limit(2**16, "65,536: a LoRA rank above any model's hidden size gives no low-rank saving")
GPU_BYTES = Limit(
    2**42,
    "4 TiB: 8x the most memory one accelerator or unified-memory machine holds "
    "(512 GB, Apple M3 Ultra; 288 GB, NVIDIA B300)",
)
PREDICTED_BYTES = Limit(
    2**60,
    "1 EiB: more memory than every GPU ever made holds together; a prediction "
    "past it is an overflow or a unit mistake, not an answer",
)
BANDWIDTH = Limit(2**50, "about 1.1 PB/s: over 100x the fastest memory of any GPU (8 TB/s, HBM3e on B200)")
PARAMETERS = Limit(2**50, "about 1.1e15: 500x the largest published model (about 2e12 parameters)")
THROUGHPUT = Limit(1e9, "10^9 tokens/s (about 100x the fastest published aggregate serving throughput)")
SECONDS = Limit(1e7, "10^7 s (about four months for one prompt)")
CATALOGUE_ENTRIES = Limit(2**20, "1,048,576 catalogue entries: 1000x the catalogue's size")
FLOAT_EXACT = Limit(
    2**53, "2^53: past it float64, which the memory model computes in, no longer holds every integer exactly"
)

# Config fields of a Hugging Face config.json, by name at any depth (text_config, block_configs ...).
_LAYERS = Limit(2**14, "16,384 layers: 100x the deepest published model (126 layers, Llama 3.1 405B)")
_WIDTH = Limit(2**20, "1,048,576: 50x the widest published hidden size (18,432)")
_FFN = Limit(2**22, "4,194,304: 80x the widest published MLP (53,248, Llama 3.1 405B)")
_HEADS = Limit(2**14, "16,384 heads: 100x the most attention heads of a published model (128)")
_HEAD_DIM = Limit(2**14, "16,384: 30x the widest published attention head (512)")
_VOCAB = Limit(2**24, "16.8 million tokens: 64x the largest published vocabulary (262,144, Gemma 3)")
_EXPERTS = Limit(2**16, "65,536 experts: 170x the most experts of a published MoE (384, Kimi K2)")
_RANK = Limit(2**20, "1,048,576: a low-rank projection wider than the widest hidden size")
_RATIO = Limit(1024, "1024: a width ratio that makes a layer a thousand times wider than the model")
_BITS = Limit(64, "64 bits: the widest number format a GPU computes in")
_EPS = Limit(1, "1: a normalisation epsilon is a small positive number (1e-5 or 1e-6)")
_SCALE = Limit(1e6, "1e6: published scales, caps and loss coefficients are below 100")
_ROPE = Limit(1e12, "1e12: 1000x the largest published RoPE base (1e9)")

CONFIG_MAX: dict[str, Limit] = {
    "num_hidden_layers": _LAYERS,
    "n_layer": _LAYERS,
    "num_layers": _LAYERS,
    "n_layers": _LAYERS,
    "first_k_dense_replace": _LAYERS,
    "num_nextn_predict_layers": _LAYERS,
    "sliding_window_pattern": _LAYERS,
    "hidden_size": _WIDTH,
    "n_embd": _WIDTH,
    "d_model": _WIDTH,
    "dim": _WIDTH,
    "intermediate_size": _FFN,
    "ffn_hidden_size": _FFN,
    "n_inner": _FFN,
    "ffn_dim": _FFN,
    "moe_intermediate_size": _FFN,
    "shared_expert_intermediate_size": _FFN,
    "num_attention_heads": _HEADS,
    "n_head": _HEADS,
    "num_heads": _HEADS,
    "n_heads": _HEADS,
    "num_key_value_heads": _HEADS,
    "num_kv_heads": _HEADS,
    "n_head_kv": _HEADS,
    "multi_query_group_num": _HEADS,
    "head_dim": _HEAD_DIM,
    "qk_rope_head_dim": _HEAD_DIM,
    "qk_nope_head_dim": _HEAD_DIM,
    "v_head_dim": _HEAD_DIM,
    "vocab_size": _VOCAB,
    "padded_vocab_size": _VOCAB,
    "max_position_embeddings": TOKENS,
    "n_positions": TOKENS,
    "seq_length": TOKENS,
    "max_seq_len": TOKENS,
    "original_max_position_embeddings": TOKENS,
    "sliding_window": TOKENS,
    "attention_chunk_size": TOKENS,
    "num_local_experts": _EXPERTS,
    "n_routed_experts": _EXPERTS,
    "num_experts": _EXPERTS,
    "num_experts_per_tok": _EXPERTS,
    "n_shared_experts": _EXPERTS,
    "n_group": _EXPERTS,
    "topk_group": _EXPERTS,
    "q_lora_rank": _RANK,
    "kv_lora_rank": _RANK,
    "hidden_ratio": _RATIO,
    "expand_ratio": _RATIO,
    "weight_bits": _BITS,
    "input_bits": _BITS,
    "rms_norm_eps": _EPS,
    "layer_norm_epsilon": _EPS,
    "norm_eps": _EPS,
    "layer_norm_eps": _EPS,
    "rope_theta": _ROPE,
    "query_pre_attn_scalar": _WIDTH,
    "attn_logit_softcapping": _SCALE,
    "final_logit_softcapping": _SCALE,
    "logit_scale": _SCALE,
    "router_aux_loss_coef": _SCALE,
    "routed_scaling_factor": _SCALE,
    # issue 13's architectures (Qwen MoE, Llama 4, gpt-oss, Gated DeltaNet, Mamba, Nemotron-NAS, muP scales)
    "max_window_layers": _LAYERS,
    "decoder_sparse_step": _LAYERS,
    "moe_layer_freq": _LAYERS,
    "full_attention_interval": _LAYERS,
    "interleave_moe_layer_step": _LAYERS,
    "no_rope_layer_interval": _LAYERS,
    "mlp_only_layers": _LAYERS,
    "moe_layers": _LAYERS,
    "no_rope_layers": _LAYERS,
    "intermediate_size_mlp": _FFN,
    "mamba_d_ssm": _FFN,
    "shared_intermediate_size": _FFN,
    "index_n_heads": _HEADS,
    "linear_num_key_heads": _HEADS,
    "linear_num_value_heads": _HEADS,
    "mamba_num_heads": _HEADS,
    "mamba_n_heads": _HEADS,
    "n_groups": _HEADS,
    "mamba_n_groups": _HEADS,
    "n_heads_in_group": _HEADS,
    "index_head_dim": _HEAD_DIM,
    "linear_key_head_dim": _HEAD_DIM,
    "linear_value_head_dim": _HEAD_DIM,
    "mamba_head_dim": _HEAD_DIM,
    "mamba_d_head": _HEAD_DIM,
    "attention_head_dim": _HEAD_DIM,
    "ssm_state_size": _HEAD_DIM,
    "state_size": _HEAD_DIM,
    "mamba_d_state": _HEAD_DIM,
    "linear_conv_kernel_dim": _HEAD_DIM,
    "conv_kernel": _HEAD_DIM,
    "mamba_d_conv": _HEAD_DIM,
    "index_topk": TOKENS,
    "initial_context_length": TOKENS,
    "chunk_size": TOKENS,
    "mamba_chunk_size": TOKENS,
    "num_sink_tokens": TOKENS,
    "window_length": TOKENS,
    "experts_per_token": _EXPERTS,
    "ep_size": _EXPERTS,
    "time_step_rank": _RANK,
    "expand": _RATIO,
    "mamba_expand": _RATIO,
    "ffn_mult": _RATIO,
    "mixer_rms_eps": _EPS,
    "rope_local_base_freq": _ROPE,
    "embedding_multiplier": _SCALE,
    "attention_multiplier": _SCALE,
    "residual_multiplier": _SCALE,
    "logits_scaling": _SCALE,
    "swiglu_limit": _SCALE,
    "floor_scale": _SCALE,
    "attn_scale": _SCALE,
    "lm_head_multiplier": _SCALE,
    "key_multiplier": _SCALE,
    "attention_in_multiplier": _SCALE,
    "attention_out_multiplier": _SCALE,
    "ssm_in_multiplier": _SCALE,
    "ssm_out_multiplier": _SCALE,
    "ssm_multipliers": _SCALE,
    "mlp_multipliers": _SCALE,
    "attn_temperature_tuning": _SCALE,
}

MAX_CONFIG_DEPTH = 32  # configs nest two or three levels (text_config, rope_scaling, block_configs[i])


# ---- checks: each returns the messages (nothing raises) ---------------------------------


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def config_problems(config: Any) -> Iterator[tuple[tuple, str]]:
    """(path, message) for every value of a config.json past its physical range.

    A known field over its :data:`CONFIG_MAX`; any number that is not finite;
    any integer past 2^53; nesting deeper than :data:`MAX_CONFIG_DEPTH`.
    Iterative, so a deeply nested config cannot exhaust the recursion limit.
    """
    stack: list[tuple[tuple, Any]] = [((), config)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_CONFIG_DEPTH:
            yield path, f"config nests deeper than {MAX_CONFIG_DEPTH} levels at {_dotted(path[:4])}..."
            continue
        if isinstance(value, Mapping):
            stack.extend((path + (k,), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            message = number_problem(value, CONFIG_MAX.get(str(path[-1])) if path else None)
            if message:
                yield path, f"config {_dotted(path)} {message}"


def number_problem(value: int | float, limit: Limit | None = None) -> str | None:
    """Why ``value`` is not a physical count or size (None when it is)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"is {value}, not a finite number"
    if abs(value) > FLOAT_EXACT.maximum and (limit is None or limit.maximum > FLOAT_EXACT.maximum):
        return f"is {value:.4g}, past 2^53 ({FLOAT_EXACT.reason})"
    if limit is not None and value > limit.maximum:
        return f"is {value:,}, over the physical maximum {_number(limit.maximum)} ({limit.reason})"
    return None


def _number(value: int | float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


CACHE_WIDTH = Limit(
    2**30,
    "about a billion cached values per token over all layers: 4000x Llama 3.1 405B's "
    "258,048 (126 layers x 2 x 8 KV heads x 128)",
)
STATE_VALUES = Limit(2**40, "about 1.1e12 recurrent-state values per sequence: 100,000x a Mamba-2 model's state")


def reading_problem(columns: Mapping[str, float]) -> str | None:
    """Why the numbers the architecture reader derived from a config are past physical size, else None.

    Each config value can be within its range while their products are not (a
    thousand layers of a thousand 16,384-wide heads): parameter counts and widths
    stay within :data:`PARAMETERS`, the per-token cache within :data:`CACHE_WIDTH`,
    recurrent state within :data:`STATE_VALUES`. With these, no predicted byte count
    of the catalogue's workloads can pass 2^60, let alone wrap a 64-bit integer.
    """
    for name, value in columns.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        limit = (
            CACHE_WIDTH
            if name.endswith("_width") and name.startswith(("kv", "mla", "indexer"))
            else STATE_VALUES
            if name.startswith("state_")
            else PARAMETERS
        )
        if not math.isfinite(value) or abs(value) > limit.maximum:
            shown = f"{value:.4g}" if math.isfinite(value) else str(value)
            return (
                f"the config describes a model past physical size: its {name} would be {shown}, "
                f"over {_number(limit.maximum)} ({limit.reason})"
            )
    return None


INPUTS: dict[str, Limit] = {
    "seq-len": TOKENS,
    "new-tokens": TOKENS,
    "ctx": TOKENS,
    "ubatch": TOKENS,
    "max-num-batched-tokens": TOKENS,
    "train-tokens": Limit(2**53, FLOAT_EXACT.reason),
    "batch": BATCH,
    "parallel": BATCH,
    "max-num-seqs": BATCH,
    "gpus": GPUS,
    "lora-rank": LORA_RANK,
    "gpu-layers": _LAYERS,
    "cpu-moe": _LAYERS,
    "parameters": PARAMETERS,
    "host-memory": Limit(2**16, "65,536 GiB (64 TiB): 2x the most RAM one server holds (32 TB)"),
    "host-bandwidth": Limit(1e5, "100,000 GB/s: 12x the fastest GPU memory (8 TB/s); host RAM is under 1,000 GB/s"),
    "gpu-memory-utilization": Limit(1, "a share of the GPU's memory is at most all of it"),
}


def input_problem(name: str, value: int | float | None) -> str | None:
    """A one-line message when the option ``--name`` is past its physical range, else None."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    message = number_problem(value, INPUTS.get(name))
    return f"--{name} {message}" if message else None


def predicted_problem(values: Mapping[str, float]) -> str | None:
    """A message when a predicted byte count is not finite, negative or past 1 EiB, else None.

    The last check before a verdict: whatever slipped past the input bounds, a
    peak that wrapped or overflowed never reaches the user as "fits".
    """
    for name, value in values.items():
        if value is None:
            continue
        v = float(value)
        if not math.isfinite(v):
            return f"the predicted {name} is not a finite number; the inputs are past what the model can compute"
        if v < 0 and not name.startswith("headroom"):
            return f"the predicted {name} is negative ({v:.4g} bytes): an overflow; please report the inputs"
        if abs(v) > PREDICTED_BYTES.maximum:
            return (
                f"the predicted {name} is {v:.3g} bytes, past {PREDICTED_BYTES.maximum:.3g} "
                f"({PREDICTED_BYTES.reason}); reduce the context, batch or model size"
            )
    return None
