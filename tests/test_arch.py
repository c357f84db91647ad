"""The config reader on real config.json files of current models (tests/fixtures/configs, sources.yaml).

Each config is pinned three ways: the parameter count against the published figure (2 %, or the
figure's own rounding), the KV cache + recurrent state against a hand computation from the config's
numbers, and (where transformers is installed, as the test script's `measure` extra does) the count
against transformers itself, building the model on the meta device.
"""

import json
from pathlib import Path

import pytest
import yaml

from vramatlas.api import case_row
from vramatlas.arch import ConfigError, active_parameters, architecture, read
from vramatlas.catalog import load_catalog
from vramatlas.memory import kv_cache_bytes

CONFIGS = Path(__file__).parent / "fixtures" / "configs"
SOURCES = yaml.safe_load((CONFIGS / "sources.yaml").read_text())


def config(name: str) -> dict:
    return json.loads((CONFIGS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def kv(catalog, name: str, tokens: int, batch: int = 1, **runtime) -> float:
    """The estimate's kv_cache term (attention KV + recurrent state) for a bf16 inference case."""
    row = case_row(catalog, config=config(name), method="inference-bf16", seq_len=tokens, new_tokens=0, batch=batch)
    row.update(runtime)
    return float(kv_cache_bytes(row, tokens))


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize("name", sorted(SOURCES), ids=lambda n: n.removesuffix(".json"))
def test_parameters_match_the_published_figure(name):
    facts = SOURCES[name]
    cols = architecture(config(name.removesuffix(".json")))
    assert cols["params_total"] == pytest.approx(float(facts["published"]), rel=0.02), facts["model"]
    if "published_active" in facts:
        # active figures are published to two significant digits (2.7B, 12B, 15B): within half a unit of the last
        active = float(facts["published_active"])
        unit = 10 ** (len(str(int(active))) - 2)
        assert abs(active_parameters(cols) - active) <= max(0.5 * unit, 0.02 * active), facts["model"]


def test_every_catalogue_variant_recounts_to_its_parameters_within_2_percent(catalog):
    off = {}
    for vid, v in catalog.variants.items():
        counted = architecture(v["config"])["params_total"]
        if abs(counted - v["parameters"]) > 0.02 * v["parameters"]:
            off[vid] = (counted, v["parameters"])
    assert not off, off


def test_qwen3_coder_next_counts_to_the_published_tensor_total():
    # published 79,674,391,296 and 3,874,929,408 active; the 6,144 left are per-head norm vectors of the MTP-free model
    cols = architecture(config("qwen3-coder-next"))
    assert abs(cols["params_total"] - 79_674_391_296) < 10_000
    assert abs(active_parameters(cols) - 3_874_929_408) < 10_000


def test_nested_text_config_takes_transformers_defaults_and_counts_the_vision_tower():
    reading = read(config("gemma-3-4b-it"))
    cols = reading.columns
    assert (cols["heads"], cols["kv_heads"], cols["head_dim"], cols["vocab"], cols["tied"]) == (8, 4, 256, 262208, 1)
    assert 0.40e9 < cols["params_towers"] < 0.45e9  # SigLIP-So400m: 0.42 B with the projector
    assert any("vision" in note for note in reading.notes)


def test_gemma3_text_ties_its_embeddings_by_default():
    cols = architecture(config("gemma-3-1b-it"))
    assert cols["tied"] == 1 and cols["params_lm_head"] == 0


def test_nas_blocks_count_per_layer_widths_and_skip_no_op_attention():
    base = {
        "model_type": "nemotron-nas",
        "hidden_size": 8192,
        "num_attention_heads": 64,
        "vocab_size": 128256,
        "num_hidden_layers": 3,
        "tie_word_embeddings": False,
    }

    def block(group, mult, no_op=False):
        return {
            "attention": {"n_heads_in_group": group, "no_op": no_op, "replace_with_linear": False},
            "ffn": {"ffn_mult": mult, "no_op": False, "replace_with_linear": False},
        }

    cols = architecture({**base, "block_configs": [block(8, 5.25), block(None, 2.625, True), block(8, 1.3125)]})
    # DeciLM: intermediate = 256 * ceil(int(2 * mult * hidden / 3) / 256): 28672, 14336, 7168
    mlp = 3 * 8192 * (28672 + 14336 + 7168)
    attention = 2 * (2 * 8192 * 8192 + 2 * 8192 * 8 * 128)  # two attention layers with 8 KV heads
    norms = (2 + 1 + 2) * 8192 + 8192
    assert cols["params_total"] == mlp + attention + 2 * 128256 * 8192 + norms
    assert cols["kv_full_width"] == 2 * 2 * 8 * 128 and cols["attention_layers"] == 2


# --------------------------------------------------------------------- KV cache


def test_sliding_window_layers_keep_their_window(catalog):
    # Gemma 3 4B: 34 layers, every 6th global (5), 29 sliding at 1024; 4 KV heads x 256 x (K + V), bf16
    t = 8192
    assert kv(catalog, "gemma-3-4b-it", t) == (5 * t + 29 * 1024) * 2 * 4 * 256 * 2


def test_mimo_sliding_layers_have_their_own_kv_heads_and_v_width(catalog):
    # 9 global layers: 4 KV heads x (192 + 128); 39 SWA layers: 8 KV heads x (192 + 128), window 128 + the query
    t = 32768
    assert kv(catalog, "mimo-v2-flash", t) == (9 * 4 * 320 * t + 39 * 8 * 320 * 129) * 2


def test_chunked_attention_caps_at_the_chunk(catalog):
    # Llama 4 Scout: 48 layers, 12 NoPE global, 36 chunked at 8192; 8 KV heads x 128
    t = 100_000
    assert kv(catalog, "llama-4-scout-17b-16e", t) == (12 * t + 36 * 8192) * 2 * 8 * 128 * 2


def test_gpt_oss_alternates_sliding_and_full(catalog):
    t = 4096
    assert kv(catalog, "gpt-oss-120b", t) == (18 * t + 18 * 128) * 2 * 8 * 64 * 2


def test_mamba2_hybrid_counts_attention_kv_and_ssm_state(catalog):
    # Nemotron-H 8B: 4 attention layers (8 KV heads x 128); 24 Mamba-2 layers: conv (8192 + 2*8*128) x 4 in
    # bf16, SSM 128 heads x 64 x 128 in fp32 (mamba_ssm_cache_dtype float32, NemotronHConfig's default)
    t = 8192
    state = 24 * ((8192 + 2 * 8 * 128) * 4 * 2 + 128 * 64 * 128 * 4)
    assert kv(catalog, "nemotron-h-8b-base-8k", t) == 4 * 2 * 8 * 128 * t * 2 + state
    assert kv(catalog, "nemotron-h-8b-base-8k", t, batch=3) == 3 * (4 * 2 * 8 * 128 * t * 2 + state)


def test_gated_deltanet_layers_keep_a_fixed_fp32_state(catalog):
    # Qwen3-Next geometry: 12 gated-attention layers (2 KV heads x 256); 36 Gated DeltaNet layers:
    # conv (2 * 16 * 128 + 32 * 128) x 4, recurrent state 32 x 128 x 128 in fp32
    t = 65536
    state = 36 * ((2 * 16 * 128 + 32 * 128) * 4 * 2 + 32 * 128 * 128 * 4)
    assert kv(catalog, "qwen3-coder-next", t) == 12 * 2 * 2 * 256 * t * 2 + state
    assert kv(catalog, "qwen3-coder-next", 2 * t) - kv(catalog, "qwen3-coder-next", t) == 12 * 2 * 2 * 256 * t * 2


def test_pure_ssm_state_does_not_grow_with_the_context(catalog):
    # Falcon-Mamba 7B: 64 layers x d_inner 8192 x (conv 4 + state 16), bf16
    assert kv(catalog, "falcon-mamba-7b", 1000) == kv(catalog, "falcon-mamba-7b", 100_000) == 64 * 8192 * (4 + 16) * 2


def test_short_convolution_layers_keep_their_taps_as_state(catalog):
    # LFM2: attention at full_attn_idxs; elsewhere a depthwise conv whose state is hidden x conv_L_cache
    cfg = {
        "model_type": "lfm2",
        "hidden_size": 2048,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 65536,
        "block_ff_dim": 12288,
        "conv_L_cache": 3,
        "full_attn_idxs": [2, 5, 8, 10, 12, 14],
        "max_position_embeddings": 128000,
    }
    cols = architecture(cfg)
    assert cols["attention_layers"] == 6 and cols["state_conv_values"] == 10 * 2048 * 3
    assert cols["intermediate"] == 8192  # 12288 x 2/3, to a multiple of 256
    row = case_row(catalog, config=cfg, method="inference-bf16", seq_len=1000, new_tokens=0)
    assert float(kv_cache_bytes(row, 1000)) == 6 * 2 * 8 * 64 * 1000 * 2 + 10 * 2048 * 3 * 2


def test_mla_is_decompressed_under_transformers_and_latent_under_a_compressing_runtime(catalog):
    # DeepSeek-V3.2: 61 MLA layers; transformers caches K (128 heads x 192) and V (128 x 128); vLLM the
    # 512 + 64 latent; both keep the indexer's 128-wide keys
    t = 10_000
    indexer = 61 * 128 * t * 2
    assert kv(catalog, "deepseek-v3.2-exp", t) == 61 * 128 * (192 + 128) * t * 2 + indexer
    assert kv(catalog, "deepseek-v3.2-exp", t, mla_compressed=1.0) == 61 * 576 * t * 2 + indexer
    fp8_indexer = 61 * t * 132  # vLLM: fp8 keys + one fp32 scale per 128
    assert (
        kv(catalog, "deepseek-v3.2-exp", t, mla_compressed=1.0, indexer_cache_bits=132 * 8 / 128)
        == 61 * 576 * t * 2 + fp8_indexer
    )


def test_glm5_reads_its_mla_query_width_from_the_nope_and_rope_dims():
    cols = architecture(config("glm-5"))
    assert cols["mla_full_width"] == 78 * 64 * ((192 + 64) + 256)
    assert cols["mla_latent_width"] == 78 * (512 + 64)
    assert (
        cols["indexer_width"] == 78 * 128
    )  # index_topk_freq 1 (GlmMoeDsaConfig's default): every layer has its indexer


def test_mxfp4_experts_are_read_from_quantization_config():
    cols = architecture(config("gpt-oss-120b"))
    assert cols["native_expert_bits"] == 4.25 and cols["native_linear_bits"] == 16


def test_mtp_layers_are_counted_apart_and_said_not_loaded():
    reading = read(config("deepseek-v3.2-exp"))
    assert reading.columns["mtp_parameters"] > 10e9
    assert any("not loaded" in note for note in reading.notes)


def test_gemma3n_kv_shared_layers_have_no_cache_of_their_own(catalog):
    # Gemma 3n E4B: 35 layers (4 sliding : 1 full), the last 15 reuse layers 18 and 19's K/V: 20 layers cache,
    # 4 full and 16 sliding (window 512); 2 KV heads x 256 x (K + V), bf16
    cfg = catalog.variants["gemma-3n-e4b"]["config"]
    t = 8192
    row = case_row(catalog, config=cfg, method="inference-bf16", seq_len=t, new_tokens=0)
    assert float(kv_cache_bytes(row, t)) == (4 * t + 16 * 512) * 2 * 2 * 256 * 2
    e2b = architecture(catalog.variants["gemma-3n-e2b"]["config"])  # 30 layers, the last 10 shared
    assert e2b["kv_full_width"] == 4 * 2 * 2 * 256 and e2b["kv_window_width"] == 16 * 2 * 2 * 256


def test_gemma3n_per_layer_embeddings_are_an_embedding_not_the_output(catalog):
    # embed_tokens_per_layer (262144 x 35 x 256) is stored like the token embedding but never multiplied:
    # the tied output a token reads is vocab x hidden only
    from vramatlas.speed import output_bytes

    cols = architecture(catalog.variants["gemma-3n-e4b"]["config"])
    assert cols["params_embed"] == 262400 * 2048 + 262144 * 35 * 256
    assert output_bytes({**cols, "bpw_lm_head": 16.0, "bpw_embedding": 16.0}) == 262400 * 2048 * 2


GEMMA4_CACHES = [  # variant, full layers that cache, sliding layers that cache, full KV heads, sliding KV heads
    ("gemma-4-e2b", 3, 12, 1, 1),  # 35 layers of 4 sliding : 1 full, the last 20 KV-shared
    ("gemma-4-e4b", 4, 20, 2, 2),  # 42 layers of 5 : 1, the last 18 KV-shared
    ("gemma-4-26b-a4b", 5, 25, 2, 8),  # 30 layers, num_global_key_value_heads 2
    ("gemma-4-31b", 10, 50, 4, 16),  # 60 layers, num_global_key_value_heads 4
]


@pytest.mark.parametrize(
    "vid, own_full, own_sliding, full_kv, sliding_kv", GEMMA4_CACHES, ids=[c[0] for c in GEMMA4_CACHES]
)
def test_gemma4_global_layers_cache_their_own_heads_and_width(catalog, vid, own_full, own_sliding, full_kv, sliding_kv):
    # full layers: their KV heads x global_head_dim 512, K and V both cached even where attention_k_eq_v drops
    # v_proj; sliding layers: num_key_value_heads x head_dim 256; KV-shared layers: nothing
    cols = architecture(catalog.variants[vid]["config"])
    assert cols["kv_full_width"] == own_full * 2 * full_kv * 512
    assert cols["kv_window_width"] == own_sliding * 2 * sliding_kv * 256


def test_gemma3n_kv_shared_layers_are_the_ones_transformers_shares(catalog):
    transformers = pytest.importorskip("transformers")
    cfg = catalog.variants["gemma-3n-e4b"]["config"]["text_config"]
    hf = transformers.Gemma3nTextConfig(**{k: v for k, v in cfg.items() if k != "model_type"})
    own = [i for i, mode in enumerate(hf.kv_sharing_modes) if mode != "reuse"]
    cols = architecture(cfg)
    assert cols["kv_full_width"] + cols["kv_window_width"] == len(own) * 2 * 2 * 256


# ------------------------------------------------------------------- refusals


def test_an_unknown_type_with_unknown_structure_is_refused_naming_the_fields():
    cfg = {
        "model_type": "brand_new",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "vocab_size": 10,
        "intermediate_size": 128,
        "memory_slots": 4,
        "retention_heads": 2,
    }
    with pytest.raises(ConfigError, match="memory_slots, retention_heads"):
        read(cfg)


def test_an_unknown_type_with_standard_fields_is_read_and_says_so():
    cfg = {
        "model_type": "brand_new",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "vocab_size": 10,
        "intermediate_size": 128,
        "rope_theta": 10000.0,
    }
    reading = read(cfg)
    assert reading.columns["params_total"] > 0 and "not one this reader knows" in reading.warnings[0]


def test_an_unknown_layer_kind_is_named():
    cfg = {**config("gemma-3-1b-it"), "layer_types": ["sliding_attention"] * 25 + ["teleport_attention"]}
    with pytest.raises(ConfigError, match="teleport_attention"):
        read(cfg)


def test_a_known_type_with_an_approximated_feature_warns():
    # a vision tower whose layout the reader has not checked is counted with the generic encoder formula, and says so
    tower = {"model_type": "brand_new_vision", "hidden_size": 1152, "num_hidden_layers": 27, "intermediate_size": 4304}
    warnings = read({**config("gemma-3-4b-it"), "vision_config": tower}).warnings
    assert warnings and "brand_new_vision" in warnings[0] and "generic encoder formula" in warnings[0]


def test_a_timm_tower_without_a_known_count_is_refused():
    text = {**config("gemma-3-1b-it"), "model_type": "gemma3n_text"}
    tower = {"model_type": "gemma3n_vision", "architecture": "mobilenetv9_huge", "hidden_size": 2048}
    with pytest.raises(ConfigError, match="mobilenetv9_huge"):
        read({"model_type": "gemma3n", "text_config": text, "vision_config": tower})


def test_a_known_type_with_a_field_it_does_not_read_warns_naming_it():
    cfg = {**config("gemma-3-1b-it"), "num_memory_layers": 4}
    warnings = read(cfg).warnings
    assert warnings and "num_memory_layers" in warnings[0]
    assert not read(config("gemma-3-1b-it")).warnings


def test_expert_key_names_in_use_are_all_read():
    kimi = config("kimi-linear-48b-a3b")  # Kimi's names: num_experts, num_experts_per_token, num_shared_experts
    deepseek_names = {
        k: v for k, v in kimi.items() if k not in ("num_experts", "num_experts_per_token", "num_shared_experts")
    }
    deepseek_names.update(
        n_routed_experts=kimi["num_experts"],
        num_experts_per_tok=kimi["num_experts_per_token"],
        n_shared_experts=kimi["num_shared_experts"],
    )
    a, b = architecture(kimi), architecture(deepseek_names)
    assert a["params_total"] == b["params_total"] and active_parameters(a) == active_parameters(b)
    assert a["experts_active"] == 8 and a["shared_experts"] == 1


# ------------------------------------------------------------- transformers


torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("name", sorted(SOURCES), ids=lambda n: n.removesuffix(".json"))
def test_parameters_equal_transformers_on_the_meta_device(name):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    cfg = config(name.removesuffix(".json"))
    model_type = cfg["model_type"]
    hf = AutoConfig.for_model(model_type, **{k: v for k, v in cfg.items() if k != "model_type"})
    auto = AutoModelForImageTextToText if "vision_config" in cfg else AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(hf)
    expected = sum(p.numel() for p in model.parameters())
    assert architecture(cfg)["params_total"] == pytest.approx(expected, rel=0.005), name


# Each known model_type's own default geometry (and a few variations), built by transformers: every layer
# kind and key name the reader knows, against the library that defines them.
TRANSFORMERS_CASES = [
    ("llama", {}),
    ("qwen3", {}),
    ("qwen3_moe", {}),
    ("qwen2_moe", {}),
    ("mixtral", {}),
    ("gemma3_text", {}),
    ("gemma2", {}),
    ("gpt_oss", {}),
    ("llama4_text", {}),
    ("llama4_text", {"interleave_moe_layer_step": 2}),
    ("deepseek_v3", {}),
    ("deepseek_v32", {}),
    ("glm_moe_dsa", {}),
    ("glm4_moe", {}),
    ("mimo_v2_flash", {}),
    ("qwen3_next", {}),
    ("qwen3_5_text", {}),
    ("qwen3_5_moe_text", {}),
    ("kimi_linear", {}),
    ("nemotron_h", {}),
    ("falcon_h1", {}),
    ("jamba", {}),
    ("mamba", {}),
    ("falcon_mamba", {}),
    ("mamba2", {}),
    ("granitemoehybrid", {}),
    ("bamba", {"attn_layer_indices": [9, 18, 27]}),
    ("lfm2", {"full_attn_idxs": [2, 5, 8, 10, 12, 14]}),
    ("cohere2", {}),
    ("olmo2", {}),
    ("olmo3", {}),
    ("smollm3", {}),
    ("phi3", {}),
    ("phimoe", {}),
    ("minimax_m2", {}),
    ("ministral3", {}),
    ("gemma3n_text", {}),
    ("gemma4_text", {}),
    ("gemma4_text", {"num_kv_shared_layers": 10}),
    ("gemma4_text", {"enable_moe_block": True, "num_experts": 128, "top_k_experts": 8, "moe_intermediate_size": 704}),
    ("gemma3", {}),
    ("qwen3_vl", {}),
    ("qwen3_5", {}),
    ("mistral3", {}),
    ("llama4", {}),
    ("glm4v", {}),
    ("glm4v_moe", {}),
    ("gemma4", {}),
]


@pytest.mark.parametrize(
    "model_type, overrides",
    TRANSFORMERS_CASES,
    ids=[f"{t}{'+' + ','.join(o) if o else ''}" for t, o in TRANSFORMERS_CASES],
)
def test_default_geometries_equal_transformers(model_type, overrides):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    hf = AutoConfig.for_model(model_type, **overrides)
    cfg = hf.to_dict()
    auto = AutoModelForImageTextToText if "vision_config" in cfg else AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(hf)
    expected = sum(p.numel() for p in model.parameters())
    # the language model exactly (to a few norm vectors); vision towers with the generic encoder count, within 1 %
    tolerance = 0.01 if "vision_config" in cfg else 1e-4
    assert architecture(cfg)["params_total"] == pytest.approx(expected, rel=tolerance)


def test_the_mixers_other_than_attention_are_counted_apart(catalog):
    """params_mixers (Mamba, Gated DeltaNet, ... within params_attn) and their 2-D weights, which a GGUF file
    quantizes at its own type (vramatlas.quants): none for attention alone, all of a pure Mamba's mixers."""
    from vramatlas.arch import architecture

    def cols(vid):
        v = catalog.variants[vid]
        return architecture(v["config"], v.get("parameters"))

    dense = cols("llama-3.1-8b")
    assert dense["params_mixers"] == dense["params_mixer_matrices"] == 0
    mamba = cols("falcon-mamba-7b")
    assert mamba["params_mixers"] == mamba["params_attn"]
    assert 0.99 * mamba["params_mixers"] < mamba["params_mixer_matrices"] < mamba["params_mixers"]
    parallel = cols("falcon-h1-7b")  # attention and Mamba-2 in every layer
    assert 0 < parallel["params_mixer_matrices"] < parallel["params_mixers"] < parallel["params_attn"]
    hybrid = cols("nemotron-h-8b")
    assert 0 < hybrid["params_mixer_matrices"] < hybrid["params_mixers"] < hybrid["params_attn"]
