"""What a method means for `measure`: read from catalog/methods/<id>.yaml.

Fields relied on (the lead's method format): ``kind`` (inference|training),
``weights.linear.format`` (bf16|fp16|fp32|int8|nf4|fp4|...), ``trainable``
(none|all|lora), ``master_weights`` (null|fp32), ``optimizer.default`` and
``activations.compute_dtype``. Where the catalogue has no file for an id, the
nine contract ids are mapped per the measurement protocol's table
(shared/measurements/README.md); anything else is refused.
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
    kind: str                   # inference | training
    linear_format: str          # bf16 | fp16 | fp32 | int8 | nf4 | fp4
    trainable: str              # none | all | lora
    master_weights: str | None  # None | fp32
    optimizer_default: str | None
    compute_dtype: str          # bf16 | fp16 | fp32
    source: str                 # where the meaning came from

    @property
    def base_dtype(self) -> str:
        """dtype of the weights that are not quantized (embeddings, norms, lm_head)."""
        if self.master_weights == "fp32":
            return "fp32"
        if self.linear_format in DENSE_FORMATS:
            return self.linear_format
        return self.compute_dtype if self.compute_dtype in DENSE_FORMATS else "bf16"

    @property
    def quantized(self) -> bool:
        return self.linear_format in QUANT_FORMATS

    @property
    def needs(self) -> list[str]:
        """the optional packages this method needs beyond torch and transformers."""
        out = []
        if self.trainable == "lora":
            out.append("peft")
        if self.quantized:
            out += ["bitsandbytes", "accelerate"]
        return out


# The protocol's table (shared/measurements/README.md), used when the
# catalogue has no file for a contract id.
_FALLBACK: dict[str, dict[str, Any]] = {
    "inference-fp32": dict(kind="inference", linear_format="fp32", trainable="none",
                           master_weights=None, optimizer_default=None, compute_dtype="fp32"),
    "inference-bf16": dict(kind="inference", linear_format="bf16", trainable="none",
                           master_weights=None, optimizer_default=None, compute_dtype="bf16"),
    "inference-fp16": dict(kind="inference", linear_format="fp16", trainable="none",
                           master_weights=None, optimizer_default=None, compute_dtype="fp16"),
    "inference-int8": dict(kind="inference", linear_format="int8", trainable="none",
                           master_weights=None, optimizer_default=None, compute_dtype="bf16"),
    "inference-nf4": dict(kind="inference", linear_format="nf4", trainable="none",
                          master_weights=None, optimizer_default=None, compute_dtype="bf16"),
    "full-mixed": dict(kind="training", linear_format="bf16", trainable="all",
                       master_weights="fp32", optimizer_default="adamw", compute_dtype="bf16"),
    "full-bf16": dict(kind="training", linear_format="bf16", trainable="all",
                      master_weights=None, optimizer_default="adamw", compute_dtype="bf16"),
    "lora": dict(kind="training", linear_format="bf16", trainable="lora",
                 master_weights=None, optimizer_default="adamw", compute_dtype="bf16"),
    "qlora": dict(kind="training", linear_format="nf4", trainable="lora",
                  master_weights=None, optimizer_default="adamw", compute_dtype="bf16"),
}

_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32",
                  "float": "fp32", "llm.int8": "int8", "int8-llm": "int8"}


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
    """A MethodSpec from the lead's method YAML (tolerant of missing optional parts)."""
    kind = _norm(data.get("kind"))
    if kind not in ("inference", "training"):
        raise MethodError(f"method {method_id!r}: kind {data.get('kind')!r} is not one that "
                          "`measure` runs (inference or training)")
    fmt = _norm(_dig(data, "weights", "linear", "format")) or "bf16"
    trainable = _norm(data.get("trainable"))
    if trainable is None:
        trainable = "none" if kind == "inference" else "all"
    if isinstance(data.get("trainable"), dict):  # tolerate {what: lora, ...}
        trainable = _norm(_dig(data, "trainable", "what") or _dig(data, "trainable", "kind")) or "all"
    master = _norm(data.get("master_weights") if not isinstance(data.get("master_weights"), dict)
                   else _dig(data, "master_weights", "dtype"))
    if master in ("none", "null", "false"):
        master = None
    opt = data.get("optimizer")
    opt_default = _norm(opt.get("default") if isinstance(opt, dict) else opt)
    if opt_default in ("none", "null"):
        opt_default = None
    compute = _norm(_dig(data, "activations", "compute_dtype")) or (
        fmt if fmt in DENSE_FORMATS else "bf16")
    if fmt not in DENSE_FORMATS | QUANT_FORMATS:
        raise MethodError(f"method {method_id!r}: linear weights in {fmt!r} cannot be built by "
                          f"`measure` (it builds {', '.join(sorted(DENSE_FORMATS | QUANT_FORMATS))})")
    if trainable not in ("none", "all", "lora"):
        raise MethodError(f"method {method_id!r}: trainable {trainable!r} is not one that "
                          "`measure` runs (none, all or lora)")
    if kind == "training" and trainable == "all" and fmt in QUANT_FORMATS:
        raise MethodError(f"method {method_id!r}: full training of {fmt} weights is not measurable")
    return MethodSpec(id=method_id, kind=kind, linear_format=fmt, trainable=trainable,
                      master_weights=master, optimizer_default=opt_default,
                      compute_dtype=compute if compute in DENSE_FORMATS else "bf16", source=source)


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
    known = sorted(p.stem for p in (catalog_dir / "methods").glob("*.yaml")) or sorted(_FALLBACK)
    raise MethodError(f"unknown method {method_id!r}; `measure` runs: {', '.join(known)}")
