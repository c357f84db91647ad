"""Build a model from its config with random weights and run one method's workload.

Exactly the protocol of catalog/measurements/README.md:

- the model is built from the architecture (config.json values) with random
  weights, directly on the device (parameters are created on the ``meta``
  device first and materialised module by module, so a quantized model never
  holds its full bf16 copy); SDPA attention;
- ``weights_loaded_bytes`` is ``torch.cuda.memory_allocated()`` once the model
  is built (and quantized); then the allocator is emptied and its peak
  counters reset, so the peaks cover the work;
- inference: ``model.generate`` (greedy, dynamic KV cache) on a random prompt
  of ``seq_len`` tokens, batch ``batch``, exactly ``new_tokens`` new tokens;
- int8: every linear layer except ``lm_head`` is bitsandbytes
  ``Linear8bitLt`` (threshold 6.0); nf4: ``Linear4bit``, NF4, double
  quantization, blocksize 64, bf16 compute; embeddings, norms and ``lm_head``
  stay in bf16;
- training: two optimizer steps on random token ids ``batch x seq_len`` with
  ``labels = input_ids``; gradient checkpointing non-reentrant when asked;
  ``full-mixed`` = fp32 weights under bf16 autocast, fused AdamW;
  ``full-bf16`` = bf16 weights and fused AdamW (bf16 states) or bitsandbytes
  ``AdamW8bit``; ``lora``/``qlora`` = peft LoRA (alpha 2 x rank, dropout 0,
  adapters fp32, peft's default) on the frozen bf16 / NF4 model, fused AdamW
  over the adapters.

torch and friends are imported inside the functions: this module imports
without them.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .methods import MethodSpec

#: config.json keys that are not architecture and must not reach from_config
_NOT_ARCHITECTURE = {
    "quantization_config",
    "auto_map",
    "torch_dtype",
    "dtype",
    "transformers_version",
    "_name_or_path",
    "architectures",
    "_commit_hash",
}
#: the protocol's `all-linear`
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class WorkloadError(ValueError):
    """A case that cannot be built or run as asked (one-line message, exit 2)."""


@dataclass
class Case:
    config: dict[str, Any]
    method: MethodSpec
    seq_len: int = 2048
    new_tokens: int = 16
    batch: int = 1
    grad_checkpointing: bool = False
    lora_rank: int | None = None
    lora_targets: str | None = None  # "all-linear" or "q_proj,v_proj,..."
    optimizer: str | None = None  # adamw | adamw8bit | sgd (training only)
    device: str = "cuda"
    seed: int = 0


@dataclass
class Result:
    outcome: str = "ok"  # ok | oom
    detail: str | None = None  # what ran out of memory, where
    parameters: int | None = None  # exact parameter count of the built model (before adapters)
    trainable_parameters: int | None = None
    measured: dict[str, int] = field(default_factory=dict)
    compare: str = "process_peak_bytes"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------- dtypes


def _torch_dtype(name: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom_types = tuple(
        t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t
    )
    if oom_types and isinstance(exc, oom_types):
        return True
    # bitsandbytes and some kernels raise RuntimeError("CUDA out of memory ...")
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


# --------------------------------------------------------------------------- meters


class CudaMeter:
    """The protocol's CUDA quantities."""

    kind = "cuda"

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.notes: list[str] = []
        before = self._nvml_used()
        torch.cuda.init()
        torch.cuda.set_device(0)
        torch.empty(0, device="cuda")  # context and allocator up, no tensor bytes
        torch.cuda.synchronize()
        after = self._nvml_used()
        free, total = torch.cuda.mem_get_info()
        if before is not None and after is not None and after >= before:
            self.context = after - before
            self.notes.append(
                "cuda_context_bytes: NVML device memory used after CUDA and PyTorch initialised minus before"
            )
        else:
            self.context = total - free
            self.notes.append(
                "cuda_context_bytes: total minus free memory right after CUDA "
                "and PyTorch initialised (includes other processes on the GPU, if any)"
            )
        self.total = total
        self.weights_loaded: int | None = None

    @staticmethod
    def _nvml_used() -> int | None:
        try:
            import pynvml  # nvidia-ml-py, optional
        except Exception:
            return None
        try:
            pynvml.nvmlInit()
            idx = int((os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0])
            h = pynvml.nvmlDeviceGetHandleByIndex(idx)
            return int(pynvml.nvmlDeviceGetMemoryInfo(h).used)
        except Exception:
            return None

    def built(self, model) -> None:
        torch = self.torch
        torch.cuda.synchronize()
        gc.collect()
        self.weights_loaded = int(torch.cuda.memory_allocated())

    def start_work(self) -> None:
        torch = self.torch
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    def read(self) -> dict[str, int]:
        torch = self.torch
        try:
            torch.cuda.synchronize()
        except Exception:
            pass
        reserved = int(torch.cuda.max_memory_reserved())
        out = {
            "peak_allocated_bytes": int(torch.cuda.max_memory_allocated()),
            "peak_reserved_bytes": reserved,
            "cuda_context_bytes": int(self.context),
            "process_peak_bytes": reserved + int(self.context),
        }
        if self.weights_loaded is not None:
            out = {"weights_loaded_bytes": self.weights_loaded, **out}
        return out

    def cleanup(self) -> None:
        gc.collect()
        self.torch.cuda.empty_cache()


def _status_bytes(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class CpuMeter:
    """The same workload on the CPU: host memory, not GPU memory.

    ``weights_loaded_bytes`` is the bytes of the model's tensors (parameters,
    buffers and bitsandbytes quantization statistics) once built;
    ``cpu_peak_rss_bytes`` is the process's resident-set high-water mark over
    the work (Linux VmHWM, reset just before the work through
    /proc/self/clear_refs) and ``cpu_start_rss_bytes`` its resident set when
    the work began. They are not GPU quantities: such a file is never
    comparable with the estimate.
    """

    kind = "cpu"

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.weights_loaded: int | None = None
        self.start_rss: int | None = None
        self.hwm_reset = False
        self.total = None

    def built(self, model) -> None:
        gc.collect()
        self.weights_loaded = model_tensor_bytes(model)

    def start_work(self) -> None:
        gc.collect()
        self.start_rss = _status_bytes("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False

    def read(self) -> dict[str, int]:
        peak = _status_bytes("VmHWM") if self.hwm_reset else None
        if peak is None:
            ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = int(ru) * (1 if sys.platform == "darwin" else 1024)
            self.notes.append(
                "cpu_peak_rss_bytes: getrusage ru_maxrss over the whole process "
                "(the high-water mark could not be reset before the work)"
            )
        else:
            self.notes.append("cpu_peak_rss_bytes: VmHWM over the work, reset through /proc/self/clear_refs before it")
        out: dict[str, int] = {}
        if self.weights_loaded is not None:
            out["weights_loaded_bytes"] = self.weights_loaded
        out["cpu_peak_rss_bytes"] = int(peak)
        if self.start_rss is not None:
            out["cpu_start_rss_bytes"] = int(self.start_rss)
        return out

    def cleanup(self) -> None:
        gc.collect()


def model_tensor_bytes(model) -> int:
    """Bytes of every distinct storage the model holds, bitsandbytes statistics included."""
    import torch

    seen: set[int] = set()
    total = 0

    def add(t) -> None:
        nonlocal total
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return
        try:
            st = t.untyped_storage()
            key, size = st.data_ptr(), st.nbytes()
        except Exception:
            key, size = id(t), t.numel() * t.element_size()
        if key in seen:
            return
        seen.add(key)
        total += int(size)

    for t in list(model.parameters()) + list(model.buffers()):
        add(t)
        qs = getattr(t, "quant_state", None)  # Params4bit
        if qs is not None:
            add(getattr(qs, "absmax", None))
            add(getattr(qs, "code", None))
            s2 = getattr(qs, "state2", None)
            if s2 is not None:
                add(getattr(s2, "absmax", None))
                add(getattr(s2, "code", None))
        add(getattr(t, "SCB", None))  # Int8Params
    return total


# --------------------------------------------------------------------------- build


def _hf_config(config: dict[str, Any]):
    from transformers import AutoConfig

    cfg = {k: v for k, v in config.items() if k not in _NOT_ARCHITECTURE}
    model_type = cfg.pop("model_type", None)
    if not model_type:
        raise WorkloadError("the config has no model_type (config.json's architecture name, e.g. llama)")
    try:
        return AutoConfig.for_model(model_type, **cfg)
    except (ValueError, KeyError, TypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise WorkloadError(f"transformers cannot build model_type {model_type!r}: {msg}") from None


def _init_std(hf_config) -> float:
    for key in ("initializer_range", "init_std"):
        v = getattr(hf_config, key, None)
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    try:
        return float(getattr(hf_config.get_text_config(), "initializer_range", 0.02) or 0.02)
    except Exception:
        return 0.02


def _fallback_init(module, std: float) -> None:
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters(recurse=False):
            if p.dim() >= 2:
                p.normal_(0.0, std)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def _quantized_linear(module, fmt: str, device: str, std: float, compute_dtype):
    """A bitsandbytes layer with the shape of ``module`` (an nn.Linear on meta), random weights."""
    import bitsandbytes as bnb
    import torch

    out_f, in_f = module.out_features, module.in_features
    has_bias = module.bias is not None
    w = torch.empty(out_f, in_f, dtype=compute_dtype, device=device).normal_(0.0, std)
    if fmt == "int8":
        layer = bnb.nn.Linear8bitLt(in_f, out_f, bias=has_bias, has_fp16_weights=False, threshold=6.0, device="meta")
        param = bnb.nn.Int8Params(w, requires_grad=False, has_fp16_weights=False)
        param = param._quantize(device)
    else:  # nf4 | fp4
        layer = bnb.nn.Linear4bit(
            in_f,
            out_f,
            bias=has_bias,
            compute_dtype=compute_dtype,
            compress_statistics=True,
            quant_type=fmt,
            quant_storage=torch.uint8,
            device="meta",
        )
        param = bnb.nn.Params4bit(
            w,
            requires_grad=False,
            compress_statistics=True,
            quant_type=fmt,
            blocksize=64,
            quant_storage=torch.uint8,
            module=layer,
        )
        param = param._quantize(device)
    del w
    layer.weight = param
    if has_bias:
        layer.bias = torch.nn.Parameter(torch.zeros(out_f, dtype=compute_dtype, device=device), requires_grad=False)
    return layer


def build_model(case: Case, notes: list[str]):
    """The model of ``case.config``, random weights, on ``case.device``, in the method's formats."""
    import torch
    import transformers
    from torch import nn
    from transformers import AutoModelForCausalLM

    hf_config = _hf_config(case.config)
    spec = case.method
    dtype = _torch_dtype(spec.base_dtype)
    device = case.device
    kw = {"dtype": dtype} if int(transformers.__version__.split(".")[0]) >= 5 else {"torch_dtype": dtype}

    # parameters on meta, buffers (rotary tables) built normally on the CPU
    try:
        from accelerate import init_empty_weights

        ctx = init_empty_weights(include_buffers=False)
    except ImportError:
        ctx = None
    try:
        if ctx is not None:
            with ctx:
                model = AutoModelForCausalLM.from_config(hf_config, attn_implementation="sdpa", **kw)
        else:
            with torch.device(device):
                model = AutoModelForCausalLM.from_config(hf_config, attn_implementation="sdpa", **kw)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise WorkloadError(f"transformers cannot build this config as a causal LM: {msg}") from None

    if hasattr(model, "tie_weights"):
        model.tie_weights()  # init_empty_weights skips it: tied lm_head shares the embedding
    std = _init_std(hf_config)
    compute_dtype = _torch_dtype(spec.compute_dtype)
    if spec.quantized:
        if spec.linear_format not in ("int8", "nf4", "fp4"):
            raise WorkloadError(f"`measure` cannot build {spec.linear_format} weights")
        output = model.get_output_embeddings()
        replaced = 0
        for name, module in list(model.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.Linear) and child is not output:
                    setattr(
                        module, child_name, _quantized_linear(child, spec.linear_format, device, std, compute_dtype)
                    )
                    replaced += 1
        notes.append(
            f"{replaced} linear layers as bitsandbytes "
            f"{'Linear8bitLt (threshold 6.0)' if spec.linear_format == 'int8' else 'Linear4bit ' + spec.linear_format + ', double quantization, blocksize 64'}; "
            "embeddings, norms and lm_head in " + spec.base_dtype
        )

    if spec.quantized:
        fused = [n for n, p in model.named_parameters() if p.dim() >= 3]
        if fused:
            raise WorkloadError(
                f"{len(fused)} weights are fused 3-D tensors (e.g. {fused[0]}: MoE experts in "
                f"transformers {transformers.__version__}); bitsandbytes layers hold only nn.Linear, "
                f"so {spec.id} cannot be built faithfully for this model"
            )

    # materialise what is still on meta, module by module, keeping tied weights tied
    new_for: dict[int, Any] = {}
    with torch.no_grad():
        for module in model.modules():
            fresh = False
            for pname, p in list(module._parameters.items()):
                if p is None or p.device.type != "meta":
                    continue
                if id(p) in new_for:
                    module._parameters[pname] = new_for[id(p)]
                    continue
                q = nn.Parameter(torch.empty(p.shape, dtype=p.dtype, device=device), requires_grad=p.requires_grad)
                new_for[id(p)] = q
                module._parameters[pname] = q
                fresh = True
            for bname, b in list(module._buffers.items()):
                if b is not None and b.device.type != torch.device(device).type:
                    module._buffers[bname] = b.to(device)
            if fresh:
                try:
                    model._init_weights(module)
                except Exception:
                    _fallback_init(module, std)
                for p in module.parameters(recurse=False):  # anything init left as garbage
                    if p.is_floating_point() and not torch.isfinite(p).all():
                        _fallback_init(module, std)
                        break
    model.eval()
    if model.generation_config is not None:
        model.generation_config.pad_token_id = 0
        model.generation_config.eos_token_id = None
    return model


def count_parameters(model) -> int:
    """Exact parameter count, unquantized: a 4-bit weight counts its logical elements."""
    seen: set[int] = set()
    n = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        qs = getattr(p, "quant_state", None)
        if qs is not None and getattr(qs, "shape", None) is not None:
            shape = qs.shape
            cnt = 1
            for s in shape:
                cnt *= int(s)
            n += cnt
        else:
            n += p.numel()
    return n


def meta_parameter_count(case: Case) -> int | None:
    """Parameter count of the config's model built on the meta device (no memory)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(_hf_config(case.config))
        return count_parameters(model)
    except Exception:
        return None


# --------------------------------------------------------------------------- work


def _lora_targets(model, targets: str | None) -> list[str] | str:
    if not targets or targets == "all-linear":
        names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules()}
        present = [t for t in ALL_LINEAR if t in names]
        if len(present) == len(ALL_LINEAR):
            return present
        return "all-linear"  # peft's: every linear layer but the output layer
    return [t.strip() for t in targets.split(",") if t.strip()]


def _optimizer(params, name: str, device: str, notes: list[str]):
    import torch

    if name == "adamw":
        try:
            return torch.optim.AdamW(params, lr=1e-5, fused=True)
        except (RuntimeError, TypeError, ValueError) as exc:
            notes.append(f"fused AdamW unavailable ({exc.__class__.__name__}); foreach AdamW used")
            return torch.optim.AdamW(params, lr=1e-5, foreach=True)
    if name == "adamw8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-5)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-5, momentum=0.0)
    raise WorkloadError(f"unknown optimizer {name!r} (adamw, adamw8bit, sgd)")


def _random_ids(case: Case, vocab: int):
    import torch

    g = torch.Generator(device="cpu").manual_seed(case.seed)
    ids = torch.randint(0, vocab, (case.batch, case.seq_len), generator=g)
    return ids.to(case.device)


def run_inference(model, case: Case) -> None:
    import torch

    vocab = model.get_input_embeddings().num_embeddings
    ids = _random_ids(case, vocab)
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=False,
            max_new_tokens=case.new_tokens,
            min_new_tokens=case.new_tokens,
            use_cache=True,
            pad_token_id=0,
            eos_token_id=None,
        )
    if out.shape[1] != case.seq_len + case.new_tokens:
        raise WorkloadError(f"generate made {out.shape[1] - case.seq_len} tokens, not {case.new_tokens}")


def run_training(model, case: Case, notes: list[str]) -> int:
    """Two optimizer steps; returns the number of trainable parameters."""
    import torch

    spec = case.method
    if case.grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    if spec.trainable == "lora":
        from peft import LoraConfig, get_peft_model

        rank = case.lora_rank or 16
        targets = _lora_targets(model, case.lora_targets)
        for p in model.parameters():
            p.requires_grad_(False)
        cfg = LoraConfig(
            r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets, bias="none", task_type="CAUSAL_LM"
        )
        model = get_peft_model(model, cfg)  # adapters in fp32 (autocast_adapter_dtype, peft's default)
        adapted = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")} - {"base_layer"},
            key=lambda t: (ALL_LINEAR.index(t) if t in ALL_LINEAR else 99, t),
        )
        notes.append(
            f"LoRA rank {rank}, alpha {2 * rank}, adapters on {','.join(adapted)}"
            + ("" if isinstance(targets, list) else " (peft's all-linear)")
        )
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    if not params:
        raise WorkloadError("the method leaves nothing trainable")
    opt = _optimizer(params, case.optimizer or spec.optimizer_default or "adamw", case.device, notes)
    vocab = model.get_input_embeddings().num_embeddings
    ids = _random_ids(case, vocab)
    autocast = spec.autocast
    for _ in range(2):
        if autocast:
            with torch.autocast(device_type=torch.device(case.device).type, dtype=_torch_dtype(spec.compute_dtype)):
                out = model(input_ids=ids, labels=ids, use_cache=False)
        else:
            out = model(input_ids=ids, labels=ids, use_cache=False)
        loss = out.loss
        del out
        loss.backward()
        del loss
        opt.step()
        opt.zero_grad(set_to_none=True)
    return trainable


def measure(case: Case) -> Result:
    """Build the model and run the workload on ``case.device``; OOM is a result, not a crash."""
    import torch

    torch.manual_seed(case.seed)
    res = Result()
    t0 = time.perf_counter()
    meter = CudaMeter() if case.device == "cuda" else CpuMeter()
    notes = res.notes
    model = None
    phase = "build"
    try:
        model = build_model(case, notes)
        res.parameters = count_parameters(model)
        meter.built(model)
        meter.start_work()
        phase = case.method.kind
        if case.method.kind == "inference":
            run_inference(model, case)
        else:
            res.trainable_parameters = run_training(model, case, notes)
    except WorkloadError:
        raise
    except Exception as exc:
        if not _is_oom(exc):
            raise
        res.outcome = "oom"
        first = str(exc).splitlines()[0] if str(exc) else ""
        res.detail = f"out of memory during {phase}: {first[:300]}"
    if res.parameters is None:
        res.parameters = meta_parameter_count(case)
    res.measured = meter.read()
    if meter.kind == "cpu":
        res.compare = "cpu_peak_rss_bytes"
    notes[:0] = meter.notes
    del model
    meter.cleanup()
    res.seconds = time.perf_counter() - t0
    return res
