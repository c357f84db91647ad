"""`vramatlas list models|gpus|methods|runtimes|quants [--json]`: the ids the other commands accept."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .cli import CLIError

KINDS = ("models", "gpus", "methods", "runtimes", "quants")
GiB = 2**30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="what to list")
    parser.add_argument("--json", action="store_true", help="print a JSON array of objects (id and the main facts)")


def _entries(catalog, kind: str) -> list[dict[str, Any]]:
    """One object per id, sorted by id: the facts a reader picks an id by."""
    if kind == "models":
        out = []
        for vid, v in catalog.variants.items():
            cfg = v.get("config") or {}
            out.append(
                {
                    "id": vid,
                    "name": v.get("name"),
                    "family": v.get("family"),
                    "parameters": v.get("parameters"),
                    "active_parameters": v.get("active_parameters"),
                    "max_context": cfg.get("max_position_embeddings")
                    or (cfg.get("text_config") or {}).get("max_position_embeddings"),
                    "hf_repo": v.get("hf_repo"),
                }
            )
        return sorted(out, key=lambda e: e["id"])
    table = getattr(catalog, kind, None)
    if table is None:
        return []
    out = []
    for eid, spec in table.items():
        entry = {"id": eid, "name": spec.get("name")}
        if kind == "gpus":
            memory = spec.get("memory") or {}
            entry.update(vendor=spec.get("vendor"), usable_bytes=memory.get("usable_bytes"))
        elif kind == "methods":
            entry.update(kind=spec.get("kind"), trainable=spec.get("trainable"))
        out.append(entry)
    return sorted(out, key=lambda e: e["id"])


def _line(kind: str, e: dict[str, Any]) -> str:
    name = e.get("name") or ""
    if kind == "models":
        size = f"{e['parameters'] / 1e9:.1f}B" if e.get("parameters") else ""
        if e.get("active_parameters"):
            size += f" ({e['active_parameters'] / 1e9:.1f}B active)"
        ctx = f"ctx {e['max_context']:,}" if e.get("max_context") else ""
        return f"{e['id']:32s} {size:22s} {ctx:12s} {name}"
    if kind == "gpus":
        mem = f"{e['usable_bytes'] / GiB:.1f} GiB" if e.get("usable_bytes") else ""
        return f"{e['id']:26s} {mem:>11s}  {name}"
    if kind == "methods":
        return f"{e['id']:26s} {e.get('kind') or '':10s} {name}"
    return f"{e['id']:26s} {name}"


def run(args: argparse.Namespace) -> int:
    from .catalog import load_catalog

    catalog = load_catalog()
    if args.kind not in ("models",) and getattr(catalog, args.kind, None) is None:
        raise CLIError(f"this catalogue has no {args.kind} (no catalog/{args.kind}/ folder)")
    entries = _entries(catalog, args.kind)
    if args.json:
        json.dump(entries, sys.stdout, indent=2)
        print()
    else:
        for e in entries:
            print(_line(args.kind, e).rstrip())
    return 0
