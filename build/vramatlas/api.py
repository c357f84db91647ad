"""The Python API: one estimate, or a frame of cases, from catalogue ids.

``estimate(catalog, model="llama-3.1-8b", method="qlora", seq_len=8192,
gpu="rtx-4090")`` returns an :class:`Estimate`. Everything goes through
:func:`case_row` and :func:`vramatlas.memory.estimate_columns`, the same code
the compatibility matrix runs on millions of rows; here on plain Python
floats, so one estimate imports neither numpy nor pandas (the browser
calculator runs this path under Pyodide).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .arch import ConfigError, architecture
from .memory import COMPONENTS, DEFAULT_CUDA_CONTEXT, OPTIMIZERS, PARALLELISMS, bits_per_weight, estimate_columns

LORA_MODULES = ("q", "k", "v", "o", "gate", "up", "down")
LORA_ALIASES = {f"{m}_proj": m for m in LORA_MODULES} | {m: m for m in LORA_MODULES}
DEFAULT_LORA_RANK = 16
DEFAULT_LORA_TARGETS = "all-linear"
DEFAULT_NEW_TOKENS = 16
WEIGHT_KINDS = ("linear", "embedding", "lm_head", "other")
GPU_COUNTS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512)  # whole nodes of 8 beyond one node


class InputError(ValueError):
    """Input that cannot be estimated: the message names the problem in one line."""


@dataclass(frozen=True)
class Estimate:
    peak_bytes: int
    components: dict[str, int]
    phase: str
    inputs: dict[str, Any] = field(default_factory=dict)
    capacity_bytes: int | None = None
    fits: bool | None = None
    headroom_bytes: int | None = None
    fewest_gpus: int | None = None  # with a GPU: the smallest count of it that fits (None: more than GPU_COUNTS allows)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "peak_bytes": self.peak_bytes,
            "peak_gib": round(self.peak_bytes / 2**30, 3),
            "phase": self.phase,
            "components": dict(self.components),
            "inputs": dict(self.inputs),
        }
        if self.capacity_bytes is not None:
            out.update(
                capacity_bytes=self.capacity_bytes,
                fits=self.fits,
                headroom_bytes=self.headroom_bytes,
                fewest_gpus=self.fewest_gpus,
                fewest_nodes_of_8=None if self.fewest_gpus is None else -(-self.fewest_gpus // 8),
            )
        return out


# --------------------------------------------------------------- columns


def method_columns(method: Mapping[str, Any]) -> dict[str, float]:
    """The method as numbers: storage bits per weight kind, what trains, dtypes."""
    weights = method["weights"]
    cols: dict[str, float] = {}
    for kind in WEIGHT_KINDS:
        spec = weights[kind]
        cols[f"bpw_{kind}"] = float(
            bits_per_weight(
                spec["bits"],
                spec.get("block_size") or 0,
                spec.get("scale_bits") or 0,
                spec.get("scale_block_size") or 0,
                spec.get("scale2_bits") or 0,
            )
        )
    trainable = method.get("trainable", "none")
    cols.update(
        training=float(method["kind"] == "training"),
        dequantize_for_matmul=float(bool(weights["linear"].get("dequantize_for_matmul"))),
        compute_bits=float(method["compute_bits"]),
        kv_cache_bits=float(method.get("kv_cache_bits") or method["compute_bits"]),
        train_all=float(trainable == "all"),
        train_lora=float(trainable == "lora"),
        adapter_bits=float(method.get("adapter_bits") or 0),
        gradient_bits=float(method.get("gradient_bits") or 0),
        master_weight_bits=float(method.get("master_weight_bits") or 0),
        autocast_copy_bits=float(method.get("autocast_copy_bits") or 0),
        logits_bits=float(method.get("logits_bits") or 32),
        prefill_chunk=float(method.get("prefill_chunk_tokens") or 0),
        caching_allocator=float(method.get("allocator", "pytorch-caching") == "pytorch-caching"),
    )
    return cols


def optimizer_columns(name: str | None) -> dict[str, float]:
    if name is None:
        return {"opt_states": 0.0, "opt_state_bytes": 0.0, "opt_extra_bytes": 0.0}
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer '{name}' (known: {', '.join(OPTIMIZERS)})")
    spec = OPTIMIZERS[name]
    state = spec["state_bytes"]
    return {
        "opt_states": spec["states"],
        "opt_state_bytes": math.nan if state is None else float(state),
        "opt_extra_bytes": spec["extra_bytes"],
    }


def parse_lora_targets(targets: str | Iterable[str] | None) -> tuple[str, ...]:
    """'all-linear' or 'q_proj,v_proj' (peft's names, or q,k,v,o,gate,up,down)."""
    if targets is None or targets == DEFAULT_LORA_TARGETS:
        return LORA_MODULES
    names = targets.split(",") if isinstance(targets, str) else list(targets)
    out = []
    for name in (n.strip() for n in names):
        if name not in LORA_ALIASES:
            raise InputError(f"unknown LoRA target '{name}' (use all-linear or names from {', '.join(m + '_proj' for m in LORA_MODULES)})")
        out.append(LORA_ALIASES[name])
    if not out:
        raise InputError("--lora-targets is empty")
    return tuple(dict.fromkeys(out))


def lora_columns(arch: Mapping[str, float], targets: tuple[str, ...]) -> dict[str, float]:
    """(in + out) summed over the adapted layers, and the input widths peft copies to fp32 per layer."""
    in_width = {
        "q": arch["hidden"],
        "k": arch["hidden"],
        "v": arch["hidden"],
        "o": arch["heads"] * arch["v_head_dim"] if not arch["recurrent"] else arch["hidden"],
        "gate": arch["hidden"],
        "up": arch["hidden"],
        "down": arch["intermediate"] if arch["dense_layers"] else arch["moe_intermediate"] * arch["experts_active"],
    }
    present = [t for t in targets if arch[f"lora_{t}"] > 0]
    return {
        "lora_io": float(sum(arch[f"lora_{t}"] for t in present)),
        "lora_in_width": float(sum(in_width[t] for t in present)),
    }


def gpu_columns(gpu: Mapping[str, Any] | None) -> dict[str, float]:
    if gpu is None:
        return {"capacity_bytes": math.nan, "cuda_context_bytes": float(DEFAULT_CUDA_CONTEXT)}
    memory = gpu["memory"]
    share = memory.get("gpu_share") or 1.0
    return {
        "capacity_bytes": float(math.floor(memory["usable_bytes"] * share)),
        "cuda_context_bytes": float(gpu.get("cuda_context_bytes") or DEFAULT_CUDA_CONTEXT),
    }


# ----------------------------------------------------------------- cases


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def resolve_model(
    catalog, model: str | None, config: Mapping[str, Any] | None, parameters: int | None = None
) -> tuple[str, dict[str, float]]:
    if (model is None) == (config is None):
        raise InputError("give exactly one of a model id or a config")
    if model is not None:
        variant = catalog.variants.get(model)
        if variant is None:
            raise InputError(f"unknown model '{model}' (see 'vramatlas estimate --list models')")
        return model, architecture(variant["config"], variant.get("parameters"))
    try:
        return str(config.get("_name_or_path") or config.get("model_type") or "config"), architecture(config, parameters)
    except ConfigError as exc:
        raise InputError(f"config: {exc}") from None


def case_row(
    catalog,
    *,
    model: str | None = None,
    config: Mapping[str, Any] | None = None,
    parameters: int | None = None,
    method: str,
    seq_len: int = 2048,
    new_tokens: int | None = None,
    batch: int = 1,
    gpu: str | None = None,
    gpus: int = 1,
    parallelism: str | None = None,
    grad_checkpointing: bool | None = None,
    lora_rank: int | None = None,
    lora_targets: str | Iterable[str] | None = None,
    optimizer: str | None = None,
) -> dict[str, Any]:
    """One fully resolved case: every column `estimate_frame` reads.

    `parameters`, with a config, is the model's exact count when known (it
    fixes the small unquantized parameters the module count does not see).
    """
    model_id, arch = resolve_model(catalog, model, config, parameters)
    spec = catalog.methods.get(method)
    if spec is None:
        raise InputError(f"unknown method '{method}' (known: {', '.join(sorted(catalog.methods))})")
    gpu_spec = None
    if gpu is not None:
        gpu_spec = catalog.gpus.get(gpu)
        if gpu_spec is None:
            raise InputError(f"unknown GPU '{gpu}' (see catalog/gpus/)")
    training = spec["kind"] == "training"
    seq_len = _count("seq-len", seq_len, 1)
    batch = _count("batch", batch, 1)
    gpus = _count("gpus", gpus, 1)
    new_tokens = _count("new-tokens", DEFAULT_NEW_TOKENS if new_tokens is None else new_tokens, 0)
    if training:
        new_tokens = 0
    par = parallelism or ("none" if gpus == 1 else ("fsdp" if training else "tp"))
    if par not in PARALLELISMS:
        raise InputError(f"unknown parallelism '{par}' (known: {', '.join(PARALLELISMS[1:])})")
    lora = spec.get("trainable") == "lora"
    rank = _count("lora-rank", DEFAULT_LORA_RANK if lora_rank is None else lora_rank, 1) if lora else 0
    targets = parse_lora_targets(lora_targets) if lora else ()
    opt = (optimizer or spec.get("optimizer")) if training else None
    gc = bool(spec.get("gradient_checkpointing")) if grad_checkpointing is None else bool(grad_checkpointing)
    row: dict[str, Any] = {"model": model_id, "method": method, "gpu": gpu}
    row.update(arch)
    row.update(method_columns(spec))
    row.update(optimizer_columns(opt))
    row.update(lora_columns(arch, targets) if lora else {"lora_io": 0.0, "lora_in_width": 0.0})
    row.update(gpu_columns(gpu_spec))
    row.update(
        seq_len=float(seq_len),
        new_tokens=float(new_tokens),
        batch=float(batch),
        gpus=float(gpus),
        parallelism=par,
        grad_checkpointing=float(gc and training),
        lora_rank=float(rank),
        optimizer=opt,
        lora_targets=",".join(targets) if lora else None,
    )
    return row


def fewest_gpus(row: Mapping[str, Any]) -> int | None:
    """The smallest GPU count in GPU_COUNTS at which the case fits (one scalar estimate per count).

    The parallelism is the row's when it shards (tp, pp, zero*, fsdp), else tp
    for inference and fsdp for training: replicas (ddp) never fit more.
    """
    par = row["parallelism"]
    if par in ("none", "ddp"):
        par = "fsdp" if row["training"] else "tp"
    for n in GPU_COUNTS:
        if estimate_columns({**row, "gpus": float(n), "parallelism": par if n > 1 else "none"})["fits"]:
            return n
    return None


def estimate(catalog, **inputs: Any) -> Estimate:
    """Predicted peak GPU memory of one case (see :func:`case_row` for the inputs)."""
    row = case_row(catalog, **inputs)
    result = estimate_columns(row)
    capacity = row["capacity_bytes"]
    has_gpu = not math.isnan(capacity)
    shown = {k: row[k] for k in ("model", "method", "gpu", "seq_len", "new_tokens", "batch", "gpus", "parallelism", "grad_checkpointing", "lora_rank", "lora_targets", "optimizer")}
    for key in ("seq_len", "new_tokens", "batch", "gpus", "lora_rank"):
        shown[key] = int(shown[key])
    shown["grad_checkpointing"] = bool(shown["grad_checkpointing"])
    return Estimate(
        peak_bytes=int(result["peak_bytes"]),
        components={k: int(result[k]) for k in COMPONENTS},
        phase=str(result["phase"]),
        inputs=shown,
        capacity_bytes=int(capacity) if has_gpu else None,
        fits=bool(result["fits"]) if has_gpu else None,
        headroom_bytes=round(result["headroom_bytes"]) if has_gpu else None,
        fewest_gpus=fewest_gpus(row) if has_gpu else None,
    )
