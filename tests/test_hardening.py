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
            lines[i] = re.sub(pattern, lambda _m: replacement, line)  # the replacement is literal
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
        "the catalogue has no gpus",
        "the catalogue has no methods",
        "the catalogue has no models",
    ]


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
    assert {p.path.name for p in problems} == {"rtx-4090.yaml"} and "VA900" not in codes(problems)
    assert any(p.code == "VA302" and "says no memory" in p.message for p in problems)


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
        "exceptions:\n- code: VA001\n  file: gpus/broken.yaml\n  reason: silence the parse error\n"
    )
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
        assert (
            all(line.startswith(("::", str(base), "catalog", "/")) or not line for line in out.splitlines())
            or fmt == "text"
        )


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
        elif "description" in sub and not any(
            word in sub["description"].lower() for word in ("maximum", "at most", "between", "fraction", "share of")
        ):  # a share's maximum is 1 by definition
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


# ---- the model's inputs: physical ranges, exit 2 ------------------------------------------------

ESTIMATE = ("estimate", "--model", "llama-3.1-8b", "--method", "inference-bf16", "--gpu", "rtx-4090")


@pytest.mark.parametrize(
    "option, value",
    [
        ("--seq-len", "4000000000000"),
        ("--batch", str(2**40)),
        ("--gpus", "1000000000"),
        ("--new-tokens", str(2**62)),
        ("--ubatch", "4000000000000"),
        ("--host-memory", "1e300"),
        ("--host-bandwidth", "1e300"),
        ("--max-num-seqs", str(2**40)),
    ],
)
def test_estimate_refuses_inputs_past_physical_ranges(option, value):
    runtime = {"--ubatch": "llama.cpp", "--host-memory": "llama.cpp", "--max-num-seqs": "vllm"}.get(option)
    status, out, err = cli(*ESTIMATE, *(("--runtime", runtime) if runtime else ()), option, value)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "physical maximum" in err and option in err


def test_estimate_refuses_a_prediction_past_one_exbibyte():
    """Inputs each within range whose product is not: the last check stops the verdict."""
    status, out, err = cli(*ESTIMATE, "--seq-len", str(2**30), "--batch", str(2**20), "--allow-beyond-max", "--json")
    assert status == 2 and out == "" and "1 EiB" in err and err.count("\n") == 1


def test_estimate_still_answers_large_but_physical_cases():
    status, out, _ = cli(*ESTIMATE, "--seq-len", "1000000", "--allow-beyond-max", "--json")
    data = json.loads(out)
    assert status == 0 and data["fits"] is False and data["peak_bytes"] > 2**37


def _config(tmp_path, text: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(text)
    return str(path)


LLAMA = {
    "model_type": "llama",
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "hidden_act": "silu",
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
}


@pytest.mark.parametrize(
    "name, text, fragment",
    [
        ("hidden_size 2^70", json.dumps({**LLAMA, "hidden_size": 2**70}), "physical maximum"),
        ("1e400", json.dumps(LLAMA)[:-1] + ', "rope_theta": 1e400}', "float64"),
        ("NaN", json.dumps(LLAMA)[:-1] + ', "rope_theta": NaN}', "NaN"),
        ("nested 1e5 deep", '{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
        ("nested 40 deep", json.dumps({**LLAMA, "x": json.loads('{"a":' * 40 + "1" + "}" * 40)}), "nests deeper"),
        ("kv heads above heads", json.dumps({**LLAMA, "num_key_value_heads": 64}), "exceeds"),
        ("integer past 2^53", json.dumps({**LLAMA, "rope_scaling": {"factor": 2**60}}), "2^53"),
        ("a list where a count belongs", json.dumps({**LLAMA, "num_hidden_layers": [32]}), "config"),
        (
            "each value in range, their product not",
            json.dumps(
                {
                    **LLAMA,
                    "num_hidden_layers": 16000,
                    "head_dim": 16000,
                    "num_attention_heads": 16000,
                    "num_key_value_heads": 16000,
                }
            ),
            "past physical size",
        ),
    ],
)
def test_estimate_refuses_hostile_configs_in_one_line(tmp_path, name, text, fragment):
    status, out, err = cli("estimate", "--config", _config(tmp_path, text), "--method", "inference-bf16")
    assert status == 2 and out == "", name
    assert err.count("\n") == 1 and fragment in err and "internal error" not in err, err


def test_model_id_with_newline_stays_on_one_line_in_text_output(tmp_path):
    config = _config(tmp_path, json.dumps({**LLAMA, "_name_or_path": "evil\n::error::injected\x1b[2J"}))
    status, out, _ = cli("estimate", "--config", config, "--method", "inference-bf16")
    assert status == 0
    assert not any(line.startswith("::") for line in out.splitlines()) and "\x1b" not in out
    assert "evil\\n::error::injected\\x1b[2J" in out.splitlines()[0]


# ---- other commands: known causes, one line each ---------------------------------------------------


def test_diff_of_a_corrupt_parquet_is_one_line(tmp_path):
    for name, payload in (("old", os.urandom(3000)), ("new", b"PAR1 not really PAR1")):
        (tmp_path / name / "tables").mkdir(parents=True)
        (tmp_path / name / "tables" / "matrix.parquet").write_bytes(payload)
    status, out, err = cli("diff", str(tmp_path / "old"), str(tmp_path / "new"))
    assert status == 2 and err.count("\n") == 1 and "not a readable matrix table" in err


def test_serve_refuses_port_70000():
    status, _, err = cli("serve", "--no-build", "--port", "70000")
    assert status == 2 and "0 to 65535" in err and "Traceback" not in err


def test_an_unwritable_output_path_is_a_known_failure(tmp_path):
    from vramatlas.cli import known_failure

    message = known_failure("diff", PermissionError(13, "Permission denied", str(tmp_path / "x.md")))
    assert message == f"vramatlas diff: {tmp_path / 'x.md'}: Permission denied"
    assert known_failure("estimate", RecursionError()) == "vramatlas estimate: the input is nested too deeply to read"


# ---- fmt: links kept, YAML 1.1/1.2 numbers quoted -----------------------------------------------------


def test_fmt_leaves_a_symlink_a_symlink(base, tmp_path):
    target = tmp_path / "elsewhere.yaml"
    shutil.copyfile(base / "gpus" / "rtx-4090.yaml", target)
    target.write_text("id: rtx-4090\nname:   NVIDIA\n")  # not canonical: fmt would rewrite it
    link = base / "gpus" / "linked.yaml"
    link.symlink_to(target)
    before = target.read_bytes()
    status, _, err = cli("fmt", str(base / "gpus"))
    assert status == 1 and "symbolic link" in err
    assert link.is_symlink() and target.read_bytes() == before


def test_fmt_does_not_block_on_a_fifo(base):
    os.mkfifo(base / "gpus" / "pipe.yaml")
    status, _, err = cli("fmt", "--check", str(base / "gpus"))
    assert status == 1 and "not a regular file" in err


@pytest.mark.parametrize(
    "value",
    [
        "0o17",
        "1e3",
        "1E-3",
        "0x1f",
        "0b101",
        "017",
        "1_000",
        "1:20",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "~",
        ".inf",
        "-.5",
        "1.0e+3",
        "=",
        "",
    ],
)
def test_fmt_quotes_strings_yaml_would_read_as_numbers(value):
    import yaml

    from vramatlas.fmt import dump

    text = dump({"name": value})
    assert text != f"name: {value}\n"
    assert yaml.safe_load(text) == {"name": value}
    # YAML 1.2 readers too: the scalar is quoted, so no resolver gets to read it
    assert text.split(": ", 1)[1].startswith(("'", '"'))


@pytest.mark.parametrize("value", ["llama-3.1-8b", "24 GB", "8B", "v1.2", "1.5.2", "2024-07"])
def test_fmt_leaves_ordinary_strings_bare(value):
    from vramatlas.fmt import dump

    assert dump({"name": value}) == f"name: {value}\n"


# ---- escaping: links, JSON in pages, Vega ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        'https://example.com/a"onmouseover="x',
        "https://example.com/a'b",
        "https://example.com/a)b(c",
        "https://example.com/<script>",
    ],
)
def test_link_urls_are_percent_encoded_completely(url):
    from vramatlas.escape import link_url
    from vramatlas.site.pages import md_link

    target = link_url(url)
    assert not set("\"'()<> ") & set(target)
    assert md_link("x", url) == f"[x]({target})"


def test_link_url_refuses_non_http_and_control_characters():
    from vramatlas.escape import link_url

    assert link_url("javascript:alert(1)") is None
    assert link_url("https://example.com/\u2028x") is None


def test_json_for_pages_and_vega_specs_escape_separators():
    from vramatlas.escape import json_for_html, vega_safe

    name = "A\u2028B\u2029</script><b>&"
    text = json_for_html({"name": name})
    assert not {"\u2028", "\u2029", "<", ">", "&"} & set(text) and json.loads(text) == {"name": name}
    spec = vega_safe({"sort": [name], "title": name})
    assert "\u2028" not in json.dumps(spec, ensure_ascii=False)
    assert spec["sort"] == ["A\\u2028B\\u2029</script><b>&"]


def test_catalogue_config_whose_products_are_past_physical_size_is_refused_VA353(real):
    f = _first_variant_file(real)
    for name in ("num_hidden_layers", "head_dim", "num_attention_heads", "num_key_value_heads"):
        _set_line(f, rf"^    {name}: \d+$", f"    {name}: 16000")
    report = validate([real])
    assert any(
        p.code == "VA353" and "past physical size" in p.message and p.path.name == f.name for p in report.errors
    ), "\n".join(p.format() for p in report.errors)


def test_build_refuses_what_validate_refuses_before_any_stage(tmp_path, monkeypatch):
    from vramatlas.site import build

    class NoWork:
        def __getattr__(self, name):
            raise AssertionError("a build stage ran on a catalogue that does not validate")

    root = tmp_path / "catalog"
    shutil.copytree(BASE, root)
    _set_line(root / "gpus" / "rtx-4090.yaml", r"^name: .*$", 'name: "RTX\\u20284090"')
    monkeypatch.setattr(build, "default_stages", NoWork)
    status, out, err = cli("build", "--out", str(tmp_path / "out"), "--catalog", str(root))
    assert status == 2 and err.count("\n") == 1 and "does not validate" in err and "VA" in err
    assert not (tmp_path / "out" / "site").exists()


def test_schema_results_cache_is_keyed_by_content_and_survives_corruption(base, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VRAMATLAS_NO_CACHE", raising=False)
    assert validate_root(base, SCHEMA) == []
    assert list((tmp_path / "cache" / "vramatlas").glob("schema-results-*.json"))
    f = base / "gpus" / "rtx-4090.yaml"
    clean = f.read_text()
    _set_line(f, r"^release_year: .*$", "release_year: '2022'")  # the same file, other bytes
    assert "VA100" in codes(validate_root(base, SCHEMA))
    f.write_text(clean)
    assert validate_root(base, SCHEMA) == []
    for cached in (tmp_path / "cache" / "vramatlas").glob("schema-results-*.json"):
        cached.write_text("{ not json")
    _set_line(f, r"^release_year: .*$", "release_year: '2022'")
    assert "VA100" in codes(validate_root(base, SCHEMA))


@pytest.mark.parametrize("case", ["empty catalogue", "unreadable folder"])
def test_build_of_an_empty_or_unreadable_catalogue_is_one_located_line(tmp_path, monkeypatch, case):
    from vramatlas.site import build

    root = tmp_path / "catalog"
    if case == "empty catalogue":
        for kind in ("gpus", "models", "methods", "measurements"):
            (root / kind).mkdir(parents=True)
        expected = "VA355"
    else:
        shutil.copytree(BASE, root)
        real_scandir, gpus = os.scandir, str(root / "gpus")

        def scandir(path="."):
            if os.fspath(path) == gpus:
                raise PermissionError(13, "Permission denied", gpus)
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
        expected = "Permission denied"
    monkeypatch.setattr(build, "default_stages", lambda: pytest.fail("a stage ran"))
    status, _, err = cli("build", "--out", str(tmp_path / "out"), "--catalog", str(root))
    assert status == 2 and err.count("\n") == 1 and expected in err and "internal error" not in err
