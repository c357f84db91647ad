"""`vramatlas fmt`: canonical key order and style, never a changed value."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramatlas.fmt import FormatError, canonical_order, dump, fmt_paths, format_text, is_canonical, same
from vramatlas.loader import load_text
from vramatlas.paths import CATALOG_DIR, KINDS

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = FIXTURES / "schema"

SHUFFLED = """\
# a comment that fmt drops
sources:
- facts: memory
  url: https://example.com
memory:
  usable_bytes: 25757220864
  nominal: 24 GB
vendor: nvidia
x_extra_b: 2
name: NVIDIA GeForce RTX 4090
x_extra_a: 1
id: rtx-4090
segment: consumer
"""

CANONICAL = """\
id: rtx-4090
name: NVIDIA GeForce RTX 4090
vendor: nvidia
segment: consumer
memory:
  nominal: 24 GB
  usable_bytes: 25757220864
sources:
- url: https://example.com
  facts: memory
x_extra_b: 2
x_extra_a: 1
"""


def _fmt(text: str, name: str = "gpus/rtx-4090.yaml") -> str:
    return format_text(text.encode(), Path(name), SCHEMA)


def test_key_order_follows_the_schema_recursively():
    # schema order, through nested objects and $ref'd list items; unknown keys last, in their order
    assert _fmt(SHUFFLED) == CANONICAL


def test_fmt_is_idempotent_and_keeps_values():
    once = _fmt(SHUFFLED)
    assert _fmt(once) == once
    assert same(load_text(once).data, load_text(SHUFFLED).data)


def test_outside_the_catalogue_only_style_changes():
    text = "b: 1\na: {c: [1, 2]}\n"
    assert _fmt(text, "loose.yaml") == "b: 1\na:\n  c:\n  - 1\n  - 2\n"


def test_style_details():
    data = {
        "id": "x",
        "date": "2024-07-15",
        "yes_string": "yes",
        "multi": "line one\nline two\n",
        "empty_list": [],
        "empty_map": {},
        "big": 340_000_000_000,
        "ratio": 0.75,
        "none": None,
        "long": "word " * 40,
    }
    text = dump(data)
    assert "date: '2024-07-15'" in text  # dates are strings, quoted for every YAML reader
    assert "yes_string: 'yes'" in text
    assert "multi: |\n  line one\n  line two\n" in text
    assert "empty_list: []" in text and "empty_map: {}" in text
    assert "none: null" in text
    assert max(len(line) for line in text.splitlines()) <= 125
    assert same(load_text(text).data, data)


def test_same_is_type_strict():
    assert same({"a": [1, True]}, {"a": [1, True]})
    assert not same(1, True) and not same(1, 1.0) and not same({"a": 1}, {"a": 1, "b": 2})


def test_unloadable_file_is_not_formatted():
    with pytest.raises(FormatError):
        _fmt("a: 1\na: 2\n")
    with pytest.raises(FormatError):
        _fmt("a: &x 1\n")


def test_check_and_write(tmp_path):
    root = tmp_path / "catalog"
    shutil.copytree(FIXTURES / "base", root)
    bad = root / "gpus" / "rtx-4090.yaml"
    bad.write_text(SHUFFLED)
    out, err = io.StringIO(), io.StringIO()
    assert fmt_paths([root], check=True, schema_dir=SCHEMA, out=out, err=err) == 1
    assert "rtx-4090.yaml: not canonical" in out.getvalue()
    assert bad.read_text() == SHUFFLED  # --check changes nothing
    before = {p: p.read_bytes() for p in root.rglob("*.yaml") if p != bad}
    assert fmt_paths([root], schema_dir=SCHEMA, out=out, err=io.StringIO()) == 0
    assert is_canonical(bad, SCHEMA)
    assert {p: p.read_bytes() for p in root.rglob("*.yaml") if p != bad} == before
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]  # no temp files left
    assert fmt_paths([root], check=True, schema_dir=SCHEMA, out=io.StringIO(), err=io.StringIO()) == 0


def test_broken_file_makes_fmt_fail_without_touching_it(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\na: 2\n")
    err = io.StringIO()
    assert fmt_paths([path], schema_dir=SCHEMA, out=io.StringIO(), err=err) == 1
    assert "VA004" in err.getvalue()
    assert path.read_text() == "a: 1\na: 2\n"
    with pytest.raises(FileNotFoundError):
        fmt_paths([tmp_path / "nope"], schema_dir=SCHEMA)


_TEXT = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"))
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_TEXT, max_size=30)
    | st.sampled_from(
        ["2024-07-15", "yes", "no", "null", "1e3", "0x10", "~", "-", "a: b", "# x", "line\nbreak", " lead", "trail "]
    ),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(_TEXT, min_size=1, max_size=8), c, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=2000)
@given(st.dictionaries(st.text(_TEXT, min_size=1, max_size=10), _VALUES, min_size=1, max_size=6))
def test_canonical_text_round_trips_any_plain_data(data):
    text = dump(canonical_order(data, None))
    again = load_text(text)
    assert again.problems == [], text
    assert same(again.data, data), text
    assert dump(again.data) == text


def _catalogue_files():
    return [p for k in KINDS for p in sorted((CATALOG_DIR / k).glob("*.yaml"))]


@pytest.mark.skipif(not _catalogue_files(), reason="the catalogue is empty")
def test_every_catalogue_file_is_canonical():
    not_canonical = [str(p.relative_to(CATALOG_DIR)) for p in _catalogue_files() if not is_canonical(p)]
    assert not_canonical == [], "run `vramatlas fmt` on: " + " ".join(not_canonical)
