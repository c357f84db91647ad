"""`vramatlas measure`: the whole path on the CPU with a tiny llama, through the real CLI.

The CPU runs need the `measure` extra (torch, transformers, peft, accelerate,
bitsandbytes): they are skipped only where torch is not importable. CI must
install the extra (see .ci/run) so that they run there; skipped is not passed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vramatlas.measure import record
from vramatlas.measure.methods import MethodError, resolve
from vramatlas.paths import SCHEMA_DIR

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not importable: pip install -e '.[measure]'")

TINY = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 512,
}
TINY_PARAMETERS = 2 * 256 * 64 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 2 * 64) + 64  # 106816

# every method that runs on the CPU (bitsandbytes >= 0.45 has CPU int8/4-bit kernels)
CPU_METHODS = [
    "inference-fp32",
    "inference-bf16",
    "inference-fp16",
    "inference-int8",
    "inference-nf4",
    "full-mixed",
    "full-bf16",
    "lora",
    "qlora",
]
if (Path(__file__).resolve().parent.parent / "catalog" / "methods" / "full-adamw8bit.yaml").is_file():
    CPU_METHODS.append("full-adamw8bit")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VRAMATLAS_BY", "vramatlas tests")
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


def measure_cli(*args: str, cwd: Path | None = None, pre: str | None = None) -> subprocess.CompletedProcess:
    """`python -m vramatlas measure ARGS` (``pre``: Python run first, e.g. to hide torch)."""
    if pre is None:
        cmd = [sys.executable, "-m", "vramatlas", "measure", *args]
    else:
        code = f"import sys\n{pre}\nfrom vramatlas.cli import main\nsys.exit(main(['measure', *{list(args)!r}]))"
        cmd = [sys.executable, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=600)


@pytest.fixture()
def tiny_config(tmp_path: Path) -> Path:
    p = tmp_path / "config.json"
    p.write_text(json.dumps(TINY), encoding="utf-8")
    return p


def _schema_validator():
    path = SCHEMA_DIR / "measurement.schema.json"
    if not path.is_file():
        return None
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def check_against_schema(doc: dict) -> None:
    validator = _schema_validator()
    if validator is None:
        return
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


# --------------------------------------------------------------------------- the CPU path


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize("method", CPU_METHODS)
def test_measure_cpu_writes_a_valid_measurement(method: str, tiny_config: Path, tmp_path: Path):
    spec = resolve(method)
    out = tmp_path / "m.yaml"
    args = [
        "--config",
        str(tiny_config),
        "--method",
        method,
        "--seq-len",
        "24",
        "--batch",
        "2",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    if spec.kind == "inference":
        args += ["--new-tokens", "3"]
    if spec.trainable == "lora":
        args += ["--lora-rank", "4"]
    proc = measure_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out}"), proc.stdout
    assert "Traceback" not in proc.stderr
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    check_against_schema(doc)
    assert doc["method"] == method and doc["model"] is None and doc["config"] == TINY
    assert doc["gpu"] is None
    assert doc["parameters"] == TINY_PARAMETERS
    m = doc["measured"]
    assert m["weights_loaded_bytes"] > 0
    assert m["cpu_peak_rss_bytes"] > 0 and m["cpu_start_rss_bytes"] > 0
    assert m["cpu_peak_rss_bytes"] >= m["cpu_start_rss_bytes"]
    assert "process_peak_bytes" not in m  # a CUDA quantity: never claimed on the CPU
    assert doc["compare"] == "cpu_peak_rss_bytes"
    assert doc["comparable"] is False and "CPU" in doc["why_not_comparable"]
    assert doc["outcome"] == "ok"
    w = doc["workload"]
    assert (w["seq_len"], w["batch"], w["gpus"], w["parallelism"]) == (24, 2, 1, None)
    if spec.kind == "inference":
        assert w["new_tokens"] == 3 and w["optimizer"] is None and w["lora_rank"] is None
    else:
        assert w["new_tokens"] == 0 and w["optimizer"] in ("adamw", "adamw8bit", "sgd")
        assert w["gradient_checkpointing"] == spec.gc_default
    if spec.trainable == "lora":
        assert (w["lora_rank"], w["lora_targets"]) == (4, "all-linear")
        if "notes" in doc["provenance"]:
            assert "trainable parameters: " in doc["provenance"]["notes"]
    prov = doc["provenance"]
    assert prov["gpu_name"] is None and prov["driver"] is None
    assert prov["software"]["torch"] and prov["software"]["transformers"] and prov["software"]["vramatlas"]
    assert prov["source"] and prov["by"] == "vramatlas tests"
    if spec.quantized:
        # 4-bit / int8 weights are smaller than the bf16 model of the same config
        assert m["weights_loaded_bytes"] < TINY_PARAMETERS * 2
    if doc["predicted"] is not None:
        assert doc["predicted"]["peak_bytes"] > 0 and doc["predicted"]["error"] is None
    assert list(tmp_path.glob(".m.yaml.*")) == []  # the temporary file was renamed


@needs_torch
@pytest.mark.slow
def test_measure_cpu_options_and_tied_embeddings(tmp_path: Path):
    cfg = dict(TINY, tie_word_embeddings=True)
    p = tmp_path / "tied.json"
    p.write_text(json.dumps(cfg), encoding="utf-8")
    out = tmp_path / "deep" / "dir" / "t.yaml"
    proc = measure_cli(
        "--config",
        str(p),
        "--method",
        "full-bf16",
        "--seq-len",
        "16",
        "--optimizer",
        "sgd",
        "--no-grad-checkpointing",
        "--id",
        "my-test-case",
        "--source",
        "https://example.org/run",
        "--device",
        "cpu",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    check_against_schema(doc)
    assert doc["id"] == "my-test-case"
    assert doc["parameters"] == TINY_PARAMETERS - 256 * 64  # lm_head shares the embedding
    assert doc["workload"]["optimizer"] == "sgd"
    assert doc["workload"]["gradient_checkpointing"] is False
    assert doc["provenance"]["source"] == "https://example.org/run"


# --------------------------------------------------------------------------- refusals


def test_missing_torch_names_the_install(tiny_config: Path, tmp_path: Path):
    out = tmp_path / "x.yaml"
    proc = measure_cli(
        "--config",
        str(tiny_config),
        "--method",
        "inference-bf16",
        "--device",
        "cpu",
        "--out",
        str(out),
        pre="sys.modules['torch'] = None  # hides torch",
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "torch" in lines[0] and "pip install 'vramatlas[measure]'" in lines[0]
    assert not out.exists()


def test_missing_peft_for_lora(tiny_config: Path, tmp_path: Path):
    proc = measure_cli(
        "--config",
        str(tiny_config),
        "--method",
        "lora",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "x.yaml"),
        pre="sys.modules['peft'] = None",
    )
    assert proc.returncode == 2
    assert "peft" in proc.stderr and "vramatlas[measure]" in proc.stderr


@needs_torch
def test_no_gpu_is_refused_without_device_cpu(tiny_config: Path, tmp_path: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "x.yaml"
    proc = measure_cli("--config", str(tiny_config), "--method", "inference-bf16", "--out", str(out))
    assert proc.returncode == 2
    assert "no CUDA GPU" in proc.stderr and "--device cpu" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "no-such-method"], "unknown method"),
        (["--method", "inference-bf16", "--lora-rank", "8"], "inference"),
        (["--method", "full-bf16", "--new-tokens", "5"], "--new-tokens"),
        (["--method", "inference-bf16", "--seq-len", "-1"], "--seq-len"),
        (["--method", "inference-bf16", "--batch", "x"], "--batch"),
        (["--method", "full-bf16", "--optimizer", "lion"], "--optimizer"),
    ],
)
def test_bad_arguments_exit_2(args, message, tiny_config: Path, tmp_path: Path):
    proc = measure_cli("--config", str(tiny_config), *args, "--device", "cpu", "--out", str(tmp_path / "x.yaml"))
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_model_and_bad_config(tmp_path: Path):
    proc = measure_cli(
        "--model",
        "no-such-model-7b",
        "--method",
        "inference-bf16",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "x.yaml"),
    )
    assert proc.returncode == 2 and "unknown model 'no-such-model-7b'" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    proc = measure_cli(
        "--config", str(bad), "--method", "inference-bf16", "--device", "cpu", "--out", str(tmp_path / "x.yaml")
    )
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    nomt = tmp_path / "nomt.json"
    nomt.write_text(json.dumps({"hidden_size": 64}), encoding="utf-8")
    proc = measure_cli(
        "--config", str(nomt), "--method", "inference-bf16", "--device", "cpu", "--out", str(tmp_path / "x.yaml")
    )
    assert proc.returncode == 2 and "model_type" in proc.stderr


def test_methods_outside_pytorch_are_refused():
    for method_id in ("inference-fp8", "inference-gguf-q4-k-m", "inference-gptq-int4"):
        path = Path(__file__).resolve().parent.parent / "catalog" / "methods" / f"{method_id}.yaml"
        if path.is_file():
            with pytest.raises(MethodError):
                resolve(method_id)


def test_contract_methods_resolve():
    want = {
        "inference-fp32": ("inference", "fp32", "none"),
        "inference-bf16": ("inference", "bf16", "none"),
        "inference-fp16": ("inference", "fp16", "none"),
        "inference-int8": ("inference", "int8", "none"),
        "inference-nf4": ("inference", "nf4", "none"),
        "full-mixed": ("training", "fp32", "all"),
        "full-bf16": ("training", "bf16", "all"),
        "lora": ("training", "bf16", "lora"),
        "qlora": ("training", "nf4", "lora"),
    }
    for method_id, (kind, fmt, trainable) in want.items():
        spec = resolve(method_id)
        assert (spec.kind, spec.linear_format, spec.trainable) == (kind, fmt, trainable), method_id
    assert resolve("full-mixed").autocast and resolve("full-mixed").base_dtype == "fp32"
    assert not resolve("full-bf16").autocast
    assert resolve("qlora").base_dtype == "bf16"


def test_fallback_table_without_catalogue(tmp_path: Path):
    (tmp_path / "methods").mkdir()
    assert resolve("qlora", catalog_dir=tmp_path).source == "protocol table"
    with pytest.raises(MethodError, match="unknown method"):
        resolve("inference-fp8", catalog_dir=tmp_path)


# --------------------------------------------------------------------------- OOM is a result


@needs_torch
def test_out_of_memory_is_recorded(monkeypatch):
    import torch

    from vramatlas.measure import workload

    def boom(model, case):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(workload, "run_inference", boom)
    case = workload.Case(config=TINY, method=resolve("inference-bf16"), seq_len=8, new_tokens=2, device="cpu")
    res = workload.measure(case)
    assert res.outcome == "oom" and "Tried to allocate" in res.detail
    assert res.parameters == TINY_PARAMETERS and res.measured["cpu_peak_rss_bytes"] > 0
    doc = record.assemble(
        id="x",
        model=None,
        config=TINY,
        method="inference-bf16",
        gpu="h100-sxm",
        workload={"seq_len": 8, "new_tokens": 2, "batch": 1},
        parameters=res.parameters,
        measured={"process_peak_bytes": 10, "peak_reserved_bytes": 5},
        compare="process_peak_bytes",
        comparable=False,
        why_not_comparable="oom",
        outcome="oom",
        outcome_detail=res.detail,
        predicted_bytes=8,
        provenance={},
    )
    assert doc["outcome"] == "oom" and doc["predicted"]["error"] is None


# --------------------------------------------------------------------------- record


def test_error_is_relative_to_the_compared_quantity():
    doc = record.assemble(
        id="x",
        model="llama-2-7b",
        config=None,
        method="inference-bf16",
        gpu="h200",
        workload={"seq_len": 1024, "new_tokens": 16, "batch": 1},
        parameters=1,
        measured={"process_peak_bytes": 1000, "weights_loaded_bytes": 500},
        compare="process_peak_bytes",
        comparable=True,
        why_not_comparable=None,
        outcome="ok",
        outcome_detail=None,
        predicted_bytes=1050,
        provenance={},
    )
    assert doc["predicted"]["error"] == 0.05
    assert "why_not_comparable" not in doc and doc["config"] is None
    assert list(doc) == [
        "id",
        "model",
        "config",
        "method",
        "gpu",
        "workload",
        "parameters",
        "measured",
        "compare",
        "comparable",
        "outcome",
        "predicted",
        "provenance",
    ]
    assert list(doc["measured"]) == ["weights_loaded_bytes", "process_peak_bytes"]
    text = record.to_yaml(doc)
    assert "&" not in text and "*" not in text and yaml.safe_load(text) == doc


def test_match_gpu():
    gpus = {
        "h100-sxm": {"name": "NVIDIA H100 SXM5 80GB", "memory": {"usable_bytes": 85520809984}},
        "h100-pcie": {"name": "NVIDIA H100 PCIe 80GB", "memory": {"usable_bytes": 85520809984}},
        "h200": {"name": "NVIDIA H200", "memory": {"usable_bytes": 150754820096}},
        "rtx-4090": {"name": "NVIDIA GeForce RTX 4090", "memory": {"usable_bytes": 25757220864}},
        "a100-40gb": {"name": "NVIDIA A100 40GB", "memory": {"usable_bytes": 42505273344}},
        "a100-80gb": {"name": "NVIDIA A100 80GB", "memory": {"usable_bytes": 85899345920}},
    }
    assert record.match_gpu(gpus, "NVIDIA GeForce RTX 4090", 25757220864) == "rtx-4090"
    assert record.match_gpu(gpus, "NVIDIA H200", 150754820096) == "h200"
    assert record.match_gpu(gpus, "NVIDIA A100-SXM4-80GB", 85899345920) == "a100-80gb"
    assert record.match_gpu(gpus, "NVIDIA H100 80GB HBM3", 85520809984) == "h100-sxm"
    assert record.match_gpu(gpus, "NVIDIA H100 PCIe", 85520809984) == "h100-pcie"
    gpus["rtx-4080"] = {"name": "NVIDIA GeForce RTX 4080", "memory": {"usable_bytes": 17171480576}}
    gpus["rtx-4080-super"] = {"name": "NVIDIA GeForce RTX 4080 SUPER", "memory": {"usable_bytes": 17171480576}}
    assert record.match_gpu(gpus, "NVIDIA GeForce RTX 4080", 17171480576) == "rtx-4080"
    assert record.match_gpu(gpus, "NVIDIA GeForce RTX 4080 SUPER", 17171480576) == "rtx-4080-super"
    assert record.match_gpu(gpus, "NVIDIA GeForce RTX 4090", 12884901888) is None  # memory disagrees
    assert record.match_gpu(gpus, "Tesla T4", 15828320256) is None


def test_default_id_is_kebab():
    wl = {
        "seq_len": 32768,
        "new_tokens": 16,
        "batch": 1,
        "gradient_checkpointing": False,
        "optimizer": None,
        "lora_rank": None,
        "lora_targets": None,
    }
    assert (
        record.default_id(
            gpu="h100-sxm", device="cuda", model="llama-3.1-70b", config=None, method="inference-nf4", workload=wl
        )
        == "h100-sxm-llama-3.1-70b-inference-nf4-s32768-b1"
    )
    wl2 = dict(wl, new_tokens=0, gradient_checkpointing=True, optimizer="adamw8bit")
    mid = record.default_id(
        gpu=None, device="cpu", model=None, config={"model_type": "Llama"}, method="full-bf16", workload=wl2
    )
    assert mid.startswith("cpu-llama-") and mid.endswith("-full-bf16-s32768-b1-gc-adamw8bit")
    assert mid == mid.lower() and " " not in mid


# --------------------------------------------------------------------------- batch plans


def test_batch_plan_to_arguments(tmp_path: Path):
    from vramatlas.measure import batch

    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "defaults: {device: cuda}\ncases:\n"
        "  - {model: llama-3.1-8b, method: lora, seq-len: 1024, grad_checkpointing: false,"
        " lora_rank: 8}\n",
        encoding="utf-8",
    )
    (case,) = batch.load_plan(plan)
    assert batch.case_args(case) == [
        "--device",
        "cuda",
        "--model",
        "llama-3.1-8b",
        "--method",
        "lora",
        "--seq-len",
        "1024",
        "--no-grad-checkpointing",
        "--lora-rank",
        "8",
    ]
    with pytest.raises(ValueError):
        batch.case_args({"out": "x.yaml"})
    shipped = Path(batch.__file__).parent / "plans" / "gpu-batch-1.yaml"
    for case in batch.load_plan(shipped):
        assert record.variant_config(record.load_catalog_lenient(), case["model"]) is not None, case
        resolve(case["method"])
    assert batch.main([str(shipped), "--dry-run", "--out-dir", str(tmp_path / "out")]) == 0
