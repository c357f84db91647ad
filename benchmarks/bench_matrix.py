"""Benchmark the compatibility matrix: rows, seconds, peak memory, and how it scales.

    .venv/bin/python benchmarks/bench_matrix.py            # the catalogue x1, GPUs x2, everything x2
    .venv/bin/python benchmarks/bench_matrix.py --run 2 2  # one run: GPUs x2, variants x2 (internal)

Each scale runs in its own process so that its peak RSS (resource.getrusage,
ru_maxrss) is its own. "Catalogue doubled" = every GPU and every model variant
duplicated under a new id, which multiplies the rows by about 4 (rows grow
with GPUs x variants). The budget (issue 4): >= 1 million rows in < 10 s and
< 2 GB on the 2-core development machine. Timing covers compute_matrix only
(the catalogue is loaded before the clock starts).
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

SCALES = [
    (1, 1, "catalogue as is"),
    (2, 1, "GPUs doubled"),
    (1, 2, "variants doubled"),
    (2, 2, "catalogue doubled (GPUs and variants)"),
]


def scaled_catalog(catalog, gpu_factor: int, variant_factor: int):
    """The catalogue with every GPU / model family duplicated under new ids (-copyN)."""
    gpus = dict(catalog.gpus)
    for k in range(1, gpu_factor):
        for gid, g in catalog.gpus.items():
            gpus[f"{gid}-copy{k}"] = {**g, "id": f"{gid}-copy{k}"}
    models, variants = dict(catalog.models), dict(catalog.variants)
    for k in range(1, variant_factor):
        for fid, fam in catalog.models.items():
            new_fid = f"{fid}-copy{k}"
            fam2 = copy.deepcopy(fam)
            fam2["id"] = new_fid
            for v in fam2["variants"]:
                v["id"] = f"{v['id']}-copy{k}"
                variants[v["id"]] = {**v, "family": new_fid}
            models[new_fid] = fam2
    return replace(catalog, gpus=gpus, models=models, variants=variants)


def run_once(gpu_factor: int, variant_factor: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build"))
    from vramatlas.catalog import load_catalog
    from vramatlas.matrix import compute_matrix

    catalog = scaled_catalog(load_catalog(), gpu_factor, variant_factor)
    start = time.perf_counter()
    matrix = compute_matrix(catalog)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {
        "gpus": len(catalog.gpus),
        "variants": len(catalog.variants),
        "rows": len(matrix),
        "seconds": round(seconds, 3),
        "peak_rss_bytes": peak,
        "frame_bytes": int(matrix.memory_usage(deep=True).sum()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=2, type=int, metavar=("GPU_FACTOR", "VARIANT_FACTOR"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print one JSON object per scale")
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_once(*args.run)))
        return 0
    results = []
    for g, v, label in SCALES:
        out = subprocess.run(
            [sys.executable, __file__, "--run", str(g), str(v)], capture_output=True, text=True, check=True
        )
        res = json.loads(out.stdout.strip().splitlines()[-1]) | {"scale": label}
        results.append(res)
        if args.json:
            print(json.dumps(res))
        else:
            print(
                f"{label:<40} {res['gpus']:>4} GPUs {res['variants']:>4} variants  {res['rows']:>9,} rows  "
                f"{res['seconds']:6.2f} s  peak RSS {res['peak_rss_bytes'] / 2**30:5.2f} GiB  "
                f"({res['rows'] / res['seconds'] / 1e6:.2f} M rows/s, frame {res['frame_bytes'] / 2**20:.0f} MiB)"
            )
    big = [r for r in results if r["rows"] >= 1_000_000]
    ok = any(r["seconds"] < 10 and r["peak_rss_bytes"] < 2 * 2**30 for r in big)
    if not args.json:
        base = results[0]
        for r in results[1:]:
            print(f"  {r['scale']}: rows x{r['rows'] / base['rows']:.2f}, time x{r['seconds'] / base['seconds']:.2f}")
        print("budget (>= 1M rows, < 10 s, < 2 GiB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
