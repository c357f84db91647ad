"""From a Hugging Face config.json to the numbers the memory model needs.

A config is read the way transformers reads it, one mechanism at a time:

* **Nested configs**: a multimodal config keeps its language model under ``text_config`` (or
  ``llm_config`` / ``language_config``); the vision and audio towers (``vision_config``,
  ``audio_config``) are weights that are loaded too, counted with one generic encoder count (Gemma 3n's
  timm vision tower and Conformer audio tower with their own counts).
* **Defaults**: a field the config leaves out takes the default of its transformers config class
  (``data/arch_defaults.json``, generated from transformers by ``tools/gen_arch_defaults.py``):
  Gemma 3's text config omits heads, KV heads, head_dim, vocab and tying.
* **Per-layer plan**: every layer gets a token mixer and a feed-forward block, from the config's own
  fields: ``layer_types``, ``sliding_window_pattern``, ``hybrid_override_pattern`` (Nemotron-H),
  ``hybrid_layer_pattern`` (MiMo), ``full_attention_interval`` (Qwen3-Next, Qwen3.5),
  ``attn_layer_period`` (Jamba), ``no_rope_layers`` + ``attention_chunk_size`` (Llama 4),
  ``block_configs`` (NAS: Llama-3.3-Nemotron-Super), ``mlp_layer_types``, ``moe_layer_freq``,
  ``first_k_dense_replace``, ``decoder_sparse_step``/``mlp_only_layers``, ``moe_layers``...
  Mixers: full, sliding-window and chunked attention (each layer with its own heads, KV heads and
  K/V widths), MLA (latent ``kv_lora_rank + qk_rope_head_dim``, or decompressed K and V), the
  DeepSeek-V3.2 / GLM-5 sparse-attention indexer, Gated DeltaNet, Kimi Delta Attention, Mamba and
  Mamba-2 (an SSM and a convolution state per sequence), or nothing. FFNs: dense (gated or not), MoE
  (routed experts under any of their key names, shared experts, dense first layers), or nothing.
* **Native quantization** (``quantization_config``): the checkpoint's own storage bits per weight,
  for the experts (gpt-oss MXFP4) and the other linears (FP8 block-scaled), in ``native_*_bits``.
* **Multi-token prediction** layers (``num_nextn_predict_layers``, ``mtp_num_hidden_layers``) are
  not loaded by transformers or by vLLM without speculative decoding: they are counted apart
  (``mtp_parameters``) and left out of ``params_total``; the reading says so.

The reader knows the model types in :data:`KNOWN_TYPES`. A config of another type is read when
every structural field it has is one this reader understands; otherwise it is refused, naming the
fields. A known type with a feature the reader approximates gets a warning that says what.

The result (:func:`architecture`) is a flat mapping of plain numbers, one row of the case frame, so
that many architectures can be evaluated on arrays at once. Cache and state columns (per token or
per sequence, summed over layers; values, not bytes):

``kv_full_width``      K + V values per token of the full-attention layers (no window)
``kv_window_width``    K + V values per token of the sliding-window and chunked layers
``sliding_window``     their window in tokens (``attention_chunk_size`` for chunked layers)
``mla_latent_width``   MLA layers: the compressed latent (kv_lora_rank + qk_rope_head_dim) per token
``mla_full_width``     MLA layers: decompressed K (heads x qk_head_dim) + V (heads x v_head_dim)
``indexer_width``      sparse-attention indexer keys (index_head_dim) per token, layers with an indexer
``state_conv_values``  convolution state per sequence (Mamba, Mamba-2, Gated DeltaNet, KDA)
``state_ssm_values``   recurrent/SSM state per sequence
``state_ssm_fp32``     1 when the model keeps its SSM state in fp32 (``mamba_ssm_dtype``, HGRN)

How a runtime stores these is a property of the runtime, set in the case row
(:func:`vramatlas.api.case_row`) from its catalogue file; transformers' behaviour is the default:

``mla_compressed``          1: MLA layers cache the latent (vLLM, SGLang, llama.cpp); 0: decompressed K
                            and V (transformers' DeepSeek attention caches key_states/value_states)
``sliding_window_capped``   1: window layers keep only ``sliding_window`` tokens (transformers'
                            DynamicSlidingWindowLayer); 0: they are allocated for the whole context
``indexer_cache_bits``      bits per indexer key value (0: the KV cache's bits)
``state_bits``              bits per conv/SSM state value (0: the compute dtype; fp32 where
                            ``state_ssm_fp32``)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_DEFAULTS_FILE = Path(__file__).with_name("data") / "arch_defaults.json"


class ConfigError(ValueError):
    """A config.json that cannot describe a model (missing, impossible or unknown values)."""


# ------------------------------------------------------------------ known types

# Structural facts per model_type that a config.json does not state (what transformers' modelling
# code hard-wires). Keys: mlp ("gated"/"plain"), linear (what a "linear_attention" or SSM layer is:
# "gdn", "kda", "mamba1", "mamba2"), norms (norm vectors per layer), q_gate (the attention output
# gate doubles q_proj), swa_kv_mult (sliding layers' KV heads when the config has no
# swa_num_key_value_heads), shared_width ("intermediate_size": one shared expert as wide as the
# routed), parallel (attention and SSM side by side in every layer), approx (what is approximated).
KNOWN_TYPES: dict[str, dict[str, Any]] = {
    # dense decoders
    "llama": {},
    "mistral": {},
    "ministral": {},
    "ministral3": {},
    "mixtral": {},
    "qwen2": {},
    "qwen3": {"qk_norm": "head"},
    "qwen": {"qwen_v1": True},
    "phi3": {},
    "phimoe": {},
    # one input_layernorm per layer (attention and MLP run in parallel on it); use_qk_norm (CohereConfig
    # default False) adds LayerNorm weights per head for q and k
    "cohere": {"norms": 1, "qk_norm": "full", "qk_norm_flag": "use_qk_norm", "qk_norm_flag_default": False},
    "cohere2": {"norms": 1},  # one input_layernorm per layer: attention and MLP run in parallel on it
    "granite": {},
    "granitemoe": {},
    "granitemoeshared": {},
    "olmo": {},
    "olmo2": {"qk_norm": "full"},
    "olmo3": {"qk_norm": "full"},
    "olmoe": {"qk_norm": "full"},
    "smollm3": {},
    "helium": {},
    "glm": {},
    "glm4": {"norms": 4},
    "exaone4": {},
    "seed_oss": {},
    "apertus": {"mlp": "plain"},
    "arcee": {"mlp": "plain"},
    "internlm3": {},
    "hunyuan_v1_dense": {},
    "hunyuan_v1_moe": {},
    "ernie4_5": {},
    "ernie4_5_moe": {},
    "dots1": {},
    "minimax_m2": {"qk_norm": "full"},
    "gemma": {"norms": 2},
    "gemma2": {"norms": 4, "alternate": "sliding_first"},
    "gemma3_text": {"norms": 4, "qk_norm": "head"},
    "vaultgemma": {"norms": 2},
    "gpt_oss": {"alternate": "sliding_first", "expert_bias": True, "sinks": True, "o_bias": True},
    "llama4_text": {"shared_width": "intermediate_size"},
    # nn.LayerNorm (weight and bias); FalconDecoderLayer has ln_attn + ln_mlp in the new decoder architecture,
    # one input_layernorm with parallel_attn in the old one, input + post-attention norms otherwise
    "falcon": {
        "mlp": "plain",
        "norm_bias": True,
        "shared_norm_when": {"parallel_attn": True, "new_decoder_architecture": False},
    },
    "starcoder2": {"mlp": "plain"},
    "nemotron": {"mlp": "plain", "norm_bias": True},  # NemotronLayerNorm1P: a LayerNorm with weight and bias
    "gpt2": {"mlp": "plain"},
    "gpt_bigcode": {"mlp": "plain"},
    "gpt_neox": {"mlp": "plain"},
    "bloom": {"mlp": "plain"},
    "opt": {"mlp": "plain"},
    "mpt": {"mlp": "plain"},
    "phi": {"mlp": "plain"},
    "stablelm": {},
    "bitnet": {"mlp": "gated", "sub_norms": True},
    "hgrn_bit": {"linear": "hgrn", "mlp": "gated"},
    # MLA and sparse attention
    "deepseek_v2": {},
    "deepseek_v3": {},
    "deepseek_v32": {},
    "kimi_k2": {},
    "glm_moe_dsa": {},
    "glm4_moe": {
        "qk_norm": "head",
        "qk_norm_flag": "use_qk_norm",
        "router_score_bias": True,
    },  # e_score_correction_bias
    "glm4_moe_lite": {},
    "mistral_large3": {},
    "minicpm3": {},
    # hybrids and recurrent
    "mimo_v2_flash": {"swa_kv_mult": 2, "mimo_default": True},
    "qwen2_moe": {},
    "qwen3_moe": {"qk_norm": "head"},
    "qwen3_next": {"linear": "gdn", "q_gate": True, "qk_norm": "head"},
    "qwen3_5_text": {"linear": "gdn", "q_gate": True, "qk_norm": "head"},
    "qwen3_5_moe_text": {"linear": "gdn", "q_gate": True, "qk_norm": "head"},
    "kimi_linear": {"linear": "kda", "first_dense": 1},
    "nemotron_h": {"linear": "mamba2", "mlp": "plain", "blocks": True},
    "granitemoehybrid": {"linear": "mamba2"},
    "bamba": {"linear": "mamba2"},
    # FalconH1Mixer builds its gated RMSNorm only when mamba_rms_norm is set (FalconH1Config default False)
    "falcon_h1": {"linear": "mamba2", "parallel": True, "ssm_norm_flag": "mamba_rms_norm", "ssm_norm_default": False},
    "jamba": {"linear": "mamba1"},
    "mamba": {"linear": "mamba1"},
    "falcon_mamba": {"linear": "mamba1"},
    "mamba2": {"linear": "mamba2"},
    "lfm2": {"linear": "shortconv", "qk_norm": "head", "ff_auto_adjust": True},
    "nemotron-nas": {"nas": True},
    # multimodal wrappers: the language model is under text_config
    "gemma3": {"text": "gemma3_text", "projector_norm": True},
    "llama4": {"text": "llama4_text"},
    "qwen3_vl": {"text": "qwen3_vl_text"},
    "qwen3_vl_text": {"qk_norm": "head"},
    "qwen3_vl_moe": {"text": "qwen3_vl_moe_text"},
    "qwen3_vl_moe_text": {"qk_norm": "head"},
    "qwen2_5_vl": {"text": "qwen2_5_vl_text"},
    "qwen2_5_vl_text": {},
    "qwen3_5": {"text": "qwen3_5_text"},
    "qwen3_5_moe": {"text": "qwen3_5_moe_text"},
    "mistral3": {"text": "mistral"},
    "pixtral": {"text": "mistral"},
    "llava": {"text": "llama"},
    "gemma3n": {"text": "gemma3n_text"},
    "gemma3n_text": {"norms": 4, "qk_norm": "head"},
    "gemma4": {"text": "gemma4_text"},
    "glm4v": {"text": "glm4v_text"},
    "glm46v": {"text": "glm4v_text"},
    "glm4v_moe": {"text": "glm4v_moe_text"},
    "glm4v_text": {},
    "glm4v_moe_text": {"qk_norm": "head", "qk_norm_flag": "use_qk_norm", "router_score_bias": True},
    "gemma4_text": {"norms": 4, "qk_norm": "head", "moe_beside_mlp": True},
}

_NESTED_TEXT = ("text_config", "llm_config", "language_config")
# Towers whose generic count was checked against transformers (within 1 % of the whole model); another
# tower is counted the same way, with a warning.
_TOWERS_CHECKED = {
    "siglip_vision_model",
    "pixtral",
    "llama4_vision_model",
    "qwen3_vl_vision",
    "qwen3_vl_moe_vision",
    "qwen3_5_vision",
    "qwen3_5_moe_vision",
    "qwen2_5_vl_vision",
    "clip_vision_model",
    "gemma3n_vision",
    "gemma3n_audio",
    "gemma4_vision",
    "gemma4_audio",
    "glm4v_vision",
    "glm4v_moe_vision",
}
_TOWERS = ("vision_config", "audio_config", "vision_tower_config", "audio_tower_config")
# timm encoders named by a tower's "architecture": parameters counted with timm 1.0.31
# (timm.create_model(name, pretrained=False), sum of parameter numel); the config holds none of their layout.
_TIMM_PARAMETERS = {"mobilenetv5_300m_enc": 294_126_912}

# Every config field this reader reads (also what the defaults table is generated for).
FIELDS_READ = (
    "num_hidden_layers",
    "n_layer",
    "num_layers",
    "n_layers",
    "hidden_size",
    "n_embd",
    "d_model",
    "dim",
    "num_attention_heads",
    "n_head",
    "num_heads",
    "n_heads",
    "num_key_value_heads",
    "num_kv_heads",
    "n_head_kv",
    "multi_query_group_num",
    "multi_query",
    "new_decoder_architecture",
    "parallel_attn",
    "intermediate_size",
    "ffn_hidden_size",
    "n_inner",
    "ffn_dim",
    "intermediate_size_mlp",
    "vocab_size",
    "padded_vocab_size",
    "max_position_embeddings",
    "n_positions",
    "seq_length",
    "max_seq_len",
    "head_dim",
    "attention_head_dim",
    "v_head_dim",
    "hidden_act",
    "hidden_activation",
    "activation_function",
    "mlp_hidden_act",
    "tie_word_embeddings",
    "attention_bias",
    "qkv_bias",
    "mlp_bias",
    "sliding_window",
    "use_sliding_window",
    "max_window_layers",
    "sliding_window_pattern",
    "layer_types",
    "attention_chunk_size",
    "no_rope_layers",
    "no_rope_layer_interval",
    "final_logit_softcapping",
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "moe_num_experts",
    "num_experts_per_tok",
    "num_experts_per_token",
    "num_shared_experts",
    "moe_k",
    "top_k_experts",
    "moe_topk",
    "moe_intermediate_size",
    "n_shared_experts",
    "shared_expert_intermediate_size",
    "moe_shared_expert_intermediate_size",
    "shared_intermediate_size",
    "first_k_dense_replace",
    "moe_layer_freq",
    "mlp_layer_types",
    "decoder_sparse_step",
    "mlp_only_layers",
    "moe_layers",
    "interleave_moe_layer_step",
    "expert_layer_period",
    "expert_layer_offset",
    "attn_layer_period",
    "attn_layer_offset",
    "moe_latent_size",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "index_head_dim",
    "index_n_heads",
    "indexer_types",
    "index_topk_pattern",
    "index_topk_freq",
    "index_skip_topk_offset",
    "attn_layer_indices",
    "conv_L_cache",
    "conv_bias",
    "full_attn_idxs",
    "block_ff_dim",
    "block_auto_adjust_ff_dim",
    "block_ffn_dim_multiplier",
    "block_multiple_of",
    "tie_embedding",
    "linear_num_key_heads",
    "linear_num_value_heads",
    "linear_key_head_dim",
    "linear_value_head_dim",
    "linear_conv_kernel_dim",
    "full_attention_interval",
    "attn_output_gate",
    "linear_attn_config",
    "linear_num_heads",
    "linear_head_dim",
    "mamba_ssm_dtype",
    "mamba_ssm_cache_dtype",
    "hybrid_override_pattern",
    "layers_block_type",
    "hybrid_layer_pattern",
    "ssm_state_size",
    "state_size",
    "mamba_d_state",
    "conv_kernel",
    "mamba_d_conv",
    "d_conv",
    "expand",
    "mamba_expand",
    "mamba_num_heads",
    "mamba_n_heads",
    "mamba_head_dim",
    "mamba_d_head",
    "n_groups",
    "mamba_n_groups",
    "mamba_d_ssm",
    "time_step_rank",
    "mamba_dt_rank",
    "use_conv_bias",
    "mamba_conv_bias",
    "mamba_rms_norm",
    "mamba_proj_bias",
    "use_bias",
    "swa_num_attention_heads",
    "swa_num_key_value_heads",
    "swa_head_dim",
    "swa_v_head_dim",
    "sliding_window_size",
    "global_head_dim",
    "num_global_key_value_heads",
    "attention_k_eq_v",
    "num_kv_shared_layers",
    "vocab_size_per_layer_input",
    "hidden_size_per_layer_input",
    "enable_moe_block",
    "use_double_wide_mlp",
    "block_configs",
    "num_nextn_predict_layers",
    "mtp_num_hidden_layers",
    "quantization_config",
    "expand_ratio",
    "hidden_ratio",
    "altup_num_inputs",
    "laurel_rank",
    "intermediate_size_list",
)

# Fields that only tune numerics, training, tokenisation or serving: harmless to an unknown type.
_NEUTRAL_FIELDS = (
    "architectures",
    "model_type",
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "use_cache",
    "initializer_range",
    "rms_norm_eps",
    "layer_norm_eps",
    "layer_norm_epsilon",
    "norm_eps",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "partial_rotary_factor",
    "attention_dropout",
    "hidden_dropout",
    "dropout",
    "embd_pdrop",
    "resid_pdrop",
    "attn_pdrop",
    "output_router_logits",
    "router_aux_loss_coef",
    "router_jitter_noise",
    "norm_topk_prob",
    "routed_scaling_factor",
    "scoring_func",
    "topk_method",
    "n_group",
    "topk_group",
    "aux_loss_alpha",
    "seq_aux",
    "auto_map",
    "pretraining_tp",
    "rotary_pct",
    "rotary_emb_base",
    "use_parallel_residual",
    "bias",
    "logits_scaling",
    "embedding_multiplier",
    "residual_multiplier",
    "attention_multiplier",
    "query_pre_attn_scalar",
    "attn_logit_softcapping",
    "generation_config",
    "id2label",
    "label2id",
    "tokenizer_class",
    "use_qk_norm",
    "qk_norm",
    "qk_layernorm",
    "rope_interleave",
    "ep_size",
    "moe_router_bias",
    "router_bias",
    "tie_encoder_decoder",
    "is_decoder",
    "is_encoder_decoder",
    "keys_to_ignore_at_inference",
    "num_logits_to_keep",
    "time_step_min",
    "time_step_max",
    "time_step_floor",
    "time_step_limit",
    "chunk_size",
    "residual_in_fp32",
    "rescale_prenorm_residual",
    "use_mamba_kernels",
    "mamba_hidden_act",
    "attn_temperature_tuning",
    "floor_scale",
    "attn_scale",
    "router_dtype",
    "swiglu_limit",
    "rope_type",
    "image_token_index",
    "image_token_id",
    "video_token_id",
    "vision_start_token_id",
    "vision_end_token_id",
    "boi_token_index",
    "eoi_token_index",
    "mm_tokens_per_image",
    "projector_hidden_act",
    "vision_feature_layer",
    "vision_feature_select_strategy",
    "multimodal_projector_bias",
    "spatial_merge_size",
    "attention_value_scale",
    "swa_rope_theta",
    "add_full_attention_sink_bias",
    "add_swa_attention_sink_bias",
    "index_topk",
    "mtp_use_dedicated_embeddings",
    "max_window_layers",
    "use_bidirectional_attention",
    "moe_shared_expert_overlap",
    "experts_per_token",
    # PretrainedConfig's own bookkeeping, written into every config transformers saves
    "chunk_size_feed_forward",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "torchscript",
    "pruned_heads",
    "problem_type",
    "num_labels",
    "finetuning_task",
    "task_specific_params",
    "prefix",
    "sep_token_id",
    "decoder_start_token_id",
    "cross_attention_hidden_size",
    "add_cross_attention",
    "tokenizer_class",
    "use_return_dict",
    "bad_words_ids",
    "begin_suppress_tokens",
    "num_beams",
    "altup_active_idx",
    "altup_coef_clip",
    "altup_correct_scale",
    "activation_sparsity_pattern",
    "per_layer_config",
    "rope_local_base_freq",
    "vision_soft_tokens_per_image",
    "audio_soft_tokens_per_image",
    "use_short_conv",  # HGRN-Bit: false in every released MatMul-free LM
    "use_mambapy",
    "moe_renormalize",
    "num_expert_group",
    "mamba_chunk_size",
    "linear_attn_config",
)

# A field this reader does not read whose name suggests it shapes the layers: a known type's config with one
# gets a warning naming it (the count assumes it changes nothing); an unknown type's is refused.
_STRUCTURAL = re.compile(
    r"expert|layer|head|window|lora|kv|state|conv|block|pattern|moe|mtp|nextn|ssm|mamba|linear|"
    r"chunk|shared|dense|intermediate|hidden|size|dim|rank|group|sparse|index|num_"
)

_GATED_ACTS = {"silu", "swish", "swiglu", "gelu_pytorch_tanh", "geglu", "gelu_new_gated", "relu2_gated"}

# Byte layouts of native checkpoint formats: (bits, block, scale bits) -> bits per weight with scales.
_NATIVE_FORMATS = {
    "mxfp4": (4, 32, 8),  # OCP MX: 4-bit e2m1, one e8m0 scale per 32 values
    "fp8": (8, 0, 32),  # e4m3, one fp32 scale per weight_block_size block (128 x 128)
}


def _load_defaults() -> dict[str, dict[str, Any]]:
    try:
        return json.loads(_DEFAULTS_FILE.read_text())["defaults"]
    except (OSError, ValueError, KeyError):
        return {}


TRANSFORMERS_DEFAULTS = _load_defaults()


# ---------------------------------------------------------------- small helpers


def _num(cfg: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for key in names:
        value = cfg.get(key)
        if value is not None:
            return value
    return default


def _int(cfg: Mapping[str, Any], *names: str, default: Any = None, required: bool = True) -> int:
    value = _num(cfg, *names, default=default)
    if value is None:
        if not required:
            return 0
        raise ConfigError(f"config has no '{names[0]}'" + (f" (or {', '.join(names[1:])})" if names[1:] else ""))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise ConfigError(
            f"config '{names[0]}' must be a positive integer (or 0 where it may be absent), got {value!r}"
        )
    return int(value)


def _positive(cfg: Mapping[str, Any], *names: str, default: Any = None) -> int:
    value = _int(cfg, *names, default=default)
    if value <= 0:
        raise ConfigError(f"config '{names[0]}' must be a positive integer, got {value!r}")
    return value


def _list(cfg: Mapping[str, Any], name: str, n: int) -> list | None:
    value = cfg.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) < n:
        raise ConfigError(f"config '{name}' must be a list of {n} entries (one per layer), got {value!r:.80}")
    return value[:n]


# ---------------------------------------------------------------- layers


# Every token mixer a layer can have; a runtime file's `supports.mixers` names the ones that runtime implements.
MIXER_KINDS = ("full", "window", "mla", "gdn", "kda", "mamba1", "mamba2", "hgrn", "shortconv", "linear", "none")


@dataclass
class Mixer:
    kind: str  # one of MIXER_KINDS
    params: int = 0
    kv_width: int = 0  # K + V values per token (attention)
    mla_latent: int = 0
    mla_full: int = 0
    indexer: int = 0
    conv_state: int = 0
    ssm_state: int = 0
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # LoRA targets: (in, out)
    q_width: int = 0
    out_width: int = 0
    # a token mixer other than attention: the parameters of its 2-D weights (projections), which a
    # quantizer quantizes; the rest (conv kernel, A, D, biases, norms) stays in full precision
    matrices: int = 0
    side_params: int = 0  # of params, a Mamba-2 mixer's beside attention in the same layer (Falcon-H1)


@dataclass
class Ffn:
    kind: str  # dense | moe | linear | none
    dense: int = 0  # parameters of a dense MLP (or of a linear replacement)
    experts: int = 0
    expert_params: int = 0  # one routed expert
    shared: int = 0  # shared experts' parameters
    router: int = 0
    width: int = 0  # intermediate width (dense or one expert)
    shared_width: int = 0


@dataclass
class Reading:
    """What the reader made of a config: the columns, and what it says about them."""

    columns: dict[str, float]
    model_type: str
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    max_positions: int = 0
    mixers: tuple[str, ...] = ()  # the token-mixer kinds of its layers (MIXER_KINDS), for runtime support


def _family(model_type: str) -> dict[str, Any]:
    return KNOWN_TYPES.get(model_type, {})


def _gated(cfg: Mapping[str, Any], fam: Mapping[str, Any], act: str | None = None) -> bool:
    if fam.get("mlp"):
        return fam["mlp"] == "gated"
    act = act or str(_num(cfg, "hidden_act", "hidden_activation", "activation_function", default="silu"))
    return act in _GATED_ACTS or act.startswith("gelu")


def _attention(cfg, fam, hidden: int, heads: int, kv_heads: int, head_dim: int, v_head_dim: int, window: bool) -> Mixer:
    q_out = heads * head_dim * (2 if cfg.get("attn_output_gate", fam.get("q_gate")) else 1)
    shapes = {
        "q": (hidden, q_out),
        "k": (hidden, kv_heads * head_dim),
        "v": (hidden, kv_heads * v_head_dim),
        "o": (heads * v_head_dim, hidden),
    }
    params = sum(i * o for i, o in shapes.values())
    if (
        cfg.get("attention_bias")
        or cfg.get("qkv_bias")
        or fam.get("qkv_bias_default", False)
        or cfg.get("model_type") == "qwen2"
    ):
        params += q_out + kv_heads * (head_dim + v_head_dim) + (hidden if fam.get("o_bias") else 0)
    flag_on = cfg.get(fam.get("qk_norm_flag", ""), fam.get("qk_norm_flag_default", True))
    qk_norm = fam.get("qk_norm") if flag_on is not False else None
    if qk_norm == "head":  # RMSNorm over each head's q and k (Qwen3, Gemma 3)
        params += 2 * head_dim
    elif qk_norm == "full":  # RMSNorm over all of q and all of k (OLMo 2, MiniMax-M2)
        params += (heads + kv_heads) * head_dim
    if fam.get("sinks"):  # one learned attention-sink logit per head (gpt-oss)
        params += heads
    return Mixer(
        "window" if window else "full",
        params,
        kv_width=kv_heads * (head_dim + v_head_dim),
        shapes=shapes,
        q_width=heads * head_dim,
        out_width=heads * v_head_dim,
    )


def _mla(cfg, hidden: int, heads: int, indexer: bool) -> Mixer:
    q_lora = _int(cfg, "q_lora_rank", required=False)
    kv_lora = _positive(cfg, "kv_lora_rank")
    rope = _int(cfg, "qk_rope_head_dim", required=False)
    nope = _int(cfg, "qk_nope_head_dim", required=False)
    v = _int(cfg, "v_head_dim", default=nope)
    qk = nope + rope
    q_params = hidden * q_lora + q_lora + q_lora * heads * qk if q_lora else hidden * heads * qk
    shapes = {
        "q": (hidden, (q_params - q_lora) // hidden if q_lora else heads * qk),
        "k": (hidden, kv_lora + rope),
        "v": (kv_lora, heads * (nope + v)),
        "o": (heads * v, hidden),
    }
    params = q_params + hidden * (kv_lora + rope) + kv_lora + kv_lora * heads * (nope + v) + heads * v * hidden
    index_width = 0
    if indexer:
        ihd, ih = _int(cfg, "index_head_dim", default=128), _int(cfg, "index_n_heads", default=64)
        params += (q_lora or hidden) * ih * ihd + hidden * ihd + 2 * ihd + hidden * ih
        index_width = ihd
    return Mixer(
        "mla",
        params,
        mla_latent=kv_lora + rope,
        mla_full=heads * (qk + v),
        indexer=index_width,
        shapes=shapes,
        q_width=heads * qk,
        out_width=heads * v,
    )


def _gdn(cfg, hidden: int) -> Mixer:
    """Gated DeltaNet (Qwen3-Next, Qwen3.5): qkvz and ba projections, a short causal conv, fp32 state."""
    nk, nv = _positive(cfg, "linear_num_key_heads"), _positive(cfg, "linear_num_value_heads")
    dk, dv = _positive(cfg, "linear_key_head_dim"), _positive(cfg, "linear_value_head_dim")
    kc = _int(cfg, "linear_conv_kernel_dim", default=4)
    key, value = nk * dk, nv * dv
    conv = 2 * key + value
    shapes = {"q": (hidden, 2 * key + 2 * value + 2 * nv), "o": (value, hidden)}
    params = hidden * (2 * key + 2 * value + 2 * nv) + conv * kc + 2 * nv + dv + value * hidden
    return Mixer(
        "gdn",
        params,
        conv_state=conv * kc,
        ssm_state=nv * dk * dv,
        shapes=shapes,
        q_width=conv,
        out_width=value,
        matrices=hidden * (2 * key + 2 * value + 2 * nv) + value * hidden,  # in_proj qkvz and ba, out_proj
    )


def _kda(cfg, hidden: int) -> Mixer:
    """Kimi Delta Attention (Kimi Linear): q/k/v with short convs, low-rank gates, fp32 state."""
    lac = cfg.get("linear_attn_config") or {}
    heads = int(lac.get("num_heads") or _int(cfg, "linear_num_heads", default=32))
    hd = int(lac.get("head_dim") or _int(cfg, "linear_head_dim", default=128))
    kc = int(lac.get("short_conv_kernel_size") or _int(cfg, "linear_conv_kernel_dim", default=4))
    qkv = heads * hd
    shapes = {"q": (hidden, qkv), "k": (hidden, qkv), "v": (hidden, qkv), "o": (qkv, hidden)}
    params = 4 * hidden * qkv + 3 * qkv * kc + 2 * (hidden * hd + hd * qkv) + hidden * heads + qkv + heads + hd
    return Mixer(
        "kda",
        params,
        conv_state=3 * qkv * kc,
        ssm_state=heads * hd * hd,
        shapes=shapes,
        q_width=qkv,
        out_width=qkv,
        matrices=4 * hidden * qkv + 2 * (hidden * hd + hd * qkv) + hidden * heads,  # q, k, v, o, the gates, beta
    )


def _ssm_sizes(cfg, hidden: int) -> tuple[int, int]:
    state = _int(cfg, "ssm_state_size", "mamba_d_state", "state_size", default=128)
    kc = _int(cfg, "conv_kernel", "mamba_d_conv", "d_conv", default=4)
    return state, kc


def _mamba1(cfg, hidden: int) -> Mixer:
    """Mamba (Falcon-Mamba, Jamba): in/out projections, conv, x/dt projections, A and D."""
    state, kc = _ssm_sizes(cfg, hidden)
    # a pure Mamba config states d_inner as intermediate_size (Falcon-Mamba: 8192 with expand 16); Jamba,
    # whose intermediate_size is its MLP's, gives mamba_expand
    if cfg.get("mamba_expand") is not None:
        inner = int(cfg["mamba_expand"] * hidden)
    else:
        inner = _int(cfg, "intermediate_size", required=False) or int(_num(cfg, "expand", default=2) * hidden)
    rank = _num(cfg, "time_step_rank", "mamba_dt_rank", default="auto")
    rank = math.ceil(hidden / 16) if rank == "auto" else int(rank)
    bias = bool(_num(cfg, "use_conv_bias", "mamba_conv_bias", default=True))
    params = (
        hidden * 2 * inner
        + inner * kc
        + bias * inner
        + inner * (rank + 2 * state)
        + rank * inner
        + inner
        + inner * state
        + inner
        + inner * hidden
    )
    if cfg.get("model_type") == "jamba":
        params += rank + 2 * state  # dt, B and C layer norms
    shapes = {"q": (hidden, 2 * inner), "o": (inner, hidden)}
    matrices = hidden * 2 * inner + inner * (rank + 2 * state) + rank * inner + inner * hidden  # in, x, dt, out
    return Mixer(
        "mamba1",
        params,
        conv_state=inner * kc,
        ssm_state=inner * state,
        shapes=shapes,
        q_width=inner,
        out_width=inner,
        matrices=matrices,
    )


def _mamba2(cfg, hidden: int) -> Mixer:
    """Mamba-2 (Nemotron-H, Falcon-H1, Granite 4, Bamba): one in_proj for x, z, B, C, dt."""
    state, kc = _ssm_sizes(cfg, hidden)
    if cfg.get("model_type") == "mamba2":  # a pure Mamba-2 config names its SSM heads plainly
        head_dim, heads = _int(cfg, "head_dim", default=64), _int(cfg, "num_heads", required=False)
    else:
        head_dim = _int(cfg, "mamba_head_dim", "mamba_d_head", default=64)
        heads = _int(cfg, "mamba_num_heads", "mamba_n_heads", required=False)
    inner = _int(cfg, "mamba_d_ssm", required=False) or (
        heads * head_dim if heads else int(_num(cfg, "mamba_expand", "expand", default=2) * hidden)
    )
    heads = heads or inner // head_dim
    groups = _int(cfg, "n_groups", "mamba_n_groups", default=1)
    conv = inner + 2 * groups * state
    bias = bool(_num(cfg, "use_conv_bias", "mamba_conv_bias", default=True))
    # the gated RMSNorm over the inner width before out_proj; Falcon-H1 has it only with mamba_rms_norm
    fam = _family(str(cfg.get("model_type") or ""))
    gated_norm = bool(cfg.get(fam.get("ssm_norm_flag", ""), fam.get("ssm_norm_default", True)))
    params = (
        hidden * (2 * inner + 2 * groups * state + heads)
        + conv * kc
        + bias * conv
        + 3 * heads
        + gated_norm * inner
        + inner * hidden
    )
    if _num(cfg, "mamba_proj_bias", default=False):
        params += 2 * inner + 2 * groups * state + heads + hidden
    shapes = {"q": (hidden, 2 * inner + 2 * groups * state + heads), "o": (inner, hidden)}
    return Mixer(
        "mamba2",
        params,
        conv_state=conv * kc,
        ssm_state=heads * head_dim * state,
        shapes=shapes,
        q_width=inner,
        out_width=inner,
        matrices=hidden * (2 * inner + 2 * groups * state + heads) + inner * hidden,  # in_proj, out_proj
    )


def _hgrn(cfg, hidden: int) -> Mixer:
    """HGRN-Bit (MatMul-free LM): ternary i/f/g/o projections, a fp32 hidden state per layer."""
    inner = int(hidden * float(cfg.get("expand_ratio") or 1))
    shapes = {"q": (hidden, inner), "k": (hidden, inner), "v": (hidden, inner), "o": (inner, hidden)}
    return Mixer(
        "hgrn",
        sum(i * o for i, o in shapes.values()),
        ssm_state=hidden,
        shapes=shapes,
        q_width=hidden,
        out_width=hidden,
        matrices=sum(i * o for i, o in shapes.values()),
    )


def _shortconv(cfg, hidden: int) -> Mixer:
    """LFM2's gated short convolution: in_proj to B, C, x; a depthwise conv of conv_L_cache taps; out_proj."""
    taps = _int(cfg, "conv_L_cache", default=3)
    bias = bool(cfg.get("conv_bias"))
    shapes = {"q": (hidden, 3 * hidden), "o": (hidden, hidden)}
    params = 4 * hidden * hidden + hidden * taps + bias * (3 * hidden + hidden + hidden)
    return Mixer(
        "shortconv",
        params,
        conv_state=hidden * taps,
        shapes=shapes,
        q_width=hidden,
        out_width=hidden,
        matrices=4 * hidden * hidden,  # in_proj (B, C, x), out_proj
    )


def _linear_mixer(kind: str, cfg, hidden: int) -> Mixer:
    readers = {"gdn": _gdn, "kda": _kda, "mamba1": _mamba1, "mamba2": _mamba2, "hgrn": _hgrn, "shortconv": _shortconv}
    if kind not in readers:
        raise ConfigError(
            f"config has linear-attention/SSM layers but its model_type '{cfg.get('model_type')}' does not say which kind"
        )
    return readers[kind](cfg, hidden)


# ------------------------------------------------------------------ layer plan


def _mixer_kinds(cfg, fam, n: int) -> list[str]:
    """One token-mixer kind per layer: full | window | chunked | linear | none (and 'nas:...')."""
    pattern = cfg.get("hybrid_override_pattern")
    blocks = cfg.get("layers_block_type")
    if fam.get("blocks") and (pattern or blocks or isinstance(cfg.get("layer_types"), list)):
        if isinstance(pattern, str):
            kinds = {"M": "linear", "*": "full", "-": "none", "E": "none"}
            if set(pattern) - set(kinds):
                raise ConfigError(
                    f"hybrid_override_pattern has unknown block letters {sorted(set(pattern) - set(kinds))}"
                )
            return [kinds[ch] for ch in pattern]
        seq = blocks if isinstance(blocks, list) else cfg["layer_types"]
        names = {
            "mamba": "linear",
            "linear_attention": "linear",
            "attention": "full",
            "full_attention": "full",
            "mlp": "none",
            "moe": "none",
        }
        return [names.get(str(t), "unknown:" + str(t)) for t in seq]
    layer_types = _list(cfg, "layer_types", n)
    if layer_types is not None:
        names = {
            "full_attention": "full",
            "attention": "full",
            "global": "full",
            "sliding_attention": "window",
            "sliding": "window",
            "chunked_attention": "chunked",
            "linear_attention": "linear",
            "mamba": "linear",
            "indexed_attention": "full",
            "hgrn": "linear",
            "conv": "linear",
        }
        return [names.get(str(t), "unknown:" + str(t)) for t in layer_types]
    if fam.get("linear") == "shortconv":  # LFM2: attention at full_attn_idxs, short convolutions elsewhere
        listed = cfg.get("full_attn_idxs")
        listed = set(range(n)) if listed is None else set(listed)
        return ["full" if i in listed else "linear" for i in range(n)]
    if "attn_layer_indices" in cfg and fam.get("linear") in ("mamba1", "mamba2"):  # Bamba: attention where listed
        listed = set(cfg.get("attn_layer_indices") or ())
        return ["full" if i in listed else "linear" for i in range(n)]
    hybrid = _list(cfg, "hybrid_layer_pattern", n)
    if hybrid is not None:
        return ["window" if int(x) else "full" for x in hybrid]
    if fam.get("linear") == "hgrn":
        return ["linear"] * n
    if "attn_layer_period" in cfg and fam.get("linear") == "mamba1":
        period, offset = _int(cfg, "attn_layer_period", default=8), _int(cfg, "attn_layer_offset", default=4)
        return ["full" if i % period == offset else "linear" for i in range(n)]
    if (
        fam.get("linear") in ("mamba1", "mamba2")
        and not fam.get("parallel")
        and "num_attention_heads" not in cfg
        and cfg.get("model_type") in ("mamba", "falcon_mamba", "mamba2")
    ):
        return ["linear"] * n
    if fam.get("linear") in ("mamba1", "mamba2") and cfg.get("model_type") in ("mamba", "falcon_mamba", "mamba2"):
        return ["linear"] * n
    if fam.get("linear") == "kda":
        lac = cfg.get("linear_attn_config") or {}
        full = set(lac.get("full_attn_layers") or [])
        if full:
            return ["full" if i + 1 in full else "linear" for i in range(n)]
        return ["full" if i and i % 4 == 0 else "linear" for i in range(n)]
    interval = cfg.get("full_attention_interval")
    if interval or fam.get("linear") == "gdn":
        interval = int(interval or 4)
        return ["full" if (i + 1) % interval == 0 else "linear" for i in range(n)]
    if (
        cfg.get("attention_chunk_size")
        and cfg.get("no_rope_layers") is not None
        or (cfg.get("attention_chunk_size") and fam.get("shared_width"))
    ):
        no_rope = cfg.get("no_rope_layers") or [
            int((i + 1) % int(cfg.get("no_rope_layer_interval") or 4) != 0) for i in range(n)
        ]
        return ["chunked" if r else "full" for r in no_rope[:n]]
    default_pattern = cfg.get("_layer_pattern")
    if (
        default_pattern
        and (cfg.get("sliding_window") or cfg.get("attention_chunk_size"))
        and cfg.get("use_sliding_window") is not False
    ):
        names = {
            "full_attention": "full",
            "sliding_attention": "window",
            "chunked_attention": "chunked",
            "linear_attention": "linear",
        }
        return [
            names.get(default_pattern[i % len(default_pattern)], "unknown:" + default_pattern[i % len(default_pattern)])
            for i in range(n)
        ]
    if fam.get("mimo_default"):
        return ["full" if (i == 0 or (i + 1) % 6 == 0) else "window" for i in range(n)]
    window = cfg.get("sliding_window")
    if not window or cfg.get("use_sliding_window") is False:
        return ["full"] * n
    pattern = cfg.get("sliding_window_pattern")
    if pattern:
        p = int(pattern)
        return ["full" if (i + 1) % p == 0 else "window" for i in range(n)]
    if fam.get("alternate") == "sliding_first":
        return ["window" if i % 2 == 0 else "full" for i in range(n)]
    first_window = cfg.get("max_window_layers") if cfg.get("use_sliding_window") else None
    if first_window is not None:
        return ["window" if i >= int(first_window) else "full" for i in range(n)]
    return ["window"] * n


def _ffn_kinds(cfg, fam, n: int, experts: int) -> list[str]:
    """One FFN kind per layer: dense | moe | none."""
    pattern = cfg.get("hybrid_override_pattern")
    if fam.get("blocks"):
        if isinstance(pattern, str):
            return ["moe" if ch == "E" else "dense" if ch == "-" else "none" for ch in pattern]
        seq = (
            cfg.get("layers_block_type")
            if isinstance(cfg.get("layers_block_type"), list)
            else cfg.get("layer_types") or []
        )
        return ["moe" if t == "moe" else "dense" if t == "mlp" else "none" for t in seq]
    if cfg.get("model_type") in ("mamba", "falcon_mamba", "mamba2"):
        return ["none"] * n
    mlp_types = _list(cfg, "mlp_layer_types", n)
    if mlp_types is not None:
        return ["moe" if t in ("sparse", "moe") else "dense" for t in mlp_types]
    if not experts:
        return ["dense"] * n
    freq = cfg.get("moe_layer_freq")
    if isinstance(freq, list):
        return ["moe" if int(x) else "dense" for x in freq[:n]]
    if cfg.get("moe_layers") is not None:
        moe = set(cfg["moe_layers"])
        return ["moe" if i in moe else "dense" for i in range(n)]
    if fam.get("shared_width"):  # Llama 4
        step = int(cfg.get("interleave_moe_layer_step") or 1)
        return ["moe" if (i + 1) % step == 0 else "dense" for i in range(n)]
    if "expert_layer_period" in cfg:
        period, offset = _int(cfg, "expert_layer_period", default=2), _int(cfg, "expert_layer_offset", default=1)
        return ["moe" if i % period == offset else "dense" for i in range(n)]
    first_dense = _int(cfg, "first_k_dense_replace", default=fam.get("first_dense", 0))
    step = int(freq or 1) if not isinstance(freq, list) else 1
    sparse_step = int(cfg.get("decoder_sparse_step") or 1)
    only_mlp = set(cfg.get("mlp_only_layers") or [])
    return [
        "moe" if i >= first_dense and i % step == 0 and (i + 1) % sparse_step == 0 and i not in only_mlp else "dense"
        for i in range(n)
    ]


def _nas_layers(cfg, hidden: int, heads: int, head_dim: int, gated: bool) -> list[tuple[Mixer, Ffn]]:
    """NAS blocks (DeciLM / Llama-Nemotron): per-layer KV groups, FFN multipliers, no-ops and linear stand-ins."""
    out = []
    for i, block in enumerate(cfg["block_configs"]):
        if not isinstance(block, Mapping):
            raise ConfigError(f"block_configs[{i}] must be an object")
        att, ffn = block.get("attention") or {}, block.get("ffn") or {}
        if att.get("no_op"):
            mixer = Mixer("none")
        elif att.get("replace_with_linear"):
            mixer = Mixer("linear", hidden * hidden, shapes={"o": (hidden, hidden)})
        else:
            group = int(att.get("n_heads_in_group") or 1)
            mixer = _attention(cfg, {}, hidden, heads, heads // group, head_dim, head_dim, False)
        if ffn.get("no_op"):
            f = Ffn("none")
        elif ffn.get("replace_with_linear"):
            f = Ffn("linear", dense=hidden * hidden)
        else:
            width = int(ffn.get("intermediate_size") or 0) or _nas_intermediate(
                float(ffn.get("ffn_mult") or 1.0), hidden
            )
            f = Ffn("dense", dense=(3 if gated else 2) * hidden * width, width=width)
        out.append((mixer, f))
    return out


def _layer_override(cfg: Mapping[str, Any], i: int) -> Mapping[str, Any]:
    """transformers' per_layer_config (Gemma 4): a layer's own values, keyed by its zero-padded index."""
    table = cfg.get("per_layer_config")
    if not isinstance(table, Mapping):
        return {}
    value = table.get(f"{i:02d}") or table.get(str(i))
    return value if isinstance(value, Mapping) else {}


def _nas_intermediate(ffn_mult: float, hidden: int) -> int:
    # DeciLM's _ffn_mult_to_intermediate_size: 2/3 of mult x hidden, rounded up to a multiple of 256.
    size = int(2 * ffn_mult * hidden / 3)
    return 256 * math.ceil(size / 256)


# ------------------------------------------------------------------ towers


def tower_parameters(tower: Mapping[str, Any], text_hidden: int, projector_norm: bool = False) -> int:
    """A vision or audio encoder (ViT / conformer-like) and its projector into the text model.

    One count for every tower: layers x (attention 4h^2 + MLP) + patch and position embeddings +
    a projector (a merger MLP when the tower merges patches). It is a small share of the model
    (0.4-0.9 B of 4-400 B), so its approximations stay far inside the parameter tolerance.
    """
    h = int(_num(tower, "hidden_size", "embed_dim", "width", "d_model", default=0) or 0)
    timm = tower.get("architecture")
    if timm:  # a timm encoder (Gemma 3n's mobilenetv5_300m_enc): its layout is timm's, not in the config
        if timm not in _TIMM_PARAMETERS:
            raise ConfigError(f"vision tower {timm!r} is a timm model this reader has no parameter count for")
        return _TIMM_PARAMETERS[timm] + _multimodal_embedder(tower, h, text_hidden)
    layers = int(
        _num(tower, "num_hidden_layers", "depth", "num_layers", "encoder_layers", "conf_num_hidden_layers", default=0)
        or 0
    )
    if not h or not layers:
        return 0
    if tower.get("conf_num_hidden_layers") or tower.get("subsampling_conv_channels"):  # Gemma 3n / 4 audio
        out = int(_num(tower, "output_proj_dims", default=0) or 0)
        output_proj = h * out + out if out else 0  # Gemma 4: a biased projection out of the Conformer
        return _conformer(tower, h, layers) + output_proj + _multimodal_embedder(tower, out or h, text_hidden)
    if tower.get("model_type") in ("glm4v_vision", "glm4v_moe_vision"):
        return _glm4v_tower(tower, h, layers, text_hidden)
    if tower.get("model_type") == "gemma4_vision":
        return _gemma4_vision_tower(tower, h, layers) + _multimodal_embedder(tower, h, text_hidden)
    inter = int(_num(tower, "intermediate_size", "mlp_dim", "encoder_ffn_dim", default=4 * h))
    act = str(_num(tower, "hidden_act", "hidden_activation", default="gelu"))
    matrices = 3 if act in ("silu", "swiglu") else 2
    per_layer = 4 * h * h + 4 * h + matrices * h * inter + inter + h + 4 * h
    patch = int(_num(tower, "patch_size", default=14) or 14)
    channels = int(_num(tower, "num_channels", "in_channels", "in_chans", default=3))
    temporal = int(_num(tower, "temporal_patch_size", default=1) or 1)
    image = int(_num(tower, "image_size", default=0) or 0)
    positions = int(_num(tower, "num_position_embeddings", default=(image // patch) ** 2 if image else 0))
    embed = channels * patch * patch * temporal * h + h + positions * h
    out = int(_num(tower, "out_hidden_size", "projector_output_dim", "output_dim", default=text_hidden))
    merge = int(_num(tower, "spatial_merge_size", default=1) or 1)
    if merge > 1:
        merged = merge * merge * h
        projector = merged * merged + merged + merged * out + out
    else:
        projector = h * out
    if out != text_hidden:
        projector += out * text_hidden
    if projector_norm:  # Gemma 3: an RMSNorm over the tower's output before the projection
        projector += h
    return layers * per_layer + embed + projector + 2 * h


def _multimodal_embedder(tower: Mapping[str, Any], h: int, text_hidden: int) -> int:
    """The projection of a tower's output (width h) into the text model. Gemma 3n's Gemma3nMultimodalEmbedder
    also has a hard-token embedding (the tower's vocab_size rows) and the hard and soft embedding norms;
    Gemma 4's Gemma4MultimodalEmbedder is the projection alone (its norm has no scale)."""
    vocab = int(_num(tower, "vocab_size", default=0) or 0)
    return (vocab * h + 2 * h if vocab else 0) + h * text_hidden


def _gemma4_vision_tower(tower: Mapping[str, Any], h: int, layers: int) -> int:
    """Gemma 4's ViT (transformers' Gemma4VisionModel): a patch projection (3 x patch^2 -> h, no bias), a
    two-axis position table (2 x position_embedding_size x h), and per layer q, k, v, o (no biases), per-head
    q/k norms, a gated MLP (gate, up, down) and four norms."""
    inter = int(_num(tower, "intermediate_size", default=4 * h))
    heads = int(_num(tower, "num_attention_heads", default=1) or 1)
    head_dim = int(_num(tower, "head_dim", default=h // heads) or h // heads)
    kv_heads = int(_num(tower, "num_key_value_heads", default=heads) or heads)
    patch = int(_num(tower, "patch_size", default=16) or 16)
    positions = int(_num(tower, "position_embedding_size", default=0) or 0)
    attention = 2 * h * heads * head_dim + 2 * h * kv_heads * head_dim + 2 * head_dim
    per_layer = attention + 3 * h * inter + 4 * h
    return layers * per_layer + 3 * patch * patch * h + 2 * positions * h


def _conformer(tower: Mapping[str, Any], h: int, layers: int) -> int:
    """Gemma 3n's and Gemma 4's audio encoders (Gemma3nAudioEncoder, Gemma4AudioModel): a two-convolution subsampler and
    Conformer blocks. Per block: two half-step FFNs (4h wide: 2 x 8h^2), attention (q, k, v, post and the
    relative position projection: 5h^2, a per-dim scale of head_dim), the light convolution (linear_start
    2h^2, linear_end h^2, a depthwise kernel of conf_conv_kernel_size taps), and 9 norms of h."""
    heads = int(_num(tower, "conf_num_attention_heads", "num_attention_heads", default=8) or 8)
    kernel = int(_num(tower, "conf_conv_kernel_size", "conv_kernel_size", default=5) or 5)
    per_block = 24 * h * h + 9 * h + kernel * h + h // heads
    channels = [
        int(c) for c in tower.get("sscp_conv_channel_size") or tower.get("subsampling_conv_channels") or [128, 32]
    ]
    kernels = tower.get("sscp_conv_kernel_size") or [[3, 3]] * len(channels)
    strides = tower.get("sscp_conv_stride_size") or [[2, 2]] * len(channels)
    subsample, c_in = 0, 1
    freq = int(_num(tower, "input_feat_size", default=128) or 128)
    for c_out, (kt, kf), (_st, sf) in zip(channels, kernels, strides):
        subsample += c_in * c_out * int(kt) * int(kf) + c_out  # the convolution and its norm
        c_in, freq = c_out, -(-freq // int(sf))
    subsample += c_in * freq * h  # input_proj_linear from the flattened channels x frequencies
    return layers * per_block + subsample


def _glm4v_tower(tower: Mapping[str, Any], h: int, layers: int, text_hidden: int) -> int:
    """GLM-4.xV's ViT: gated MLPs as wide as its output (out_hidden_size), a strided-conv downsample and a
    gated merger of intermediate_size (transformers' Glm4vVisionModel)."""
    out = int(_num(tower, "out_hidden_size", default=text_hidden))
    inter = int(_num(tower, "intermediate_size", default=4 * out))
    merge = int(_num(tower, "spatial_merge_size", default=2) or 2)
    patch = int(_num(tower, "patch_size", default=14) or 14)
    image = int(_num(tower, "image_size", default=336) or 336)
    temporal = int(_num(tower, "temporal_patch_size", default=2) or 2)
    channels = int(_num(tower, "in_channels", "num_channels", default=3))
    per_layer = 3 * h * h + h * h + 3 * h * out + 2 * h
    embed = channels * temporal * patch * patch * h + h + (image // patch) ** 2 * h
    downsample = h * out * merge * merge + out
    merger = out * out + 2 * out + 3 * out * inter
    return layers * per_layer + embed + downsample + merger + 2 * h


# ------------------------------------------------------------------ quantization


def native_bits(qc: Mapping[str, Any] | None) -> tuple[float, float, str]:
    """(bits per weight of the non-expert linears, of the experts, a note) as the checkpoint stores them."""
    if not qc:
        return 16.0, 16.0, ""
    method = str(qc.get("quant_method") or "").lower()
    if method == "mxfp4":
        bits, block, scale = _NATIVE_FORMATS["mxfp4"]
        return (
            16.0,
            bits + scale / block,
            "experts stored as MXFP4 (4.25 bits per weight), other weights bf16: --quant mxfp4 estimates it as published",
        )
    if method == "fp8" or qc.get("fmt") == "e4m3" or "float8" in str(qc.get("activation_scheme", "")):
        block = qc.get("weight_block_size") or [128, 128]
        per = 32 / (int(block[0]) * int(block[1])) if isinstance(block, list) and len(block) == 2 else 0.0
        return (
            8 + per,
            8 + per,
            f"FP8 e4m3 weights with one fp32 scale per {block[0]}x{block[1]} block: --quant fp8-block estimates it as published",
        )
    bits = qc.get("bits") or qc.get("w_bit")
    if bits:
        group = int(qc.get("group_size") or qc.get("q_group_size") or 128)
        b = float(bits) + (16 + float(bits)) / max(group, 1)  # fp16 scale and packed zero per group
        return b, b, f"{method or 'int'}{bits} weights, groups of {group}"
    return 16.0, 16.0, f"quantization_config '{method}' not modelled: weights counted at 16 bits"


# ------------------------------------------------------------------ the reader


def _text_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[Mapping[str, Any]], str]:
    """(the language model's config with defaults filled in, the towers, the outer model_type)."""
    outer = str(config.get("model_type") or "")
    text: Mapping[str, Any] = config
    for key in _NESTED_TEXT:
        if isinstance(config.get(key), Mapping):
            text = config[key]
            break
    towers = [config[k] for k in _TOWERS if isinstance(config.get(k), Mapping)]
    text_type = str(text.get("model_type") or _family(outer).get("text") or outer) if text is not config else outer
    if text is not config and not text.get("model_type") and _family(outer).get("text"):
        text_type = _family(outer)["text"]
    merged: dict[str, Any] = dict(TRANSFORMERS_DEFAULTS.get(text_type, {}))
    for key in ("vocab_size", "quantization_config"):
        if text is not config and config.get(key) is not None:
            merged[key] = config[key]
    merged.update(text)
    merged["model_type"] = text_type
    # transformers ties by the outer config's flag; a config that states none falls back to the text model's
    if text is not config and config.get("tie_word_embeddings") is not None:
        merged["tie_word_embeddings"] = config["tie_word_embeddings"]
    return merged, towers, outer


def _unknown_fields(config: Mapping[str, Any]) -> list[str]:
    understood = set(FIELDS_READ) | set(_NEUTRAL_FIELDS) | set(_NESTED_TEXT) | set(_TOWERS)
    return sorted(k for k in config if k not in understood and not k.startswith("_"))


def read(config: Mapping[str, Any], parameters: int | None = None) -> Reading:
    """Read a config.json (see the module docstring); ``parameters`` fixes the total when known exactly."""
    if not isinstance(config, Mapping):
        raise ConfigError("config must be a JSON object")
    cfg, towers, outer = _text_config(config)
    model_type = str(cfg.get("model_type") or "")
    warnings: list[str] = []
    notes: list[str] = []
    if model_type not in KNOWN_TYPES and outer not in KNOWN_TYPES:
        unknown = _unknown_fields(cfg)
        if unknown:
            raise ConfigError(
                f"model_type '{model_type or '(none)'}' is not one this reader knows, and it cannot account for "
                f"the fields {', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''}"
            )
        warnings.append(
            f"model_type '{model_type or '(none)'}' is not one this reader knows; every field is one it reads, "
            "so it is counted as a standard decoder of those fields"
        )
    fam = _family(model_type)
    if fam.get("approx"):
        warnings.append(fam["approx"])
    elif model_type in KNOWN_TYPES:
        understood = set(FIELDS_READ) | set(_NEUTRAL_FIELDS) | set(_NESTED_TEXT) | set(_TOWERS)
        unread = sorted(k for k in cfg if k not in understood and not k.startswith("_") and _STRUCTURAL.search(k))
        if unread:
            warnings.append(
                f"fields not read: {', '.join(unread[:6])}{' ...' if len(unread) > 6 else ''} (counted as if they changed no layer's shape)"
            )

    hidden = _positive(cfg, "hidden_size", "n_embd", "d_model", "dim")
    vocab = _positive(cfg, "vocab_size", "padded_vocab_size")
    nas = isinstance(cfg.get("block_configs"), list)
    n = len(cfg["block_configs"]) if nas else None
    if fam.get("blocks") and isinstance(cfg.get("hybrid_override_pattern"), str):
        n = len(cfg["hybrid_override_pattern"])
    elif fam.get("blocks") and isinstance(cfg.get("layers_block_type"), list):
        n = len(cfg["layers_block_type"])
    if n is None:
        n = _positive(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    pure_ssm = model_type in ("mamba", "falcon_mamba", "mamba2") or fam.get("linear") == "hgrn"
    if pure_ssm:
        heads = int(_num(cfg, "num_attention_heads", "num_heads", default=1) or 1)
        kv_heads, head_dim = 0, 0
    else:
        heads = _positive(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads")
        kv_heads = _int(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num", default=heads)
        if cfg.get("multi_query") and not cfg.get("new_decoder_architecture"):
            kv_heads = 1
        if kv_heads > heads:
            raise ConfigError(f"num_key_value_heads ({kv_heads}) exceeds num_attention_heads ({heads})")
        head_dim = _int(cfg, "head_dim", "attention_head_dim", default=0) or hidden // heads
    v_head_dim = _int(cfg, "v_head_dim", default=head_dim) if not cfg.get("kv_lora_rank") else head_dim
    gated = _gated(cfg, fam, str(_num(cfg, "mlp_hidden_act", default="")) or None)
    matrices = 3 if gated else 2
    widths = cfg.get("intermediate_size") if isinstance(cfg.get("intermediate_size"), list) else None
    if widths is not None:  # Gemma 3n: one width per layer
        if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ConfigError("config 'intermediate_size' list must hold one positive integer per layer")
        intermediate = max(widths)
    else:
        intermediate = _int(
            cfg, "intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", default=4 * hidden, required=False
        )
    if fam.get("qwen_v1"):
        intermediate //= 2  # Qwen (v1) counts both gated branches in intermediate_size
    if fam.get("linear") == "hgrn" and not cfg.get("intermediate_size"):
        ratio = cfg.get("hidden_ratio") or 4
        intermediate = 256 * math.ceil(int(hidden * ratio * 2 / 3) / 256)
    if fam.get("ff_auto_adjust"):  # LFM2: intermediate (block_ff_dim) x 2/3 x multiplier, to a multiple of 256
        intermediate = _int(cfg, "block_ff_dim", default=intermediate)
        if cfg.get("block_auto_adjust_ff_dim", True):
            intermediate = int(2 * intermediate / 3)
            if cfg.get("block_ffn_dim_multiplier") is not None:
                intermediate = int(float(cfg["block_ffn_dim_multiplier"]) * intermediate)
            step = _int(cfg, "block_multiple_of", default=256)
            intermediate = step * ((intermediate + step - 1) // step)
    dense_width = _int(cfg, "intermediate_size_mlp", default=intermediate) if fam.get("shared_width") else intermediate

    experts = _int(cfg, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts", required=False)
    if cfg.get("enable_moe_block") is False:
        experts = 0
    active = _int(
        cfg,
        "num_experts_per_tok",
        "num_experts_per_token",
        "moe_k",
        "top_k_experts",
        "moe_topk",
        "experts_per_token",
        default=2 if experts else 0,
    )
    expert_width = _int(cfg, "moe_intermediate_size", default=intermediate) if experts else 0
    shared_total = _int(
        cfg,
        "shared_expert_intermediate_size",
        "moe_shared_expert_intermediate_size",
        "shared_intermediate_size",
        required=False,
    )
    n_shared = _int(cfg, "n_shared_experts", "num_shared_experts", required=False)
    if fam.get("shared_width") and experts:
        shared_total = shared_total or intermediate
    elif not shared_total and n_shared and experts:
        shared_total = n_shared * expert_width
    latent = _int(cfg, "moe_latent_size", required=False)

    # ----- layers
    if nas:
        layers = _nas_layers(cfg, hidden, heads, head_dim, gated)
    else:
        mixer_kinds = _mixer_kinds(cfg, fam, n)
        bad = sorted({k.split(":", 1)[1] for k in mixer_kinds if k.startswith("unknown:")})
        if bad:
            raise ConfigError(f"layer_types has kinds this reader does not know: {', '.join(bad)}")
        ffn_kinds = _ffn_kinds(cfg, fam, n, experts)
        if len(mixer_kinds) != n or len(ffn_kinds) != n:
            raise ConfigError(f"the layer pattern has {len(mixer_kinds)} entries for {n} layers")
        window = int(_num(cfg, "sliding_window", "sliding_window_size", default=0) or 0)
        if cfg.get("sliding_window_size") and not cfg.get("sliding_window"):
            window += 1  # MiMo: the window plus the query token (transformers' conversion)
        indexer_types = cfg.get("indexer_types")
        if indexer_types is None and cfg.get("index_topk_pattern"):
            indexer_types = [{"F": "full", "S": "shared"}.get(c, c) for c in cfg["index_topk_pattern"]]
        has_indexer = bool(cfg.get("index_head_dim")) and (
            model_type in ("deepseek_v32", "glm_moe_dsa") or "index_topk" in cfg
        )
        kv_shared_from = n - _int(cfg, "num_kv_shared_layers", required=False)
        layers = []
        for i, (mk, fk) in enumerate(zip(mixer_kinds, ffn_kinds)):
            if mk == "none":
                mixer = Mixer("none")
            elif mk == "linear":
                mixer = _linear_mixer(fam.get("linear", ""), cfg, hidden)
            elif cfg.get("kv_lora_rank"):
                indexed = has_indexer and (indexer_types is None or str(indexer_types[i]) == "full")
                mixer = _mla(cfg, hidden, heads, indexed)
            elif mk == "window" and (cfg.get("swa_num_key_value_heads") or fam.get("swa_kv_mult")):
                mixer = _attention(
                    cfg,
                    fam,
                    hidden,
                    _int(cfg, "swa_num_attention_heads", default=heads),
                    _int(cfg, "swa_num_key_value_heads", default=kv_heads * int(fam.get("swa_kv_mult") or 1)),
                    _int(cfg, "swa_head_dim", default=head_dim),
                    _int(cfg, "swa_v_head_dim", default=v_head_dim),
                    True,
                )
            elif mk == "full" and (
                cfg.get("global_head_dim") or _layer_override(cfg, i).get("head_dim")
            ):  # Gemma 4: wider global layers
                ghd = int(_layer_override(cfg, i).get("head_dim") or _int(cfg, "global_head_dim"))
                gkv = _int(cfg, "num_global_key_value_heads", default=kv_heads)
                mixer = _attention(cfg, fam, hidden, heads, gkv, ghd, ghd, False)
                if cfg.get("attention_k_eq_v"):  # values are the (normed) keys: no v_proj, but both are cached
                    mixer.params -= hidden * gkv * ghd
                    mixer.shapes.pop("v", None)
            else:
                mixer = _attention(cfg, fam, hidden, heads, kv_heads, head_dim, v_head_dim, mk in ("window", "chunked"))
            if mixer.kind in ("full", "window") and i >= kv_shared_from:
                # Gemma 3n / 4: the last layers reuse an earlier layer's keys and values: no cache, no k/v
                # projections and no k_norm (transformers' Gemma3nTextAttention builds them only when
                # not is_kv_shared_layer)
                mixer.kv_width = 0
                for name in ("k", "v"):
                    inp, out = mixer.shapes.pop(name, (0, 0))
                    mixer.params -= inp * out
                if fam.get("qk_norm") == "head" and heads:
                    mixer.params -= mixer.q_width // heads
            if fam.get("parallel"):  # Falcon-H1: attention and Mamba-2 side by side
                ssm = _mamba2(cfg, hidden)
                mixer.params += ssm.params
                mixer.conv_state, mixer.ssm_state = ssm.conv_state, ssm.ssm_state
                mixer.matrices, mixer.side_params = ssm.matrices, ssm.params
            if fk == "none":
                ffn = Ffn("none")
            elif fk == "dense":
                width = dense_width
                if width <= 0:
                    raise ConfigError(
                        f"config 'intermediate_size' must be a positive integer for its dense MLP layers, got {width!r}"
                    )
                if widths is not None:
                    width = int(widths[min(i, len(widths) - 1)])
                if cfg.get("use_double_wide_mlp") and i >= kv_shared_from:
                    width *= 2
                ffn = Ffn("dense", dense=matrices * hidden * width, width=width)
                if fam.get("linear") == "mamba2" and model_type == "granitemoehybrid" and shared_total:
                    ffn = Ffn("dense", dense=matrices * hidden * shared_total, width=shared_total)
            else:
                per_expert = matrices * (latent or hidden) * expert_width
                if fam.get("expert_bias"):
                    per_expert += (matrices - 1) * expert_width + hidden
                shared = matrices * hidden * shared_total
                if (
                    cfg.get("shared_expert_intermediate_size")
                    and model_type not in ("qwen3_5_moe_text",)
                    and fam.get("linear") != "mamba2"
                ):
                    shared += hidden  # shared_expert_gate
                elif model_type == "qwen3_5_moe_text":
                    shared += hidden
                router = hidden * experts + (
                    # the router's per-expert bias: gpt-oss's linear bias, or the e_score_correction_bias of
                    # DeepSeek-V3's noaux_tc routing (and GLM-4.5's, which has it without naming topk_method)
                    experts
                    if fam.get("expert_bias") or fam.get("router_score_bias") or cfg.get("topk_method") == "noaux_tc"
                    else 0
                )
                if latent:
                    router += 2 * hidden * latent
                shared_width = shared_total
                if fam.get("moe_beside_mlp"):  # Gemma 4: the MoE block runs beside the layer's dense MLP
                    shared += matrices * hidden * dense_width
                    shared_width += dense_width
                    # Gemma4TextRouter's scale (hidden) and per_expert_scale (experts), and the MoE branch's
                    # three norms (pre_feedforward_layernorm_2, post_feedforward_layernorm_1 and _2)
                    router += hidden + experts + 3 * hidden
                ffn = Ffn(
                    "moe",
                    experts=experts,
                    expert_params=per_expert,
                    shared=shared,
                    router=router,
                    width=expert_width,
                    shared_width=shared_width,
                )
            layers.append((mixer, ffn))

    # ----- sums
    norms_per_layer = int(fam.get("norms", 2))
    shared_norm = fam.get("shared_norm_when")  # Falcon: parallel attention and MLP read one input_layernorm
    if shared_norm and all(bool(cfg.get(key, False)) == want for key, want in shared_norm.items()):
        norms_per_layer = 1
    sum_mixer = sum(m.params for m, _ in layers)
    dense_params = sum(f.dense for _, f in layers)
    expert_params = sum(f.experts * f.expert_params for _, f in layers)
    active_expert_params = sum(min(active, f.experts) * f.expert_params for _, f in layers)
    shared_params = sum(f.shared for _, f in layers)
    router_params = sum(f.router for _, f in layers)
    blocks_with_norm = sum(bool(m.kind != "none") + bool(f.kind != "none") for m, f in layers)
    norms = (blocks_with_norm * hidden * norms_per_layer // 2 + hidden) * (2 if fam.get("norm_bias") else 1)
    if fam.get("sub_norms"):  # BitNet: attn_sub_norm (hidden) before o_proj, ffn_sub_norm (MLP width) before down_proj
        norms += sum((m.kind != "none") * hidden + (f.kind == "dense") * f.width for m, f in layers)
    tie_default = TRANSFORMERS_DEFAULTS.get(model_type, {}).get(
        "tie_word_embeddings", model_type in ("gemma", "gemma2", "gemma3_text", "falcon", "cohere", "cohere2", "bitnet")
    )
    tied = bool(_num(cfg, "tie_word_embeddings", "tie_embedding", default=tie_default))
    embed = vocab * hidden
    # Gemma 3n / 4 side paths (transformers' Gemma3nTextModel / Gemma4TextModel). The per-layer embedding
    # table is a looked-up embedding like embed_tokens (llama.cpp keeps it with the input layer on the host:
    # LLM_TENSOR_PER_LAYER_TOKEN_EMBD is LLM_TENSOR_LAYER_INPUT); the projections around it, AltUp's and
    # LAuReL's are matmul weights (read every token); their norms, coefficients and routers are small vectors.
    per_layer_embed, side_linear, side_other = 0, 0, 0
    hpl = _int(cfg, "hidden_size_per_layer_input", required=False)
    if hpl and cfg.get("vocab_size_per_layer_input"):
        per_layer_embed = int(cfg["vocab_size_per_layer_input"]) * n * hpl
        # per layer: per_layer_input_gate and per_layer_projection; once: per_layer_model_projection
        side_linear += 2 * n * hidden * hpl + hidden * n * hpl
        side_other += n * hidden + hpl  # post_per_layer_input_norm per layer, per_layer_projection_norm
    altup = _int(cfg, "altup_num_inputs", required=False)
    if altup > 1:  # Gemma 3n AltUp: altup_projections and altup_unembed_projections, (altup - 1) of each
        side_linear += 2 * (altup - 1) * hidden * hidden
        # per layer: correction and prediction coefficients, modality router, router norm, output scale
        side_other += n * (altup * altup + altup * altup * altup + hidden * altup + 2 * hidden)
    laurel = _int(cfg, "laurel_rank", required=False)
    if laurel:  # Gemma 3n LAuReL: linear_left and linear_right per layer, and post_laurel_norm
        side_linear += n * 2 * hidden * laurel
        side_other += n * hidden
    dense_params += side_linear
    norms += side_other
    lm_head = 0 if tied else vocab * hidden
    tower = sum(tower_parameters(t, hidden, bool(_family(outer).get("projector_norm"))) for t in towers)
    counted = (
        sum_mixer
        + dense_params
        + expert_params
        + shared_params
        + router_params
        + embed
        + per_layer_embed
        + lm_head
        + norms
        + tower
    )
    total = int(parameters) if parameters else counted
    other = max(total - counted, 0) + norms + router_params + tower

    # ----- MTP (not loaded)
    mtp_layers = _int(cfg, "num_nextn_predict_layers", "mtp_num_hidden_layers", required=False)
    mtp_params = 0
    if mtp_layers:
        last_m, last_f = layers[-1]
        moe_layer = next(((m, f) for m, f in reversed(layers) if f.kind == "moe"), (last_m, last_f))
        full_mixer = next((m for m, _ in reversed(layers) if m.kind in ("full", "mla")), last_m)
        f = moe_layer[1]
        mtp_params = mtp_layers * (
            full_mixer.params
            + f.dense
            + f.experts * f.expert_params
            + f.shared
            + f.router
            + 2 * hidden * hidden
            + 4 * hidden
        )
        notes.append(
            f"{mtp_layers} multi-token-prediction layer(s) ({mtp_params / 1e9:.2f} B parameters) not loaded (transformers drops them; vLLM loads them only for speculative decoding)"
        )
    lin_bits, exp_bits, qnote = native_bits(cfg.get("quantization_config"))
    if qnote:
        notes.append("checkpoint: " + qnote)
    if towers and tower:
        notes.append(f"vision/audio towers counted as loaded weights ({tower / 1e9:.2f} B parameters)")
        unchecked = sorted({str(t.get("model_type") or "unnamed") for t in towers} - _TOWERS_CHECKED)
        if unchecked:
            warnings.append(
                f"tower {', '.join(unchecked)} counted with the generic encoder formula "
                f"({tower / 1e9:.2f} B; its own layout may differ)"
            )

    # ----- cache columns
    def total_of(attr: str, kinds: tuple[str, ...]) -> int:
        return sum(getattr(m, attr) for m, _ in layers if m.kind in kinds)

    kv_full = sum(m.kv_width for m, _ in layers if m.kind == "full")
    kv_window = sum(m.kv_width for m, _ in layers if m.kind == "window")
    window = int(_num(cfg, "sliding_window", "sliding_window_size", default=0) or 0) if not nas else 0
    if not nas and cfg.get("sliding_window_size") and not cfg.get("sliding_window"):
        window += 1
    if not nas and any(k == "chunked" for k in _mixer_kinds(cfg, fam, n)):
        window = int(cfg.get("attention_chunk_size") or window)
    attn_layers = [m for m, _ in layers if m.kind in ("full", "window", "mla")]
    n_attn = len(attn_layers)
    state_fp32 = (
        fam.get("linear") in ("hgrn", "gdn", "kda")
        or str(_num(cfg, "mamba_ssm_dtype", "mamba_ssm_cache_dtype", default="")) == "float32"
    )
    if fam.get("linear") == "hgrn":
        state_fp32 = True
    first_attn = attn_layers[0] if attn_layers else Mixer("none")
    linear_shapes = [m.shapes for m, _ in layers]
    lora: dict[str, float] = {f"lora_{t}": 0.0 for t in ("q", "k", "v", "o")}
    for shapes in linear_shapes:
        for name, (i, o) in shapes.items():
            lora[f"lora_{name}"] += float(i + o)
    dense_io = sum((hidden + f.width) for _, f in layers if f.kind == "dense")
    moe_io = sum(
        (hidden + f.width) * f.experts + (hidden + f.shared_width) * bool(f.shared_width)
        for _, f in layers
        if f.kind == "moe"
    )
    lora["lora_gate"] = float(dense_io + moe_io) if gated else 0.0
    lora["lora_up"] = float(dense_io + moe_io)
    lora["lora_down"] = float(dense_io + moe_io)
    n_dense = sum(f.kind == "dense" for _, f in layers)
    n_moe = sum(f.kind == "moe" for _, f in layers)
    recurrent = float(n_attn == 0)
    window_layers = sum(m.kind == "window" for m, _ in layers)
    kv_per_layer = (kv_full + kv_window) / n_attn if n_attn else 0.0
    largest = max(
        [hidden * dense_width if n_dense else 0, hidden * expert_width]
        + [i * o for s in linear_shapes for i, o in s.values()]
    )

    columns = {
        "recurrent": recurrent,
        "layers": float(n),
        "attention_layers": float(n_attn),
        "hidden": float(hidden),
        "intermediate": float(dense_width if n_dense else intermediate),
        "heads": float(heads),
        "kv_heads": float(kv_heads),
        "head_dim": float(first_attn.q_width // heads if first_attn.q_width and heads else head_dim),
        "v_head_dim": float(first_attn.out_width // heads if first_attn.out_width and heads else v_head_dim),
        "vocab": float(vocab),
        "tied": float(tied),
        "mlp_matrices": float(matrices),
        "experts": float(experts if n_moe else 0),
        "experts_active": float(active if n_moe else 0),
        "moe_intermediate": float(expert_width if n_moe else 0),
        "shared_experts": float(shared_total / expert_width if n_moe and expert_width and shared_total else 0),
        "dense_layers": float(n_dense),
        "moe_layers": float(n_moe),
        # per attention layer, for terms that think in one layer (activations, allocator); the cache uses the sums
        "kv_width": float(kv_per_layer),
        "kv_full_width": float(kv_full),
        "kv_window_width": float(kv_window),
        "sliding_window": float(window if kv_window else 0),
        "sliding_share": float(window_layers / n_attn) if n_attn and kv_window else 0.0,
        "mla_latent_width": float(total_of("mla_latent", ("mla",))),
        "mla_full_width": float(total_of("mla_full", ("mla",))),
        "indexer_width": float(total_of("indexer", ("mla",))),
        "state_conv_values": float(sum(m.conv_state for m, _ in layers)),
        "state_ssm_values": float(sum(m.ssm_state for m, _ in layers)),
        "state_ssm_fp32": float(state_fp32),
        "max_positions": float(
            _num(cfg, "max_position_embeddings", "n_positions", "seq_length", "max_seq_len", default=0) or 0
        ),
        "logit_softcap": float(bool(cfg.get("final_logit_softcapping"))),
        "params_total": float(total),
        "params_embed": float(embed + per_layer_embed),
        "params_lm_head": float(lm_head),
        "params_attn": float(sum_mixer),
        # of params_attn, the token mixers other than attention (Mamba, Gated DeltaNet, ...), and of those
        # the 2-D weights a quantizer quantizes (vramatlas.quants)
        "params_mixers": float(sum(m.side_params or (m.params if m.matrices else 0) for m, _ in layers)),
        "params_mixer_matrices": float(sum(m.matrices for m, _ in layers)),
        "params_mlp": float(dense_params + shared_params),
        "params_experts": float(expert_params),
        "params_experts_active": float(active_expert_params),
        "params_other": float(other),
        "params_towers": float(tower),
        "mtp_parameters": float(mtp_params),
        "native_linear_bits": lin_bits,
        "native_expert_bits": exp_bits,
        "largest_linear": float(largest),
        **lora,
    }
    # Falcon-H1's layers run a Mamba-2 mixer beside attention: both kinds count for runtime support
    beside = {fam["linear"]} if fam.get("parallel") else set()
    mixers = tuple(sorted({m.kind for m, _ in layers} | beside))
    return Reading(columns, model_type, warnings, notes, int(columns["max_positions"]), mixers)


def architecture(config: Mapping[str, Any], parameters: int | None = None) -> dict[str, float]:
    """The numbers of one model, from its config.json (see module docstring).

    ``parameters``, when known exactly (the catalogue's count), fixes the
    total; the parameters the module-by-module count does not see (extra
    norms, biases, small buffers) are kept in ``params_other`` so that they
    are stored like norms are (unquantized).
    """
    return read(config, parameters).columns


def active_parameters(arch: Mapping[str, float]) -> float:
    """Parameters that one token passes through (MoE: only its routed experts, and the shared ones)."""
    return arch["params_total"] - arch["params_experts"] + arch.get("params_experts_active", 0.0)
