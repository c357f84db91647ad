"""Run a plan of `vramatlas measure` cases, one process each, and summarise them.

    python -m vramatlas.measure.batch PLAN.yaml [--out-dir catalog/measurements]
        [--budget-s SECONDS] [--timeout-s SECONDS] [--only SUBSTRING] [--force] [--dry-run]

A plan is YAML: ``defaults`` (a mapping) and ``cases`` (a list of mappings),
whose keys are `vramatlas measure` options without the leading dashes
(``seq_len`` or ``seq-len``; ``grad_checkpointing: true|false``). Each case
runs in its own process (a clean CUDA context and allocator, and an
out-of-memory case cannot disturb the next), writes to a temporary file, and
is moved to ``OUT_DIR/<id>.yaml``. A case whose file exists is skipped unless
``--force``. ``--budget-s`` stops starting cases once the time spent plus the
slowest case so far would pass it. The summary prints measured against
predicted for every case; the exit status is 0 when every case wrote a file.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

GIB = 2**30
_BOOL_FLAGS = {"grad_checkpointing"}


def case_args(case: dict[str, Any]) -> list[str]:
    """`vramatlas measure` arguments for one plan entry (without --out)."""
    args: list[str] = []
    for key, value in case.items():
        key = str(key).replace("-", "_")
        if key == "out":
            raise ValueError("a plan case sets no 'out': batch writes OUT_DIR/<id>.yaml")
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key in _BOOL_FLAGS:
            args.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            args += [flag, str(value)]
    return args


def load_plan(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValueError(f"{path}: a plan is a mapping with a 'cases' list")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ValueError(f"{path}: 'defaults' must be a mapping")
    out = []
    for i, case in enumerate(data["cases"]):
        if not isinstance(case, dict):
            raise ValueError(f"{path}: case {i + 1} is not a mapping")
        out.append({**defaults, **case})
    return out


def _label(case: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in case.items() if k != "device")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vramatlas.measure.batch", description=__doc__.split("\n\n")[0])
    ap.add_argument("plan", type=Path)
    ap.add_argument("--out-dir", type=Path, default=Path("catalog/measurements"))
    ap.add_argument("--budget-s", type=float, default=None, help="stop starting cases after this many seconds")
    ap.add_argument("--timeout-s", type=float, default=900, help="per case (default 900)")
    ap.add_argument("--only", default=None, help="run only cases whose options contain this text")
    ap.add_argument("--force", action="store_true", help="re-run cases whose file exists")
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = ap.parse_args(argv)
    try:
        cases = load_plan(args.plan)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"batch: {exc}", file=sys.stderr)
        return 2
    if args.only:
        cases = [c for c in cases if args.only in _label(c)]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    slowest = 0.0
    rows: list[tuple[str, str, str, str, str]] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="vramatlas-batch-") as tmp:
        for i, case in enumerate(cases, 1):
            try:
                cargs = case_args(case)
            except ValueError as exc:
                print(f"batch: case {i}: {exc}", file=sys.stderr)
                failed += 1
                continue
            if case.get("id") and not args.force and (args.out_dir / f"{case['id']}.yaml").exists():
                rows.append((str(case["id"]), "skipped (exists)", "", "", ""))
                continue
            spent = time.monotonic() - start
            if args.budget_s is not None and spent + max(slowest, 30.0) > args.budget_s:
                rows.append((_label(case), "not run (budget)", "", "", ""))
                continue
            tmp_out = Path(tmp) / f"case-{i}.yaml"
            cmd = [sys.executable, "-m", "vramatlas", "measure", *cargs, "--out", str(tmp_out)]
            print(f"[{i}/{len(cases)}] {shlex.join(cmd[1:])}", flush=True)
            if args.dry_run:
                continue
            t0 = time.monotonic()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout_s)
            except subprocess.TimeoutExpired:
                rows.append((_label(case), f"timeout {args.timeout_s:.0f}s", "", "", ""))
                failed += 1
                continue
            took = time.monotonic() - t0
            slowest = max(slowest, took)
            print((proc.stdout + proc.stderr).strip(), flush=True)
            if proc.returncode != 0 or not tmp_out.exists():
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                rows.append((_label(case), f"failed ({proc.returncode}): {last[:120]}", "", "", ""))
                failed += 1
                continue
            doc = yaml.safe_load(tmp_out.read_text(encoding="utf-8"))
            target = args.out_dir / f"{doc['id']}.yaml"
            if target.exists() and not args.force:
                rows.append((doc["id"], "exists: kept the old file", "", "", ""))
                continue
            shutil.move(str(tmp_out), target)
            m = doc.get("measured") or {}
            got = m.get(doc.get("compare") or "process_peak_bytes")
            pred = (doc.get("predicted") or {}).get("peak_bytes")
            err = (doc.get("predicted") or {}).get("error")
            rows.append(
                (
                    doc["id"],
                    doc.get("outcome", "ok") + f" {took:.0f}s",
                    f"{got / GIB:.2f}" if got else "",
                    f"{pred / GIB:.2f}" if pred else "",
                    f"{err * 100:+.1f}%" if err is not None else "",
                )
            )
    if args.dry_run:
        return 0
    print("\n| case | outcome | measured GiB | predicted GiB | error |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    errs = [abs(float(r[4].rstrip("%"))) for r in rows if r[4]]
    if errs:
        errs.sort()
        print(f"\n{len(errs)} comparable: median |error| {errs[len(errs) // 2]:.1f}%, largest {errs[-1]:.1f}%")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
