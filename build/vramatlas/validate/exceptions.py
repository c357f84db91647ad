"""The exceptions file: problems that are known, explained and accepted.

``catalog/validation-exceptions.yaml``::

    exceptions:
      - code: VA302                      # the rule to silence
        file: gpus/apple-m4-max.yaml     # relative to catalog/
        reason: unified memory; the label counts the whole machine
        # optional: `match: some text` silences only problems whose message contains it

An exception silences the matching problems of that file. An exception that
silences nothing is itself an error (VA901), so the list cannot outlive the
problems it excuses. The file may be empty or hold ``exceptions: []``.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog import EXCEPTIONS_FILE
from ..loader import Document, Problem, load_document
from .registry import RULES, severity_of

_FIELDS = ("code", "file", "reason", "match")


def _entries(doc: Document) -> tuple[list[tuple[int, dict]], list[Problem]]:
    problems: list[Problem] = []
    data = doc.data
    if data is None:
        return [], problems
    items = data.get("exceptions")
    unknown = [k for k in data if k != "exceptions"]
    for key in unknown:
        problems.append(
            doc.problem(
                (key,),
                "VA902",
                f"unknown field '{key}' in the exceptions file",
                "the file has one field, 'exceptions', a list",
                severity_of("VA902"),
                key=True,
            )
        )
    if items is None:
        return [], problems
    if not isinstance(items, list):
        problems.append(
            doc.problem(
                ("exceptions",),
                "VA902",
                "'exceptions' must be a list",
                "write `exceptions: []` for none",
                severity_of("VA902"),
            )
        )
        return [], problems
    entries = []
    for i, item in enumerate(items):
        where = ("exceptions", i)
        if not isinstance(item, dict):
            problems.append(
                doc.problem(
                    where,
                    "VA902",
                    f"exceptions[{i}] must be a mapping",
                    "give code, file and reason",
                    severity_of("VA902"),
                )
            )
            continue
        bad = False
        for key in item:
            if key not in _FIELDS:
                problems.append(
                    doc.problem(
                        where + (key,),
                        "VA902",
                        f"unknown field '{key}' in exceptions[{i}]",
                        "allowed: " + ", ".join(_FIELDS),
                        severity_of("VA902"),
                        key=True,
                    )
                )
                bad = True
        for key in ("code", "file", "reason"):
            if not isinstance(item.get(key), str) or not item.get(key).strip():
                problems.append(
                    doc.problem(
                        where,
                        "VA902",
                        f"exceptions[{i}] needs '{key}' (a string)",
                        "every exception names its code, its file and why it is accepted",
                        severity_of("VA902"),
                    )
                )
                bad = True
        code = item.get("code")
        if isinstance(code, str) and (code not in RULES or not RULES[code].exceptable):
            why = (
                "see the codes table in CONTRIBUTING.md"
                if code not in RULES
                else f"{code} ({RULES[code].name}) marks a file that cannot be read or built; fix the file instead"
            )
            problems.append(
                doc.problem(
                    where + ("code",),
                    "VA902",
                    f"'{code}' is not a code that can be excepted",
                    why,
                    severity_of("VA902"),
                )
            )
            bad = True
        if not bad:
            entries.append((i, item))
    return entries, problems


def apply_exceptions(root: Path, problems: list[Problem]) -> list[Problem]:
    """Drop the problems the exceptions file accepts; add problems about the file itself."""
    path = Path(root) / EXCEPTIONS_FILE
    if not path.is_file():
        return problems
    doc = load_document(path)
    if any(p.code == "VA006" and "empty" in p.message for p in doc.problems):
        return problems  # an empty exceptions file is fine
    extra = list(doc.problems)
    entries, bad = _entries(doc)
    extra.extend(bad)
    root_resolved = Path(root).resolve()
    kept = []
    used: set[int] = set()
    for problem in problems:
        try:
            rel = problem.path.resolve().relative_to(root_resolved).as_posix()
        except ValueError:
            rel = None
        silenced = False
        for i, item in entries:
            if (
                item["code"] == problem.code
                and item["file"] == rel
                and (not item.get("match") or str(item["match"]) in problem.message)
            ):
                used.add(i)
                silenced = True
        if not silenced:
            kept.append(problem)
    for i, item in entries:
        if i not in used:
            extra.append(
                doc.problem(
                    ("exceptions", i),
                    "VA901",
                    f"the exception for {item['code']} in {item['file']} no longer fires",
                    "remove it from the exceptions file",
                    severity_of("VA901"),
                )
            )
    return kept + extra
