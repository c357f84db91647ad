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

from .arch import ConfigError, Reading, active_parameters, read
from .bounds import config_problems, input_problem, predicted_problem, reading_problem
from .memory import COMPONENTS, DEFAULT_CUDA_CONTEXT, OPTIMIZERS, PARALLELISMS, bits_per_weight, estimate_columns

LORA_MODULES = ("q", "k", "v", "o", "gate", "up", "down")
LORA_ALIASES = {f"{m}_proj": m for m in LORA_MODULES} | {m: m for m in LORA_MODULES}
DEFAULT_LORA_RANK = 16
DEFAULT_LORA_TARGETS = "all-linear"
DEFAULT_NEW_TOKENS = 16
DEFAULT_SEQ_LEN = 2048  # shortened to the model's maximum when that is less
WEIGHT_KINDS = ("linear", "embedding", "lm_head", "other")
GPU_COUNTS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512)  # whole nodes of 8 beyond one node


# How a runtime stores the cache and state terms (see vramatlas.arch): transformers' behaviour by
# default; a runtime's catalogue file sets its own.
RUNTIME_CACHE_DEFAULTS = {
    "mla_compressed": 0.0,  # transformers caches MLA's decompressed K and V (DeepseekV3Attention)
    "sliding_window_capped": 1.0,  # DynamicSlidingWindowLayer keeps only the window
    "indexer_cache_bits": 0.0,  # 0: the indexer keys in the KV cache's dtype
    "state_bits": 0.0,  # 0: conv state in the compute dtype, SSM state fp32 where the model says
}


def runtime_cache_columns(runtime: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The cache-layout columns of a case: the runtime's own values over transformers' defaults."""
    cols = dict(RUNTIME_CACHE_DEFAULTS)
    for key, value in ((runtime or {}).get("kv_cache") or {}).items():
        if key in cols and value is not None:
            cols[key] = float(value)
    return cols


ALWAYS_SHOWN = ("runtime_log", "runtime_log_per_gpu", "host_bytes")


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
    parameters: int | None = None
    active_parameters: int | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # with a GPU: what would fit (see estimate)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "peak_bytes": self.peak_bytes,
            "peak_gib": round(self.peak_bytes / 2**30, 3),
            "phase": self.phase,
            "components": dict(self.components),
            "parameters": self.parameters,
            "active_parameters": self.active_parameters,
            "inputs": dict(self.inputs),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }
        for key in ALWAYS_SHOWN:  # the runtime's own log lines are shown with or without a GPU
            if key in self.extra:
                out[key] = self.extra[key]
        if self.capacity_bytes is not None:
            out.update(
                capacity_bytes=self.capacity_bytes,
                fits=self.fits,
                headroom_bytes=self.headroom_bytes,
                fewest_gpus=self.fewest_gpus,
                fewest_nodes_of_8=None if self.fewest_gpus is None else -(-self.fewest_gpus // 8),
                **{k: v for k, v in self.extra.items() if k not in ALWAYS_SHOWN},
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
            raise InputError(
                f"unknown LoRA target '{name}' (use all-linear or names from {', '.join(m + '_proj' for m in LORA_MODULES)})"
            )
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
    too_big = input_problem(name, value)  # past the physical range (vramatlas.bounds)
    if too_big:
        raise InputError(too_big)
    return int(value)


def _read_within_bounds(config: Mapping[str, Any], parameters: Any) -> Reading:
    """The architecture reader's view of a config, once every value is within its physical range."""
    for _path, message in config_problems(config):
        raise InputError(message)
    too_big = input_problem("parameters", parameters)
    if too_big:
        raise InputError(too_big)
    try:
        reading = read(config, parameters)
    except ConfigError as exc:
        raise InputError(f"config: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # a value of the wrong kind deep in the config
        raise InputError(f"config: cannot be read ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    too_big = reading_problem(reading.columns)
    if too_big:
        raise InputError(too_big)
    return reading


def resolve_reading(
    catalog, model: str | None, config: Mapping[str, Any] | None, parameters: int | None = None
) -> tuple[str, Reading]:
    """(the model's id, the reader's view of it) from a catalogue id or a config.json."""
    if (model is None) == (config is None):
        raise InputError("give exactly one of a model id or a config")
    if model is not None:
        variant = catalog.variants.get(model)
        if variant is None:
            raise InputError(unknown_id_message("model", model, catalog.variants))
        return model, _read_within_bounds(variant["config"], variant.get("parameters"))
    return (
        str(config.get("_name_or_path") or config.get("model_type") or "config"),
        _read_within_bounds(config, parameters),
    )


def resolve_model(
    catalog, model: str | None, config: Mapping[str, Any] | None, parameters: int | None = None
) -> tuple[str, dict[str, float]]:
    model_id, reading = resolve_reading(catalog, model, config, parameters)
    return model_id, reading.columns


def unknown_id_message(kind: str, wanted: str, known: Iterable[str]) -> str:
    """ "unknown GPU 'rtx-409' (did you mean rtx-4090, rtx-4080?; 'vramatlas list gpus' lists all)"."""
    from .suggest import closest

    plural = {"GPU": "gpus", "model": "models", "method": "methods", "runtime": "runtimes", "quant": "quants"}.get(
        kind, kind + "s"
    )
    near = closest(wanted, known)
    hint = f"did you mean {', '.join(near)}? " if near else ""
    return f"unknown {kind} '{wanted}' ({hint}'vramatlas list {plural}' lists them all)"


def case_row(
    catalog,
    *,
    model: str | None = None,
    config: Mapping[str, Any] | None = None,
    parameters: int | None = None,
    method: str,
    seq_len: int | None = None,
    new_tokens: int | None = None,
    batch: int = 1,
    gpu: str | None = None,
    gpus: int = 1,
    parallelism: str | None = None,
    grad_checkpointing: bool | None = None,
    lora_rank: int | None = None,
    lora_targets: str | Iterable[str] | None = None,
    optimizer: str | None = None,
    allow_beyond_max: bool = True,
    runtime: str | None = None,
    quant: str | None = None,
    **run_options: Any,
) -> dict[str, Any]:
    """One fully resolved case: every column `estimate_columns` reads.

    `runtime` (a catalog/runtimes id; default: the method's runtime, else transformers), `quant` (a
    catalog/quants id replacing the method's weights) and the runtime options of
    :class:`vramatlas.runtimes.RunOptions` (ctx, ubatch, parallel, kv_dtype, flash_attn, gpu_layers,
    cpu_moe, host_memory, gpu_memory_utilization, max_num_seqs, max_num_batched_tokens).

    `parameters`, with a config, is the model's exact count when known (it
    fixes the small unquantized parameters the module count does not see).
    With `allow_beyond_max=False` (the CLI's default) a context beyond the
    model's `max_position_embeddings` is refused.
    """
    inputs_default_seq = seq_len is None
    if seq_len is None and run_options.get("ctx") is not None:  # --ctx alone: the prompt fills it
        ctx = _count("ctx", run_options["ctx"], 1)
        seq_len = max(ctx - (DEFAULT_NEW_TOKENS if new_tokens is None else int(new_tokens)), 1)
        inputs_default_seq = False
    model_id, reading = resolve_reading(catalog, model, config, parameters)
    arch = reading.columns
    spec = catalog.methods.get(method)
    if spec is None:
        raise InputError(unknown_id_message("method", method, catalog.methods))
    gpu_spec = None
    if gpu is not None:
        gpu_spec = catalog.gpus.get(gpu)
        if gpu_spec is None:
            raise InputError(unknown_id_message("GPU", gpu, catalog.gpus))
    training = spec["kind"] == "training"
    seq_len = _count("seq-len", DEFAULT_SEQ_LEN if seq_len is None else seq_len, 1)
    batch = _count("batch", batch, 1)
    gpus = _count("gpus", gpus, 1)
    new_tokens = _count("new-tokens", DEFAULT_NEW_TOKENS if new_tokens is None else new_tokens, 0)
    if training:
        new_tokens = 0
    max_positions = int(arch.get("max_positions") or 0)
    if inputs_default_seq and max_positions and seq_len + new_tokens > max_positions:
        seq_len = max(max_positions - new_tokens, 1)  # the default prompt, shortened to fit the model's maximum
    if max_positions and seq_len + new_tokens > max_positions and not allow_beyond_max:
        raise InputError(
            f"context {seq_len + new_tokens} tokens (seq-len {seq_len} + new-tokens {new_tokens}) is beyond {model_id}'s "
            f"maximum of {max_positions} (max_position_embeddings); give --allow-beyond-max to estimate it anyway"
        )
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
    runtime_spec = resolve_runtime(catalog, runtime, spec)
    from .runtimes import unsupported_reason

    refused = unsupported_reason(runtime_spec, reading.mixers, published_precision(catalog, model))
    if refused:
        raise InputError(refused)
    row.update(runtime_cache_columns(runtime_spec))
    row.update(
        _runtime_row(
            catalog, runtime_spec, quant, run_options, arch, gpu_spec, gpus, seq_len, new_tokens, batch, training
        )
    )
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


def published_precision(catalog, model: str | None) -> str | None:
    """The catalogue model's checkpoint precision (its family's weights_native); None for a bare config."""
    variant = catalog.variants.get(model) if model is not None else None
    return catalog.models[variant["family"]].get("weights_native") if variant else None


def resolve_runtime(catalog, runtime: str | None, method: Mapping[str, Any]) -> Mapping[str, Any]:
    """The runtime file: the one asked for, else the method's own when it is a catalogue runtime, else transformers."""
    if runtime is None:
        runtime = method.get("runtime") if method.get("runtime") in catalog.runtimes else "transformers"
    spec = catalog.runtimes.get(runtime)
    if spec is None:
        raise InputError(unknown_id_message("runtime", runtime, catalog.runtimes))
    return spec


def _runtime_row(catalog, runtime, quant, run_options, arch, gpu, gpus, seq_len, new_tokens, batch, training):
    """The runtime's columns (vramatlas.runtimes) and, with --quant, the weight format's bits per weight."""
    from .runtimes import RunOptions, RuntimeInputError, quant_columns, resolve_quant, runtime_columns

    unknown = set(run_options) - set(RunOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown estimate inputs: {', '.join(sorted(unknown))}")
    options = RunOptions(**run_options)
    try:
        cols = runtime_columns(
            catalog,
            runtime,
            options,
            arch,
            gpu=gpu,
            gpus=gpus,
            seq_len=seq_len,
            new_tokens=new_tokens,
            batch=batch,
            training=training,
        )
        spec = resolve_quant(catalog, runtime, quant)
        if spec is not None:
            cols.update(quant_columns(catalog, spec, arch))
    except RuntimeInputError as exc:
        raise InputError(str(exc)) from None
    cols["runtime"] = runtime["id"]
    cols["quant"] = quant
    return cols


def fewest_gpus(row: Mapping[str, Any]) -> tuple[int | None, str]:
    """(the smallest GPU count in GPU_COUNTS at which the case fits, the parallelism it assumes).

    The parallelism is the one asked for; on one GPU with none asked, the multi-GPU default
    (`tp` for inference, `fsdp` for training, as ``--parallelism`` documents). Replicas (`ddp`)
    never fit more than one GPU does: 1 if the case fits, else None. Evaluated as one frame.
    """
    par = row["parallelism"]
    if par == "none":
        par = "fsdp" if row["training"] else "tp"
    counts = (1,) if par == "ddp" else GPU_COUNTS
    for n in counts:
        if estimate_columns({**row, "gpus": float(n), "parallelism": par if n > 1 else "none"})["fits"]:
            return n, par
    return None, par


def longest_context_that_fits(row: Mapping[str, Any], limit: int | None = None) -> int:
    """The longest context (prompt + new tokens, or the training sequence) that fits: a bisection.

    The peak grows with the context (a property the tests check), so the answer is exact to the
    token. Bounded by the model's maximum (``limit`` when given); 0 when not even one token fits.
    """
    new = int(row["new_tokens"])
    top = int(limit or row.get("max_positions") or 0) or 1 << 24

    def fits(context: int) -> bool:
        seq = max(context - new, 1)
        return bool(estimate_columns({**row, "seq_len": float(seq)})["fits"])

    low = new + 1
    if not fits(low):
        return 0
    if fits(top):
        return top
    high = top  # fits(low) and not fits(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def format_that_fits(catalog, row: Mapping[str, Any], method: str) -> tuple[str, str] | None:
    """(the option, the id) of the format with the most bits per weight that fits, when the one asked does not.

    Inference: the weight formats the same runtime loads (its ``weight_formats``), as ``--quant``.
    Training: the methods that train the same way (LoRA, full), as ``--method``. Only formats with fewer
    bits per weight than the one asked are candidates; the first that fits is the smallest step down.
    """
    from .runtimes import quant_columns

    current = row["bpw_linear"]
    candidates: list[tuple[float, str, str, dict[str, float]]] = []
    runtime = catalog.runtimes.get(row.get("runtime") or "")
    # formats that only weights trained that way can use (the methods' for_weights_native: ternary)
    native_only = {w for m in catalog.methods.values() for w in (m.get("for_weights_native") or ())}
    variant = catalog.variants.get(row.get("model") or "")
    own = catalog.models[variant["family"]].get("weights_native") if variant else None
    if not row["training"] and runtime:
        for qid in runtime.get("weight_formats") or ():
            spec = catalog.quants.get(qid)
            if (
                spec is None
                or qid == row.get("quant")
                or (spec.get("family") in native_only and spec.get("family") != own)
            ):
                continue
            cols = quant_columns(catalog, spec, row)
            candidates.append((cols["bpw_linear"], "--quant", qid, cols))
    else:
        spec = catalog.methods[method]
        for mid, other in catalog.methods.items():
            if mid == method or other["kind"] != spec["kind"] or other.get("trainable") != spec.get("trainable"):
                continue
            if other.get("for_weights_native"):
                continue
            cols = method_columns(other)
            candidates.append((cols["bpw_linear"], "--method", mid, cols))
    for bits, option, fid, cols in sorted(candidates, key=lambda c: (-c[0], c[2])):
        if bits < current and bool(estimate_columns({**row, **cols})["fits"]):
            return option, fid
    return None


SHOWN_INPUTS = (
    "model",
    "method",
    "gpu",
    "seq_len",
    "new_tokens",
    "batch",
    "gpus",
    "parallelism",
    "grad_checkpointing",
    "lora_rank",
    "lora_targets",
    "optimizer",
)


def case_speed_block(
    catalog,
    row: Mapping[str, Any],
    *,
    parallelism: str | None = None,
    host_bandwidth: float | None = None,
    train_tokens: float | None = None,
) -> dict[str, float | None] | None:
    """The `speed` block of a case on a GPU (vramatlas.speed); None without a GPU, or where the runtime's
    speed data has no backend or kernel for this GPU and format."""
    from .speed import SpeedDataError, case_speed, subjects

    if row.get("gpu") is None:
        return None
    runtime, quant = subjects(catalog, row["method"], row.get("runtime"), row.get("quant"))
    if runtime is None:
        return None
    try:
        return case_speed(
            row,
            runtime,
            quant,
            catalog.gpus[row["gpu"]],
            parallelism=parallelism,
            host_bandwidth=host_bandwidth,
            train_tokens=train_tokens,
        )
    except SpeedDataError:
        return None


def estimate(catalog, **inputs: Any) -> Estimate:
    """Predicted peak GPU memory of one case (see :func:`case_row` for the inputs), and with a GPU its speed
    (`host_bandwidth` in bytes/s for host-kept layers, `train_tokens` for train_hours)."""
    host_bandwidth = inputs.pop("host_bandwidth", None)
    train_tokens = inputs.pop("train_tokens", None)
    row = case_row(catalog, **inputs)
    _, reading = resolve_reading(catalog, inputs.get("model"), inputs.get("config"), inputs.get("parameters"))
    result = estimate_columns(row)
    absurd = predicted_problem({"peak_bytes": result["peak_bytes"], **{k: result[k] for k in COMPONENTS}})
    if absurd:  # the last check before a verdict: no overflowed or unphysical number reaches "fits"
        raise InputError(absurd)
    capacity = row["capacity_bytes"]
    has_gpu = not math.isnan(capacity)
    shown = {k: row[k] for k in SHOWN_INPUTS}
    for key in ("seq_len", "new_tokens", "batch", "gpus", "lora_rank"):
        shown[key] = int(shown[key])
    shown["grad_checkpointing"] = bool(shown["grad_checkpointing"])
    shown["allow_beyond_max"] = bool(inputs.get("allow_beyond_max", True))
    shown["max_positions"] = int(row["max_positions"]) or None
    # the cache-layout settings that matter for this model (MLA, sliding windows, indexer, recurrent state)
    relevant = {
        "mla_compressed": row["mla_latent_width"],
        "sliding_window_capped": row["kv_window_width"],
        "indexer_cache_bits": row["indexer_width"],
        "state_bits": row["state_conv_values"] + row["state_ssm_values"],
    }
    for key, present in relevant.items():
        if present:
            shown[key] = row.get(key, RUNTIME_CACHE_DEFAULTS[key])
    cols = reading.columns
    extra: dict[str, Any] = {}
    if has_gpu:
        fewest, fewest_par = fewest_gpus(row)
        limit = int(row["max_positions"]) or None
        extra = {
            "fewest_gpus": fewest,
            "fewest_gpus_parallelism": fewest_par,
            "longest_context_that_fits": longest_context_that_fits(row, limit),
        }
        smaller = None if bool(result["fits"]) else format_that_fits(catalog, row, row["method"])
        extra["format_that_fits"] = smaller[1] if smaller else None
        extra["format_that_fits_option"] = smaller[0] if smaller else None
        speed = case_speed_block(
            catalog,
            row,
            parallelism=inputs.get("parallelism"),
            host_bandwidth=host_bandwidth,
            train_tokens=train_tokens,
        )
        if speed is not None:
            extra["speed"] = speed
    est = Estimate(
        peak_bytes=int(result["peak_bytes"]),
        components={k: int(result[k]) for k in COMPONENTS},
        phase=str(result["phase"]),
        inputs=shown,
        capacity_bytes=int(capacity) if has_gpu else None,
        fits=bool(result["fits"]) if has_gpu else None,
        headroom_bytes=int(result["headroom_bytes"]) if has_gpu else None,
        fewest_gpus=extra.get("fewest_gpus"),
        parameters=int(cols["params_total"]),
        active_parameters=int(round(active_parameters(cols))),
        warnings=list(reading.warnings),
        notes=list(reading.notes),
    )
    est.extra.update({k: v for k, v in extra.items() if k != "fewest_gpus"})
    _add_runtime(est, catalog, row, result, inputs)
    return est


def _log_value(key: str, value: float) -> int | float:
    return round(float(value), 2) if key == "max_concurrency" else int(round(float(value)))


def _add_runtime(est: Estimate, catalog, row: Mapping[str, Any], result: Mapping[str, Any], inputs) -> None:
    """runtime_log (the runtime's own start-up lines, totals over the GPUs), runtime_log_per_gpu, host
    bytes, and the runtime settings used, for the JSON."""
    from .runtimes import RunOptions, shown_options

    runtime = catalog.runtimes[row["runtime"]]
    options = RunOptions(**{k: inputs[k] for k in RunOptions.__dataclass_fields__ if k in inputs})
    est.inputs.update(shown_options(row, runtime, options))
    est.inputs["quant"] = row["quant"]
    gpus = max(int(row["gpus"]), 1)
    log: dict[str, Any] = {}
    per_gpu_keys = {line["key"]: line["per"] for line in runtime["log"]}
    for key in per_gpu_keys:
        value = result.get("log_" + key)
        if value is None and key == "peak_memory_bytes":
            value = result["peak_bytes"] * gpus
        if value is not None and not math.isnan(float(value)):
            log[key] = _log_value(key, value)
    per_gpu = []
    for i in range(gpus):
        entry = {}
        for key, value in log.items():
            if per_gpu_keys[key] != "gpu":
                entry[key] = value
            elif key == "compute_buffer_bytes" and gpus > 1:  # the last GPU of a layer split holds the output
                entry[key] = (
                    int(result["activations"])
                    if i == gpus - 1
                    else int(round((value - result["activations"]) / (gpus - 1)))
                )
            else:
                entry[key] = _log_value(key, value / gpus)
        per_gpu.append(entry)
    est.extra["runtime_log"] = log
    est.extra["runtime_log_per_gpu"] = per_gpu
    est.extra["host_bytes"] = int(result.get("host_bytes", 0))
