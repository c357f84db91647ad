"""`vramatlas estimate`: the breakdown and the verdict for one case, at the terminal."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .cli import CLIError
from .escape import one_line

GiB = 2**30
MAX_CONFIG_BYTES = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model",
        metavar="ID",
        help="a model variant id from the catalogue (e.g. llama-3.1-8b), or a Hugging Face repo ORG/NAME (its config.json, from the local cache or the Hub)",
    )
    model.add_argument(
        "--config", metavar="CONFIG.json", help="a Hugging Face config.json for a model not in the catalogue"
    )
    parser.add_argument(
        "--revision", metavar="REV", help="with --model ORG/NAME: a branch, tag or commit of the repo (default main)"
    )
    parser.add_argument(
        "--method", required=True, metavar="METHOD", help="a method id (e.g. inference-bf16, qlora, full-mixed)"
    )
    parser.add_argument(
        "--seq-len",
        type=int,
        default=None,
        metavar="N",
        help="prompt (inference) or training sequence length in tokens (default 2048, or the model's maximum if shorter)",
    )
    parser.add_argument(
        "--new-tokens",
        type=int,
        default=None,
        metavar="N",
        help="tokens generated after the prompt (inference; default 16)",
    )
    parser.add_argument(
        "--batch", type=int, default=1, metavar="N", help="sequences at once (per GPU for ddp/zero/fsdp; default 1)"
    )
    parser.add_argument("--gpu", metavar="GPU_ID", help="a GPU id: adds the verdict (fits) and the headroom")
    parser.add_argument("--gpus", type=int, default=1, metavar="N", help="number of GPUs (default 1)")
    parser.add_argument(
        "--parallelism",
        choices=("tp", "pp", "ddp", "zero1", "zero2", "zero3", "fsdp"),
        help="how the GPUs share the work (default: tp for inference, fsdp for training)",
    )
    gc = parser.add_mutually_exclusive_group()
    gc.add_argument(
        "--grad-checkpointing",
        dest="grad_checkpointing",
        action="store_true",
        default=None,
        help="recompute activations in backward (training)",
    )
    gc.add_argument(
        "--no-grad-checkpointing",
        dest="grad_checkpointing",
        action="store_false",
        help="keep every activation for backward (training)",
    )
    parser.add_argument("--lora-rank", type=int, metavar="R", help="LoRA rank (default 16)")
    parser.add_argument(
        "--lora-targets", metavar="MODULES", help="all-linear (default) or a comma list such as q_proj,v_proj"
    )
    parser.add_argument(
        "--optimizer",
        metavar="NAME",
        help="adamw, adamw-fp32, adamw8bit, sgd, sgd-nomomentum or lion (default: the method's)",
    )
    rt = parser.add_argument_group(
        "runtime", "how the runtime allocates (an option the runtime does not have is refused)"
    )
    rt.add_argument(
        "--runtime",
        metavar="ID",
        help="transformers, llama.cpp, ollama, vllm, sglang, mlx or unsloth (default: the method's, else transformers)",
    )
    rt.add_argument(
        "--quant",
        metavar="ID",
        help="weight format (catalog/quants: bf16, fp8, awq-int4, nf4, q4_k_m, iq4_xs, mlx-4bit, ...) replacing the method's",
    )
    rt.add_argument(
        "--ctx",
        type=int,
        metavar="N",
        help="context the runtime allocates (llama.cpp n_ctx, vLLM max_model_len; default seq-len + new tokens; alone, the prompt fills it)",
    )
    rt.add_argument(
        "--kv-dtype",
        metavar="DTYPE",
        help="KV-cache dtype: f16, bf16, fp8 (fp8_e4m3, fp8_e5m2), q8_0, q4_0 (as the runtime offers)",
    )
    rt.add_argument(
        "--flash-attn",
        choices=("on", "off"),
        help="flash attention (llama.cpp -fa; transformers training: FlashAttention-2)",
    )
    rt.add_argument("--ubatch", type=int, metavar="N", help="llama.cpp physical micro-batch n_ubatch (default 512)")
    rt.add_argument("--parallel", type=int, metavar="N", help="llama.cpp/Ollama parallel sequences (slots)")
    rt.add_argument(
        "--gpu-layers",
        type=int,
        metavar="N",
        help="llama.cpp -ngl: layers on the GPU (more than the model has: all, output included)",
    )
    rt.add_argument(
        "--cpu-moe",
        type=int,
        nargs="?",
        const=1 << 20,
        metavar="N",
        help="keep MoE experts in host memory (all layers, or the first N: --n-cpu-moe N)",
    )
    rt.add_argument(
        "--host-memory",
        type=_finite_float,
        metavar="GIB",
        help="host RAM for a partial offload's CPU part (default: the runtime's, 32 GiB)",
    )
    rt.add_argument(
        "--gpu-memory-utilization",
        type=_finite_float,
        metavar="F",
        help="vLLM gpu_memory_utilization / SGLang mem_fraction_static (0-1)",
    )
    rt.add_argument("--max-num-seqs", type=int, metavar="N", help="vLLM max_num_seqs (SGLang max_running_requests)")
    rt.add_argument(
        "--max-num-batched-tokens",
        type=int,
        metavar="N",
        help="vLLM max_num_batched_tokens (the profile run's tokens; SGLang chunked_prefill_size)",
    )
    rt.add_argument(
        "--host-bandwidth",
        type=_positive_float,
        metavar="GBPS",
        help="host RAM bandwidth in GB/s for layers kept on the CPU (default 60: dual-channel DDR5-4800 as STREAM measures it)",
    )
    parser.add_argument(
        "--train-tokens",
        type=_positive_float,
        metavar="N",
        help="training tokens to run (training): adds speed.train_hours",
    )
    parser.add_argument(
        "--allow-beyond-max",
        action="store_true",
        help="estimate a context longer than the model's max_position_embeddings instead of refusing it",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def read_config(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"{path}: no such file")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise CLIError(f"{path}: larger than 1 MiB; is this really a config.json?")
    try:
        data = json.loads(p.read_bytes().decode("utf-8"), parse_float=_finite_float, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    except RecursionError:
        raise CLIError(f"{path}: nested too deeply to be a config.json") from None
    except ValueError as exc:  # a number past float64 (1e400), NaN, or an integer of thousands of digits
        raise CLIError(f"{path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise CLIError(f"{path}: a config.json must be a JSON object, got {type(data).__name__}")
    return data


def _assumptions(est) -> str:
    i = est.inputs
    parts = [f"runtime {i.get('runtime') or 'transformers'}"]
    if i.get("optimizer"):
        parts.append(f"optimizer {i['optimizer']}")
        parts.append("gradient checkpointing " + ("on" if i["grad_checkpointing"] else "off"))
    if i.get("lora_rank"):
        parts.append(f"LoRA rank {i['lora_rank']} on {i['lora_targets']}")
    if i["gpus"] > 1:
        parts.append(f"{i['parallelism']} over {i['gpus']} GPUs")
    parts.append(f"{i['new_tokens']} new tokens" if i["new_tokens"] else "no generated tokens")
    if "mla_compressed" in i:
        parts.append("MLA cache " + ("compressed (the latent)" if i["mla_compressed"] else "decompressed (K and V)"))
    if "sliding_window_capped" in i:
        parts.append(
            "sliding-window layers "
            + ("keep only their window" if i["sliding_window_capped"] else "cache the whole context")
        )
    return "assumes: " + ", ".join(parts)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is past what float64 holds")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise ValueError(f"must be positive, got {text[:40]}")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a config.json may hold")


def render(est) -> str:
    lines = []
    i = est.inputs
    lines.append(
        f"{one_line(i['model'])} · {i['method']} · seq {i['seq_len']} · batch {i['batch']}"
        + (f" · {i['gpus']}×{i['gpu'] or 'GPU'} ({i['parallelism']})" if i["gpus"] > 1 else "")
    )
    params = f"parameters {est.parameters / 1e9:.2f} B"
    if est.active_parameters is not None and est.active_parameters != est.parameters:
        params += f" ({est.active_parameters / 1e9:.2f} B active)"
    lines.append(params + f" · peak phase: {est.phase}")
    lines.append(_assumptions(est))
    for text in est.warnings:
        lines.append(f"warning: {text}")
    for text in est.notes:
        lines.append(f"note: {text}")
    lines.append("")
    lines.append(f"{'component':18s} {'GiB':>9s} {'bytes':>16s}")
    for name, value in est.components.items():
        if value:
            lines.append(f"{name:18s} {value / GiB:9.2f} {value:16,d}")
    lines.append(f"{'peak (per GPU)':18s} {est.peak_bytes / GiB:9.2f} {est.peak_bytes:16,d}")
    if est.capacity_bytes is not None:
        verdict = "fits" if est.fits else "does NOT fit"
        lines.append("")
        lines.append(
            f"{i['gpu']}: {est.capacity_bytes / GiB:.2f} GiB usable → {verdict}, headroom {est.headroom_bytes / GiB:+.2f} GiB"
        )
        longest = est.extra.get("longest_context_that_fits")
        if longest is not None:
            unit = (
                "training sequence" if not i["new_tokens"] and i.get("optimizer") else "context (prompt + new tokens)"
            )
            top = i.get("max_positions")
            lines.append(
                f"longest {unit} that fits on one {i['gpu']}"
                + (f" ×{i['gpus']}" if i["gpus"] > 1 else "")
                + f": {longest:,} tokens"
                + (" (the model's maximum)" if top and longest == top else "")
            )
        par = est.extra.get("fewest_gpus_parallelism")
        if est.fewest_gpus is None:
            lines.append(f"fewest {i['gpu']} that fit ({par}): none up to 512")
        elif not est.fits or est.fewest_gpus < i["gpus"]:
            nodes = -(-est.fewest_gpus // 8)
            lines.append(
                f"fewest {i['gpu']} that fit ({par}): {est.fewest_gpus}"
                + (f" ({nodes} nodes of 8)" if est.fewest_gpus > 8 else "")
            )
        if not est.fits:
            fmt, option = est.extra.get("format_that_fits"), est.extra.get("format_that_fits_option")
            where = (
                "method of the same kind"
                if i.get("optimizer")
                else f"weight format {i.get('runtime') or 'the runtime'} loads"
            )
            lines.append(f"the smallest step down that fits: {option} {fmt}" if fmt else f"no smaller {where} fits")
    lines.extend(render_speed(est.extra.get("speed")))
    return "\n".join(lines)


RUNTIME_ARGS = (
    "runtime",
    "quant",
    "ctx",
    "kv_dtype",
    "flash_attn",
    "ubatch",
    "parallel",
    "gpu_layers",
    "cpu_moe",
    "host_memory",
    "gpu_memory_utilization",
    "max_num_seqs",
    "max_num_batched_tokens",
)


def runtime_inputs(args: argparse.Namespace) -> dict:
    """The runtime options given on the command line (those left out take the runtime's defaults)."""
    return {k: getattr(args, k) for k in RUNTIME_ARGS if getattr(args, k, None) is not None}


def render_speed(speed) -> list[str]:
    """The speed block as text lines (nothing without one)."""
    if not speed:
        return []
    lines = [""]
    if "train_tokens_per_s" in speed:
        lines.append(f"training: {speed['train_tokens_per_s']:,.0f} tokens/s over all GPUs")
        if speed.get("train_hours") is not None:
            lines.append(f"time for the training tokens: {speed['train_hours']:,.1f} hours")
        return lines
    lines.append(
        f"prefill: {speed['prefill_tokens_per_s']:,.0f} tokens/s (time to first token {speed['time_to_first_token_s']:.3g} s)"
    )
    lines.append(
        f"decode: {speed['decode_tokens_per_s']:,.1f} tokens/s per sequence, {speed['output_tokens_per_s']:,.1f} tokens/s for the batch"
    )
    return lines


def check_ranges(args: argparse.Namespace) -> None:
    """Every number given on the command line within its physical range (vramatlas.bounds), before any work."""
    from .bounds import input_problem

    for name, value in sorted(vars(args).items()):
        problem = input_problem(name.replace("_", "-"), value)
        if problem:
            raise CLIError(problem)


def run(args: argparse.Namespace) -> int:
    from .api import InputError, estimate
    from .catalog import load_catalog

    check_ranges(args)
    catalog = load_catalog()
    config = read_config(args.config) if args.config else None
    model = args.model
    if model is not None and model not in catalog.variants and "/" in model:
        from .hub import HubError, read_hub_config

        try:
            config = read_hub_config(model, revision=args.revision)
        except HubError as exc:
            raise CLIError(str(exc)) from None
        config.setdefault("_name_or_path", model)
        model = None
    elif args.revision:
        raise CLIError("--revision goes with --model ORG/NAME (a Hugging Face repo)")
    try:
        est = estimate(
            catalog,
            model=model,
            config=config,
            method=args.method,
            seq_len=args.seq_len,
            new_tokens=args.new_tokens,
            batch=args.batch,
            gpu=args.gpu,
            gpus=args.gpus,
            parallelism=args.parallelism,
            grad_checkpointing=args.grad_checkpointing,
            lora_rank=args.lora_rank,
            lora_targets=args.lora_targets,
            optimizer=args.optimizer,
            allow_beyond_max=args.allow_beyond_max,
            **runtime_inputs(args),
            host_bandwidth=None if args.host_bandwidth is None else args.host_bandwidth * 1e9,
            train_tokens=args.train_tokens,
        )
    except InputError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        json.dump(est.as_dict(), sys.stdout, indent=2)
        print()
    else:
        print(render(est))
    return 0
