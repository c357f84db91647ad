"""The methodology page's "Speed" section: how the speed model works, and predicted against published
per kind, runtime and GPU family (vramatlas.speed_accuracy), with every case and the worst ones."""

from __future__ import annotations

import inspect
import math

from .. import speed


def _first_paragraphs(obj, n: int = 1) -> str:
    text = inspect.getdoc(obj) or ""
    return "\n\n".join(text.split("\n\n")[:n])


TERMS = (
    ("Decode step", "decode_step_seconds"),
    ("Streaming bandwidth", "decode_bandwidth"),
    ("Prompt (prefill)", "prefill_seconds"),
    ("Tile waves", "wave_efficiency"),
    ("Training FLOPs per token", "train_flops_per_token"),
    ("Optimizer step and dequantization", "train_step_bytes"),
)


def speed_section(catalog) -> str:
    from ..speed_accuracy import speed_accuracy_frame, speed_summary
    from .pages import esc, md_table, pct, rst_inline

    def doc(text: str) -> str:  # our own docstrings (not catalogue text): their ``code`` as Markdown code
        return rst_inline(text)

    paragraphs = (inspect.getdoc(speed) or "").split("\n\n")
    bullets = [" ".join(b.split()) for b in paragraphs[3].removeprefix("* ").split("\n* ")]
    out = ["## Speed\n", doc(paragraphs[2].replace("\n", " ")) + "\n", "\n".join(f"- {doc(b)}" for b in bullets) + "\n"]
    out.append(
        "The constants live in each runtime file's `speed` block (`catalog/runtimes/*.yaml`), one entry per backend "
        "family and per backend x weight-format kernel, each with the benchmarks or the mechanism it rests on; "
        "the GPU files give bandwidth, peaks, compute units and clock. `vramatlas estimate --json` prints the "
        "result as `speed` (`prefill_tokens_per_s`, `decode_tokens_per_s`, `output_tokens_per_s`, "
        "`time_to_first_token_s`; for training `train_tokens_per_s` and, with `--train-tokens`, `train_hours`); "
        "the matrix and its downloads carry the same columns. Layers kept on the host (`--gpu-layers`) stream at "
        f"`--host-bandwidth` (default {speed.DEFAULT_HOST_BANDWIDTH / 1e9:.0f} GB/s, dual-channel DDR5 as STREAM "
        "measures it; the machine's own memory on unified-memory GPUs).\n"
    )
    out.append("### The terms\n")
    for title, name in TERMS:
        out.append(f"**{esc(title)}** (`vramatlas.speed.{name}`): {doc(_first_paragraphs(getattr(speed, name), 2))}\n")
    frame = speed_accuracy_frame(catalog)
    out.append("### Predicted against published speed\n")
    if not len(frame):
        out.append("No speed measurements in the catalogue yet.\n")
        return "\n".join(out)
    out.append(
        f"{len(frame)} published speeds (`catalog/measurements/speed-*.yaml`: llama.cpp scoreboards, "
        "XiongjieDai's GPU benchmarks, MLX, torchtune, LLaMA-Factory), each run through `vramatlas estimate` with "
        "its own model, runtime, weight format, workload and GPU. Error = predicted / published \u2212 1; a case the "
        "estimate does not answer counts as 100 %.\n"
    )
    for by, label in (("kind", "kind"), ("runtime", "runtime"), ("gpu_family", "GPU family")):
        stats = speed_summary(frame, by)
        out.append(f"By {label}:\n")
        out.append(
            md_table(
                [label, "cases", "median abs. error", "90th percentile", "largest"],
                [[esc(r.group), r.cases, pct(r.median), pct(r.p90), pct(r.max)] for r in stats.itertuples()],
                "lrrrr",
            )
        )
    by_cell = frame.groupby(["gpu_family", "runtime", "kind"], sort=True)
    rows = [[esc(f), esc(rt), esc(k), len(g), pct(float(g["abs_error"].median()))] for (f, rt, k), g in by_cell]
    out.append("By GPU family, runtime and kind:\n")
    out.append(md_table(["GPU family", "runtime", "kind", "cases", "median abs. error"], rows, "lllrr"))
    worst = frame.sort_values("abs_error", ascending=False).head(5)
    out.append("### The worst speed cases\n")
    for r in worst.itertuples():
        direction = "over-predicts" if r.error > 0 else "under-predicts"
        out.append(
            f"**{esc(r.measurement)}** ({esc(r.kind)}, {esc(r.runtime)}, {esc(r.model)} {esc(r.quant)} on "
            f"{r.gpus} x {esc(r.gpu)}): the model {direction} by {pct(abs(r.error))} "
            f"({r.predicted:,.1f} against {r.measured:,.1f} tokens/s published).\n"
        )
    out.append(
        "Where the gaps come from: published llama.cpp figures span builds two years apart (the 2024 "
        "XiongjieDai builds multiplied quantized prompts on dequantized FP16 through cuBLAS, today's MMQ runs them "
        "on int8 tensor cores), and the estimate describes one build; multi-GPU prompt runs in those builds were "
        "slower than the layer split's arithmetic explains; torchtune's README reports more tokens per second "
        "than 6N (or 4N) FLOPs per token allow at the GPU's dense bf16 peak, so no achieved fraction of the peak "
        "reproduces it.\n"
    )
    out.append(
        '<details class="abstract" markdown><summary>Every speed case</summary>\n\n'
        + md_table(
            ["measurement", "kind", "runtime", "GPU", "published (t/s)", "predicted (t/s)", "error"],
            [
                [
                    esc(r.measurement),
                    esc(r.kind),
                    esc(r.runtime),
                    esc(r.gpu),
                    f"{r.measured:,.1f}",
                    "n/a" if math.isnan(r.predicted) else f"{r.predicted:,.1f}",
                    "n/a" if math.isnan(r.error) else pct(r.error, True),
                ]
                for r in frame.sort_values("abs_error", ascending=False).itertuples()
            ],
            "llllrrr",
        )
        + "\n</details>\n"
    )
    return "\n".join(out)
