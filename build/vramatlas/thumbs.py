"""Rules of thumb people repeat, checked against the memory model.

``rules_of_thumb(catalog)`` returns one row per (claim, setting) with what the
claim says, what the memory model computes, and a verdict (``holds`` /
``breaks``), plus one ``overall`` row per claim whose verdict is ``holds``
(every setting), ``breaks`` (none) or ``depends`` (some). Settings vary what
the claims leave out: context length, batch size, gradient checkpointing and
the optimizer.

Every number comes from :func:`vramatlas.api.case_row` and
:func:`vramatlas.memory.estimate_frame` (one call for all settings), the same
code as ``vramatlas estimate`` and the matrix. GB = 10^9 bytes (how the claims
are written), GiB = 2^30 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from .api import case_row
from .memory import estimate_frame

GB = 1e9
GiB = 2**30
COLUMNS = (
    "claim_id",
    "claim",
    "setting",
    "claimed",
    "computed",
    "computed_value",
    "value_unit",
    "verdict",
    "explanation",
)


@dataclass
class Case:
    """One estimate: inputs for case_row."""

    inputs: dict[str, Any]

    def key(self) -> tuple:
        return tuple(sorted(self.inputs.items()))


@dataclass
class Check:
    claim_id: str
    setting: str
    claimed: str
    cases: list[dict[str, Any]]
    judge: Callable[[list[pd.Series]], tuple[str, float, str, bool, str]]  # -> computed text, value, unit, holds, why


@dataclass
class Claim:
    claim_id: str
    claim: str
    checks: list[Check] = field(default_factory=list)


def gb(x: float) -> str:
    return f"{x / GB:.1f} GB ({x / GiB:.1f} GiB)"


def _ctx(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 and n >= 1024 else str(n)


def _label(model: str, method: str, seq_len: int, batch: int, extra: str = "") -> str:
    return f"{model}, {method}, {_ctx(seq_len)} context, batch {batch}" + (f", {extra}" if extra else "")


def _case(model, method, seq_len, batch=1, **kw) -> dict[str, Any]:
    return {"model": model, "method": method, "seq_len": seq_len, "batch": batch, **kw}


def _breakdown(r: pd.Series) -> str:
    parts = [
        (k, r[k])
        for k in (
            "weights",
            "kv_cache",
            "activations",
            "logits",
            "gradients",
            "optimizer_states",
            "master_weights",
            "cuda_context",
            "allocator_slack",
        )
        if r[k] > 0.05 * r["peak_bytes"]
    ]
    return ", ".join(f"{k.replace('_', ' ')} {v / GB:.1f}" for k, v in parts) + " GB"


# ------------------------------------------------------------------ claims


def _within(value: float, low: float, high: float, tol: float = 0.05) -> bool:
    return low * (1 - tol) <= value <= high * (1 + tol)


def claims(catalog) -> list[Claim]:
    out: list[Claim] = []

    # 1. ~2 GB per billion parameters at 16 bit
    c = Claim("fp16-2gb-per-billion", "About 2 GB per billion parameters at 16 bit (7B ≈ 14 GB, 14B ≈ 28 GB)")

    def per_billion(model: str, what: str):
        params = catalog.variants[model]["parameters"]
        claimed = 2 * params / 1e9 * GB

        def judge(rs):
            r = rs[0]
            value = float(r["weights"] if what == "weights" else r["peak_bytes"])
            ok = _within(value, claimed, claimed, 0.10)
            why = (
                f"{'Weights alone' if what == 'weights' else 'Peak'} {value / GB:.1f} GB against the rule's "
                f"{claimed / GB:.1f} GB ({value / claimed:.2f}x)"
            )
            if what != "weights":
                why += f"; at the peak: {_breakdown(r)}"
            return gb(value), value, "bytes", ok, why

        return claimed, judge

    for model, method, seq, batch, what in [
        ("llama-2-7b", "inference-fp16", 2048, 1, "weights"),
        ("llama-2-7b", "inference-fp16", 2048, 1, "peak"),
        ("llama-2-7b", "inference-fp16", 4096, 8, "peak"),
        ("qwen2.5-14b", "inference-bf16", 2048, 1, "weights"),
        ("qwen2.5-14b", "inference-bf16", 2048, 1, "peak"),
        ("qwen2.5-14b", "inference-bf16", 32768, 1, "peak"),
        ("qwen2.5-14b", "inference-bf16", 131072, 1, "peak"),
        ("llama-3.1-8b", "inference-bf16", 131072, 1, "peak"),
    ]:
        claimed, judge = per_billion(model, what)
        label = _label(model, method, seq, batch, "weights only" if what == "weights" else "peak")
        c.checks.append(
            Check(c.claim_id, label, f"≈ {claimed / GB:.1f} GB (±10%)", [_case(model, method, seq, batch)], judge)
        )
    out.append(c)

    # 2. 8-bit halves memory
    c = Claim("int8-halves", "8-bit halves memory (a 7B in 7–8 GB)")

    def int8_abs(rs):
        v = float(rs[0]["peak_bytes"])
        return gb(v), v, "bytes", _within(v, 7 * GB, 8 * GB), f"Peak in LLM.int8: {_breakdown(rs[0])}"

    def int8_ratio(rs):
        ratio = float(rs[0]["peak_bytes"] / rs[1]["peak_bytes"])
        ok = ratio <= 0.55
        why = (
            f"int8 {rs[0]['peak_bytes'] / GB:.1f} GB against fp16 {rs[1]['peak_bytes'] / GB:.1f} GB; "
            "the KV cache, activations and CUDA context are not quantized"
        )
        return f"{ratio:.2f}x the fp16 peak", ratio, "ratio", ok, why

    for seq, batch in [(512, 1), (2048, 1), (4096, 1), (4096, 8)]:
        c.checks.append(
            Check(
                c.claim_id,
                _label("llama-2-7b", "inference-int8", seq, batch),
                "7–8 GB",
                [_case("llama-2-7b", "inference-int8", seq, batch)],
                int8_abs,
            )
        )
    for seq, batch in [(2048, 1), (4096, 8)]:
        c.checks.append(
            Check(
                c.claim_id,
                _label("llama-2-7b", "inference-int8 vs inference-fp16", seq, batch),
                "≈ 0.5x the 16-bit peak (≤ 0.55x)",
                [_case("llama-2-7b", "inference-int8", seq, batch), _case("llama-2-7b", "inference-fp16", seq, batch)],
                int8_ratio,
            )
        )
    out.append(c)

    # 3. Full fine-tuning 5-7x the model
    c = Claim("full-ft-5-7x", "Full fine-tuning needs 5–7× the model's memory (70–98 GB for a 7B)")
    fp16_weights = 2 * catalog.variants["llama-2-7b"]["parameters"]

    def full_ft(rs):
        v = float(rs[0]["peak_bytes"])
        return (
            f"{gb(v)}, {v / fp16_weights:.1f}x the 16-bit weights",
            v,
            "bytes",
            _within(v, 70 * GB, 98 * GB),
            f"At the peak ({rs[0]['phase']}): {_breakdown(rs[0])}",
        )

    for method, seq, batch, kw, extra in [
        ("full-mixed", 512, 1, {}, "AdamW fp32 states + fp32 master weights, no checkpointing"),
        ("full-mixed", 2048, 1, {}, "AdamW fp32 states + fp32 master weights, no checkpointing"),
        ("full-mixed", 2048, 8, {"grad_checkpointing": True}, "AdamW, checkpointing"),
        ("full-mixed", 2048, 1, {"optimizer": "sgd"}, "SGD with momentum"),
        ("full-bf16", 2048, 1, {}, "bf16 weights and AdamW states, checkpointing"),
        ("full-adamw8bit", 2048, 1, {}, "8-bit AdamW, checkpointing"),
    ]:
        c.checks.append(
            Check(
                c.claim_id,
                _label("llama-2-7b", method, seq, batch, extra),
                "70–98 GB (5–7x of 14 GB)",
                [_case("llama-2-7b", method, seq, batch, **kw)],
                full_ft,
            )
        )
    out.append(c)

    # 4. LoRA fits a 7B in 24-32 GB
    c = Claim("lora-7b-24-32gb", "LoRA fits a 7B model in 24–32 GB")

    def lora_fit(rs):
        v = float(rs[0]["peak_bytes"])
        ok = v <= 32 * GB * 1.05
        why = (
            "fits a 24 GB card" if v <= 24 * GB else "needs a 32 GB card" if v <= 32 * GB else "over 32 GB"
        ) + f"; at the peak: {_breakdown(rs[0])}"
        return gb(v), v, "bytes", ok, why

    for seq, batch, gc in [
        (512, 1, True),
        (2048, 1, True),
        (2048, 4, True),
        (2048, 4, False),
        (4096, 8, True),
        (4096, 8, False),
    ]:
        c.checks.append(
            Check(
                c.claim_id,
                _label("llama-2-7b", "lora", seq, batch, f"checkpointing {'on' if gc else 'off'}, rank 16 all-linear"),
                "≤ 32 GB",
                [_case("llama-2-7b", "lora", seq, batch, grad_checkpointing=gc)],
                lora_fit,
            )
        )
    out.append(c)

    # 5. QLoRA needs less again
    c = Claim("qlora-less-than-lora", "QLoRA needs less memory again than LoRA")

    def qlora_less(rs):
        ratio = float(rs[0]["peak_bytes"] / rs[1]["peak_bytes"])
        why = (
            f"QLoRA {rs[0]['peak_bytes'] / GB:.1f} GB against LoRA {rs[1]['peak_bytes'] / GB:.1f} GB; "
            "the 4-bit base shrinks the weights only, activations are the same"
        )
        return f"{ratio:.2f}x the LoRA peak", ratio, "ratio", ratio < 1.0, why

    for model, seq, batch, gc in [
        ("llama-2-7b", 512, 1, True),
        ("llama-2-7b", 2048, 4, True),
        ("llama-2-7b", 4096, 8, False),
        ("llama-3.1-70b", 8192, 1, True),
    ]:
        c.checks.append(
            Check(
                c.claim_id,
                _label(model, "qlora vs lora", seq, batch, f"checkpointing {'on' if gc else 'off'}"),
                "QLoRA < LoRA",
                [
                    _case(model, "qlora", seq, batch, grad_checkpointing=gc),
                    _case(model, "lora", seq, batch, grad_checkpointing=gc),
                ],
                qlora_less,
            )
        )
    out.append(c)

    # 6. 7B on a 16 GB RTX A4000, 8B only at short context
    c = Claim("7b-on-rtx-a4000", "A 7B runs on a 16 GB RTX A4000, and an 8B does too, only at short context")

    def runs(expect: bool):
        def judge(rs):
            r = rs[0]
            fits = bool(r["fits"])
            return (
                f"{'fits' if fits else 'does not fit'}: {gb(float(r['peak_bytes']))} of {gb(float(r['capacity_bytes']))}",
                float(r["peak_bytes"]),
                "bytes",
                fits == expect,
                f"headroom {r['headroom_bytes'] / GB:+.2f} GB; {_breakdown(r)}",
            )

        return judge

    for model, method, seq, expect in [
        ("llama-2-7b", "inference-fp16", 2048, True),
        ("llama-2-7b", "inference-fp16", 4096, True),
        ("mistral-7b-v0.1", "inference-bf16", 2048, True),
        ("mistral-7b-v0.1", "inference-bf16", 32768, False),
        ("llama-3.1-8b", "inference-bf16", 1024, True),
        ("llama-3.1-8b", "inference-bf16", 2048, True),
        ("llama-3.1-8b", "inference-bf16", 8192, False),
        ("llama-3.1-8b", "inference-int8", 8192, True),
    ]:
        claimed = "runs" if expect else "does not run (long context)"
        c.checks.append(
            Check(
                c.claim_id,
                _label(model, method, seq, 1, "rtx-a4000"),
                claimed,
                [_case(model, method, seq, 1, gpu="rtx-a4000")],
                runs(expect),
            )
        )
    out.append(c)

    # 7. 70B at 8-bit ~70 GB, or three RTX 3090s
    c = Claim("70b-int8-70gb-3x3090", "A 70B model at 8 bit needs about 70 GB, or three RTX 3090s")

    def seventy(rs):
        v = float(rs[0]["peak_bytes"])
        return gb(v), v, "bytes", _within(v, 70 * GB, 70 * GB, 0.10), f"At the peak: {_breakdown(rs[0])}"

    for seq, batch in [(2048, 1), (8192, 1), (32768, 1), (8192, 8)]:
        c.checks.append(
            Check(
                c.claim_id,
                _label("llama-3.1-70b", "inference-int8", seq, batch, "one GPU"),
                "≈ 70 GB (±10%)",
                [_case("llama-3.1-70b", "inference-int8", seq, batch)],
                seventy,
            )
        )
    for seq in (2048, 8192, 32768):
        c.checks.append(
            Check(
                c.claim_id,
                _label("llama-3.1-70b", "inference-int8", seq, 1, "3x rtx-3090, pipeline (layers split)"),
                "runs on three RTX 3090s",
                [_case("llama-3.1-70b", "inference-int8", seq, 1, gpu="rtx-3090", gpus=3, parallelism="pp")],
                runs(True),
            )
        )
    out.append(c)

    # 8. 70B and 340B beyond consumer hardware
    c = Claim("70b-340b-beyond-consumer", "70B and 340B models are beyond consumer hardware")

    def beyond(rs):
        r = rs[0]
        fits = bool(r["fits"])
        return (
            f"{'fits' if fits else 'does not fit'}: {gb(float(r['peak_bytes']))} per GPU of {gb(float(r['capacity_bytes']))}",
            float(r["peak_bytes"]),
            "bytes",
            not fits,
            f"headroom {r['headroom_bytes'] / GB:+.2f} GB; {_breakdown(r)}",
        )

    for model, method, seq, gpu, n, note in [
        ("llama-3.1-70b", "inference-gguf-q4-k-m", 2048, "rtx-5090", 1, "one RTX 5090 (32 GB)"),
        ("llama-3.1-70b", "inference-nf4", 8192, "rtx-4090", 2, "two RTX 4090, tensor parallel"),
        ("llama-3.1-70b", "qlora", 2048, "rtx-4090", 1, "one RTX 4090"),
        ("bitnet-b1.58-70b", "inference-ternary", 2048, "rtx-4090", 1, "one RTX 4090, ternary 70B"),
        ("nemotron-4-340b", "inference-gguf-q4-k-m", 2048, "rtx-5090", 1, "one RTX 5090"),
        ("nemotron-4-340b", "inference-gguf-q4-k-m", 2048, "rtx-5090", 8, "eight RTX 5090, tensor parallel"),
    ]:
        c.checks.append(
            Check(
                c.claim_id,
                _label(model, method, seq, 1, note),
                "does not fit",
                [_case(model, method, seq, 1, gpu=gpu, gpus=n)],
                beyond,
            )
        )
    out.append(c)

    # 9. Matmul-free / ternary up to 7x less memory
    c = Claim(
        "matmul-free-7x-less",
        "MatMul-free (ternary) models need up to 7× less memory than a standard model of the same size",
    )

    def seven(rs):
        ratio = float(rs[1]["peak_bytes"] / rs[0]["peak_bytes"])
        why = (
            f"ternary {rs[0]['peak_bytes'] / GB:.2f} GB against 16-bit {rs[1]['peak_bytes'] / GB:.2f} GB: "
            f"ternary {_breakdown(rs[0])}"
        )
        return f"{ratio:.1f}x less", ratio, "ratio", _within(ratio, 7, 7, 0.10), why

    for tern, std, method_t, method_s, seq, batch in [
        ("mmfreelm-370m", "mmfreelm-370m", "inference-ternary", "inference-bf16", 2048, 1),
        ("mmfreelm-2.7b", "mmfreelm-2.7b", "inference-ternary", "inference-bf16", 2048, 1),
        ("bitnet-b1.58-7b", "llama-2-7b", "inference-ternary", "inference-fp16", 2048, 1),
        ("bitnet-b1.58-70b", "llama-2-70b", "inference-ternary", "inference-fp16", 2048, 1),
        ("bitnet-b1.58-70b", "llama-2-70b", "inference-ternary", "inference-fp16", 2048, 8),
        ("mmfreelm-2.7b", "mmfreelm-2.7b", "train-ternary", "full-bf16", 2048, 1),
    ]:
        label = f"{tern} {method_t} vs {std} {method_s}, {_ctx(seq)} context, batch {batch}"
        c.checks.append(
            Check(
                c.claim_id,
                label,
                "≈ 7x less (±10%)",
                [_case(tern, method_t, seq, batch), _case(std, method_s, seq, batch)],
                seven,
            )
        )
    out.append(c)
    return out


# ------------------------------------------------------------------ table


def rules_of_thumb(catalog) -> pd.DataFrame:
    """One row per claim x setting, and an ``overall`` row per claim (see the module docstring)."""
    all_claims = claims(catalog)
    unique: dict[tuple, int] = {}
    rows = []
    for claim in all_claims:
        for check in claim.checks:
            for inputs in check.cases:
                key = tuple(sorted(inputs.items()))
                if key not in unique:
                    unique[key] = len(rows)
                    rows.append(case_row(catalog, **inputs))
    frame = pd.DataFrame(rows)
    est = estimate_frame(frame)
    est["capacity_bytes"] = frame["capacity_bytes"].to_numpy()
    out = []
    for claim in all_claims:
        verdicts = []
        for check in claim.checks:
            results = [est.iloc[unique[tuple(sorted(i.items()))]] for i in check.cases]
            computed, value, unit, holds, why = check.judge(results)
            verdicts.append((check.setting, holds))
            out.append(
                (
                    claim.claim_id,
                    claim.claim,
                    check.setting,
                    check.claimed,
                    computed,
                    float(value),
                    unit,
                    "holds" if holds else "breaks",
                    why,
                )
            )
        n_hold = sum(h for _, h in verdicts)
        verdict = "holds" if n_hold == len(verdicts) else "breaks" if n_hold == 0 else "depends"
        broken = [s for s, h in verdicts if not h]
        why = (
            "Holds in every setting checked."
            if not broken
            else "Breaks in every setting checked."
            if n_hold == 0
            else "Breaks for: " + "; ".join(broken) + "."
        )
        out.append(
            (
                claim.claim_id,
                claim.claim,
                "overall",
                claim.claim,
                f"holds in {n_hold} of {len(verdicts)} settings",
                float(n_hold / len(verdicts)),
                "ratio",
                verdict,
                why,
            )
        )
    table = pd.DataFrame(out, columns=list(COLUMNS))
    for col in ("claim_id", "claim", "setting", "claimed", "computed", "value_unit", "verdict", "explanation"):
        table[col] = table[col].astype("string")
    table["computed_value"] = table["computed_value"].astype(np.float64)
    return table
