"""Turn ../shared/measurements/h200-calibration.json into catalog/measurements/*.yaml.

Run once when the shared calibration set changes:
    python tools/import_calibration.py ../shared/measurements/h200-calibration.json
"""

import json
import sys
from pathlib import Path

import yaml


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def measurement(case: dict, meta: dict) -> dict:
    gpu_name, _, driver = meta["gpu"].partition("driver ")
    return {
        "id": "h200-" + case["id"],
        "model": case["model"],
        "config": case["config"],
        "method": case["method"],
        "gpu": "h200",
        "workload": {
            "seq_len": case["seq_len"],
            "new_tokens": case["new_tokens"],
            "batch": case["batch"],
            "gradient_checkpointing": case["gradient_checkpointing"],
            "optimizer": case["optimizer"],
            "lora_rank": case["lora_rank"],
            "lora_targets": case["lora_targets"],
            "gpus": 1,
            "parallelism": None,
        },
        "parameters": case["parameters"],
        "outcome": "ok",
        "measured": case["measured"],
        "compare": "process_peak_bytes",
        "comparable": True,
        "why_not_comparable": None,
        "provenance": {
            "by": "vramatlas shared calibration set",
            "date": None,
            "gpu_name": "NVIDIA H200 (143771 MiB)",
            "driver": driver.rstrip(")").strip() or None,
            "software": {
                "python": "3.12",
                "torch": "2.11.0+cu130",
                "transformers": "5.17.0",
                "peft": "0.21.0",
                "bitsandbytes": "0.50.2",
                "cuda": "13.0",
            },
            "protocol": "random weights built from the config on the GPU; one process; allocator emptied and peak counters reset between cases; process peak = max_memory_reserved + CUDA context (catalog/measurements/README.md)",
            "source": "https://github.com/vramatlas/vramatlas/blob/main/catalog/measurements/README.md",
        },
    }


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    out = Path(__file__).resolve().parent.parent / "catalog" / "measurements"
    out.mkdir(parents=True, exist_ok=True)
    for case in data["cases"]:
        doc = measurement(case, data["meta"])
        (out / f"{doc['id']}.yaml").write_text(yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, width=120))
    print(f"wrote {len(data['cases'])} measurements to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
