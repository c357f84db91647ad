"""Generate CONTRIBUTING.md's commented templates (from the schemas) and its rule-codes table
(from the registry), so the guide can never drift from what validation checks.

    python -m vramatlas.validate.templates --write     # regenerate CONTRIBUTING.md's generated blocks
    python -m vramatlas.validate.templates --check     # exit 1 if they are out of date (a test does this)

Generated blocks sit between ``<!-- BEGIN GENERATED: NAME -->`` and
``<!-- END GENERATED: NAME -->`` markers, NAME being ``template gpu`` (model,
method, measurement) or ``rules``.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from ..catalog import SINGULAR
from ..paths import DATA_ROOT, KINDS, SCHEMA_DIR
from .registry import RULES
from .schema import load_schema

CONTRIBUTING = DATA_ROOT / "CONTRIBUTING.md"
WIDTH = 100
_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[^>]+?) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.S
)


def _resolve(schema: Any, root: dict) -> dict:
    """Follow a local $ref and merge allOf branches' properties (enough for templates)."""
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = dict(_resolve(target, root))
        merged.update({k: v for k, v in schema.items() if k != "$ref"})
        return merged
    return schema


def _scalar(value: Any) -> str:
    from ..fmt import dump

    text = dump({"k": value}).rstrip("\n")
    if "\n" in text:  # a multi-line string or a nested value: flow style on one line
        import json

        return json.dumps(value, ensure_ascii=False)
    return text[len("k: ") :] if text.startswith("k: ") else text[len("k:") :].strip()


def _types(schema: dict) -> list[str]:
    t = schema.get("type")
    if isinstance(t, list):
        return t
    return [t] if t else []


def _constraints(schema: dict) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of: " + ", ".join("null" if v is None else str(v) for v in schema["enum"]))
    if "const" in schema:
        parts.append(f"always {schema['const']}")
    lo, hi = (
        schema.get("minimum", schema.get("exclusiveMinimum")),
        schema.get("maximum", schema.get("exclusiveMaximum")),
    )
    if lo is not None or hi is not None:
        parts.append("range " + (f"{lo}" if lo is not None else "") + ".." + (f"{hi}" if hi is not None else ""))
    if "pattern" in schema:
        parts.append(f"pattern {schema['pattern']}")
    return "; ".join(parts)


def _comment(lines: list[str], indent: str, text: str) -> None:
    for line in textwrap.wrap(text, width=max(40, WIDTH - len(indent) - 2), break_on_hyphens=False) or [""]:
        lines.append(f"{indent}# {line}".rstrip())


def _object(
    lines: list[str],
    schema: dict,
    root: dict,
    indent: str,
    first_prefix: str | None = None,
    enclosing: tuple[int, ...] = (),
) -> None:
    schema = _resolve(schema, root)
    props = schema.get("properties") or {}
    enclosing = enclosing + (id(props),)
    required = set(schema.get("required") or [])
    for i, (name, sub) in enumerate(props.items()):
        sub = _resolve(sub, root)
        prefix = first_prefix if (first_prefix is not None and i == 0) else indent
        # the comment: description, required/optional, constraints
        status = "required" if name in required else "optional"
        types = [t for t in _types(sub) if t]
        if "null" in types and name in required:
            status = "required, null allowed"
        description = sub.get("description", "").strip()
        extra = _constraints(sub)
        text = f"{name} ({status})" + (f": {description}" if description else "") + (f" [{extra}]" if extra else "")
        _comment(lines, indent, text)
        examples = sub.get("examples") or []
        is_object = "object" in types or "properties" in sub
        items = _resolve(sub.get("items"), root) if isinstance(sub.get("items"), dict) else {}
        is_list_of_objects = ("array" in types or "items" in sub) and ("properties" in items)
        if is_object and sub.get("properties") and id(sub["properties"]) in enclosing:
            # a recursive schema (a model config's text_config takes the config's own keys): shown once
            lines.append(f"{prefix}{name}: {{}}  # the same keys as the enclosing object")
        elif is_object and sub.get("properties"):
            lines.append(f"{prefix}{name}:")
            _object(lines, sub, root, indent + "  ", enclosing=enclosing)
        elif is_list_of_objects:
            lines.append(f"{prefix}{name}:")
            _object(lines, items, root, indent + "  ", first_prefix=indent + "- ", enclosing=enclosing)
        else:
            value = examples[0] if examples else ("null" if "null" in types else "...")
            shown = _scalar(value) if examples else value
            lines.append(f"{prefix}{name}: {shown}")
            if len(examples) > 1 and all(not isinstance(e, (dict, list)) for e in examples[1:]):
                others = ", ".join(_scalar(e) for e in examples[1:4])
                lines[-1] += f"  # e.g. also {others}"
        if first_prefix is not None and i == 0:
            # keep the comment above the '- ' line: move it before the first line of the item
            pass


def template(kind: str, schema_dir: Path = SCHEMA_DIR) -> str:
    """A fully commented YAML template of a kind's file, from its schema."""
    schema = load_schema(schema_dir, kind)
    singular = SINGULAR[kind]
    if schema is None:
        return f"# catalog/{kind}/<id>.yaml\n# (schema/{singular}.schema.json is not written yet: no template)\n"
    lines: list[str] = [f"# catalog/{kind}/<id>.yaml"]
    if schema.get("description"):
        _comment(lines, "", schema["description"])
    lines.append("")
    _object(lines, schema, schema, "")
    return "\n".join(lines) + "\n"


def rules_table() -> str:
    rows = ["| Code | Name | Severity | Checked by | Why |", "| --- | --- | --- | --- | --- |"]
    stage_names = {"load": "loader", "schema": "schema", "rule": "rule", "exceptions": "exceptions file"}
    for code, rule in sorted(RULES.items()):
        # "<kind>" as text: GitHub and Python-Markdown would take it for an HTML tag and show nothing
        why = rule.rationale.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| {code} | {rule.name} | {rule.severity} | {stage_names.get(rule.stage, rule.stage)} | {why} |")
    return "\n".join(rows) + "\n"


def generated(name: str, schema_dir: Path = SCHEMA_DIR) -> str:
    """The body of the generated block called ``name``."""
    if name == "rules":
        return rules_table()
    m = re.fullmatch(r"template (\w+)", name)
    if m:
        kind = {v: k for k, v in SINGULAR.items()}.get(m.group(1))
        if kind in KINDS:
            return "```yaml\n" + template(kind, schema_dir) + "```\n"
    raise KeyError(f"unknown generated block '{name}'")


def render(text: str, schema_dir: Path = SCHEMA_DIR) -> str:
    """``text`` with every generated block regenerated."""
    return _BLOCK.sub(lambda m: m.group(1) + generated(m.group("name"), schema_dir) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vramatlas.validate.templates", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated blocks of CONTRIBUTING.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if CONTRIBUTING.md is out of date")
    parser.add_argument("--file", type=Path, default=CONTRIBUTING)
    parser.add_argument("--print", dest="show", metavar="KIND", help="print one kind's template (gpus, models, ...)")
    args = parser.parse_args(argv)
    if args.show:
        if args.show not in KINDS:
            print(f"unknown kind {args.show!r}; one of {', '.join(KINDS)}", file=sys.stderr)
            return 2
        sys.stdout.write(template(args.show))
        return 0
    try:
        current = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    new = render(current)
    if args.write and new != current:
        args.file.write_text(new, encoding="utf-8")
        print(f"updated {args.file}", file=sys.stderr)
        return 0
    if new != current:
        print(f"{args.file} is out of date: run python -m vramatlas.validate.templates --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
