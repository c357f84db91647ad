"""What a method means for `measure`: read from catalog/methods/<id>.yaml.

Fields relied on (the lead's method format): ``kind`` (inference|training),
``runtime`` (only transformers is measurable), ``weights.linear.format``
(bf16|fp16|fp32|int8|nf4|fp4), ``weights.other.format``, ``trainable``
(none|all|lora), ``autocast_copy_bits`` / ``master_weight_bits``,
``optimizer``, ``compute_bits`` and ``gradient_checkpointing`` (the default). Where the catalogue has no file for an id, the
nine contract ids are mapped per the measurement protocol's table
(catalog/measurements/README.md); anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..paths import CATALOG_DIR

#: storage formats of the linear layers that `measure` can build
DENSE_FORMATS = {"bf16", "fp16", "fp32"}
QUANT_FORMATS = {"int8", "nf4", "fp4"}
OPTIMIZERS = ("adamw", "adamw8bit", "sgd")


class MethodError(ValueError):
    """A method id that `measure` cannot run (one-line message, exit 2)."""


@dataclass(frozen=True)
class MethodSpec:
    id: str
    kind: str  # inference | training
    linear_format: str  # bf16 | fp16 | fp32 | int8 | nf4 | fp4
    base_format: str  # bf16 | fp16 | fp32: embeddings, norms, lm_head (and linears when dense)
    trainable: str  # none | all | lora
    autocast: bool  # fp32 weights under bf16/fp16 autocast (full-mixed)
    optimizer_default: str | None
    compute_dtype: str  # bf16 | fp16 | fp32
    gc_default: bool  # gradient checkpointing unless asked otherwise
    source: str  # where the meaning came from

    @property
    def base_dtype(self) -> str:
        """dtype of the weights that are not quantized (embeddings, norms, lm_head)."""
        return self.base_format

    @property
    def quantized(self) -> bool:
        return self.linear_format in QUANT_FORMATS

    @property
    def needs(self) -> list[str]:
        """the optional packages this method needs beyond torch and transformers."""
        out = []
        if self.trainable == "lora":
            out.append("peft")
        if self.quantized or self.optimizer_default == "adamw8bit":
            out.append("bitsandbytes")
        if self.quantized:
            out.append("accelerate")
        return out


def _spec(kind, linear, base, trainable, autocast, opt, compute, gc):
    return dict(
        kind=kind,
        linear_format=linear,
        base_format=base,
        trainable=trainable,
        autocast=autocast,
        optimizer_default=opt,
        compute_dtype=compute,
        gc_default=gc,
    )


# The protocol's table (catalog/measurements/README.md), used when the
# catalogue has no file for a contract id.
_FALLBACK: dict[str, dict[str, Any]] = {
    "inference-fp32": _spec("inference", "fp32", "fp32", "none", False, None, "fp32", False),
    "inference-bf16": _spec("inference", "bf16", "bf16", "none", False, None, "bf16", False),
    "inference-fp16": _spec("inference", "fp16", "fp16", "none", False, None, "fp16", False),
    "inference-int8": _spec("inference", "int8", "bf16", "none", False, None, "bf16", False),
    "inference-nf4": _spec("inference", "nf4", "bf16", "none", False, None, "bf16", False),
    "full-mixed": _spec("training", "fp32", "fp32", "all", True, "adamw", "bf16", False),
    "full-bf16": _spec("training", "bf16", "bf16", "all", False, "adamw", "bf16", False),
    "lora": _spec("training", "bf16", "bf16", "lora", False, "adamw", "bf16", False),
    "qlora": _spec("training", "nf4", "bf16", "lora", False, "adamw", "bf16", False),
}

_DTYPE_ALIASES = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "float": "fp32",
    "llm.int8": "int8",
    "int8-llm": "int8",
}


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip().lower()
    return _DTYPE_ALIASES.get(s, s)


def _dig(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def from_mapping(method_id: str, data: dict[str, Any], source: str) -> MethodSpec:
    """A MethodSpec from the lead's method YAML (tolerant of missing optional parts).

    Reads ``kind``, ``runtime``, ``weights.<linear|other>.format``,
    ``trainable``, ``master_weights`` / ``master_weight_bits``,
    ``autocast_copy_bits``, ``optimizer`` (a name or ``{default: name}``),
    ``compute_bits`` / ``activations.compute_dtype`` and
    ``gradient_checkpointing``.
    """
    kind = _norm(data.get("kind"))
    if kind not in ("inference", "training"):
        raise MethodError(
            f"method {method_id!r}: kind {data.get('kind')!r} is not one that `measure` runs (inference or training)"
        )
    runtime = data.get("runtime")
    if runtime is not None and _norm(runtime) not in ("transformers", "pytorch", "torch"):
        raise MethodError(
            f"method {method_id!r} runs under {runtime}; `measure` runs PyTorch/"
            f"transformers workloads only ({', '.join(sorted(measurable()))})"
        )
    fmt = _norm(_dig(data, "weights", "linear", "format")) or "bf16"
    if fmt not in DENSE_FORMATS | QUANT_FORMATS:
        raise MethodError(
            f"method {method_id!r}: linear weights in {fmt!r} cannot be built by "
            f"`measure` (it builds {', '.join(sorted(DENSE_FORMATS | QUANT_FORMATS))})"
        )
    base = _norm(_dig(data, "weights", "other", "format") or _dig(data, "weights", "embedding", "format"))
    if base not in DENSE_FORMATS:
        base = fmt if fmt in DENSE_FORMATS else "bf16"
    trainable = data.get("trainable")
    if isinstance(trainable, dict):  # tolerate {what: lora, ...}
        trainable = trainable.get("what") or trainable.get("kind")
    trainable = _norm(trainable) or ("none" if kind == "inference" else "all")
    if trainable not in ("none", "all", "lora"):
        raise MethodError(
            f"method {method_id!r}: trainable {trainable!r} is not one that `measure` runs (none, all or lora)"
        )
    if kind == "training" and trainable == "all" and fmt in QUANT_FORMATS:
        raise MethodError(f"method {method_id!r}: full training of {fmt} weights is not measurable")
    master = data.get("master_weights")
    if isinstance(master, dict):
        master = master.get("dtype")
    master = _norm(master)
    autocast = (
        master == "fp32" or (data.get("master_weight_bits") or 0) >= 32 or (data.get("autocast_copy_bits") or 0) > 0
    )
    if master == "fp32" and base != "fp32":
        base = "fp32"
        fmt = "fp32" if fmt in DENSE_FORMATS else fmt
    opt = data.get("optimizer")
    opt_default = _norm(opt.get("default") if isinstance(opt, dict) else opt)
    if opt_default in ("none", "null", ""):
        opt_default = None
    compute = _norm(_dig(data, "activations", "compute_dtype"))
    if compute not in DENSE_FORMATS:
        bits = data.get("compute_bits")
        if bits == 32:
            compute = "fp32"
        elif base == "fp16" or fmt == "fp16":
            compute = "fp16"
        else:
            compute = "bf16"
    if autocast and compute == "fp32":
        compute = "bf16"
    return MethodSpec(
        id=method_id,
        kind=kind,
        linear_format=fmt,
        base_format=base,
        trainable=trainable,
        autocast=autocast,
        optimizer_default=opt_default,
        compute_dtype=compute,
        gc_default=bool(data.get("gradient_checkpointing")),
        source=source,
    )


def measurable(catalog_dir: Path | None = None) -> list[str]:
    """Method ids `measure` can run: catalogue files it understands, else the contract ids."""
    catalog_dir = Path(catalog_dir) if catalog_dir else CATALOG_DIR
    ok = set()
    files = {p.stem: p for p in (catalog_dir / "methods").glob("*.yaml")}
    for mid, p in files.items():
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                kind = _norm(data.get("kind"))
                rt = data.get("runtime")
                fmt = _norm(_dig(data, "weights", "linear", "format")) or "bf16"
                if (
                    kind in ("inference", "training")
                    and fmt in DENSE_FORMATS | QUANT_FORMATS
                    and (rt is None or _norm(rt) in ("transformers", "pytorch", "torch"))
                ):
                    ok.add(mid)
        except Exception:
            continue
    ok |= {m for m in _FALLBACK if m not in files}
    return sorted(ok)


def resolve(method_id: str, catalog_dir: Path | None = None) -> MethodSpec:
    """The method's meaning: the catalogue file if there is one, else the protocol's table."""
    catalog_dir = Path(catalog_dir) if catalog_dir else CATALOG_DIR
    path = catalog_dir / "methods" / f"{method_id}.yaml"
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise MethodError(f"{path}: cannot read the method file ({exc.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise MethodError(f"{path}: the method file is not a mapping")
        return from_mapping(method_id, data, source=str(path))
    if method_id in _FALLBACK:
        return MethodSpec(id=method_id, source="protocol table", **_FALLBACK[method_id])
    raise MethodError(f"unknown method {method_id!r}; `measure` runs: {', '.join(measurable(catalog_dir))}")
