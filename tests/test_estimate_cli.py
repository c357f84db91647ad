"""`vramatlas estimate` as a user runs it: real subprocesses, real files."""

import json
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "vramatlas", "estimate", *args], capture_output=True, text=True, timeout=60
    )


def test_json_has_the_contract_fields():
    out = run("--model", "llama-3.1-8b", "--method", "qlora", "--seq-len", "8192", "--gpu", "rtx-4090", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert isinstance(data["peak_bytes"], int) and data["peak_bytes"] > 0
    assert sum(data["components"].values()) == data["peak_bytes"]
    assert isinstance(data["fits"], bool)
    assert data["headroom_bytes"] == data["capacity_bytes"] - data["peak_bytes"]


def test_human_output_has_breakdown_and_verdict():
    out = run("--model", "llama-3.1-8b", "--method", "inference-bf16", "--gpu", "rtx-a4000", "--seq-len", "2048")
    assert out.returncode == 0
    assert "weights" in out.stdout and "kv_cache" in out.stdout and "peak (per GPU)" in out.stdout
    assert "rtx-a4000" in out.stdout and ("→ fits" in out.stdout or "→ does NOT fit" in out.stdout)


def test_a_real_config_json_with_extra_fields(tmp_path):
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
        "rope_scaling": {"factor": 32.0, "rope_type": "llama3"},
        "torch_dtype": "bfloat16",
        "bos_token_id": 128000,
        "some_future_field": [1, 2, 3],
    }
    p = tmp_path / "config.json"
    p.write_text(json.dumps(config))
    out = run("--config", str(p), "--method", "inference-bf16", "--json")
    assert out.returncode == 0, out.stderr
    by_id = json.loads(run("--model", "llama-3.2-1b", "--method", "inference-bf16", "--json").stdout)
    assert json.loads(out.stdout)["components"]["weights"] == by_id["components"]["weights"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope", "--method", "qlora"], "unknown model"),
        (["--model", "llama-2-7b", "--method", "qlora", "--seq-len", "-4"], "seq-len"),
        (["--model", "llama-2-7b", "--method", "qlora", "--gpu", "gtx-9999"], "unknown GPU"),
        (["--config", "/nonexistent/config.json", "--method", "qlora"], "no such file"),
        (["--model", "llama-2-7b"], "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    # One line names the problem (argparse usage errors print the usage above it).
    assert message in out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("content", ['{"hidden_size": 10', "[1, 2]", '{"hidden_size": 64}', "\xff\xfe"])
def test_malformed_configs_exit_2(tmp_path, content):
    p = tmp_path / "config.json"
    p.write_bytes(content.encode("latin-1"))
    out = run("--config", str(p), "--method", "inference-bf16")
    assert out.returncode == 2, out.stdout
    assert "Traceback" not in out.stderr and out.stderr.strip()
