"""JSON Schema validation, with each error mapped to the line and column it concerns."""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from ..catalog import SINGULAR
from ..loader import Document, Problem


def schema_path(schema_dir: Path, kind: str) -> Path:
    return Path(schema_dir) / f"{SINGULAR[kind]}.schema.json"


@lru_cache(maxsize=32)
def _load(path_str: str, mtime_ns: int) -> tuple[Any, str | None]:
    path = Path(path_str)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"cannot read {path.name}: {exc}".splitlines()[0]
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return None, f"{path.name} is not a valid draft 2020-12 schema: {exc.message}"
    return Draft202012Validator(schema), None


def load_validator(schema_dir: Path, kind: str):
    """(validator, None), or (None, why) when the schema is missing or broken."""
    path = schema_path(schema_dir, kind)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None, f"no schema for {kind} ({path.name} not found)"
    return _load(str(path), mtime)


def load_schema(schema_dir: Path, kind: str) -> dict | None:
    validator, _ = load_validator(schema_dir, kind)
    return validator.schema if validator is not None else None


def dotted(path: tuple) -> str:
    """('variants', 0, 'parameters') -> 'variants[0].parameters'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _short(value: Any, limit: int = 50) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_TYPE = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
    dict: "mapping",
    list: "list",
}


def _type_name(value: Any) -> str:
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _closest(word: str, options) -> str | None:
    options = [o for o in options if isinstance(o, str)]
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if match:
        return match[0]
    lowered = {o.lower(): o for o in options}
    return lowered.get(word.lower())


def _allowed_properties(schema: dict) -> list[str]:
    props = list(schema.get("properties", {}) or {})
    return props


def _type_hint(expected, value) -> str:
    exp = expected if isinstance(expected, list) else [expected]
    if isinstance(value, str):
        if "integer" in exp or "number" in exp:
            stripped = value.replace("_", "").replace(",", "").strip()
            if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", stripped):
                return "remove the quotes: numbers are written bare"
            return "write a bare number in the field's unit (bytes are integers); keep labels in their own fields"
        if "boolean" in exp and value.lower() in ("true", "false", "yes", "no"):
            return "write true or false without quotes"
    if isinstance(value, float) and "integer" in exp and value.is_integer():
        return f"write it as an integer: {int(value)}"
    if value is None:
        return "give a value; null is not allowed here"
    return ""


def describe(doc: Document, error) -> Iterator[Problem]:
    """Problems for one jsonschema ValidationError, located in ``doc``."""
    path = tuple(error.absolute_path)
    where = dotted(path)
    kind = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}

    if kind in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match

        # prefer a branch that matches the value's type (its error says more)
        typed = [e for e in error.context if e.validator != "type"]
        best = best_match(typed or error.context)
        if best is not None:
            if best.validator == "type" and kind == "anyOf":
                types = []
                for sub in error.validator_value:
                    t = sub.get("type") if isinstance(sub, dict) else None
                    if t is None and isinstance(sub, dict) and "$ref" in sub:
                        t = "object"
                    types.extend(t if isinstance(t, list) else [t] if t else [])
                yield doc.problem(
                    path,
                    "VA100",
                    f"{where}: expected {' or '.join(dict.fromkeys(types)) or 'another type'}, "
                    f"got {_type_name(value)} {_short(value)}",
                    _type_hint(types, value),
                )
                return
            yield from describe(doc, best)
            return

    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(value, dict):
        allowed = _allowed_properties(schema)
        patterns = list((schema.get("patternProperties") or {}).keys())
        for key in value:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            guess = _closest(key, allowed)
            hint = (
                f"did you mean '{guess}'?"
                if guess
                else ("allowed here: " + ", ".join(allowed) if allowed else "no fields are allowed here")
            )
            yield doc.problem(
                path + (key,), "VA100", f"unknown field '{key}'" + (f" in {where}" if path else ""), hint, key=True
            )
        return

    if kind == "required" and isinstance(value, dict):
        m = re.match(r"^'(.+)' is a required property$", error.message)
        missing = [m.group(1)] if m else [r for r in error.validator_value if r not in value]
        for name in missing:
            desc = ((schema.get("properties") or {}).get(name) or {}).get("description", "")
            hint = f"{name}: {desc}" if desc else "add it (null where the schema allows unknown)"
            if len(hint) > 160:
                hint = hint[:157] + "..."
            yield doc.problem(
                path, "VA100", f"missing required field '{name}'" + (f" in {where}" if path else ""), hint, key=True
            )
        return

    if kind == "type":
        yield doc.problem(
            path,
            "VA100",
            f"{where}: expected {_expected(error.validator_value)}, got {_type_name(value)} {_short(value)}",
            _type_hint(error.validator_value, value),
        )
        return

    if kind == "enum":
        options = error.validator_value
        guess = _closest(value, options) if isinstance(value, str) else None
        listing = ", ".join(str(o) for o in options)
        if len(listing) > 120:
            listing = listing[:117] + "..."
        hint = (f"did you mean '{guess}'? " if guess else "") + f"allowed: {listing}"
        yield doc.problem(path, "VA100", f"{where}: {_short(value)} is not an allowed value", hint)
        return

    if kind == "const":
        yield doc.problem(path, "VA100", f"{where}: must be {_short(error.validator_value)}, got {_short(value)}")
        return

    if kind == "pattern":
        hint = (
            "ids are lowercase-kebab: letters, digits, '-' (and '.' in versions)"
            if path and path[-1] == "id"
            else f"must match {error.validator_value}"
        )
        yield doc.problem(path, "VA100", f"{where}: {_short(value)} does not have the expected form", hint)
        return

    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than",
        }
        yield doc.problem(
            path, "VA100", f"{where}: {_short(value)} is out of range", f"must be {words[kind]} {error.validator_value}"
        )
        return

    if kind in ("minItems", "maxItems", "minLength", "maxLength", "uniqueItems", "minProperties"):
        yield doc.problem(path, "VA100", f"{where}: {error.message}".replace("\n", " ")[:200])
        return

    message = error.message.replace("\n", " ")
    if len(message) > 200:
        message = message[:197] + "..."
    yield doc.problem(path, "VA100", f"{where}: {message}")


def _expected(types) -> str:
    names = {"object": "mapping", "array": "list"}
    if isinstance(types, list):
        return " or ".join(names.get(t, t) for t in types)
    return names.get(types, str(types))


def schema_problems(doc: Document, validator) -> list[Problem]:
    problems: list[Problem] = []
    errors = sorted(validator.iter_errors(doc.data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        problems.extend(describe(doc, error))
    return problems


class SchemaResults:
    """Schema problems remembered per file content, so an unchanged file is not checked again.

    One JSON file per schema and code state in the user's cache folder (beside
    the compiled catalogues): ``sha256(file bytes) -> problems``. The key covers
    the schema's bytes and this module's and the loader's code, so a changed
    schema or message gives a fresh file. ``VRAMATLAS_NO_CACHE=1`` turns it off.
    Reading or writing the cache never fails validation: a broken cache is a miss.
    """

    KEEP = 32

    def __init__(self, schema_file: Path):
        import hashlib
        import os

        from ..compiled import NO_CACHE_ENV, cache_dir

        self.enabled = not os.environ.get(NO_CACHE_ENV)
        self.entries: dict[str, list] = {}
        self.dirty = False
        h = hashlib.sha256(b"vramatlas-schema-results-1\0")
        try:
            h.update(Path(schema_file).read_bytes())
            for module in (Path(__file__), Path(__file__).parent.parent / "loader.py"):
                h.update(module.read_bytes())
        except OSError:
            self.enabled = False
        self.path = cache_dir() / f"schema-results-{h.hexdigest()[:32]}.json"
        if self.enabled:
            try:
                data = json.loads(self.path.read_bytes())
                if isinstance(data, dict):
                    self.entries = data
            except (OSError, ValueError):
                pass

    def problems(self, doc: Document, validator) -> list[Problem]:
        import hashlib

        if not self.enabled or not doc.raw:
            return schema_problems(doc, validator)
        digest = hashlib.sha256(doc.raw).hexdigest()
        rows = self.entries.get(digest)
        if isinstance(rows, list):
            try:
                return [Problem(doc.path, *row) for row in rows]
            except TypeError:
                pass
        found = schema_problems(doc, validator)
        self.entries[digest] = [[p.line, p.col, p.code, p.message, p.hint, p.severity] for p in found]
        self.dirty = True
        return found

    def save(self) -> None:
        if not (self.enabled and self.dirty):
            return
        try:
            from ..files import write_atomic

            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self.entries, separators=(",", ":")))
            olds = sorted(self.path.parent.glob("schema-results-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in olds[self.KEEP :]:
                old.unlink(missing_ok=True)
        except OSError:
            pass
