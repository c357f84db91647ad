"""The safe, located YAML loader: refuses what it must, never raises, never hangs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vramatlas.loader import MAX_BYTES, Document, load_bytes, load_document, load_text

FIXTURES = Path(__file__).parent / "fixtures" / "loader"


def codes(doc: Document) -> list[str]:
    return [p.code for p in doc.problems]


def test_good_file_data_and_locations():
    doc = load_document(FIXTURES / "good.yaml")
    assert doc.problems == []
    assert doc.data == {
        "id": "rtx-4090",
        "release": "2024-07",
        "date": "2024-07-15",  # timestamps stay strings
        "memory": {"nominal": "24 GB", "usable_bytes": 25757220864, "gpu_share": None},
        "flags": [True, False],
        "sources": [{"url": "https://example.com/a", "facts": "memory"}],
        "ratio": 0.75,
    }
    assert type(doc.data["date"]) is str
    # 1-based (line, column) of values and of keys
    assert doc.locations[("id",)] == (2, 5)
    assert doc.key_locations[("id",)] == (2, 1)
    assert doc.locations[("memory", "usable_bytes")] == (7, 17)
    assert doc.key_locations[("memory", "usable_bytes")] == (7, 3)
    assert doc.locations[("flags", 1)] == (9, 15)
    assert doc.locations[("sources", 0, "facts")] == (12, 12)
    assert doc.key_locations[("sources", 0, "url")] == (11, 5)
    # an unknown path falls back to its nearest ancestor
    assert doc.locate(("memory", "nope")) == doc.locations[("memory",)]
    assert doc.raw == (FIXTURES / "good.yaml").read_bytes()


@pytest.mark.parametrize(
    "name, code, line, col",
    [
        ("empty.yaml", "VA006", 1, 1),
        ("comment-only.yaml", "VA006", 1, 1),
        ("binary.yaml", "VA003", 1, 6),
        ("tabs.yaml", "VA001", 3, 1),
        ("bomb.yaml", "VA005", 1, 4),
        ("latin1.yaml", "VA003", 2, 15),
        ("utf16.yaml", "VA003", 1, 1),
        ("scalar.yaml", "VA006", 1, 1),
        ("list.yaml", "VA006", 1, 1),
        ("duplicate-keys.yaml", "VA004", 3, 1),
        ("two-documents.yaml", "VA006", 2, 1),
        ("tags.yaml", "VA007", 3, 9),
        ("unclosed-quote.yaml", "VA001", 3, 1),
    ],
)
def test_bad_fixture_is_refused_with_location(name, code, line, col):
    start = time.perf_counter()
    doc = load_document(FIXTURES / name)
    assert time.perf_counter() - start < 1.0
    assert doc.problems, name
    first = doc.problems[0]
    assert (first.code, first.line, first.col) == (code, line, col), first
    assert first.message and first.hint
    assert first.path == FIXTURES / name


def test_tabs_hint_names_tabs():
    doc = load_document(FIXTURES / "tabs.yaml")
    assert "tab" in doc.problems[0].hint


def test_duplicate_key_is_reported_but_data_kept():
    doc = load_document(FIXTURES / "duplicate-keys.yaml")
    assert codes(doc) == ["VA004"]
    assert "first defined at line 1" in doc.problems[0].hint
    assert doc.data == {"id": "a", "name": "A"}


def test_bomb_is_refused_fast():
    start = time.perf_counter()
    doc = load_document(FIXTURES / "bomb.yaml")
    assert time.perf_counter() - start < 0.5
    assert doc.data is None and codes(doc) == ["VA005"]


def test_alias_is_refused():
    doc = load_text("a: 1\nb: *x\n")
    assert codes(doc) in (["VA005"], ["VA001"])  # an undefined alias is a syntax error in libyaml


def test_merge_key_is_refused():
    assert codes(load_text("<<: {a: 1}\nb: 2\n")) == ["VA005"]


def test_huge_file_refused_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    line = b"key: " + b"x" * 90 + b"\n"
    with big.open("wb") as fh:
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            fh.write(line)
    assert big.stat().st_size >= 50 * 1024 * 1024
    start = time.perf_counter()
    doc = load_document(big)
    assert time.perf_counter() - start < 0.5
    assert codes(doc) == ["VA002"]
    assert doc.data is None


def test_size_limit_is_one_mebibyte(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_BYTES - 4) + b"\n")
    assert path.stat().st_size == MAX_BYTES
    assert codes(load_document(path)) == []
    path.write_bytes(b"a: " + b"x" * (MAX_BYTES - 3) + b"\n")
    assert codes(load_document(path)) == ["VA002"]


def test_missing_file_is_a_problem_not_an_exception(tmp_path):
    doc = load_document(tmp_path / "nope.yaml")
    assert codes(doc) == ["VA001"] and doc.data is None


def test_deep_nesting_does_not_recurse():
    doc = load_text("[" * 200_000)
    assert doc.data is None and doc.problems


def test_non_string_keys_and_non_finite_numbers():
    doc = load_text("1: a\ntrue: b\nnull: c\nx: .nan\n")
    assert [p.code for p in doc.problems] == ["VA007"] * 4
    assert doc.data == {"1": "a", "true": "b", "null": "c", "x": doc.data["x"]}


def test_bom_is_tolerated():
    doc = load_bytes("\ufeffid: a\n".encode("utf-8"))
    assert doc.problems == [] and doc.data == {"id": "a"}


def test_problem_format():
    doc = load_text("a: 1\na: 2\n", "catalog/gpus/x.yaml")
    assert doc.problems[0].format() == (
        "catalog/gpus/x.yaml:2:1: error VA004: duplicate key 'a' "
        "(first defined at line 1; YAML keeps only one of them, so remove one)"
    )


def _check_never_raises(doc: Document):
    assert isinstance(doc, Document)
    assert doc.data is None or isinstance(doc.data, dict)
    for p in doc.problems:
        assert p.code.startswith("VA0") and p.line >= 0 and p.col >= 0 and p.message


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw):
    _check_never_raises(load_bytes(raw))


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000))
def test_random_text_never_raises(text):
    _check_never_raises(load_text(text))


_YAMLISH = st.lists(
    st.sampled_from(
        [
            "a",
            ":",
            " ",
            "\n",
            "  ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&x",
            "*x",
            "'",
            '"',
            "#",
            "\t",
            "!!str",
            "!!binary",
            "<<",
            "? ",
            "---",
            "...",
            "|",
            ">",
            "1",
            "1.5",
            "null",
            "true",
            "2024-07-15",
            "\\",
            "%YAML 1.1",
            "\x00",
            "\ufeff",
            "é",
        ]
    ),
    max_size=80,
).map("".join)


@settings(max_examples=500, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(_YAMLISH)
def test_yaml_like_text_never_raises(text):
    _check_never_raises(load_text(text))
    _check_never_raises(load_bytes(text.encode("utf-8", "surrogatepass")))


# printable text: PyYAML's emitter itself mangles some control and line-separator characters
_TEXT = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"))
_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_TEXT, max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(_TEXT, min_size=1, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=1000)
@given(st.dictionaries(st.text(_TEXT, min_size=1, max_size=8), _JSONISH, max_size=5))
def test_round_trip_of_plain_data(data):
    import yaml

    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    doc = load_text(text)
    assert doc.problems == [], text
    assert doc.data == data
