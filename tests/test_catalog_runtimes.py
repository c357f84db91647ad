"""Runtimes and weight formats as catalogue data: schemas, files, and the GGUF mixes against real file sizes."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from vramatlas.arch import architecture
from vramatlas.catalog import load_catalog
from vramatlas.paths import SCHEMA_DIR
from vramatlas.quants import category_bytes, tensor_type, use_more_bits

ISSUE_QUANTS = (
    "bf16 fp16 fp32 fp8 fp8-block w8a8 int8 nf4 fp4 gptq-int4 gptq-int8 awq-int4 mxfp4 nvfp4 mlx-4bit mlx-8bit "
    "q2_k q3_k_s q3_k_m q3_k_l q4_0 q4_1 q4_k_s q4_k_m q5_0 q5_1 q5_k_s q5_k_m q6_k q8_0 iq1_s iq1_m iq2_xxs iq2_xs "
    "iq2_s iq2_m iq3_xxs iq3_xs iq3_s iq3_m iq4_nl iq4_xs"
).split()
RUNTIMES = ("transformers", "llama.cpp", "ollama", "vllm", "sglang", "mlx", "unsloth")
MiB = 2**20


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _schema(kind):
    return json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


def _walk(node, path):
    for name, sub in node.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield f"{path}[]", node["items"]
        yield from _walk(node["items"], f"{path}[]")
    for name, sub in node.get("$defs", {}).items():
        yield from _walk(sub, f"#{name}")


@pytest.mark.parametrize("kind", ["runtime", "quant"])
def test_schema_is_draft_2020_12_described_and_closed(kind):
    schema = _schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    walked = list(_walk(schema, "$"))
    assert len(walked) > 20
    assert [p for p, s in walked if not s.get("description") or not s.get("examples")] == []
    # every object is closed, except the speed block the speed model defines
    open_ = [
        p
        for p, s in walked
        if s.get("type") == "object"
        and s.get("additionalProperties") is not False
        and p != "$.speed"
        and not p.endswith(".dtypes")
    ]
    assert open_ == []
    bad = [
        (p, e)
        for p, s in walked
        if "$ref" not in s and "$ref" not in json.dumps(s)
        for e in s.get("examples", [])
        if not Draft202012Validator(s).is_valid(e)
    ]
    assert bad == []


def test_runtime_schema_rejects_an_unknown_option_and_a_missing_source():
    v = Draft202012Validator(_schema("runtime"))
    data = load_catalog().runtimes["vllm"]
    assert v.is_valid(data)
    assert not v.is_valid({**data, "options": ["ctx", "gpu-layerz"]})
    assert not v.is_valid({**data, "sources": []})
    assert not v.is_valid({**data, "kv_cache": {**data["kv_cache"], "granularity": "page"}})


def test_every_runtime_and_issue_quant_exists(catalog):
    assert set(RUNTIMES) <= set(catalog.runtimes)
    assert set(ISSUE_QUANTS) <= set(catalog.quants)
    for rid in RUNTIMES:
        rt = catalog.runtimes[rid]
        assert rt["default_quant"] in rt["weight_formats"]
        assert rt["defaults"]["kv_dtype"] in rt["kv_cache"]["dtypes"]
        assert all("#L" in s["url"] or "/pull/" in s["url"] for s in rt["sources"] if "github.com" in s["url"]), rid


def test_use_more_bits_matches_llama_cpp_for_32_layers():
    # i < 4, i >= 28, or (i - 4) % 3 == 2: 4 + 4 + 8 = 16 of 32 layers ("half of the attention.wv and ffn_down")
    chosen = [i for i in range(32) if use_more_bits(i, 32)]
    assert chosen == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]


def test_mix_conditions(catalog):
    arch70 = architecture(catalog.variants["llama-3-70b"]["config"])
    rule = catalog.quants["q4_k_m"]["tensors"]["attn_v"]
    assert tensor_type(rule, 0, 80, arch70) == "q6_k"  # more-bits layer
    assert tensor_type(rule, 11, 80, arch70) == "q5_k"  # the 70B bump for Q4_K
    arch8 = architecture(catalog.variants["llama-3.1-8b"]["config"])
    assert tensor_type(rule, 5, 32, arch8) == "q4_k"


# Published sizes of real GGUF files (bytes), and what the size covers.
GGUF_SIZES = [
    # llama.cpp's own log: 'load_tensors: Vulkan0 model buffer size = 4155.99 MiB' (all tensors but token_embd),
    # Llama-3.1-8B-Instruct Q4_0 (ik_llama.cpp discussion 562, build 5781)
    ("llama-3.1-8b", "q4_0", "gpu", 4155.99 * MiB, 0.0001),
    # TheBloke/Llama-2-7B-GGUF llama-2-7b.Q4_K_M.gguf: 4,081,004,224 bytes (file: tensors + ~0.7 MB metadata)
    ("llama-2-7b", "q4_k_m", "file", 4_081_004_224, 0.001),
    # TheBloke/Llama-2-7B-GGUF model card sizes (GB, 3 significant digits)
    ("llama-2-7b", "q8_0", "file", 7.16e9, 0.005),
    ("llama-2-7b", "q6_k", "file", 5.53e9, 0.005),
    ("llama-2-7b", "q4_0", "file", 3.83e9, 0.005),
    ("llama-2-7b", "q5_k_m", "file", 4.78e9, 0.005),
    # bartowski/Meta-Llama-3.1-8B-Instruct-GGUF model card (GB)
    ("llama-3.1-8b", "q4_k_m", "file", 4.92e9, 0.005),
    ("llama-3.1-8b", "q6_k", "file", 6.60e9, 0.005),
    ("llama-3.1-8b", "q8_0", "file", 8.54e9, 0.005),
]


# A Mamba model (RichardErkhov/tiiuae_-_falcon-mamba-7b-instruct-gguf README: "Q2_K 2.39GB", "Q3_K_S / Q3_K_M /
# Q3_K_L 3.05GB"; the instruct model has the base model's shapes). Its mixer projections match none of
# llama.cpp's per-tensor rules, so they take the file type's own type and every Q3_K mix is one size.
MAMBA_GGUF = {"q2_k": 2.39, "q3_k_s": 3.05, "q3_k_m": 3.05, "q3_k_l": 3.05}


def test_a_mamba_models_projections_take_the_file_types_own_type(catalog):
    v = catalog.variants["falcon-mamba-7b"]
    arch = architecture(v["config"], v.get("parameters"))
    size = {q: sum(category_bytes(catalog.quants[q], catalog.quants, arch).values()) for q in MAMBA_GGUF}
    assert size["q3_k_s"] == size["q3_k_m"] == size["q3_k_l"]  # no attn_v or ffn_down to raise
    # the ratio needs no unit; the sizes are GiB written "GB" (3.05 GB would be 2.84 GiB, below any Q3_K mix)
    assert abs(size["q3_k_m"] / size["q2_k"] - 3.05 / 2.39) <= 0.005 * 3.05 / 2.39
    for q, published in MAMBA_GGUF.items():
        assert abs(size[q] / 2**30 - published) <= 0.005 * published, (q, size[q] / 2**30)
    # before: the projections fell through to the `other` type (fp32), 25 GiB at Q4_K_M
    assert sum(category_bytes(catalog.quants["q4_k_m"], catalog.quants, arch).values()) < 5e9


@pytest.mark.parametrize("model,quant,covers,published,tolerance", GGUF_SIZES, ids=lambda x: str(x))
def test_gguf_mix_matches_published_file_sizes(catalog, model, quant, covers, published, tolerance):
    v = catalog.variants[model]
    by_kind = category_bytes(catalog.quants[quant], catalog.quants, architecture(v["config"], v.get("parameters")))
    predicted = sum(by_kind.values()) - (by_kind["embedding"] if covers == "gpu" else 0)
    assert abs(predicted - published) / published <= tolerance, (predicted, published)
