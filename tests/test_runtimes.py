"""Runtime options, runtime_log and the runtime terms (llama.cpp, Ollama, vLLM, SGLang, MLX)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import vramatlas

from vramatlas.api import InputError, estimate
from vramatlas.catalog import load_catalog

MiB = 2**20


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def run(catalog, **kw):
    return estimate(catalog, method="inference", **kw).as_dict()


def test_llama_cpp_log_keys_and_kv_from_cells(catalog):
    out = run(catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_0", ctx=16384, flash_attn="on")
    log = out["runtime_log"]
    assert set(log) == {
        "model_buffer_bytes",
        "host_model_buffer_bytes",
        "kv_buffer_bytes",
        "host_kv_buffer_bytes",
        "compute_buffer_bytes",
    }
    # 32 layers x 2 (K, V) x 8 KV heads x 128 x f16 x 16384 cells
    assert log["kv_buffer_bytes"] == 32 * 2 * 1024 * 2 * 16384
    assert log["host_kv_buffer_bytes"] == 0
    assert out["runtime_log_per_gpu"] == [log]
    assert out["inputs"]["runtime"] == "llama.cpp" and out["inputs"]["ubatch"] == 512


def test_context_is_padded_to_256_cells(catalog):
    a = run(catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_0", ctx=4000)["runtime_log"][
        "kv_buffer_bytes"
    ]
    b = run(catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_0", ctx=4096)["runtime_log"][
        "kv_buffer_bytes"
    ]
    assert a == b


def test_quantized_kv_cache_has_block_scales(catalog):
    f16 = run(catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_0", ctx=8192, flash_attn="on")
    q8 = run(
        catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_0", ctx=8192, flash_attn="on", kv_dtype="q8_0"
    )
    q4 = run(
        catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_0", ctx=8192, flash_attn="on", kv_dtype="q4_0"
    )
    kv = f16["runtime_log"]["kv_buffer_bytes"]
    assert q8["runtime_log"]["kv_buffer_bytes"] == kv * 34 // 64  # 34 bytes per 32 values instead of 64
    assert q4["runtime_log"]["kv_buffer_bytes"] == kv * 18 // 64
    with pytest.raises(InputError, match="needs --flash-attn on"):
        run(catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_0", kv_dtype="q8_0", flash_attn="off")


def test_partial_offload_splits_gpu_and_host(catalog):
    full = run(catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_k_m", ctx=8192)["runtime_log"]
    half = run(catalog, model="llama-3.1-8b", runtime="llama.cpp", quant="q4_k_m", ctx=8192, gpu_layers=16)
    log = half["runtime_log"]
    assert log["model_buffer_bytes"] + log["host_model_buffer_bytes"] == pytest.approx(
        full["model_buffer_bytes"] + full["host_model_buffer_bytes"], abs=2
    )
    assert log["kv_buffer_bytes"] == log["host_kv_buffer_bytes"] == full["kv_buffer_bytes"] // 2
    assert half["host_bytes"] >= log["host_model_buffer_bytes"] + log["host_kv_buffer_bytes"]


def test_host_memory_decides_fits_of_a_partial_offload(catalog):
    kw = dict(model="llama-3.1-70b", runtime="llama.cpp", quant="q4_k_m", ctx=4096, gpu="rtx-4090", gpu_layers=20)
    assert run(catalog, **kw, host_memory=64)["fits"] is True
    assert run(catalog, **kw, host_memory=16)["fits"] is False


def test_ollama_multiplies_context_by_parallel_slots(catalog):
    one = run(catalog, model="llama-3-70b", runtime="ollama", quant="q4_0", ctx=2048)["runtime_log"]["kv_buffer_bytes"]
    four = run(catalog, model="llama-3-70b", runtime="ollama", quant="q4_0", ctx=2048, parallel=4)["runtime_log"][
        "kv_buffer_bytes"
    ]
    assert one == 640 * MiB and four == 4 * one


def test_vllm_capacity_mode(catalog):
    out = run(catalog, model="llama-3-8b", runtime="vllm", quant="bf16", ctx=8192, gpu="a100-80gb")
    log = out["runtime_log"]
    per_token = 32 * 2 * 1024 * 2
    assert log["kv_cache_tokens"] % 16 == 0
    assert log["kv_cache_tokens"] * per_token <= log["kv_cache_bytes"] < (log["kv_cache_tokens"] + 16) * per_token
    assert log["max_concurrency"] == pytest.approx(log["kv_cache_tokens"] / 8192, abs=0.01)
    lower = run(
        catalog, model="llama-3-8b", runtime="vllm", quant="bf16", ctx=8192, gpu="a100-80gb", gpu_memory_utilization=0.5
    )["runtime_log"]
    assert lower["kv_cache_tokens"] < log["kv_cache_tokens"]


def test_sglang_pool_has_no_profiled_activations(catalog):
    log = run(catalog, model="llama-3-8b", runtime="sglang", quant="bf16", ctx=8192, gpu="h100-sxm")["runtime_log"]
    assert set(log) == {"model_weights_bytes", "kv_cache_bytes", "kv_cache_tokens", "cuda_graph_bytes"}


def test_an_option_the_runtime_lacks_is_refused(catalog):
    with pytest.raises(InputError, match="--gpu-layers is not an option of vllm"):
        run(catalog, model="llama-3-8b", runtime="vllm", gpu_layers=10)
    with pytest.raises(InputError, match="does not load awq-int4"):
        run(catalog, model="llama-3-8b", runtime="llama.cpp", quant="awq-int4")
    with pytest.raises(InputError, match="unknown runtime"):
        run(catalog, model="llama-3-8b", runtime="vlm")


def test_cli_refuses_an_option_with_exit_2():
    p = vramatlas(
        "estimate",
        "--model",
        "llama-3-8b",
        "--method",
        "inference",
        "--runtime",
        "vllm",
        "--gpu-layers",
        "10",
        "--json",
    )
    assert p.returncode == 2 and "not an option of vllm" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_cli_runtime_log_in_json():
    p = vramatlas(
        "estimate",
        "--model",
        "llama-2-7b",
        "--method",
        "inference",
        "--runtime",
        "llama.cpp",
        "--quant",
        "q4_0",
        "--new-tokens",
        "0",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["runtime_log"]["model_buffer_bytes"] > 3 * 2**30 and len(out["runtime_log_per_gpu"]) == 1


def test_mlx_peak_has_no_cuda_context(catalog):
    out = run(catalog, model="mistral-7b-v0.1", runtime="mlx", quant="fp16", seq_len=16, new_tokens=1008)
    assert out["components"]["cuda_context"] == 0
    assert out["runtime_log"]["peak_memory_bytes"] == out["peak_bytes"]


def test_accuracy_reports_every_runtime_log_measurement_per_runtime_and_quantity(catalog):
    from vramatlas.accuracy import accuracy_frame, summary

    frame = accuracy_frame(catalog)
    logged = frame[frame["compare"].str.startswith("runtime_log.")]
    published = [
        m for m in catalog.measurements.values() if m["compare"].startswith("runtime_log.") and m["comparable"]
    ]
    assert len(logged) == len(published) >= 12
    assert {"llama.cpp", "ollama", "vllm", "mlx"} <= set(logged["runtime"])
    groups = summary(frame.assign(rq=frame["runtime"] + " " + frame["quantity"]), "rq")
    assert "llama.cpp kv_buffer_bytes" in set(groups["group"])
    # the KV and model buffers are exact mechanisms: within 0.1 % of the runtime's own log lines
    exact = logged[logged["quantity"].isin(["kv_buffer_bytes", "model_buffer_bytes", "model_weights_bytes"])]
    assert (exact["abs_error"] < 0.001).all(), exact[["measurement", "error"]]


def test_sglang_picks_its_memory_share_from_the_gpu(catalog):
    from vramatlas.runtimes import fraction_from_rule

    rule = catalog.runtimes["sglang"]["defaults"]["gpu_memory_utilization_rule"]
    # H100 80 GB: chunked prefill 8192 -> reserve 512 + 1.5 x 8192 + 128 + 2 x 256 = 13440 MiB (above the 10 GiB floor)
    share, tokens = fraction_from_rule(rule, 81559 * 2**20, None, 1)
    assert tokens == 8192 and share == round((81559 - 13440) / 81559, 3)
    # a 24 GB card: 2048 tokens, reserve 512 + 3072 + 128 + 48 MiB, no floor
    share, tokens = fraction_from_rule(rule, 24564 * 2**20, None, 1)
    assert tokens == 2048 and share == round((24564 - 3760) / 24564, 3)


def test_vllm_context_lies_outside_its_share(catalog):
    out = run(
        catalog, model="llama-3-8b", runtime="vllm", quant="bf16", ctx=8192, gpu="a100-80gb", gpu_memory_utilization=0.9
    )
    total = catalog.gpus["a100-80gb"]["memory"]["usable_bytes"]
    assert out["peak_bytes"] == pytest.approx(0.9 * total + out["components"]["cuda_context"], abs=4)


def test_unsloth_offloads_checkpoints_and_fuses_the_loss(catalog):
    kw = dict(model="llama-2-7b", method="qlora", seq_len=16384, lora_rank=8)
    hf = estimate(catalog, **kw).as_dict()
    us = estimate(catalog, runtime="unsloth", quant="nf4", **kw).as_dict()
    assert us["peak_bytes"] < hf["peak_bytes"]
    # the logits: one bf16 buffer instead of three fp32 ones
    from vramatlas.api import case_row
    from vramatlas.memory import logits_bytes

    a, b = case_row(catalog, **kw), case_row(catalog, runtime="unsloth", quant="nf4", **kw)
    assert logits_bytes(b) * 6 == logits_bytes(a)


@pytest.mark.parametrize("tokens,cells,flash", [(512, 4096, False), (1024, 16384, True), (256, 65536, False)])
def test_replaying_three_layers_gives_the_whole_graphs_buffer(tokens, cells, flash):
    from vramatlas.ggml_graph import Shape, allocate, build_decoder, compute_buffer_bytes

    for shape in (
        Shape(4096, 32, 128, 128, 8, 14336, True, 128256, 32),
        Shape(2048, 16, 128, 128, 2, 11008, True, 151936, 36),
        Shape(4096, 32, 128, 128, 8, 14336, True, 32000, 32, experts_used=2, experts=8),
    ):
        for output in (True, False):
            assert compute_buffer_bytes(shape, tokens, cells, flash, output) == allocate(
                build_decoder(shape, tokens, cells, flash, output)
            )


def test_llama_cpp_compute_buffer_is_the_output_phase_when_logits_dominate():
    from vramatlas.ggml_graph import Shape, compute_buffer_bytes

    # Llama-3-8B, n_ctx 512, n_ubatch 512, no flash attention: 'CUDA0 compute buffer size = 258.50 MiB' (published log)
    shape = Shape(4096, 32, 128, 128, 8, 14336, True, 128256, 32)
    assert compute_buffer_bytes(shape, 512, 512, False) == 512 * (4096 + 128256) * 4


# ------------------------------------------------------ what a runtime can load


def test_a_runtime_refuses_a_token_mixer_it_does_not_implement(catalog):
    """llama.cpp has no HGRN layer (src/llama-arch.cpp): MatMul-free LM is refused, not given an attention graph."""
    with pytest.raises(InputError, match="llama.cpp implements no hgrn token mixer"):
        estimate(catalog, model="mmfreelm-370m", method="inference-gguf-q4-k-m")
    assert estimate(catalog, model="mmfreelm-370m", method="inference-bf16").peak_bytes > 0  # transformers + mmfreelm


def test_a_runtime_refuses_a_checkpoint_precision_it_cannot_load(catalog):
    with pytest.raises(InputError, match="vllm loads no ternary checkpoint"):
        estimate(catalog, model="bitnet-b1.58-2b-4t", method="inference-bf16", runtime="vllm")
    with pytest.raises(InputError, match="sglang implements no mamba1 token mixer"):
        estimate(catalog, model="falcon-mamba-7b", method="inference-bf16", runtime="sglang")
    assert estimate(catalog, model="bitnet-b1.58-2b-4t", method="inference-bf16", runtime="llama.cpp").peak_bytes > 0
    assert estimate(catalog, model="falcon-mamba-7b", method="inference-bf16", runtime="vllm").peak_bytes > 0


def test_the_cli_refusal_is_one_line_and_exit_2():
    p = vramatlas("estimate", "--model", "mmfreelm-370m", "--method", "inference-gguf-q4-k-m")
    assert p.returncode == 2 and "implements no hgrn token mixer" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_supported_mixers_are_the_reader_s_vocabulary(catalog):
    from vramatlas.arch import MIXER_KINDS, read

    schema = json.loads((ROOT / "schema" / "runtime.schema.json").read_text())
    assert tuple(schema["properties"]["supports"]["properties"]["mixers"]["items"]["enum"]) == MIXER_KINDS
    used = {kind for v in catalog.variants.values() for kind in read(v["config"]).mixers}
    assert used <= set(MIXER_KINDS) and {"full", "mla", "gdn", "mamba1", "mamba2", "hgrn"} <= used
    # every catalogue model runs somewhere
    assert all(any(kind in rt["supports"]["mixers"] for rt in catalog.runtimes.values()) for kind in used)


def test_the_matrix_has_no_row_a_runtime_cannot_load(catalog):
    from vramatlas.matrix import compute_matrix

    frame = compute_matrix(
        catalog,
        variants=["mmfreelm-370m", "bitnet-b1.58-2b-4t", "falcon-mamba-7b", "llama-3.2-1b"],
        methods=["inference", "inference-gguf-q4-k-m"],
        gpus=["h100-sxm"],
    )
    pairs = set(zip(frame["model"], frame["runtime"]))
    assert ("mmfreelm-370m", "llama.cpp") not in pairs and ("mmfreelm-370m", "transformers") in pairs
    assert ("bitnet-b1.58-2b-4t", "vllm") not in pairs and ("bitnet-b1.58-2b-4t", "llama.cpp") in pairs
    assert ("falcon-mamba-7b", "sglang") not in pairs and ("falcon-mamba-7b", "vllm") in pairs
    assert ("llama-3.2-1b", "sglang") in pairs
