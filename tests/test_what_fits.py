"""What the CLI says beyond the peak: parameters, what would fit, hub ids, `vramatlas list`, did-you-mean."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vramatlas.api import InputError, case_row, estimate, fewest_gpus, longest_context_that_fits
from vramatlas.catalog import load_catalog
from vramatlas.hub import HubError, read_hub_config
from vramatlas.memory import estimate_columns

CONFIGS = Path(__file__).parent / "fixtures" / "configs"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "vramatlas", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# ------------------------------------------------------------ what would fit


def test_longest_context_is_the_last_that_fits(catalog):
    inputs = dict(model="llama-3.1-8b", method="inference-bf16", gpu="rtx-4090", new_tokens=16)
    est = estimate(catalog, seq_len=2048, **inputs)
    longest = est.extra["longest_context_that_fits"]
    assert 2048 < longest < 131072
    assert estimate(catalog, seq_len=longest - 16, **inputs).fits
    assert not estimate(catalog, seq_len=longest - 16 + 1, **inputs).fits


def test_longest_context_stops_at_the_model_maximum(catalog):
    est = estimate(catalog, model="llama-3.2-1b", method="inference-bf16", gpu="h200", seq_len=1024)
    assert est.extra["longest_context_that_fits"] == 131072


def test_fewest_gpus_keeps_the_parallelism_asked(catalog):
    row = case_row(catalog, model="llama-3.1-70b", method="inference-bf16", gpu="rtx-4090", gpus=2, parallelism="pp")
    n, par = fewest_gpus(row)
    assert par == "pp" and n is not None
    assert estimate_columns({**row, "gpus": float(n)})["fits"]
    ddp = case_row(catalog, model="llama-3.1-70b", method="inference-bf16", gpu="rtx-4090", gpus=2, parallelism="ddp")
    assert fewest_gpus(ddp) == (None, "ddp")  # replicas never fit more than one GPU does


def test_a_format_that_fits_is_named_when_the_asked_one_does_not(catalog):
    est = estimate(catalog, model="llama-3.1-8b", method="inference-bf16", gpu="rtx-4060", seq_len=2048)
    assert not est.fits
    option, fid = est.extra["format_that_fits_option"], est.extra["format_that_fits"]
    assert option == "--quant" and fid in catalog.quants
    assert estimate(
        catalog, model="llama-3.1-8b", method="inference-bf16", gpu="rtx-4060", seq_len=2048, quant=fid
    ).fits


def test_parameters_and_active_parameters_are_integers_in_the_json():
    out = run("estimate", "--model", "mixtral-8x7b", "--method", "inference-bf16", "--json")
    data = json.loads(out.stdout)
    assert isinstance(data["parameters"], int) and isinstance(data["active_parameters"], int)
    assert 12.8e9 < data["active_parameters"] < 13.0e9 < data["parameters"]


def test_the_text_states_its_assumptions_and_what_fits():
    out = run("estimate", "--model", "llama-3.1-8b", "--method", "qlora", "--gpu", "rtx-4090", "--seq-len", "4096")
    assert out.returncode == 0, out.stderr
    assert "assumes: runtime" in out.stdout and "optimizer" in out.stdout and "LoRA rank 16" in out.stdout
    assert "longest training sequence that fits" in out.stdout


def test_a_context_beyond_the_maximum_is_refused_unless_allowed():
    out = run("estimate", "--model", "llama-2-7b", "--method", "inference-bf16", "--seq-len", "8192")
    assert out.returncode == 2 and "beyond llama-2-7b's maximum of 4096" in out.stderr and out.stderr.count("\n") == 1
    ok = run(
        "estimate",
        "--model",
        "llama-2-7b",
        "--method",
        "inference-bf16",
        "--seq-len",
        "8192",
        "--allow-beyond-max",
        "--json",
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["inputs"]["seq_len"] == 8192


def test_the_default_prompt_is_shortened_to_a_short_model_maximum(catalog):
    short = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "vocab_size": 100,
        "intermediate_size": 128,
        "max_position_embeddings": 1024,
    }
    row = case_row(catalog, config=short, method="inference-bf16", allow_beyond_max=False)
    assert row["seq_len"] + row["new_tokens"] == 1024


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "args, expected",
    [
        (("--model", "llama-3.1-8", "--method", "inference-bf16"), "did you mean llama-3.1-8b"),
        (("--model", "llama-3.1-8b", "--method", "inferense-bf16"), "did you mean inference-bf16"),
        (("--model", "llama-3.1-8b", "--method", "inference-bf16", "--gpu", "rtx-409"), "did you mean rtx-4090"),
        (("--model", "llama-3.1-8b", "--method", "inference-bf16", "--seq-len", "abc"), "invalid int value: 'abc'"),
    ],
)
def test_bad_input_is_one_line_with_the_closest_ids(args, expected):
    out = run("estimate", *args)
    assert out.returncode == 2
    assert expected in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert "--list" not in out.stderr


# -------------------------------------------------------------------- list


@pytest.mark.parametrize("kind", ["models", "gpus", "methods", "runtimes", "quants"])
def test_list_every_kind(kind, catalog):
    out = run("list", kind, "--json")
    assert out.returncode == 0, out.stderr
    ids = [e["id"] for e in json.loads(out.stdout)]
    table = catalog.variants if kind == "models" else getattr(catalog, kind)
    assert ids == sorted(table) and ids
    text = run("list", kind)
    assert text.stdout.count("\n") == len(ids)


# --------------------------------------------------------------------- hub


def _cache(tmp_path: Path, repo: str, config: dict, commit: str = "0" * 40) -> Path:
    """A Hugging Face cache folder as huggingface_hub lays it out: refs/main -> snapshots/<commit>/config.json."""
    root = tmp_path / "hub"
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snap = folder / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(config))
    return root


def test_a_hub_id_reads_config_json_from_the_local_cache_offline(tmp_path):
    cfg = json.loads((CONFIGS / "qwen3-coder-next.json").read_text())
    root = _cache(tmp_path, "Qwen/Qwen3-Coder-Next", cfg)
    assert read_hub_config("Qwen/Qwen3-Coder-Next", cache_dir=root) == cfg
    env = {"HF_HUB_CACHE": str(root), "HF_HUB_OFFLINE": "1"}
    out = run("estimate", "--model", "Qwen/Qwen3-Coder-Next", "--method", "inference-bf16", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["inputs"]["model"] == "Qwen/Qwen3-Coder-Next"
    assert abs(data["parameters"] - 79_674_391_296) < 10_000


def test_a_missing_repo_offline_is_one_line(tmp_path):
    root = _cache(tmp_path, "org/present", {"model_type": "llama"})
    env = {"HF_HUB_CACHE": str(root), "HF_HUB_OFFLINE": "1"}
    out = run("estimate", "--model", "org/absent", "--method", "inference-bf16", env=env)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "org/absent" in out.stderr and "HF_HUB_OFFLINE" in out.stderr
    with pytest.raises(HubError, match="not a Hugging Face repo id"):
        read_hub_config("not a repo", cache_dir=root)


def test_revision_without_a_hub_id_is_refused():
    out = run("estimate", "--model", "llama-3.1-8b", "--method", "inference-bf16", "--revision", "main")
    assert out.returncode == 2 and "--revision goes with --model ORG/NAME" in out.stderr


def test_input_errors_from_the_api_are_input_errors(catalog):
    with pytest.raises(InputError, match="did you mean"):
        estimate(catalog, model="mixtral-8x7", method="inference-bf16")
    assert (
        longest_context_that_fits(case_row(catalog, model="llama-3.1-70b", method="inference-bf16", gpu="rtx-4060"))
        == 0
    )
