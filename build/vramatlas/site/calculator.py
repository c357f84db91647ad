"""The calculator page (``/calculator/``): `vramatlas estimate` itself, run in the browser.

Which computation path, and why: the page runs the package's own Python, unchanged, in Pyodide
(CPython compiled to WebAssembly: the npm package ``pyodide``, core only, vendored under
``assets/pyodide/`` like Vega and loaded only on this page). It calls
``vramatlas.cli.main(["estimate", *argv, "--json"])``: the CLI's argument parsing, its one-line
errors, the memory model and its JSON, on the catalogue compiled to JSON at build time. So the page's
numbers equal ``vramatlas estimate --json`` to the byte by construction (the browser tests compare
them on many cases), and no formula exists twice. Generating JavaScript from the Python model was the
other way; it would be a second implementation to keep equal forever.

The form is generated from the estimate subcommand's argparse definition (:func:`estimate_options`),
so an option added to the CLI appears on the page without new page code. Each field is named like its
option without the dashes (``model``, ``method``, ``seq-len``, ``gpu`` ...) and is read from and written
to the page's URL query, so every answer is a link.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path
from typing import Any, Callable

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # build/vramatlas
# What the estimate path never imports (the site builder, the GPU measuring harness).
LEFT_OUT = ("site", "measure")
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # fixed, so rebuilding gives the same bytes

# Where each option sits on the form; an option not listed goes under "More options".
GROUPS = (
    ("Model and workload", ("model", "config", "method", "seq-len", "new-tokens", "batch", "ctx")),
    ("GPU", ("gpu", "gpus", "parallelism")),
    (
        "Runtime",
        (
            "runtime",
            "quant",
            "kv-dtype",
            "flash-attn",
            "ubatch",
            "parallel",
            "gpu-layers",
            "cpu-moe",
            "host-memory",
            "host-bandwidth",
            "gpu-memory-utilization",
            "max-num-seqs",
            "max-num-batched-tokens",
        ),
    ),
    ("Training", ("grad-checkpointing", "lora-rank", "lora-targets", "optimizer", "train-tokens")),
)
# Token counts shown with a slider beside the number (log scale).
SLIDERS = ("seq-len", "ctx")
# Options whose values are catalogue ids: the field offers the catalogue's entries.
CATALOGUE = {"model": "variants", "method": "methods", "gpu": "gpus", "runtime": "runtimes", "quant": "quants"}
# Options the page sets itself.
HIDDEN = ("json", "help")


def estimate_parser() -> argparse.ArgumentParser:
    """The `vramatlas estimate` subparser, exactly as the CLI builds it."""
    from ..cli import build_parser

    parser, _ = build_parser("estimate")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices["estimate"]
    raise RuntimeError("the CLI has no estimate subcommand")


def _name(action: argparse.Action) -> str:
    longs = [o for o in action.option_strings if o.startswith("--")]
    return (longs or action.option_strings)[0].lstrip("-")


def estimate_options(parser: argparse.ArgumentParser | None = None) -> list[dict[str, Any]]:
    """Every estimate option as a form field: name, flag, kind, choices, default, help, group.

    kinds: ``int``, ``float``, ``text``, ``choice``, ``flag`` (one store_true), ``switch`` (a
    store_true / store_false pair on one dest: yes, no or the default), ``file`` (``--config``:
    a config.json pasted or uploaded).
    """
    parser = parser or estimate_parser()
    by_dest: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        if action.option_strings and _name(action) not in HIDDEN:
            by_dest.setdefault(action.dest, []).append(action)
    exclusive = {}
    for i, group in enumerate(parser._mutually_exclusive_groups):
        dests = {a.dest for a in group._group_actions}
        if len(dests) > 1:
            for dest in dests:
                exclusive[dest] = i
    out = []
    for dest, actions in by_dest.items():
        first = actions[0]
        name = _name(first)
        field: dict[str, Any] = {
            "name": name,
            "flag": f"--{name}",
            "dest": dest,
            "help": first.help or "",
            "metavar": first.metavar or "",
            "required": bool(first.required),
            "default": first.default,
            "choices": None,
            "exclusive": exclusive.get(dest),
        }
        if isinstance(first, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            trues = [a for a in actions if isinstance(a, argparse._StoreTrueAction)]
            falses = [a for a in actions if isinstance(a, argparse._StoreFalseAction)]
            if trues and falses:
                field.update(
                    kind="switch",
                    name=_name(trues[0]),
                    flag=f"--{_name(trues[0])}",
                    off_flag=f"--{_name(falses[0])}",
                    help=trues[0].help or "",
                    off_help=falses[0].help or "",
                    default=None,
                )
            else:
                field.update(kind="flag", default=False)
        elif first.choices:
            field.update(kind="choice", choices=[str(c) for c in first.choices])
        elif first.type is int:
            field["kind"] = "int"
        elif first.type is float:
            field["kind"] = "float"
        elif (first.metavar or "").lower().endswith(".json"):
            field["kind"] = "file"
        else:
            field["kind"] = "text"
        if field["default"] is not None and not isinstance(field["default"], (int, float, str, bool)):
            field["default"] = str(field["default"])
        field["group"] = next((g for g, names in GROUPS if field["name"] in names), "More options")
        field["slider"] = field["name"] in SLIDERS and field["kind"] == "int"
        out.append(field)
    return out


def catalogue_choices(catalog: Any, labels: dict[str, Callable[[str], str]] | None = None) -> dict[str, list]:
    """[id, label] pairs for the options whose values are catalogue ids (and the optimizers)."""
    labels = labels or {}
    out: dict[str, list] = {}
    for option, kind in CATALOGUE.items():
        entries = getattr(catalog, kind, None)
        if not entries:
            continue
        label = labels.get(option) or (lambda i, e=entries: str((e[i] or {}).get("name") or i))
        out[option] = [[i, label(i)] for i in entries]
    try:
        from ..memory import OPTIMIZERS

        out["optimizer"] = [[name, name] for name in OPTIMIZERS]
    except ImportError:
        pass
    return out


def package_zip() -> bytes:
    """The vramatlas package (its Python files and the data files they read, such as arch's defaults;
    not the site builder or the measuring harness), as a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(p for p in PACKAGE_DIR.rglob("*") if p.is_file()):
            rel = f.relative_to(PACKAGE_DIR)
            if rel.parts[0] in LEFT_OUT + ("_data",) or "__pycache__" in rel.parts or f.suffix in (".pyc", ".pyo"):
                continue
            info = zipfile.ZipInfo(("vramatlas" / rel).as_posix(), ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, f.read_bytes())
    return buf.getvalue()


# ------------------------------------------------------------- what the page ships

PACKAGE_FILE = "assets/calculator/vramatlas.zip"  # site-relative
CATALOGUE_FILE = "assets/calculator/catalog.json"
CATALOGUE_PATH = "/tmp/vramatlas-catalog.json"  # where the page writes it in Pyodide's file system
RUNTIME_DIR = "assets/pyodide"
# Options shown as a searchable text field with suggestions (they also take ids outside the catalogue:
# a Hugging Face org/name for --model); other catalogue options are plain selects.
SEARCHABLE = ("model", "gpu")
# What the page shows before anyone has chosen anything (the issue's own example).
EXAMPLE = "model=llama-3.1-8b&method=qlora&seq-len=8192&gpu=rtx-4090"

# Run once in Pyodide after the package is unpacked: the CLI reads the shipped catalogue (no PyYAML
# there), and _vramatlas_run(argv) is `vramatlas <argv>` with its stdout, stderr and exit status.
BOOTSTRAP = f"""
import contextlib, io, os
os.environ["VRAMATLAS_CATALOG_JSON"] = {CATALOGUE_PATH!r}
from vramatlas.cli import main as _vramatlas_main

def _vramatlas_run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _vramatlas_main(list(argv))
    return [code, out.getvalue(), err.getvalue()]
"""


def token_steps(low: int = 128, high: int = 1 << 20) -> list[int]:
    """The slider's stops: powers of two and halfway between (128, 192, 256, 384 ... 1M), as the tables' context grid."""
    from ..tables import halfway_ladder

    return halfway_ladder(low, high)


def compiled_catalogue(catalog: Any) -> bytes:
    """The catalogue as the JSON `VRAMATLAS_CATALOG_JSON` reads (vramatlas.compiled)."""
    import json

    from ..compiled import compile_catalog

    return json.dumps(compile_catalog(catalog), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_assets(docs: Path, catalog: Any) -> list[Path]:
    """Write the package zip and the compiled catalogue under the docs folder; return the files."""
    out = []
    for rel, data in ((PACKAGE_FILE, package_zip()), (CATALOGUE_FILE, compiled_catalogue(catalog))):
        target = docs / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        out.append(target)
    return out


def first_visit_bytes(catalog: Any, site_src: Path | None = None) -> int:
    """What the calculator downloads the first time: Pyodide, the package and the catalogue."""
    from ..paths import SITE_SRC_DIR

    folder = Path(site_src or SITE_SRC_DIR) / "docs" / RUNTIME_DIR
    runtime = sum(f.stat().st_size for f in folder.glob("*") if f.is_file() and f.suffix != ".txt")
    return runtime + len(package_zip()) + len(compiled_catalogue(catalog))
