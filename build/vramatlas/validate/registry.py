"""The rule registry: every problem code, with its severity and the reason it exists.

Codes by range:

* ``VA0xx`` loading (the YAML reader refuses the file or a part of it)
* ``VA1xx`` the JSON Schema of the file's kind
* ``VA2xx`` identity and references across files
* ``VA3xx`` values: ranges, units, ordering, consistency
* ``VA9xx`` the exceptions file

A rule is a small object: code, short name, severity, rationale, and (for
the rules that run after loading) a function ``check(ctx) -> Iterable[Problem]``.
Rules whose problems the loader or the schema step raises have ``check=None``;
they are registered so that the codes table and the exceptions file know them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    rationale: str
    stage: str  # "load" | "schema" | "rule" | "runner" | "exceptions"
    check: Callable[..., Iterable] | None = None
    # Whether the exceptions file may silence it. Never for loading, schema and exceptions-file problems,
    # nor for a rule whose problem the build or the model would refuse anyway: validation is the gate,
    # so what it lets through must build.
    exceptable: bool = True


RULES: dict[str, Rule] = {}


def register(code: str, name: str, severity: str, rationale: str, stage: str = "rule", exceptable: bool | None = None):
    """Register a rule; use as a decorator on its check function (or call with stage != 'rule').

    ``exceptable`` defaults to True for rules and False for every other stage.
    """
    assert severity in SEVERITIES, severity
    assert code not in RULES, f"duplicate rule code {code}"
    allowed = stage == "rule" if exceptable is None else exceptable and stage == "rule"

    def decorate(fn=None):
        RULES[code] = Rule(code, name, severity, rationale, stage, fn, allowed)
        return fn

    if stage != "rule":
        decorate(None)
        return None
    return decorate


def severity_of(code: str) -> str:
    rule = RULES.get(code)
    return rule.severity if rule else "error"


# ---- codes raised by the loader (vramatlas.loader) ---------------------------------
register(
    "VA001",
    "yaml-syntax",
    "error",
    "A file that does not parse cannot be checked further; the reader says where it stopped, "
    "and tab indentation gets its own hint.",
    stage="load",
)
register(
    "VA002",
    "file-too-large",
    "error",
    "A catalogue file describes one entity in a few KiB; anything over 1 MiB is a mistake or an "
    "attack, and is refused before it is read.",
    stage="load",
)
register(
    "VA003",
    "not-utf8-text",
    "error",
    "Files must be UTF-8 text: binary content, other encodings and control characters are refused "
    "so that every tool reads the same characters.",
    stage="load",
)
register(
    "VA004",
    "duplicate-key",
    "error",
    "PyYAML silently keeps the last of two equal keys, so a duplicated key hides data; it is refused instead.",
    stage="load",
)
register(
    "VA005",
    "anchor-alias",
    "error",
    "Anchors, aliases and merge keys make files hard to review and enable 'billion laughs' "
    "bombs; every value is written out in full.",
    stage="load",
)
register(
    "VA006",
    "not-a-mapping",
    "error",
    "Each file holds exactly one entity, a YAML mapping: empty files, lists, bare values and "
    "several documents are refused.",
    stage="load",
)
register(
    "VA007",
    "unsupported-value",
    "error",
    "Only JSON-like values are data: no custom or binary tags, no non-string keys, no NaN or infinity.",
    stage="load",
)
register(
    "VA008",
    "not-a-plain-file",
    "error",
    "Catalogue entries are regular files inside the catalogue: a symbolic link could make validation "
    "and the build read a file outside it (and quote it into CI logs), and a FIFO or device would block "
    "the reader; both are refused before anything is opened.",
    stage="load",
)

# ---- schema ---------------------------------------------------------------------------
register(
    "VA100",
    "schema",
    "error",
    "Every file must satisfy its kind's JSON Schema (schema/<kind>.schema.json, draft 2020-12): "
    "required fields, types, enums, ranges, no unknown fields.",
    stage="schema",
)
register(
    "VA101",
    "schema-missing",
    "warning",
    "A kind without a readable schema cannot be checked; this is reported once per file so it is "
    "not mistaken for a clean result.",
    stage="schema",
)

register(
    "VA102",
    "schema-broken",
    "error",
    "A schema file that exists but does not parse, or is not a valid draft 2020-12 schema, checks "
    "nothing: every file of its kind would pass unchecked, so it is an error, not a warning.",
    stage="schema",
)

# ---- the rule runner ------------------------------------------------------------------
register(
    "VA900",
    "rule-crashed",
    "error",
    "A rule that raises on a file is a bug in vramatlas; it is reported at that file, and the rule "
    "still checks every other file, so one crash never hides the rest of the findings.",
    stage="runner",
)

# ---- exceptions file ------------------------------------------------------------------
register(
    "VA901",
    "stale-exception",
    "error",
    "An exception that no longer silences anything must be removed, so the list of accepted "
    "problems never outlives them (as in mdn/browser-compat-data).",
    stage="exceptions",
)
register(
    "VA902",
    "bad-exception",
    "error",
    "Each exception names an existing code, a catalogue file and a reason.",
    stage="exceptions",
)
