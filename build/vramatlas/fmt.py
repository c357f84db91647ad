"""`vramatlas fmt [PATH ...] [--check]`: canonical key order and YAML style.

Canonical means:

* keys in the order of ``properties`` in the kind's schema, recursively
  (through ``$ref``, ``allOf``/``anyOf``/``oneOf``, ``items``); keys the schema
  does not list keep their relative order, after the listed ones;
* PyYAML's block style: 2-space indentation, list items at their key's
  indentation (``- url: ...`` right under ``sources:``), long strings folded
  at 120 columns, one document, no ``---``, a final newline, strings quoted
  only where YAML needs it (dates stay strings, so they are quoted),
  multi-line strings as ``|`` blocks;
* no comments: PyYAML cannot keep them, so explanations belong in fields
  (``notes``, ``sources[].facts``), not in comments.

Formatting never changes a value: the result is re-read and compared (types
included) before anything is written, and files are replaced atomically.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from .catalog import kind_of
from .loader import MAX_BYTES, load_bytes, load_document
from .paths import CATALOG_DIR, SCHEMA_DIR
from .files import write_atomic


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe block style, so ``yaml.safe_dump(data, sort_keys=False, width=120,
    allow_unicode=True)`` of canonically ordered data is already canonical."""


# Plain scalars that some YAML reader takes for something other than a string: YAML 1.2's core schema
# (0o17 octal, 1e3 float, .inf) and YAML 1.1's (yes/no/on/off/y/n booleans, 0b101, 017 octal, 1_000,
# sexagesimal 1:20, 1.0e+3). PyYAML quotes only what its own (1.1) resolver reads as non-strings, so
# '1e3' and '0o17' would go out bare and come back as numbers in another tool.
_NOT_A_STRING = re.compile(r"""(?x)
    ~ | null | Null | NULL | true | True | TRUE | false | False | FALSE
  | y | Y | yes | Yes | YES | n | N | no | No | NO | on | On | ON | off | Off | OFF | =
  | [-+]? (?: 0b[01_]+ | 0o[0-7_]+ | 0x[0-9a-fA-F_]+ | [0-9][0-9_]* (?: :[0-5]?[0-9] )* )
  | [-+]? (?: \.[0-9_]+ | [0-9][0-9_]* (?: :[0-5]?[0-9] )* (?: \.[0-9_]* )? ) (?: [eE][-+]?[0-9]+ )?
  | [-+]? \. (?: inf | Inf | INF ) | \. (?: nan | NaN | NAN )
""")


def reads_as_non_string(value: str) -> bool:
    """True when a YAML 1.1 or 1.2 reader would resolve ``value`` written bare as a number, boolean or null."""
    return value == "" or _NOT_A_STRING.fullmatch(value) is not None


def _str_representer(dumper: yaml.SafeDumper, value: str):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if reads_as_non_string(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


# ---- key order from the schema -----------------------------------------------------------


def _deref(schema: Any, root: dict, seen: frozenset = frozenset()) -> list[dict]:
    """A schema and the subschemas it composes ($ref, allOf, anyOf, oneOf, then/else), flattened."""
    if not isinstance(schema, dict):
        return []
    out = [schema]
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and ref not in seen:
        target: Any = root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        out.extend(_deref(target, root, seen | {ref}))
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []) or []:
            out.extend(_deref(sub, root, seen))
    for key in ("then", "else"):
        if key in schema:
            out.extend(_deref(schema[key], root, seen))
    return out


def _property_order(schemas: list[dict]) -> list[str]:
    order: dict[str, None] = {}
    for s in schemas:
        for name in s.get("properties") or {}:
            order.setdefault(name, None)
    return list(order)


def _child(schemas: list[dict], key: str, root: dict) -> list[dict]:
    out: list[dict] = []
    for s in schemas:
        props = s.get("properties") or {}
        if key in props:
            out.extend(_deref(props[key], root))
            continue
        for pattern, sub in (s.get("patternProperties") or {}).items():
            try:
                if re.search(pattern, key):
                    out.extend(_deref(sub, root))
            except re.error:
                pass
        if isinstance(s.get("additionalProperties"), dict):
            out.extend(_deref(s["additionalProperties"], root))
    return out


def _items(schemas: list[dict], root: dict) -> list[dict]:
    out: list[dict] = []
    for s in schemas:
        if isinstance(s.get("items"), dict):
            out.extend(_deref(s["items"], root))
    return out


def canonical_order(value: Any, schema: dict | None) -> Any:
    """``value`` with mapping keys reordered as the schema lists them (values untouched)."""
    root = schema if isinstance(schema, dict) else {}
    return _order(value, _deref(root, root) if root else [], root)


def _order(value: Any, schemas: list[dict], root: dict) -> Any:
    if isinstance(value, dict):
        listed = _property_order(schemas)
        keys = [k for k in listed if k in value] + [k for k in value if k not in set(listed)]
        return {k: _order(value[k], _child(schemas, k, root), root) for k in keys}
    if isinstance(value, list):
        items = _items(schemas, root)
        return [_order(v, items, root) for v in value]
    return value


def dump(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        indent=2,
        width=120,
        explicit_start=False,
    )


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, recursively (True != 1, 1.0 != 1, key order ignored)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _schema_for(path: Path, schema_dir: Path) -> dict | None:
    kind = kind_of(path)
    if kind is None:
        return None
    from .validate.schema import load_schema

    return load_schema(schema_dir, kind)


class FormatError(Exception):
    pass


def format_text(raw: bytes, path: Path, schema_dir: Path = SCHEMA_DIR) -> str:
    """The canonical text of a file's bytes; FormatError if it cannot be loaded or round-tripped."""
    doc = load_bytes(raw, path)
    fatal = [p for p in doc.problems if p.severity == "error"]
    if doc.data is None or fatal:
        first = fatal[0] if fatal else None
        raise FormatError(f"cannot format: {first.format()}" if first else "cannot format: no data")
    text = dump(canonical_order(doc.data, _schema_for(path, schema_dir)))
    again = load_bytes(text.encode("utf-8"), path)
    if again.data is None or not same(again.data, doc.data):
        raise FormatError("cannot format: the canonical form would change a value (please report this)")
    return text


def collect_files(paths: list[Path]) -> list[Path]:
    """YAML files named or under the folders named; FileNotFoundError for a missing path."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_dir():  # links and FIFOs are listed (and then refused), never followed or opened
            files.extend(
                p
                for p in path.rglob("*.yaml")
                if not p.is_dir() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            files.append(path)
    return sorted(set(files))


def fmt_paths(paths: list[Path], check: bool = False, schema_dir: Path = SCHEMA_DIR, out=None, err=None) -> int:
    """Format (or with check=True, only report) files; return the exit status."""
    from .validate.cli import display_path

    out = out or sys.stdout
    err = err or sys.stderr
    files = collect_files(paths)
    changed, failed = [], []
    for path in files:
        refused = _not_formattable(path)
        if refused:
            failed.append(path)
            print(f"{display_path(path)}: {refused}", file=err)
            continue
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            failed.append(path)
            print(f"{display_path(path)}: cannot read: {exc.strerror or exc}", file=err)
            continue
        try:
            text = format_text(raw, path, schema_dir)
        except FormatError as exc:
            failed.append(path)
            print(f"{display_path(path)}: {exc}", file=err)
            continue
        if text.encode("utf-8") == raw:
            continue
        changed.append(path)
        if check:
            print(f"{display_path(path)}: not canonical (run: vramatlas fmt {display_path(path)})", file=out)
        else:
            write_atomic(path, text)
            print(f"reformatted {display_path(path)}", file=err)
    verb = "would reformat" if check else "reformatted"
    print(
        f"vramatlas fmt: {len(files)} file{'s' if len(files) != 1 else ''}, {verb} {len(changed)}, "
        f"{len(failed)} could not be read",
        file=err,
    )
    if failed:
        return 1
    return 1 if (check and changed) else 0


def _not_formattable(path: Path) -> str | None:
    """Why ``path`` is left alone: a link (rewriting it would replace the link with a file) or not a file."""
    import os
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISLNK(mode):
        return "is a symbolic link: not formatted (catalogue files are regular files; VA008)"
    if not stat.S_ISREG(mode):
        return "is not a regular file: not formatted"
    return None


def is_canonical(path: Path, schema_dir: Path = SCHEMA_DIR) -> bool:
    raw = Path(path).read_bytes()
    try:
        return format_text(raw, Path(path), schema_dir).encode("utf-8") == raw
    except FormatError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Rewrite catalogue files in canonical key order and YAML style (comments are dropped; values never change)."
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the whole catalogue)")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; list files that are not canonical and exit 1 if any"
    )
    parser.add_argument(
        "--schema-dir",
        metavar="DIR",
        default=None,
        help="folder of <kind>.schema.json files (default: the schemas shipped with vramatlas)",
    )


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] or [CATALOG_DIR]
    schema_dir = Path(args.schema_dir) if args.schema_dir else SCHEMA_DIR
    if not schema_dir.is_dir():
        print(f"vramatlas fmt: --schema-dir {args.schema_dir}: no such folder", file=sys.stderr)
        return 2
    try:
        return fmt_paths(paths, check=args.check, schema_dir=schema_dir)
    except FileNotFoundError as exc:
        print(f"vramatlas fmt: {exc}", file=sys.stderr)
        return 2


__all__ = ["canonical_order", "dump", "format_text", "fmt_paths", "is_canonical", "same", "load_document"]
