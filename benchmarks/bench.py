"""How fast vramatlas is: estimate latency, import time, the matrix (rows/s, peak RSS), the build's stages.

    .venv/bin/python benchmarks/bench.py                  # this checkout, printed as a table
    .venv/bin/python benchmarks/bench.py --code OLD/build # another checkout's code (before/after)
    .venv/bin/python benchmarks/bench.py --build          # also `vramatlas build` per stage (3 runs, ~2 min)
    .venv/bin/python benchmarks/bench.py --json           # one JSON object

Every command-line figure is a fresh process (what a user waits for), run
--runs times after one warm-up; the table shows the best and the median
(the best is the least disturbed by other load on a shared machine).
"python -c 'import numpy'" is the yardstick issue 11 states the estimate's
budget in (within 3x). The matrix runs in its own process so its peak RSS
(ru_maxrss) is its own; the catalogue is loaded before the clock starts.
Build stage times come from the build's own report: wall (`stage_seconds`) and CPU, user+sys of the build's
process and the children it waited for (`stage_cpu_seconds`: on a shared machine wall time grows with other
load, CPU time much less); peak RSS is the larger of the process's and its children's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
ESTIMATE = [
    "estimate",
    "--model",
    "llama-3.1-8b",
    "--method",
    "qlora",
    "--seq-len",
    "8192",
    "--gpu",
    "rtx-4090",
    "--json",
]
MATRIX_RUN = """
import json, resource, sys, time
from vramatlas.catalog import load_catalog
from vramatlas.matrix import compute_matrix
catalog = load_catalog()
start = time.perf_counter()
matrix = compute_matrix(catalog)
seconds = time.perf_counter() - start
print(json.dumps({"rows": len(matrix), "seconds": seconds, "gpus": len(catalog.gpus), "variants": len(catalog.variants),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "result_bytes": int(matrix.memory_usage(deep=True).sum())}))
"""
IN_PROCESS = """
import json, sys, time
from vramatlas.api import estimate
from vramatlas.catalog import load_catalog
def best(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)
kw = dict(model="llama-3.1-8b", method="qlora", seq_len=8192, gpu="rtx-4090")
catalog = load_catalog()
print(json.dumps({"estimate_call_s": best(lambda: estimate(catalog, **kw), 50),
                  "load_catalog_s": best(load_catalog, 10)}))
"""


def _env(code: Path | None, **extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    if code is not None:
        env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def timed(argv: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Best and median wall time of a fresh process, after one warm-up run."""
    subprocess.run(argv, env=env, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return {"best_s": min(times), "median_s": statistics.median(times)}


def command_line(code: Path | None, runs: int) -> dict[str, dict[str, float]]:
    py = sys.executable
    cli = [py, "-m", "vramatlas"]
    with tempfile.TemporaryDirectory() as cache:
        cached = _env(code, XDG_CACHE_HOME=cache)
        return {
            "python -c 'import numpy'": timed([py, "-c", "import numpy"], _env(code), runs),
            "vramatlas --help": timed([*cli, "--help"], cached, runs),
            "vramatlas estimate (YAML, no cache)": timed([*cli, *ESTIMATE], _env(code, VRAMATLAS_NO_CACHE="1"), runs),
            "vramatlas estimate (cached catalogue)": timed([*cli, *ESTIMATE], cached, runs),
        }


def in_process(code: Path | None) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", IN_PROCESS], env=_env(code), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def matrix(code: Path | None) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", MATRIX_RUN], env=_env(code), capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    res["rows_per_s"] = res["rows"] / res["seconds"]
    return res


def build(code: Path | None, runs: int) -> dict[str, object]:
    """`vramatlas build` into a temporary folder ``runs`` times (--force: no no-change shortcut), each its own
    process: the stage times of the median run, every run's total; then `vramatlas build` again in a fresh
    process with nothing changed (what a rerun costs)."""
    run = (
        "import json, resource, sys; from vramatlas.site.build import build_site\n"
        "kw = {'force': True} if 'force' in build_site.__code__.co_varnames else {}\n"
        "r = build_site(sys.argv[1], **kw)\n"
        "peak = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
        "print(json.dumps({'total_s': r.seconds, 'stages_s': r.stage_seconds,\n"
        "                  'stages_cpu_s': getattr(r, 'stage_cpu_seconds', {}), 'peak_rss_bytes': peak * 1024}))"
    )
    results = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(runs):
            res = subprocess.run(
                [sys.executable, "-c", run, out], env=_env(code), capture_output=True, text=True, check=True
            )
            results.append(json.loads(res.stdout.strip().splitlines()[-1]))
        start = time.perf_counter()
        rerun = subprocess.run(
            [sys.executable, "-m", "vramatlas", "build", "--out", out], env=_env(code), capture_output=True, text=True
        )
        if rerun.returncode != 0 or "unchanged" not in rerun.stdout:
            raise SystemExit(f"bench: the rebuild with nothing changed did not keep the output: {rerun.stderr.strip()}")
        unchanged = time.perf_counter() - start
    results.sort(key=lambda r: r["total_s"])
    return {
        **results[len(results) // 2],
        "runs_total_s": [r["total_s"] for r in results],
        "unchanged_s": unchanged,
    }


def machine() -> str:
    cpus = os.cpu_count()
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {cpus} CPUs, Python {platform.python_version()}, load average {load} (1, 5, 15 min)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, help="the build/ folder of the checkout to measure (default: this one)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--build", action="store_true", help="also run `vramatlas build` and report its stages")
    parser.add_argument(
        "--build-runs", type=int, default=3, help="builds with --build (default 3; the median's stages)"
    )
    parser.add_argument("--no-matrix", action="store_true", help="skip the matrix")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    code = args.code.resolve() if args.code else HERE / "build"
    result: dict[str, object] = {
        "code": str(code),
        "machine": machine(),
        "command_line": command_line(code, args.runs),
        "in_process": in_process(code),
    }
    if not args.no_matrix:
        result["matrix"] = matrix(code)
    if args.build:
        result["build"] = build(code, args.build_runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"code: {code}\nmachine: {result['machine']}\n")
    cl = result["command_line"]
    numpy_best = cl["python -c 'import numpy'"]["best_s"]
    print(f"{'command (fresh process)':40s} {'best ms':>9s} {'median ms':>10s} {'x numpy':>8s}")
    for name, t in cl.items():
        print(f"{name:40s} {t['best_s'] * 1e3:9.0f} {t['median_s'] * 1e3:10.0f} {t['best_s'] / numpy_best:8.2f}")
    ip = result["in_process"]
    print(
        f"\nin process: estimate() {ip['estimate_call_s'] * 1e3:.2f} ms a call, "
        f"load_catalog() {ip['load_catalog_s'] * 1e3:.1f} ms"
    )
    if "matrix" in result:
        m = result["matrix"]
        print(
            f"matrix: {m['rows']:,} rows ({m['gpus']} GPUs x {m['variants']} variants) in {m['seconds']:.2f} s = "
            f"{m['rows_per_s']:,.0f} rows/s; peak RSS {m['peak_rss_bytes'] / 2**20:,.0f} MiB, "
            f"result {m['result_bytes'] / 2**20:,.0f} MiB"
        )
    if "build" in result:
        b = result["build"]
        total, cpu = b["total_s"], b.get("stages_cpu_s") or {}
        runs = ", ".join(f"{s:.1f}" for s in b["runs_total_s"])
        print(
            f"\nbuild: {len(b['runs_total_s'])} runs, {runs} s; the median: {total:.1f} s wall, "
            f"{sum(cpu.values()):.1f} s CPU (user+sys, its processes), peak RSS {b['peak_rss_bytes'] / 2**20:,.0f} MiB"
        )
        print(f"rebuild with nothing changed (fresh process): {b['unchanged_s']:.2f} s")
        print(f"{'stage':12s} {'wall s':>7s} {'share':>6s} {'CPU s':>7s}")
        for k, v in b["stages_s"].items():
            c = cpu.get(k)
            print(f"{k:12s} {v:7.1f} {v / total:6.0%} {'' if c is None else f'{c:7.1f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
