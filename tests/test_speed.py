"""The speed model: each roofline term pinned on a hand-computed case, monotonicity, and the catalogue data it reads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramatlas import speed
from vramatlas.api import case_row
from vramatlas.catalog import load_catalog

# A tiny runtime speed block: every field the model reads, with round numbers to compute by hand.
BLOCK = {
    "attention_units": ["fp16"],
    "backends": [{"backend": "gpu", "vendors": ["nvidia", "amd", "apple", "intel"]}],
    "costs": [
        {
            "backends": ["gpu"],
            "decode_layer_cycles": 100000,
            "prefill_layer_cycles": 200000,
            "token_seconds": 1e-4,
            "hop_seconds": 2e-5,
        }
    ],
    "kernels": [
        {
            "backends": ["gpu"],
            "formats": ["q4_0"],
            "decode_efficiency": 0.5,
            "decode_bytes_per_unit_cycle": 1000,
            "prefill_units": ["int8", "fp16"],
            "prefill_efficiency": 0.25,
            "prefill_tile": 128,
        },
        {
            "backends": ["gpu"],
            "formats": ["gguf"],
            "decode_efficiency": 0.8,
            "decode_bytes_per_unit_cycle": 1000,
            "prefill_units": ["int8", "fp16"],
            "prefill_efficiency": 0.5,
            "prefill_tile": 128,
        },
        {
            "backends": ["gpu"],
            "architectures": ["Hopper"],
            "decode_efficiency": 0.7,
            "decode_bytes_per_unit_cycle": 1000,
            "prefill_units": ["fp16"],
            "prefill_efficiency": 0.5,
            "prefill_tile": 128,
        },
        {
            "backends": ["gpu"],
            "decode_efficiency": 0.9,
            "decode_bytes_per_unit_cycle": 1000,
            "prefill_units": ["fp16"],
            "prefill_efficiency": 0.5,
            "prefill_tile": 128,
        },
    ],
    "training": {"efficiency": 0.5, "speedup": 1.0, "units": ["bf16", "fp16"]},
}
Q4_K_M = {"id": "q4_k_m", "family": "gguf"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def columns(
    catalog,
    *,
    model="llama-2-7b",
    method="inference",
    runtime="llama.cpp",
    gpu="rtx-4090",
    quant=Q4_K_M,
    block=BLOCK,
    layer_split=True,
    **inputs,
):
    """A catalogue case (llama.cpp by default) with the speed columns of the tiny block above."""
    row = case_row(
        catalog,
        model=model,
        method=method,
        runtime=runtime,
        quant=quant["id"] if quant["id"] in catalog.quants else None,
        gpu=gpu,
        **inputs,
    )
    row.update(speed.speed_columns({"speed": block}, quant, catalog.gpus[gpu], layer_split=layer_split))
    return row


def synthetic(**overrides):
    """One dense layer-free model of round numbers: 1e9 linear weights at 4 bits, no KV, no output matrix."""
    c = {
        "layers": 10.0,
        "hidden": 1000.0,
        "heads": 10.0,
        "kv_heads": 10.0,
        "head_dim": 100.0,
        "v_head_dim": 100.0,
        "intermediate": 4000.0,
        "moe_intermediate": 0.0,
        "experts": 0.0,
        "experts_active": 0.0,
        "shared_experts": 0.0,
        "dense_layers": 10.0,
        "moe_layers": 0.0,
        "mlp_matrices": 3.0,
        "vocab": 1000.0,
        "tied": 0.0,
        "recurrent": 0.0,
        "params_attn": 0.0,
        "params_mlp": 1e9,
        "params_experts": 0.0,
        "params_experts_active": 0.0,
        "params_lm_head": 0.0,
        "params_embed": 0.0,
        "params_other": 0.0,
        "params_total": 1e9,
        "bpw_linear": 4.0,
        "bpw_lm_head": 16.0,
        "bpw_embedding": 16.0,
        "bpw_other": 16.0,
        "kv_width": 0.0,
        "kv_cache_bits": 16.0,
        "sliding_window": 0.0,
        "sliding_share": 0.0,
        "compute_bits": 16.0,
        "train_all": 0.0,
        "train_lora": 0.0,
        "grad_checkpointing": 0.0,
        "lora_rank": 0.0,
        "lora_io": 0.0,
        "adapter_bits": 32.0,
        "gradient_bits": 16.0,
        "master_weight_bits": 0.0,
        "opt_states": 2.0,
        "opt_state_bytes": float("nan"),
        "dequantize_for_matmul": 0.0,
        "seq_len": 1.0,
        "new_tokens": 1.0,
        "batch": 1.0,
        "gpus": 1.0,
        "training": 0.0,
        "bandwidth": 1e12,
        "units": 100.0,
        "clock_hz": 1e9,
        "interconnect_bandwidth": 1e11,
        "host_bandwidth": 1e11,
        "host_link_bandwidth": 2.5e10,
        "decode_efficiency": 0.5,
        "decode_bytes_per_unit_cycle": 1000.0,
        "decode_layer_cycles": 1000.0,
        "token_seconds": 0.0,
        "prefill_peak": 1e15,
        "prefill_efficiency": 0.5,
        "prefill_layer_cycles": 0.0,
        "prefill_tile": 128.0,
        "prefill_dequantize": 0.0,
        "attention_peak": 1e15,
        "rt_act_bytes": 0.0,
        "rt_graph_tokens": 512.0,
        "rt_flash_attn": 1.0,
        "rt_gpu_layer_share": 1.0,
        "rt_cpu_moe_share": 0.0,
        "rt_output_on_gpu": 1.0,
        "rt_kv_on_host": 1.0,
        "layer_split": 1.0,
        "hop_seconds": 0.0,
        "allreduce_seconds": 0.0,
        "train_efficiency": 0.5,
        "train_peak": 1e15,
        "train_speedup": 1.0,
    }
    c.update(
        kv_full_width=0.0,
        kv_window_width=0.0,
        sliding_window_capped=0.0,
        mla_compressed=0.0,
        mla_latent_width=0.0,
        mla_full_width=0.0,
        indexer_width=0.0,
        indexer_cache_bits=0.0,
        state_bits=0.0,
        state_conv_values=0.0,
        state_ssm_values=0.0,
        state_ssm_fp32=0.0,
        attention_layers=c["layers"],
    )
    c.update(overrides)
    c["kv_full_width"] = c["kv_full_width"] or c["kv_width"] * c["layers"]  # the memory model's KV: summed over layers
    return c


def _kv_free(monkeypatch):
    monkeypatch.setattr(speed, "kv_cache_bytes", lambda c, tokens: 0.0 * tokens)


# ---------------------------------------------------------------- decode


def test_decode_is_weight_bytes_over_streaming_bandwidth_plus_layer_cycles(monkeypatch):
    _kv_free(monkeypatch)
    c = synthetic()
    # 1e9 weights x 4 bits = 0.5 GB at 0.5 x 1 TB/s = 1 ms; 10 layers x 1000 cycles at 1 GHz = 10 us
    assert speed.decode_step_seconds(c, 1.0, 1.0) == pytest.approx(1e-3 + 10e-6)
    assert speed.speed_frame(c)["decode_tokens_per_s"] == pytest.approx(1 / 1.01e-3)


def test_decode_bandwidth_is_capped_by_bytes_in_flight_per_unit():
    # 100 units x 1 GHz x 2 B = 200 GB/s < 0.5 x 1 TB/s
    c = synthetic(decode_bytes_per_unit_cycle=2.0)
    assert speed.decode_bandwidth(c) == pytest.approx(2e11)
    assert speed.decode_bandwidth(synthetic()) == pytest.approx(5e11)


def test_decode_reads_the_kv_cache_of_the_current_context(catalog):
    c = columns(catalog, seq_len=4096, new_tokens=0)
    per_token = 2 * 32 * 4096 * 2  # llama-2-7b: K and V, 32 layers, 32 x 128 wide, fp16
    assert speed.kv_read_bytes(c, 4096.0) == pytest.approx(per_token * 4096)
    longer = speed.decode_step_seconds(c, 1.0, 8192.0) - speed.decode_step_seconds(c, 1.0, 4096.0)
    assert longer == pytest.approx(per_token * 4096 / speed.decode_bandwidth(c))


def test_moe_decode_streams_only_the_active_experts():
    dense = synthetic(
        params_mlp=0.0,
        params_experts=8e9,
        params_experts_active=1e9,
        experts=8.0,
        experts_active=1.0,
        moe_intermediate=4000.0,
        dense_layers=0.0,
    )
    assert speed.streamed_weight_bytes(dense, 1.0) == pytest.approx(1e9 * 4 / 8)
    # a batch of many sequences touches nearly every expert: 8 x (1 - (7/8)^64)
    assert speed.experts_touched(dense, 64.0) == pytest.approx(8 * (1 - (7 / 8) ** 64))
    assert speed.active_linear_params(dense) == pytest.approx(1e9)


def test_batched_decode_is_weight_bound_until_compute_takes_over(monkeypatch):
    _kv_free(monkeypatch)
    c = synthetic(prefill_peak=1e14, decode_layer_cycles=0.0)
    one = speed.decode_step_seconds(c, 1.0, 1.0)
    assert speed.decode_step_seconds(c, 8.0, 1.0) == pytest.approx(one)  # same weights; 16 GFLOP / 50 TFLOP/s < 1 ms
    # 1024 sequences: 2 x 1e9 x 1024 FLOP at 0.5 x 100 TFLOP/s = 41 ms > 1 ms of weights
    attention = speed.attention_flops(c, 1024.0, 1.0)
    assert speed.decode_step_seconds(c, 1024.0, 1.0) == pytest.approx((2 * 1e9 * 1024 + attention) / 5e13)


# --------------------------------------------------------------- prefill


def test_wave_efficiency_counts_the_partly_empty_last_wave():
    c = synthetic(units=114.0)
    # 4096 outputs x 512 tokens in 128-tiles: 32 x 4 = 128 tiles over 114 SMs -> 2 waves, 128 / 228 busy
    assert speed.wave_efficiency(c, 4096.0, 512.0) == pytest.approx(128 / 228)
    assert speed.wave_efficiency(synthetic(units=128.0), 4096.0, 512.0) == pytest.approx(1.0)


def test_prefill_matmul_is_compute_bound_at_the_kernels_unit(monkeypatch):
    _kv_free(monkeypatch)
    # 2 x 512 tokens x 1e9 weights at 0.5 x 1 PFLOP/s, every unit busy (one-unit GPU), no output matrix
    c = synthetic(seq_len=512.0, units=1.0, vocab=0.0)
    assert speed.matmul_seconds(c, 512.0, 512.0) == pytest.approx(2 * 512 * 1e9 / 5e14)
    # 114 SMs: the 1000-wide projections fill 8 x 4 = 32 tiles of 114, the 4000-wide ones 128 of 228
    busy = speed.mean_wave_efficiency(synthetic(units=114.0), 512.0)
    shapes = speed.layer_matmuls(synthetic())
    flops = [i * o * n for i, o, n in shapes]
    effs = [32 / 114 if o == 1000 else 128 / 228 for _, o, _ in shapes]
    assert busy == pytest.approx(sum(flops) / sum(f / e for f, e in zip(flops, effs)))


def test_prefill_reads_the_weights_once_per_micro_batch(monkeypatch):
    _kv_free(monkeypatch)
    slow_link = synthetic(seq_len=2048.0, prefill_peak=1e30, attention_peak=1e30, decode_layer_cycles=0.0)
    # compute is free: 4 micro-batches x 0.5 GB at 0.5 TB/s
    assert speed.prefill_seconds(slow_link) == pytest.approx(4 * 0.5e9 / 5e11)


def test_dequantizing_kernels_pay_the_expanded_copy(monkeypatch):
    _kv_free(monkeypatch)
    base = synthetic(seq_len=512.0, prefill_peak=1e30, attention_peak=1e30, compute_bits=16.0)
    extra = speed.prefill_seconds({**base, "prefill_dequantize": 1.0}) - speed.prefill_seconds(base)
    assert extra == pytest.approx(1e9 * 2 * 16 / 8 / 5e11)  # write and read back 1e9 fp16 values


def test_flash_attention_keeps_the_scores_off_memory(catalog):
    on = columns(catalog, seq_len=4096, new_tokens=0, flash_attn="on")
    off = columns(catalog, seq_len=4096, new_tokens=0, flash_attn="off")
    assert speed.prefill_seconds(off) > speed.prefill_seconds(on)


# ------------------------------------------------------------ several GPUs


def test_layer_split_adds_the_gpus_in_turn(catalog):
    one = columns(catalog, model="llama-3-70b", gpus=1, new_tokens=128, seq_len=1)
    four = columns(catalog, model="llama-3-70b", gpus=4, new_tokens=128, seq_len=1, parallelism="pp")
    t1 = speed.decode_step_seconds(one, 1.0, 64.0)
    t4 = speed.decode_step_seconds(four, 1.0, 64.0)
    assert t4 == pytest.approx(t1 + 3 * BLOCK["costs"][0]["hop_seconds"])


def test_tensor_parallel_divides_the_bytes_and_adds_all_reduces(catalog):
    one = columns(catalog, model="llama-3-70b", gpus=1, new_tokens=128, seq_len=1, layer_split=False)
    two = columns(catalog, model="llama-3-70b", gpus=2, new_tokens=128, seq_len=1, parallelism="tp", layer_split=False)
    ar = speed.allreduce_seconds(two, 1.0)
    link = catalog.gpus["rtx-4090"]["interconnect"]["bandwidth_bytes_per_s"] / 2
    assert ar == pytest.approx(2 * 80 * (0.0 + 2 * 1 / 2 * 8192 * 2 / link))
    memory_one = speed.streamed_weight_bytes(one, 1.0) / speed.decode_bandwidth(one)
    assert speed.decode_step_seconds(one, 1.0, 64.0) - speed.decode_step_seconds(two, 1.0, 64.0) > 0.4 * memory_one


# ----------------------------------------------------------- monotonicity


@settings(max_examples=60, deadline=None)
@given(bw=st.floats(1e11, 1e13), more=st.floats(1.0, 10.0), ctx=st.integers(1, 32768), batch=st.integers(1, 64))
def test_more_bandwidth_is_never_slower(bw, more, ctx, batch):
    base = synthetic(bandwidth=bw, seq_len=float(ctx), batch=float(batch), kv_width=2000.0)
    fast = dict(base, bandwidth=bw * more)
    a, b = speed.speed_frame(base), speed.speed_frame(fast)
    for key in ("prefill_tokens_per_s", "decode_tokens_per_s", "output_tokens_per_s"):
        assert b[key] >= a[key] * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(share=st.floats(0.0, 1.0), less=st.floats(0.0, 1.0), ctx=st.integers(1, 8192))
def test_more_offloaded_layers_are_never_faster(share, less, ctx):
    on_gpu = synthetic(rt_gpu_layer_share=share, seq_len=float(ctx), kv_width=2000.0)
    offloaded = dict(on_gpu, rt_gpu_layer_share=share * less)
    a, b = speed.speed_frame(on_gpu), speed.speed_frame(offloaded)
    assert b["decode_tokens_per_s"] <= a["decode_tokens_per_s"] * (1 + 1e-12)
    assert b["prefill_tokens_per_s"] <= a["prefill_tokens_per_s"] * (1 + 1e-12)


def test_longer_context_decodes_slower(catalog):
    short = columns(catalog, seq_len=512, new_tokens=16)
    long = columns(catalog, seq_len=16384, new_tokens=16)
    assert speed.speed_frame(long)["decode_tokens_per_s"] < speed.speed_frame(short)["decode_tokens_per_s"]


# --------------------------------------------------------------- training


def test_training_flops_per_token():
    c = synthetic(
        training=1.0, train_all=1.0, train_lora=0.0, grad_checkpointing=0.0, lora_rank=0.0, lora_io=0.0, seq_len=2.0
    )
    attention = speed.attention_flops(c, 1.0, 1.0)
    assert speed.train_flops_per_token(c) == pytest.approx(6e9 + 3 * attention)
    lora = dict(c, train_all=0.0, train_lora=1.0, lora_rank=8.0, lora_io=1e6, grad_checkpointing=1.0)
    assert speed.train_flops_per_token(lora) == pytest.approx(
        6e9 + 6 * 8e6 + 3 * attention
    )  # 4N + recompute 2N + adapters


def test_train_hours():
    assert speed.train_hours(1000.0, 3.6e6) == pytest.approx(1.0)


def test_training_throughput_scales_with_data_parallel_gpus(catalog):
    one = columns(
        catalog, method="lora", runtime="transformers", quant={"id": "bf16", "family": "float"}, seq_len=1024, batch=4
    )
    eight = columns(
        catalog,
        method="lora",
        runtime="transformers",
        quant={"id": "bf16", "family": "float"},
        seq_len=1024,
        batch=4,
        gpus=8,
        parallelism="ddp",
    )
    assert speed.speed_frame(eight)["train_tokens_per_s"] == pytest.approx(
        8 * speed.speed_frame(one)["train_tokens_per_s"]
    )
    assert math.isnan(speed.speed_frame(one)["decode_tokens_per_s"])


# --------------------------------------------------- one code, floats or arrays


def test_scalar_and_array_paths_agree(catalog):
    rows = [columns(catalog, seq_len=s, new_tokens=64, batch=b) for s in (1, 512, 8192) for b in (1, 8)]
    frame = {k: np.array([r[k] for r in rows]) for k in rows[0] if isinstance(rows[0][k], float)}
    arrays = speed.speed_frame(frame)
    for i, row in enumerate(rows):
        scalars = speed.speed_frame({k: v for k, v in row.items() if isinstance(v, float)})
        for key, value in scalars.items():
            assert isinstance(value, float)
            assert value == pytest.approx(arrays[key][i], rel=1e-12, nan_ok=True)


# ------------------------------------------------------ catalogue -> columns


def test_kernel_choice_by_format_id_then_family_then_catch_all(catalog):
    ada, hopper = catalog.gpus["rtx-4090"], catalog.gpus["h100-sxm"]
    assert speed.kernel_for(BLOCK, "gpu", {"id": "q4_0", "family": "gguf"}, ada)["decode_efficiency"] == 0.5
    assert speed.kernel_for(BLOCK, "gpu", Q4_K_M, ada)["decode_efficiency"] == 0.8
    assert speed.kernel_for(BLOCK, "gpu", {"id": "bf16", "family": "float"}, hopper)["decode_efficiency"] == 0.7
    assert speed.kernel_for(BLOCK, "gpu", {"id": "bf16", "family": "float"}, ada)["decode_efficiency"] == 0.9


def test_prefill_unit_is_the_first_peak_the_gpu_has(catalog):
    ada = speed.speed_columns({"speed": BLOCK}, Q4_K_M, catalog.gpus["rtx-4090"], layer_split=True)
    apple = speed.speed_columns({"speed": BLOCK}, Q4_K_M, catalog.gpus["m2-ultra"], layer_split=True)
    assert ada["prefill_peak"] == pytest.approx(catalog.gpus["rtx-4090"]["compute"]["int8_tops"] * 1e12)
    assert apple["prefill_peak"] == pytest.approx(
        catalog.gpus["m2-ultra"]["compute"]["fp16_tflops"] * 1e12
    )  # no int8 peak
    assert apple["host_bandwidth"] == catalog.gpus["m2-ultra"]["memory"]["bandwidth_bytes_per_s"]  # unified memory


def test_missing_backend_or_kernel_is_a_located_refusal(catalog):
    only_apple = dict(BLOCK, backends=[{"backend": "metal", "vendors": ["apple"]}])
    with pytest.raises(speed.SpeedDataError, match="no backend for nvidia"):
        speed.speed_columns({"speed": only_apple}, Q4_K_M, catalog.gpus["rtx-4090"], layer_split=True)
    no_kernels = dict(BLOCK, kernels=[k for k in BLOCK["kernels"] if k.get("formats")])
    with pytest.raises(speed.SpeedDataError, match="no gpu kernel for bf16"):
        speed.kernel_for(no_kernels, "gpu", {"id": "bf16", "family": "float"}, catalog.gpus["rtx-4090"])


def test_gpu_units_and_clock_agree_with_the_fp32_peak(catalog):
    """units x clock x 2 FLOP x FP32 lanes per unit = the FP32 peak, with 64 or 128 lanes (a typo in either shows)."""
    for gid, gpu in catalog.gpus.items():
        c = gpu["compute"]
        if not c.get("fp32_tflops"):
            continue
        lanes = c["fp32_tflops"] * 1e12 / (c["units"] * c["boost_clock_mhz"] * 1e6 * 2)
        assert min(abs(lanes - 64) / 64, abs(lanes - 128) / 128) < 0.1, (gid, lanes)


# ------------------------------------------------------------ the catalogue's speed data


def test_every_runtime_answers_for_every_format_it_loads_on_every_gpu_it_runs_on(catalog):
    """Each runtime's speed block resolves a backend, a kernel and costs for each GPU of a vendor it lists and each
    weight format it loads, and gives finite positive speeds for a 7B model at 2k tokens on one GPU."""
    checked = 0
    for rid, runtime in catalog.runtimes.items():
        block = runtime["speed"]
        vendors = {v for b in block["backends"] for v in b.get("vendors") or ()}
        gpus = [g for g in catalog.gpus.values() if g["vendor"] in vendors]
        for qid in runtime["weight_formats"]:
            quant = catalog.quants[qid]
            for gpu in gpus:
                cols = speed.speed_columns(runtime, quant, gpu, layer_split=True)
                assert all(math.isfinite(v) and v >= 0 for v in cols.values()), (rid, qid, gpu["id"])
                checked += 1
    assert checked > 1000


def test_every_speed_value_has_a_basis(catalog):
    for rid, runtime in catalog.runtimes.items():
        block = runtime["speed"]
        for entry in block["costs"] + block["kernels"] + ([block["training"]] if block.get("training") else []):
            assert len(entry["basis"]) >= 20, (rid, entry)
        assert block["sources"], rid


# ------------------------------------------------------------------ the estimate contract

INFERENCE_KEYS = {"prefill_tokens_per_s", "decode_tokens_per_s", "output_tokens_per_s", "time_to_first_token_s"}


def test_estimate_json_has_exactly_the_speed_keys(catalog):
    from vramatlas.api import estimate

    inf = estimate(
        catalog,
        model="llama-2-7b",
        runtime="llama.cpp",
        method="inference",
        quant="q4_0",
        seq_len=512,
        new_tokens=128,
        gpu="rtx-4090",
    ).as_dict()
    assert set(inf["speed"]) == INFERENCE_KEYS
    assert inf["speed"]["time_to_first_token_s"] == pytest.approx(512 / inf["speed"]["prefill_tokens_per_s"])
    train = estimate(
        catalog,
        model="llama-2-7b",
        runtime="transformers",
        method="lora",
        seq_len=1024,
        batch=4,
        gpu="a100-80gb",
        train_tokens=1e8,
    ).as_dict()
    assert set(train["speed"]) == {"train_tokens_per_s", "train_hours"}
    assert train["speed"]["train_hours"] == pytest.approx(1e8 / train["speed"]["train_tokens_per_s"] / 3600)
    assert "speed" not in estimate(catalog, model="llama-2-7b", method="inference-bf16").as_dict()  # no GPU, no speed


def test_partial_offload_is_bound_by_host_bandwidth(catalog):
    from vramatlas.api import estimate

    def decode(**kw):
        return estimate(
            catalog,
            model="llama-3-70b",
            runtime="llama.cpp",
            method="inference",
            quant="q4_k_m",
            seq_len=512,
            new_tokens=128,
            gpu="rtx-4090",
            **kw,
        ).extra["speed"]["decode_tokens_per_s"]

    speeds = [decode(gpu_layers=n) for n in (80, 60, 40, 20, 0)]
    assert speeds == sorted(speeds, reverse=True)  # more layers on the host: never faster
    assert decode(gpu_layers=40, host_bandwidth=120e9) > decode(gpu_layers=40)  # faster RAM helps
    # 40 of 80 layers on the host at 60 GB/s: about half of 40 GiB from RAM, so a few tokens per second
    assert 1.0 < decode(gpu_layers=40) < 4.0


def test_cli_prints_speed_and_refuses_a_bad_host_bandwidth(tmp_path):
    import subprocess
    import sys

    base = [
        sys.executable,
        "-m",
        "vramatlas",
        "estimate",
        "--model",
        "llama-2-7b",
        "--method",
        "lora",
        "--runtime",
        "transformers",
        "--gpu",
        "a100-80gb",
    ]
    out = subprocess.run(base + ["--train-tokens", "1e9"], capture_output=True, text=True)
    assert out.returncode == 0 and "tokens/s over all GPUs" in out.stdout and "hours" in out.stdout
    bad = subprocess.run(base + ["--host-bandwidth", "-3"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ accuracy against published speed


def test_every_speed_measurement_is_answered_within_the_stated_tolerances(catalog):
    from vramatlas.speed_accuracy import speed_accuracy_frame, speed_summary

    frame = speed_accuracy_frame(catalog)
    assert len(frame) >= 70
    assert frame["predicted"].notna().all(), frame[frame["predicted"].isna()]["measurement"].tolist()
    overall = speed_summary(frame, "kind").set_index("group").loc["overall"]
    assert overall["median"] <= 0.20 and overall["p90"] <= 0.45
    by_kind = speed_summary(frame, "kind").set_index("group")
    assert by_kind.loc["decode", "median"] <= 0.15  # decode is the best-understood roofline


def test_memory_accuracy_leaves_speed_measurements_out(catalog):
    from vramatlas.accuracy import accuracy_frame

    assert not accuracy_frame(catalog)["measurement"].str.startswith("speed-").any()


# ------------------------------------------------------------------ the matrix's speed columns


def test_matrix_speed_columns_are_the_estimates(catalog):
    """The matrix evaluates the same speed model on arrays: each fitting one-GPU row equals `estimate`'s speed block."""
    from vramatlas import matrix as mx
    from vramatlas.api import estimate

    small = mx.compute_matrix(
        catalog,
        variants=["llama-2-7b", "llama-3.1-8b"],
        gpus=["rtx-4090", "m2-ultra", "h100-sxm"],
        methods=["inference-gguf-q4-k-m", "inference-bf16", "lora", "qlora"],
    )
    rows = small[(small["gpu_count"] == 1) & small["fits"]]
    assert len(rows) > 10
    for r in rows.itertuples(index=False):
        e = estimate(
            catalog,
            model=str(r.model),
            method=str(r.method),
            seq_len=int(r.seq_len),
            batch=int(r.batch),
            gpu=str(r.gpu),
        )
        sp = e.extra.get("speed")
        keys = (
            ("train_tokens_per_s",)
            if r.method_kind == "training"
            else ("prefill_tokens_per_s", "decode_tokens_per_s", "output_tokens_per_s")
        )
        if sp is None:  # no speed data for this runtime on this GPU (transformers on Apple is mps)
            assert all(math.isnan(getattr(r, k)) for k in keys)
            continue
        for k in keys:
            assert getattr(r, k) == pytest.approx(sp[k], rel=1e-5), (r.model, r.method, r.gpu, k)
    assert small.loc[~small["fits"], "decode_tokens_per_s"].isna().all()  # nothing runs where it does not fit


def test_matrix_speed_is_the_same_in_chunks(catalog):
    from vramatlas import matrix as mx
    from vramatlas.speed import speed_table

    vt = mx.variant_table(catalog, ["llama-2-7b", "mixtral-8x7b"])
    mt = mx.method_table(catalog, ["inference-gguf-q4-k-m", "lora"])
    gt = mx.gpu_table(catalog, ["rtx-4090", "m2-ultra"])
    keys = mx.matrix_keys(vt, mt, gt)
    speeds = speed_table(catalog, list(mt["method"]), list(gt["gpu"]))
    whole = mx._estimate_keys(keys, vt, mt, gt, chunk_rows=len(keys), speeds=speeds)
    chunked = mx._estimate_keys(keys, vt, mt, gt, chunk_rows=13, speeds=speeds)
    pd.testing.assert_frame_equal(chunked, whole)
    assert whole["decode_tokens_per_s"].notna().any()


def test_methodology_speed_section(catalog):
    from vramatlas.site.speed_page import speed_section

    text = speed_section(catalog)
    assert text.startswith("## Speed")
    for heading in ("By kind:", "By runtime:", "By GPU family:", "### The worst speed cases", "Every speed case"):
        assert heading in text
    assert "speed-xd-3090-8b-f16-tg512" in text and "nvidia Ampere" in text


def test_experts_kept_on_the_host_stream_at_host_bandwidth(catalog):
    from vramatlas.api import estimate

    def decode(**kw):
        return estimate(
            catalog,
            model="mixtral-8x7b",
            runtime="llama.cpp",
            method="inference",
            quant="q4_k_m",
            seq_len=512,
            new_tokens=64,
            gpu="rtx-4090",
            gpus=2,
            **kw,
        ).extra["speed"]["decode_tokens_per_s"]

    all_gpu, half, every = decode(), decode(cpu_moe=16), decode(cpu_moe=32)
    assert all_gpu > half > every
    # every routed expert from host RAM: 2 of 8 experts x 3 x 4096 x 14336 x 32 layers at 4.8 bits ~ 6.8 GB per token
    # at 60 GB/s: ~9 tokens/s at most
    assert 5.0 < every < 60e9 / 6.7e9
