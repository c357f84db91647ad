"""Validation of catalogue files: loading, schema, rules, exceptions.

    from vramatlas.validate import validate
    report = validate([Path("catalog")])
    for problem in report.problems: print(problem.format())

Every problem is reported at once; nothing here raises for bad data. Only
unusable arguments (a path that does not exist) raise :class:`UsageError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import EXCEPTIONS_FILE, SINGULAR, assemble, catalogue_files, kind_of
from ..loader import Document, Problem, load_document
from ..paths import CATALOG_DIR, KINDS, SCHEMA_DIR
from . import rules as _rules  # noqa: F401  (registers the rules)
from .registry import RULES, Rule, severity_of
from .rules import Context

__all__ = ["validate", "validate_root", "Report", "UsageError", "RULES", "Rule", "Problem"]


class UsageError(Exception):
    """The arguments cannot be used (a path that does not exist, ...)."""


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def _sort_key(p: Problem):
    return (str(p.path), p.line, p.col, p.code, p.message)


def _is_catalog_root(folder: Path) -> bool:
    return any((folder / k).is_dir() for k in KINDS) or (folder / EXCEPTIONS_FILE).is_file()


def validate_root(root: Path, schema_dir: Path = SCHEMA_DIR, rules: list[str] | None = None) -> list[Problem]:
    """Every problem in the catalogue at ``root``: load, schema, rules, then exceptions.

    ``rules`` restricts the post-load rules to those codes (loader problems are always kept).
    """
    from .exceptions import apply_exceptions
    from .schema import load_validator, schema_path, schema_problems

    root = Path(root)
    documents: list[Document] = [load_document(p) for p in catalogue_files(root)]
    problems: list[Problem] = [p for d in documents for p in d.problems]
    loaded = [d for d in documents if d.ok]

    # schema
    if rules is None or "VA100" in rules or "VA101" in rules:
        for kind in KINDS:
            docs = [d for d in loaded if kind_of(d.path) == kind]
            if not docs:
                continue
            validator, why = load_validator(schema_dir, kind)
            if validator is None:
                # once per kind, located at the schema file; reported whenever a file of the kind is
                problems.append(Problem(schema_path(schema_dir, kind), 1, 1, "VA101",
                                        f"{why or 'no schema'}: {len(docs)} {kind} files were not checked "
                                        "against a schema", f"add {SINGULAR[kind]}.schema.json to {schema_dir.name}/",
                                        severity_of("VA101")))
                continue
            for doc in docs:
                problems.extend(schema_problems(doc, validator))

    # rules
    unloaded = {(kind_of(d.path) or "", d.path.stem) for d in documents if not d.ok}
    ctx = Context(root=root, documents=loaded, catalog=assemble(documents, root), unloaded=unloaded)
    for rule in RULES.values():
        if rule.stage != "rule" or rule.check is None or (rules is not None and rule.code not in rules):
            continue
        try:
            problems.extend(rule.check(ctx))
        except Exception as exc:  # noqa: BLE001 - a rule bug must not hide the other problems
            problems.append(Problem(root, 0, 0, rule.code,
                                    f"rule {rule.code} ({rule.name}) crashed: {type(exc).__name__}: {exc}",
                                    "this is a bug in vramatlas; please report it"))

    problems = apply_exceptions(root, problems)
    # one problem per (place, code, message)
    return sorted(set(problems), key=_sort_key)


def _collect(paths: list[Path]) -> tuple[set[Path], set[Path], list[Path]]:
    """(requested files, catalogue roots to check, loose files outside any catalogue)."""
    targets: set[Path] = set()
    roots: set[Path] = set()
    loose: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such file or folder")
        if path.is_dir():
            folder = path.resolve()
            if _is_catalog_root(folder):
                roots.add(folder)
            if folder.name in KINDS:
                roots.add(folder.parent)
            files = [p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                     and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
        else:
            files = [path.resolve()]
        for f in files:
            targets.add(f)
            if kind_of(f):
                roots.add(f.parent.parent)
            elif f.name == EXCEPTIONS_FILE:
                roots.add(f.parent)
            else:
                loose.append(f)
    return targets, roots, sorted(set(loose))


def validate(paths: list[Path | str] | None = None, schema_dir: Path = SCHEMA_DIR) -> Report:
    """Validate files and folders (default: the whole catalogue). Raises UsageError for missing paths."""
    start = time.perf_counter()
    targets, roots, loose = _collect([Path(p) for p in (paths or [CATALOG_DIR])])
    problems: list[Problem] = []
    for root in sorted(roots):
        problems.extend(validate_root(root, schema_dir))
    for f in loose:
        doc = load_document(f)
        problems.extend(doc.problems)
        problems.append(Problem(f, 1, 1, "VA202",
                                "not inside a catalogue folder (catalog/<kind>/<id>.yaml): only its YAML was checked",
                                "move it under catalog/gpus, catalog/models, catalog/methods or catalog/measurements",
                                "warning"))
    kept = [p for p in problems if p.path.resolve() in targets or p.code == "VA101"
            or (p.line == 0 and p.path.resolve() in roots)]
    # a requested root's catalogue-wide problems count too (rule crashes)
    kept = sorted(set(kept), key=_sort_key)
    return Report(problems=kept, files=len(targets), seconds=time.perf_counter() - start)
