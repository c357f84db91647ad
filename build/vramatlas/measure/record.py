"""Provenance (versions, GPU facts) and the measurement file `measure` writes.

The file is a catalogue measurement (catalog/measurements/<id>.yaml, format in
the team brief and schema/measurement.schema.json), in canonical key order,
written to a temporary file beside the target and renamed.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
import platform
import re
import subprocess
from importlib import metadata
from typing import Any

import yaml

from .. import __version__
from ..paths import CATALOG_DIR, SCHEMA_DIR
from . import PROTOCOL

PROTOCOL_TEXT = (
    f"{PROTOCOL}: random weights built from the config on the device; one process "
    "per case; weights_loaded after build; allocator emptied and peak counters reset "
    "before the work; process_peak = peak reserved + CUDA context "
    "(catalog/measurements/README.md)"
)


# --------------------------------------------------------------------------- versions


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def software_versions() -> dict[str, str | None]:
    cuda = None
    try:
        import torch

        cuda = torch.version.cuda
    except Exception:
        pass
    return {
        "python": platform.python_version(),
        "torch": _dist_version("torch"),
        "transformers": _dist_version("transformers"),
        "peft": _dist_version("peft"),
        "bitsandbytes": _dist_version("bitsandbytes"),
        "cuda": cuda,
    }


def _driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        line = out.stdout.strip().splitlines()
        return line[0].strip() if out.returncode == 0 and line else None
    except (OSError, subprocess.SubprocessError):
        return None


def gpu_facts() -> dict[str, Any]:
    """Name, total memory (bytes, as the driver reports it) and driver of CUDA device 0."""
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"gpu_name": props.name, "gpu_memory_bytes": int(props.total_memory), "driver": _driver_version()}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def who() -> str:
    for env in ("VRAMATLAS_BY",):
        if os.environ.get(env):
            return os.environ[env]
    try:
        out = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


# --------------------------------------------------------------------------- catalogue


def _norm_tokens(name: str) -> set[str]:
    s = name.lower()
    for drop in ("nvidia", "geforce", "amd", "radeon", "intel", "apple", "tesla"):
        s = s.replace(drop, " ")
    return {t for t in re.split(r"[^a-z0-9]+", s) if t}


#: device names (as torch/nvidia-smi print them) that the name heuristic cannot tell apart
_DEVICE_ALIASES = (
    (r"\bh100 80gb hbm3\b", "h100-sxm"),
    (r"\bh100 sxm", "h100-sxm"),
    (r"\ba100 sxm4 80gb\b|\ba100 80gb pcie\b", "a100-80gb"),
    (r"\ba100 sxm4 40gb\b|\ba100 pcie 40gb\b", "a100-40gb"),
)


def match_gpu(gpus: dict[str, dict], device_name: str, total_bytes: int | None) -> str | None:
    """The catalogue GPU id for this device, or None when nothing or several match.

    Known device names first; then a shared model token (one with a digit),
    usable memory within 5% where both are known, most shared tokens, fewest
    tokens the device name lacks."""
    plain = " ".join(re.split(r"[^a-z0-9]+", device_name.lower()))
    for pattern, gid in _DEVICE_ALIASES:
        if gid in gpus and re.search(pattern, plain):
            return gid
    dev = _norm_tokens(device_name)
    best: list[tuple[tuple[int, int], str]] = []
    for gid, g in gpus.items():
        if not isinstance(g, dict):
            continue
        toks = _norm_tokens(str(g.get("name", ""))) | _norm_tokens(gid.replace("-", " "))
        shared = dev & toks
        if not any(any(c.isdigit() for c in t) for t in shared):
            continue
        mem = g.get("memory")
        usable = mem.get("usable_bytes") if isinstance(mem, dict) else None
        if total_bytes and isinstance(usable, int) and usable > 0:
            if abs(usable - total_bytes) / usable > 0.05:
                continue
        best.append(((len(shared), -len(toks - dev)), gid))
    if not best:
        return None
    best.sort(reverse=True)
    if len(best) > 1 and best[0][0] == best[1][0]:
        return None
    return best[0][1]


def load_catalog_lenient():
    """The catalogue through vramatlas.catalog when it loads, else None."""
    try:
        from ..catalog import load_catalog

        return load_catalog()
    except Exception:
        return None


def _scan(kind: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for p in sorted((CATALOG_DIR / kind).glob("*.yaml")):
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except Exception:
            continue
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            out[data["id"]] = data
    return out


def catalogue_gpus(catalog) -> dict[str, dict]:
    return dict(catalog.gpus) if catalog is not None else _scan("gpus")


def variant_config(catalog, variant_id: str) -> dict[str, Any] | None:
    """config.json mapping of a catalogue variant, or None when the id is unknown."""
    if catalog is not None:
        v = catalog.variants.get(variant_id)
        return dict(v["config"]) if isinstance(v, dict) and isinstance(v.get("config"), dict) else None
    for fam in _scan("models").values():
        for v in fam.get("variants") or []:
            if isinstance(v, dict) and v.get("id") == variant_id and isinstance(v.get("config"), dict):
                return dict(v["config"])
    return None


def variant_ids(catalog) -> list[str]:
    if catalog is not None:
        return sorted(catalog.variants)
    return sorted(
        v.get("id")
        for fam in _scan("models").values()
        for v in fam.get("variants") or []
        if isinstance(v, dict) and v.get("id")
    )


def schema_provenance_keys() -> set[str] | None:
    """The provenance keys the measurement schema allows (None: no schema, or it allows any)."""
    try:
        schema = json.loads((SCHEMA_DIR / "measurement.schema.json").read_text(encoding="utf-8"))
        prov = schema["properties"]["provenance"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if prov.get("additionalProperties", True) is not False:
        return None
    return set(prov.get("properties", {}))


# --------------------------------------------------------------------------- the estimate


def predict(
    catalog, *, model: str | None, config: dict | None, method: str, workload: dict, gpu: str | None
) -> tuple[int | None, str | None]:
    """vramatlas.api.estimate's peak_bytes for the same case, or (None, why not)."""
    try:
        from ..api import estimate
    except Exception as exc:  # the estimator is not there (yet), or broken
        return None, f"no estimate: vramatlas.api.estimate unavailable ({exc.__class__.__name__})"
    if catalog is None:
        return None, "no estimate: the catalogue does not load"
    try:
        est = estimate(
            catalog,
            model=model,
            config=config if model is None else None,
            method=method,
            seq_len=workload["seq_len"],
            new_tokens=workload["new_tokens"],
            batch=workload["batch"],
            gpu=gpu,
            gpus=1,
            parallelism=None,
            grad_checkpointing=workload["gradient_checkpointing"],
            lora_rank=workload["lora_rank"],
            lora_targets=workload["lora_targets"],
            optimizer=workload["optimizer"],
        )
        return int(est.peak_bytes), None
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return None, f"no estimate: {text[:200]}"


# --------------------------------------------------------------------------- the file


def _slug(s: str) -> str:
    s = re.sub(r"[^a-z0-9.]+", "-", s.lower()).strip("-.")
    return re.sub(r"-{2,}", "-", s)


def default_id(
    *, gpu: str | None, device: str, model: str | None, config: dict | None, method: str, workload: dict
) -> str:
    if model:
        what = model
    else:
        digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
        what = f"{(config or {}).get('model_type', 'config')}-{digest}"
    parts = [
        gpu or ("cpu" if device == "cpu" else "gpu"),
        what,
        method,
        f"s{workload['seq_len']}",
        f"b{workload['batch']}",
    ]
    if workload["new_tokens"] and workload["new_tokens"] != 16:
        parts.append(f"n{workload['new_tokens']}")
    if workload["gradient_checkpointing"]:
        parts.append("gc")
    if workload["lora_rank"]:
        parts.append(f"r{workload['lora_rank']}")
    if workload["optimizer"] and workload["optimizer"] != "adamw":
        parts.append(workload["optimizer"])
    return _slug("-".join(str(p) for p in parts))


MEASURED_ORDER = (
    "weights_loaded_bytes",
    "peak_allocated_bytes",
    "peak_reserved_bytes",
    "cuda_context_bytes",
    "process_peak_bytes",
    "cpu_start_rss_bytes",
    "cpu_peak_rss_bytes",
)


def assemble(
    *,
    id: str,
    model: str | None,
    config: dict | None,
    method: str,
    gpu: str | None,
    workload: dict,
    parameters: int | None,
    measured: dict[str, int],
    compare: str,
    comparable: bool,
    why_not_comparable: str | None,
    outcome: str,
    outcome_detail: str | None,
    predicted_bytes: int | None,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """The measurement mapping, in the catalogue's canonical key order."""
    doc: dict[str, Any] = {
        "id": id,
        "model": model,
        "config": config if model is None else None,
        "method": method,
        "gpu": gpu,
        "workload": {
            k: workload.get(k)
            for k in (
                "seq_len",
                "new_tokens",
                "batch",
                "gradient_checkpointing",
                "optimizer",
                "lora_rank",
                "lora_targets",
                "gpus",
                "parallelism",
            )
        },
        "parameters": parameters,
        "measured": {k: int(measured[k]) for k in MEASURED_ORDER if measured.get(k) is not None},
        "compare": compare,
        "comparable": comparable,
    }
    if not comparable:
        doc["why_not_comparable"] = why_not_comparable
    doc["outcome"] = outcome
    if outcome_detail:
        doc["outcome_detail"] = outcome_detail
    error = None
    target = measured.get(compare)
    if predicted_bytes is not None and comparable and outcome == "ok" and target:
        error = round((predicted_bytes - target) / target, 4)
    doc["predicted"] = (
        None
        if predicted_bytes is None
        else {"peak_bytes": int(predicted_bytes), "error": error, "estimator": f"vramatlas {__version__}"}
    )
    doc["provenance"] = provenance
    return doc


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)
_Dumper.ignore_aliases = lambda self, data: True  # the catalogue refuses anchors and aliases


def to_yaml(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def today() -> str:
    return _dt.date.today().isoformat()
