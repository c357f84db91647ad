"""Hardening (issue 9): every hostile input the review found, each as a fixture, each refused in one located line.

Groups: the catalogue on disk (links, FIFOs, folders), the rules (isolation, exceptions, cross-field),
the schemas (a physical maximum on every number), text output (one line per problem).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from vramatlas import bounds
from vramatlas.catalog import CatalogError, load_catalog
from vramatlas.cli import main
from vramatlas.loader import load_document
from vramatlas.paths import CATALOG_DIR, SCHEMA_DIR
from vramatlas.validate import RULES, UsageError, validate, validate_root
from vramatlas.validate.registry import Rule

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "base"
SCHEMA = FIXTURES / "schema"
SECRET = "root:x:0:0:TOP-SECRET-CONTENT"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def base(tmp_path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(BASE, root)
    return root


@pytest.fixture
def real(tmp_path) -> Path:
    """A copy of the real catalogue, to plant one hostile value in."""
    root = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, root)
    return root


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def _set_line(path: Path, pattern: str, replacement: str) -> int:
    """Replace the first line matching ``pattern``; return its 1-based number."""
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            lines[i] = re.sub(pattern, replacement, line)
            path.write_text("\n".join(lines), encoding="utf-8")
            return i + 1
    raise AssertionError(f"{pattern!r} not in {path}")


# ---- the catalogue on disk ---------------------------------------------------------------

def test_symlinked_file_outside_the_catalogue_is_refused_and_never_read(base, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text(SECRET + "\n")
    link = base / "gpus" / "a100.yaml"
    link.symlink_to(secret)
    report = validate([base], SCHEMA)
    hits = [p for p in report.problems if p.path.name == "a100.yaml"]
    assert [p.code for p in hits] == ["VA008"] and "symbolic link" in hits[0].message
    assert report.errors
    assert all(SECRET not in p.format() for p in report.problems)
    # validating the link by name says the same; the build's loader refuses it too
    assert codes(validate([link], SCHEMA).problems) == ["VA008"]
    with pytest.raises(CatalogError) as exc:
        load_catalog(base)
    assert "VA008" in str(exc.value) and SECRET not in str(exc.value)


def test_symlink_to_a_catalogue_file_is_refused_too(base):
    (base / "gpus" / "rtx-4090-copy.yaml").symlink_to(base / "gpus" / "rtx-4090.yaml")
    problems = validate_root(base, SCHEMA)
    assert ("rtx-4090-copy.yaml", "VA008") in {(p.path.name, p.code) for p in problems}


def test_symlinked_kind_folder_is_refused(base, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(base / "methods"), elsewhere)
    (base / "methods").symlink_to(elsewhere, target_is_directory=True)
    problems = validate_root(base, SCHEMA)
    assert any(p.code == "VA008" and p.path.name == "methods" and "folder" in p.message for p in problems)
    assert validate([base], SCHEMA).errors


def test_fifo_is_refused_without_blocking(base):
    fifo = base / "gpus" / "pipe.yaml"
    os.mkfifo(fifo)
    doc = load_document(fifo)  # would block forever if opened for reading
    assert codes(doc.problems) == ["VA008"] and "FIFO" in doc.problems[0].message
    assert ("pipe.yaml", "VA008") in {(p.path.name, p.code) for p in validate([base], SCHEMA).problems}


def test_unreadable_folder_is_a_located_error(base, monkeypatch):
    # the suite runs as root, for whom chmod 000 still reads: make scandir fail as it does for others
    real_scandir = os.scandir
    gpus = str(base / "gpus")

    def scandir(path="."):
        if os.fspath(path) == gpus:
            raise PermissionError(13, "Permission denied", gpus)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems = validate_root(base, SCHEMA)
    hit = [p for p in problems if p.path == base / "gpus"]
    assert hit and hit[0].code == "VA001" and "Permission denied" in hit[0].message
    with pytest.raises(CatalogError):
        load_catalog(base)


def test_unreadable_folder_on_the_command_line_exits_2(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    real_walk = os.walk

    def walk(top, *a, onerror=None, **k):
        if os.fspath(top) == str(folder) and onerror:
            onerror(PermissionError(13, "Permission denied", str(folder)))
        return real_walk(top, *a, onerror=onerror, **k)

    monkeypatch.setattr(os, "walk", walk)
    status, _, err = cli("validate", str(folder))
    assert status == 2 and "Permission denied" in err and "Traceback" not in err


def test_empty_folder_is_not_clean(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no catalogue files"):
        validate([empty])
    status, _, err = cli("validate", str(empty))
    assert status == 2 and err.count("\n") == 1


def test_empty_catalogue_is_refused_VA355(tmp_path):
    root = tmp_path / "catalog"
    for kind in ("gpus", "models", "methods", "measurements"):
        (root / kind).mkdir(parents=True)
    problems = validate([root], SCHEMA).problems
    assert sorted(p.message for p in problems if p.code == "VA355") == [
        "the catalogue has no gpus", "the catalogue has no methods", "the catalogue has no models"]


def test_named_file_that_is_not_yaml_is_refused(tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text(SECRET)
    status, out, err = cli("validate", str(secret))
    assert status == 2 and SECRET not in out + err


# ---- schema files ----------------------------------------------------------------------

def test_invalid_schema_file_is_an_error_VA102(base, tmp_path):
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA, schemas)
    (schemas / "gpu.schema.json").write_text("{ not json")
    report = validate([base], schemas)
    assert [p.code for p in report.errors] == ["VA102"]
    status, _, _ = cli("validate", "--schema-dir", str(schemas), str(base))
    assert status == 1


# ---- rules: isolation, exceptions --------------------------------------------------------

def test_nominal_zero_gb_is_a_problem_not_a_crash(base):
    _set_line(base / "gpus" / "rtx-4090.yaml", r"nominal: .*", "nominal: 0 GB")
    problems = validate_root(base, SCHEMA)
    assert [(p.code, p.path.name) for p in problems] == [("VA302", "rtx-4090.yaml")]
    assert "says no memory" in problems[0].message


def test_a_crashing_rule_is_located_and_hides_nothing(base, monkeypatch):
    """A rule that raises on one file is reported there; its findings for the other files still come."""
    def check(ctx):
        for doc in ctx.docs("gpus"):
            if doc.path.stem == "apple-m4-max":
                raise ZeroDivisionError("division by zero")
            yield doc.problem(("id",), "VA999", "found", severity="error")

    monkeypatch.setitem(RULES, "VA999", Rule("VA999", "test-crash", "error", "a test rule", "rule", check))
    problems = validate_root(base, SCHEMA)
    got = {(p.code, p.path.name) for p in problems}
    assert ("VA900", "apple-m4-max.yaml") in got  # located at the file it crashed on
    assert ("VA999", "rtx-4090.yaml") in got  # sorted after the crash, still reported
    crash = next(p for p in problems if p.code == "VA900")
    assert "VA999" in crash.message and "ZeroDivisionError" in crash.message and crash.line == 1


def test_exception_entry_cannot_silence_a_loader_error(base):
    (base / "gpus" / "broken.yaml").write_text("id: broken\nname: [unclosed\n")
    (base / "validation-exceptions.yaml").write_text(
        "exceptions:\n- code: VA001\n  file: gpus/broken.yaml\n  reason: silence the parse error\n")
    problems = validate_root(base, SCHEMA)
    assert {"VA001", "VA902"} <= set(codes(problems))
    bad = next(p for p in problems if p.code == "VA902")
    assert "can be excepted" in bad.message and "fix the file" in bad.hint


@pytest.mark.parametrize("code", ["VA100", "VA008", "VA350", "VA353", "VA354"])
def test_gate_codes_cannot_be_excepted(code):
    assert RULES[code].exceptable is False


def test_duplicate_id_is_blamed_on_the_copy_even_when_it_sorts_first(base):
    original = base / "gpus" / "rtx-4090.yaml"
    shutil.copyfile(original, base / "gpus" / "a-copy.yaml")  # same id, sorts before the original
    problems = [p for p in validate_root(base, SCHEMA) if p.code == "VA203"]
    assert [p.path.name for p in problems] == ["a-copy.yaml"]
    assert "rtx-4090.yaml" in problems[0].message
    assert load_catalog(base).documents[("gpus", "rtx-4090")].path == original


# ---- the real catalogue with one hostile value -------------------------------------------

def _first_variant_file(root: Path) -> Path:
    return sorted((root / "models").glob("llama-3*.yaml"))[0]


def test_model_with_1e18_parameters_is_refused_located(real):
    f = _first_variant_file(real)
    line = _set_line(f, r"^  parameters: \d+$", "  parameters: 1000000000000000000")
    report = validate([real])
    hits = [p for p in report.errors if p.path.name == f.name and p.line == line]
    assert hits and any("out of range" in p.message or "physical maximum" in p.message for p in hits)


def test_kv_heads_above_heads_is_refused_located(real):
    f = _first_variant_file(real)
    line = _set_line(f, r"^    num_key_value_heads: \d+$", "    num_key_value_heads: 4096")
    report = validate([real])
    assert any(p.code == "VA350" and p.path.name == f.name and p.line == line for p in report.errors)


def test_config_hidden_size_2_pow_70_is_refused_located(real):
    f = _first_variant_file(real)
    line = _set_line(f, r"^    hidden_size: \d+$", f"    hidden_size: {2**70}")
    report = validate([real])
    assert any(p.path.name == f.name and p.line == line for p in report.errors)


def test_one_megabyte_family_name_is_refused(real):
    f = _first_variant_file(real)
    line = _set_line(f, r"^name: .*$", "name: " + "A" * 1_000_000)
    assert f.stat().st_size < 1024 * 1024 + 100_000
    report = validate([real])
    hits = [p for p in report.errors if p.path.name == f.name and p.line == line]
    assert hits and all(len(p.format()) < 400 for p in report.problems)


@pytest.mark.parametrize("char", ["\\u2028", "\\u2029", "\\u202e", "\\x1b", "\\n"])
def test_separator_and_control_characters_in_names_are_refused(real, char):
    f = _first_variant_file(real)
    text = f.read_text(encoding="utf-8")
    name = re.search(r"^name: (.*)$", text, re.M)
    f.write_text(text.replace(name.group(0), f'name: "{name.group(1)}{char}x"', 1), encoding="utf-8")
    line = text[: name.start()].count("\n") + 1
    report = validate([real])
    assert any(p.code == "VA354" and p.path.name == f.name and p.line == line for p in report.errors)


# ---- text output: one line per problem ------------------------------------------------------

def test_id_with_newline_cannot_inject_a_workflow_command(base):
    f = base / "gpus" / "rtx-4090.yaml"
    _set_line(f, r"^id: .*$", 'id: "rtx-4090\\n::error file=x::injected"')
    for fmt in ("text", "github"):
        status, out, _ = cli("validate", "--schema-dir", str(SCHEMA), "--format", fmt, str(base))
        assert status == 1
        assert not any(line.startswith("::error file=x") for line in out.splitlines()), out
        assert all(line.startswith(("::", str(base), "catalog", "/")) or not line for line in out.splitlines()) \
            or fmt == "text"


# ---- schemas: a physical maximum on every number -----------------------------------------------

def _properties(schema, path=()):
    """(path, subschema) for every subschema that declares a type."""
    if isinstance(schema, dict):
        if isinstance(schema.get("type"), (str, list)):  # (a property named "type" maps to a subschema)
            yield path, schema
        for key, value in schema.items():
            yield from _properties(value, path + (key,))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _properties(value, path + (i,))


SCHEMAS = sorted(SCHEMA_DIR.rglob("*.schema.json"))
INPUT_SCHEMAS = sorted(SCHEMA_DIR.glob("*.schema.json"))  # what contributors write (tables are the build's output)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.relative_to(SCHEMA_DIR).as_posix())
def test_every_number_in_every_schema_has_a_physical_maximum(path):
    """Holds later schemas (runtimes, quants, ...) to it as well: this walks whatever is in schema/."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    missing, unexplained = [], []
    for where, sub in _properties(schema):
        types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        if not {"integer", "number"} & set(types) or "enum" in sub or "const" in sub:
            continue
        if "maximum" not in sub and "exclusiveMaximum" not in sub:
            missing.append("/".join(map(str, where)))
        elif "description" in sub and "aximum" not in sub["description"] and "at most" not in sub["description"] \
                and "between" not in sub["description"].lower() and "fraction" not in sub["description"].lower():
            unexplained.append("/".join(map(str, where)))
    assert not missing, f"numbers without a maximum: {missing}"
    assert not unexplained, f"a maximum whose description gives no reason: {unexplained}"


@pytest.mark.parametrize("path", INPUT_SCHEMAS, ids=lambda p: p.name)
def test_every_string_in_every_catalogue_schema_has_a_maximum_length(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    missing = []
    for where, sub in _properties(schema):
        types = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        if "string" in types and not {"maxLength", "enum", "const"} & set(sub):
            missing.append("/".join(map(str, where)))
    assert not missing, f"strings without maxLength: {missing}"


def test_config_maxima_in_the_schema_are_the_bounds_module():
    """One table: the model schema's config maxima are vramatlas.bounds.CONFIG_MAX."""
    schema = json.loads((SCHEMA_DIR / "model.schema.json").read_text(encoding="utf-8"))
    config = schema["$defs"]["variant"]["properties"]["config"]["properties"]
    checked = 0
    for name, sub in config.items():
        if isinstance(sub, dict) and "maximum" in sub and name in bounds.CONFIG_MAX:
            assert sub["maximum"] == bounds.CONFIG_MAX[name].maximum, name
            checked += 1
    assert checked >= 20


def test_real_catalogue_is_within_every_bound():
    report = validate([CATALOG_DIR])
    assert report.errors == [], "\n".join(p.format() for p in report.errors[:5])
