"""`vramatlas measure`: arguments and the run (called by vramatlas.cli's dispatcher).

Exit status: 0 when a measurement file was written (an out-of-memory result
included: it is data, recorded as ``outcome: oom``); 2 for unusable input, a
missing optional dependency, or no GPU without ``--device cpu``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from . import record
from .methods import OPTIMIZERS, MethodError, resolve
from ..files import write_atomic

INSTALL_HINT = "pip install 'vramatlas[measure]'"
GIB = 2**30


def _positive(name: str, minimum: int = 1):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}, not {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Build a model from its architecture with random weights (nothing is downloaded), run "
        "the method's workload on this machine's GPU as catalog/measurements/README.md describes, "
        "and write the measured peak memory as a catalogue measurement file, with the "
        "estimate beside it. Needs the optional extra: " + INSTALL_HINT + "."
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", metavar="ID", help="a catalogue model variant id, e.g. llama-3.1-8b")
    what.add_argument(
        "--config", metavar="CONFIG.json", type=Path, help="a Hugging Face config.json for a model not in the catalogue"
    )
    parser.add_argument(
        "--method",
        required=True,
        metavar="METHOD",
        help="a catalogue method id: inference-bf16, inference-nf4, lora, qlora, full-mixed, ...",
    )
    parser.add_argument(
        "--seq-len",
        type=_positive("--seq-len"),
        default=2048,
        metavar="N",
        help="prompt tokens (inference) or sequence length (training); default 2048",
    )
    parser.add_argument(
        "--new-tokens",
        type=_positive("--new-tokens", 0),
        default=None,
        metavar="N",
        help="tokens to generate (inference; default 16); 0 for training",
    )
    parser.add_argument("--batch", type=_positive("--batch"), default=1, metavar="N", help="batch size; default 1")
    parser.add_argument(
        "--grad-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="gradient checkpointing (non-reentrant) for training; default: the "
        "method's (catalog/methods/<id>.yaml gradient_checkpointing)",
    )
    parser.add_argument(
        "--lora-rank",
        type=_positive("--lora-rank"),
        default=None,
        metavar="R",
        help="LoRA rank (lora, qlora); default 16",
    )
    parser.add_argument(
        "--lora-targets",
        default=None,
        metavar="all-linear|q_proj,v_proj,...",
        help="LoRA target modules; default all-linear (q,k,v,o,gate,up,down)",
    )
    parser.add_argument(
        "--optimizer", choices=OPTIMIZERS, default=None, help="training optimizer; default: the method's (adamw)"
    )
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cuda (default; the measurement) or cpu (the same workload on the "
        "CPU, for tests with tiny configs: host memory, never comparable)",
    )
    parser.add_argument(
        "--gpu",
        metavar="GPU_ID",
        default=None,
        help="catalogue GPU id of this GPU (default: matched from its name and memory)",
    )
    parser.add_argument(
        "--id",
        dest="measurement_id",
        metavar="ID",
        default=None,
        help="measurement id (default: made from GPU, model, method and workload)",
    )
    parser.add_argument("--by", default=None, metavar="NAME", help="who measured (default: git config user.name)")
    parser.add_argument(
        "--source", default=None, metavar="URL", help="where the run is documented (e.g. the pull request or a log)"
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FILE.yaml",
        help="the measurement file to write (e.g. catalog/measurements/ID.yaml)",
    )


def _fail(msg: str) -> int:
    print(f"vramatlas measure: {msg}", file=sys.stderr)
    return 2


def missing_packages(needs: list[str]) -> list[str]:
    """Which of torch, transformers and ``needs`` are not installed (found without importing
    them, so a missing torch does not make transformers print its own warnings); torch, when
    found, is imported, to catch a broken install."""
    missing = []
    for name in ["torch", "transformers", *needs]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules[name] is None
            found = False
        if not found:
            missing.append(name)
    if "torch" not in missing:
        try:
            importlib.import_module("torch")
        except Exception:  # a broken install that fails on import
            missing.insert(0, "torch")
    return missing


def _quiet_logs() -> None:
    """Before the optional packages are imported: their import-time chatter off."""
    for name in ("transformers", "bitsandbytes", "peft", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _quiet() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*MatMul8bitLt.*")
    warnings.filterwarnings("ignore", module=r"peft")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(bitsandbytes|peft|transformers|torch)")
    _quiet_logs()
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except Exception:
        pass


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc.__class__.__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config.json is a JSON object")
    if not isinstance(data.get("model_type"), str):
        raise ValueError(f'{path}: no model_type (the architecture name, e.g. "llama")')
    return data


def run(args: argparse.Namespace) -> int:
    # 1. the case, checked without torch
    try:
        spec = resolve(args.method)
    except MethodError as exc:
        return _fail(str(exc))
    catalog = record.load_catalog_lenient()
    if args.model is not None:
        config = record.variant_config(catalog, args.model)
        if config is None:
            known = record.variant_ids(catalog)
            return _fail(
                f"unknown model {args.model!r}: not a catalogue variant id"
                + (f" (e.g. {', '.join(known[:3])})" if known else "")
                + "; or pass --config CONFIG.json"
            )
        model_id, given_config = args.model, None
    else:
        try:
            config = _read_config(args.config)
        except ValueError as exc:
            return _fail(str(exc))
        model_id, given_config = None, config

    training = spec.kind == "training"
    if training:
        if args.new_tokens not in (None, 0):
            return _fail("--new-tokens is for inference; training runs two optimizer steps")
        new_tokens = 0
    else:
        if args.optimizer or args.lora_rank or args.lora_targets or args.grad_checkpointing:
            return _fail(
                f"{spec.id} is inference: --optimizer, --lora-*, --grad-checkpointing are for training methods"
            )
        new_tokens = 16 if args.new_tokens is None else args.new_tokens
        if new_tokens < 1:
            return _fail("--new-tokens must be >= 1 for inference")
    lora = spec.trainable == "lora"
    if not lora and (args.lora_rank or args.lora_targets):
        return _fail(f"{spec.id} trains no adapters: --lora-rank/--lora-targets do not apply")
    optimizer = (args.optimizer or spec.optimizer_default or "adamw") if training else None
    workload = {
        "seq_len": args.seq_len,
        "new_tokens": new_tokens,
        "batch": args.batch,
        "gradient_checkpointing": (
            spec.gc_default if args.grad_checkpointing is None else bool(args.grad_checkpointing)
        )
        if training
        else False,
        "optimizer": optimizer,
        "lora_rank": (args.lora_rank or 16) if lora else None,
        "lora_targets": (args.lora_targets or "all-linear") if lora else None,
        "gpus": 1,
        "parallelism": None,
    }

    # 2. the optional extra
    needs = list(spec.needs)
    if optimizer == "adamw8bit" and "bitsandbytes" not in needs:
        needs.append("bitsandbytes")
    if spec.quantized and "accelerate" not in needs:
        needs.append("accelerate")
    _quiet_logs()
    missing = missing_packages(needs)
    if missing:
        return _fail(f"needs {', '.join(missing)}, not installed here: {INSTALL_HINT}")

    # 3. the device
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        return _fail(
            "no CUDA GPU is visible to PyTorch (torch "
            + torch.__version__
            + "); run on a machine with an NVIDIA GPU and a CUDA build of torch, "
            "or pass --device cpu to run the workload on the CPU (not a GPU measurement)"
        )

    # 4. measure
    from .workload import Case, WorkloadError, measure

    _quiet()
    case = Case(
        config=config,
        method=spec,
        seq_len=workload["seq_len"],
        new_tokens=new_tokens,
        batch=workload["batch"],
        grad_checkpointing=workload["gradient_checkpointing"],
        lora_rank=workload["lora_rank"],
        lora_targets=workload["lora_targets"],
        optimizer=optimizer,
        device=args.device,
    )
    try:
        result = measure(case)
    except WorkloadError as exc:
        return _fail(str(exc))
    except (NotImplementedError, RuntimeError) as exc:
        if args.device == "cpu" and (spec.quantized or optimizer == "adamw8bit"):
            text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            return _fail(
                f"{spec.id} does not run on the CPU with bitsandbytes "
                f"{record.software_versions()['bitsandbytes']} ({text[:160]}); use a GPU"
            )
        raise

    # 5. the record
    if args.device == "cuda":
        facts = record.gpu_facts()
        gpu_id = args.gpu or record.match_gpu(
            record.catalogue_gpus(catalog), facts["gpu_name"], facts["gpu_memory_bytes"]
        )
        if gpu_id is None:
            print(
                f"vramatlas measure: warning: no catalogue GPU matches {facts['gpu_name']!r} "
                f"({facts['gpu_memory_bytes']} bytes); gpu: null (pass --gpu ID)",
                file=sys.stderr,
            )
    else:
        facts = {"gpu_name": None, "gpu_memory_bytes": None, "driver": None}
        gpu_id = None
    notes = list(result.notes)
    if args.device == "cpu":
        notes.insert(0, f"ran on the CPU ({record.cpu_name()}) with --device cpu")
    if result.trainable_parameters is not None:
        notes.append(f"trainable parameters: {result.trainable_parameters}")
    notes.append(f"took {result.seconds:.1f} s")

    if args.device == "cpu":
        comparable, why = (
            False,
            (
                "measured on the CPU (--device cpu): host resident memory of the "
                "process, not GPU memory; the estimate predicts GPU memory"
            ),
        )
    elif result.outcome != "ok":
        comparable, why = False, "out of memory: the counters stop where the run failed, not at its peak"
    else:
        comparable, why = True, None

    predicted, why_no_estimate = record.predict(
        catalog,
        model=model_id,
        config=given_config,
        method=spec.id,
        workload=workload,
        gpu=gpu_id if args.device == "cuda" else None,
    )
    if why_no_estimate:
        notes.append(why_no_estimate)

    mid = args.measurement_id or record.default_id(
        gpu=gpu_id, device=args.device, model=model_id, config=given_config, method=spec.id, workload=workload
    )
    software = record.software_versions()
    software["accelerate"] = record._dist_version("accelerate")
    software["vramatlas"] = record.__version__
    provenance = {
        "by": args.by or record.who(),
        "date": record.today(),
        "gpu_name": facts["gpu_name"],
        "driver": facts["driver"],
        "software": software,
        "protocol": record.PROTOCOL_TEXT,
        "source": args.source
        or f"vramatlas {record.__version__} measure (--device {args.device}); pass --source URL to cite the run",
    }
    # fields asked of the measurement schema (schema/measurement.schema.json, the lead's);
    # written where the schema has them
    allowed = record.schema_provenance_keys()
    for key, value in (("gpu_memory_bytes", facts["gpu_memory_bytes"]), ("notes", "; ".join(notes))):
        if allowed is None or key in allowed:
            provenance[key] = value
    doc = record.assemble(
        id=mid,
        model=model_id,
        config=given_config,
        method=spec.id,
        gpu=gpu_id,
        workload=workload,
        parameters=result.parameters,
        measured=result.measured,
        compare=result.compare,
        comparable=comparable,
        why_not_comparable=why,
        outcome=result.outcome,
        outcome_detail=result.detail,
        predicted_bytes=predicted,
        provenance=provenance,
    )
    try:
        write_atomic(args.out, record.to_yaml(doc))
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc.__class__.__name__}")

    m = result.measured
    if args.device == "cpu":
        line = (
            f"peak RSS {m.get('cpu_peak_rss_bytes', 0) / GIB:.3f} GiB on the CPU, "
            f"weights {m.get('weights_loaded_bytes', 0) / GIB:.4f} GiB"
        )
    else:
        line = (
            f"process peak {m.get('process_peak_bytes', 0) / GIB:.3f} GiB "
            f"(reserved {m.get('peak_reserved_bytes', 0) / GIB:.3f}, allocated "
            f"{m.get('peak_allocated_bytes', 0) / GIB:.3f}, context "
            f"{m.get('cuda_context_bytes', 0) / GIB:.3f})"
        )
    if result.outcome == "oom":
        line = "OUT OF MEMORY (recorded as outcome: oom); " + line
    if predicted is not None:
        line += f"; estimate {predicted / GIB:.3f} GiB"
        err = doc["predicted"]["error"]
        if err is not None:
            line += f" ({err * 100:+.1f}%)"
    print(f"wrote {args.out}: {mid}: {line}")
    return 0
