"""From a Hugging Face config.json to the numbers the memory model needs.

A config is read the way transformers reads it: known aliases (Falcon's
``num_kv_heads``, GPT-style ``n_layer``...) are mapped to one name, and a
missing optional field takes the library default (``num_key_value_heads``
defaults to ``num_attention_heads``, ``head_dim`` to hidden/heads, and so on).

The result is a flat mapping of plain numbers (one row of the case frame), so
that many architectures can be evaluated on arrays at once.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

# transformers' attribute_map aliases, per family, folded into one table.
_ALIASES = {
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "num_key_value_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"),
    "intermediate_size": ("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions", "seq_length", "max_seq_len"),
    "num_local_experts": ("num_local_experts", "n_routed_experts", "num_experts"),
}

# Activations whose MLP is gated (three matrices: gate, up, down).
_GATED_ACTS = {"silu", "swish", "swiglu", "gelu_pytorch_tanh", "geglu", "gelu_new_gated", "relu2_gated"}
# Families whose MLP has two matrices whatever hidden_act says.
_UNGATED_TYPES = {"falcon", "gpt2", "gpt_bigcode", "gpt_neox", "nemotron", "bloom", "opt", "starcoder2", "phi", "mpt"}
_GATED_TYPES = {"qwen", "bitnet", "gemma", "gemma2", "gemma3", "llama", "mistral", "mixtral", "qwen2", "qwen3", "phi3", "cohere", "deepseek_v3", "hgrn_bit"}


class ConfigError(ValueError):
    """A config.json that cannot describe a model (missing or impossible values)."""


def _get(config: Mapping[str, Any], name: str, default: Any = None) -> Any:
    for key in _ALIASES.get(name, (name,)):
        value = config.get(key)
        if value is not None:
            return value
    return default


def _positive_int(config: Mapping[str, Any], name: str, default: Any = None) -> int:
    value = _get(config, name, default)
    if value is None:
        raise ConfigError(f"config has no '{name}' (or an alias of it)")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise ConfigError(f"config '{name}' must be a positive integer, got {value!r}")
    return int(value)


def _is_gated(config: Mapping[str, Any], model_type: str) -> bool:
    if model_type in _UNGATED_TYPES:
        return False
    act = str(config.get("hidden_act") or config.get("hidden_activation") or config.get("activation_function") or "")
    if model_type in _GATED_TYPES:
        return True
    return act in _GATED_ACTS


def _hgrn_intermediate(hidden: int, config: Mapping[str, Any]) -> int:
    # HGRNBitMLP: intermediate = 256 * ceil(int(hidden * ratio * 2/3) / 256)
    ratio = config.get("hidden_ratio") or 4
    return 256 * math.ceil(int(hidden * ratio * 2 / 3) / 256)


def _sliding(config: Mapping[str, Any], layers: int) -> tuple[int, float]:
    """(window, fraction of layers that use it); (0, 0.0) when none."""
    window = config.get("sliding_window")
    if not window or config.get("use_sliding_window") is False:
        return 0, 0.0
    layer_types = config.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        share = sum(1 for t in layer_types if "sliding" in str(t)) / len(layer_types)
        return int(window), share
    pattern = config.get("sliding_window_pattern")
    if pattern:  # every pattern-th layer is global (Gemma 2: 2 = alternating)
        return int(window), 1.0 - 1.0 / int(pattern)
    if config.get("model_type") in ("gemma2",):
        return int(window), 0.5
    return int(window), 1.0


def architecture(config: Mapping[str, Any], parameters: int | None = None) -> dict[str, float]:
    """The numbers of one model, from its config.json (see module docstring).

    ``parameters``, when known exactly (the catalogue's count), fixes the
    total; the parameters the module-by-module count does not see (extra
    norms, biases, small buffers) are kept as ``params_other`` so that they
    are stored like norms are (unquantized).
    """
    if not isinstance(config, Mapping):
        raise ConfigError("config must be a JSON object")
    model_type = str(config.get("model_type") or "")
    layers = _positive_int(config, "num_hidden_layers")
    hidden = _positive_int(config, "hidden_size")
    vocab = _positive_int(config, "vocab_size")
    recurrent = model_type == "hgrn_bit"
    if recurrent:
        heads = int(_get(config, "num_attention_heads", 1) or 1)
        kv_heads, head_dim, v_head_dim = 0, 0, 0
        inter_raw = config.get("intermediate_size")
        intermediate = int(inter_raw) if inter_raw else _hgrn_intermediate(hidden, config)
    else:
        heads = _positive_int(config, "num_attention_heads")
        kv_heads = _positive_int(config, "num_key_value_heads", heads)
        if config.get("multi_query") and not config.get("new_decoder_architecture"):
            kv_heads = 1
        head_dim = int(config.get("head_dim") or config.get("qk_nope_head_dim", 0) + config.get("qk_rope_head_dim", 0) or hidden // heads)
        v_head_dim = int(config.get("v_head_dim") or head_dim)
        intermediate = _positive_int(config, "intermediate_size", 4 * hidden)
        if model_type == "qwen":  # Qwen (v1) counts both gated branches in intermediate_size
            intermediate //= 2
    if kv_heads > heads:
        raise ConfigError(f"num_key_value_heads ({kv_heads}) exceeds num_attention_heads ({heads})")

    gated = _is_gated(config, model_type)
    mlp_matrices = 3 if gated else 2
    tied = bool(config.get("tie_word_embeddings", model_type in ("gemma", "gemma2", "gemma3", "falcon", "cohere", "bitnet")))

    experts = int(_get(config, "num_local_experts", 0) or 0)
    experts_active = int(config.get("num_experts_per_tok") or (2 if experts else 0))
    moe_intermediate = int(config.get("moe_intermediate_size") or (intermediate if experts else 0))
    shared_experts = int(config.get("n_shared_experts") or 0)
    dense_layers = int(config.get("first_k_dense_replace") or 0) if experts else layers
    moe_layers = layers - dense_layers

    # Attention projections (q, k, v, o), as (in, out) pairs.
    kv_lora = int(config.get("kv_lora_rank") or 0)
    q_lora = int(config.get("q_lora_rank") or 0)
    rope_dim = int(config.get("qk_rope_head_dim") or 0)
    if recurrent:
        expand = float(config.get("expand_ratio") or 1)
        inner = int(hidden * expand)
        attn_shapes = {"q": (hidden, inner), "k": (hidden, inner), "v": (hidden, inner), "o": (inner, hidden)}
        kv_width = 0.0
    elif kv_lora:  # MLA: low-rank q and kv, a latent KV cache
        q_in = (hidden * q_lora + q_lora * heads * head_dim) if q_lora else hidden * heads * head_dim
        attn_shapes = {
            "q": (hidden, q_in // hidden),
            "k": (hidden, kv_lora + rope_dim),
            "v": (kv_lora, heads * (head_dim - rope_dim + v_head_dim)),
            "o": (heads * v_head_dim, hidden),
        }
        kv_width = float(kv_lora + rope_dim)
    else:
        attn_shapes = {
            "q": (hidden, heads * head_dim),
            "k": (hidden, kv_heads * head_dim),
            "v": (hidden, kv_heads * head_dim),
            "o": (heads * head_dim, hidden),
        }
        kv_width = float(2 * kv_heads * head_dim)
    attn_params = sum(i * o for i, o in attn_shapes.values()) * layers
    if config.get("attention_bias") or config.get("qkv_bias") or model_type == "qwen2":
        attn_params += (heads + 2 * kv_heads) * head_dim * layers

    def mlp_params(width: int) -> int:
        return mlp_matrices * hidden * width

    dense_mlp = mlp_params(intermediate) * dense_layers
    expert_mlp = mlp_params(moe_intermediate) * experts * moe_layers
    shared_mlp = mlp_params(moe_intermediate) * shared_experts * moe_layers
    router = hidden * experts * moe_layers
    embed = vocab * hidden
    lm_head = 0 if tied else vocab * hidden
    norms = (2 * layers + 1) * hidden
    counted = attn_params + dense_mlp + expert_mlp + shared_mlp + router + embed + lm_head + norms
    total = int(parameters) if parameters else counted
    other = max(total - counted, 0) + norms + router

    window, sliding_share = _sliding(config, layers)
    # LoRA: (in + out) summed over every instance of each target module.
    lora = {f"lora_{name}": float((i + o) * layers) for name, (i, o) in attn_shapes.items()}
    dense_io = (hidden + intermediate) * dense_layers
    moe_io = (hidden + moe_intermediate) * (experts + shared_experts) * moe_layers
    lora["lora_gate"] = float(dense_io + moe_io) if gated else 0.0
    lora["lora_up"] = float(dense_io + moe_io)
    lora["lora_down"] = float(dense_io + moe_io)

    return {
        "recurrent": float(recurrent),
        "layers": float(layers),
        "hidden": float(hidden),
        "intermediate": float(intermediate),
        "heads": float(heads),
        "kv_heads": float(kv_heads),
        "head_dim": float(head_dim),
        "v_head_dim": float(v_head_dim),
        "vocab": float(vocab),
        "tied": float(tied),
        "mlp_matrices": float(mlp_matrices),
        "experts": float(experts),
        "experts_active": float(experts_active),
        "moe_intermediate": float(moe_intermediate),
        "shared_experts": float(shared_experts),
        "dense_layers": float(dense_layers),
        "moe_layers": float(moe_layers),
        "kv_width": kv_width,  # cached values per token per attention layer (K and V, or the MLA latent)
        "sliding_window": float(window),
        "sliding_share": sliding_share,
        "max_positions": float(_get(config, "max_position_embeddings", 0) or 0),
        "logit_softcap": float(bool(config.get("final_logit_softcapping"))),
        "params_total": float(total),
        "params_embed": float(embed),
        "params_lm_head": float(lm_head),
        "params_attn": float(attn_params),
        "params_mlp": float(dense_mlp + shared_mlp),
        "params_experts": float(expert_mlp),
        "params_other": float(other),
        "largest_linear": float(max([hidden * intermediate if dense_layers else 0, hidden * moe_intermediate] + [i * o for i, o in attn_shapes.values()])),
        **lora,
    }


def active_parameters(arch: Mapping[str, float]) -> float:
    """Parameters that one token passes through (MoE: only its experts)."""
    if not arch["experts"]:
        return arch["params_total"]
    per_expert = arch["params_experts"] / arch["experts"]
    return arch["params_total"] - arch["params_experts"] + per_expert * arch["experts_active"]
