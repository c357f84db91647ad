#!/usr/bin/env python3
"""Write published speed figures (an `estimate` call, a quantity, a figure and its source each) as catalogue
measurements: catalog/measurements/speed-<id>.yaml, one per figure.

    python tools/import_speed_figures.py ../shared/reference/speed-figures.yaml

Each figure's `estimate_args` become the measurement's model, method, GPU and workload; `read` names the
quantity (speed.decode_tokens_per_s -> compare: decode_tokens_per_s); the source, quote and conditions
(runtime version, backend, GPU as named) become the provenance. Existing files are overwritten, so the
import is repeatable; `vramatlas fmt` then puts them in canonical form.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "catalog" / "measurements"
INT_ARGS = {
    "seq-len": "seq_len",
    "new-tokens": "new_tokens",
    "batch": "batch",
    "gpus": "gpus",
    "gpu-layers": "gpu_layers",
    "ubatch": "ubatch",
    "lora-rank": "lora_rank",
}
STR_ARGS = {
    "runtime": "runtime",
    "quant": "quant",
    "flash-attn": "flash_attn",
    "parallelism": "parallelism",
    "lora-targets": "lora_targets",
    "optimizer": "optimizer",
}


def parse_args(text: str) -> dict:
    words = shlex.split(text)
    out: dict = {}
    for flag, value in zip(words[::2], words[1::2]):
        out[flag.removeprefix("--")] = value
    return out


def measurement(fig: dict) -> dict:
    args = parse_args(fig["estimate_args"])
    quantity = fig["read"].removeprefix("speed.")
    training = quantity == "train_tokens_per_s"
    workload = {
        "seq_len": int(args["seq-len"]),
        "new_tokens": 0 if training else int(args.get("new-tokens", 16)),
        "batch": int(args.get("batch", 1)),
        "gradient_checkpointing": None,
        "optimizer": None,
        "lora_rank": None,
        "lora_targets": None,
        "gpus": int(args.get("gpus", 1)),
        "parallelism": None,
    }
    for flag, key in INT_ARGS.items():
        if flag in args:
            workload[key] = int(args[flag])
    for flag, key in STR_ARGS.items():
        workload.setdefault(key, None)
        if flag in args:
            workload[key] = args[flag]
    cond = fig.get("conditions") or {}
    software = {
        k: str(cond[k])
        for k in ("runtime", "runtime_version", "backend", "weights_format", "flash_attn")
        if cond.get(k) is not None
    }
    return {
        "id": f"speed-{fig['id']}",
        "model": args["model"],
        "config": None,
        "method": args["method"],
        "gpu": args["gpu"],
        "workload": workload,
        "measured": {quantity: float(fig["published"])},
        "compare": quantity,
        "comparable": True,
        "outcome": "ok",
        "provenance": {
            "by": str(cond.get("runtime") or fig.get("runtime") or "published benchmark"),
            "date": None,
            "gpu_name": cond.get("gpu"),
            "software": software or None,
            "protocol": f"published benchmark, {quantity} as the source prints it ({cond.get('n_gpus', 1)} GPU(s), offload "
            f"{cond.get('offload', 'all')}); the figure as the estimate call `{fig['estimate_args']}` (read {fig['read']})",
            "source": fig["source"],
            "notes": str(fig.get("quote") or "")[:3900] or None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figures", type=Path)
    a = ap.parse_args(argv)
    figures = yaml.safe_load(a.figures.read_text())
    for fig in figures:
        m = measurement(fig)
        (OUT / f"{m['id']}.yaml").write_text(yaml.safe_dump(m, sort_keys=False, allow_unicode=True, width=120))
    print(f"wrote {len(figures)} measurements to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
