"""Validation of catalogue files: loading, schema, rules, exceptions.

    from vramatlas.validate import validate
    report = validate([Path("catalog")])
    for problem in report.problems: print(problem.format())

Every problem is reported at once; nothing here raises for bad data. Only
unusable arguments (a path that does not exist) raise :class:`UsageError`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import EXCEPTIONS_FILE, SINGULAR, assemble, kind_of, scan_catalogue
from ..loader import Document, Problem, load_document
from ..paths import CATALOG_DIR, KINDS, SCHEMA_DIR
from . import config_rules as _config_rules  # noqa: F401
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
    from .schema import SchemaResults, load_validator, schema_path

    root = Path(root)
    files, problems = scan_catalogue(root)
    documents: list[Document] = [load_document(p) for p in files]
    problems += [p for d in documents for p in d.problems]
    loaded = [d for d in documents if d.ok]

    # schema
    if rules is None or "VA100" in rules or "VA101" in rules:
        for kind in KINDS:
            docs = [d for d in loaded if kind_of(d.path) == kind]
            if not docs:
                continue
            validator, why = load_validator(schema_dir, kind)
            if validator is None:
                # once per kind, located at the schema file; reported whenever a file of the kind is.
                # A schema that exists but is broken is an error (VA102): nothing was checked.
                path = schema_path(schema_dir, kind)
                code = "VA102" if path.exists() else "VA101"
                problems.append(
                    Problem(
                        path,
                        1,
                        1,
                        code,
                        f"{why or 'no schema'}: {len(docs)} {kind} files were not checked against a schema",
                        f"fix {path.name}"
                        if code == "VA102"
                        else f"add {SINGULAR[kind]}.schema.json to {schema_dir.name}/",
                        severity_of(code),
                    )
                )
                continue
            results = SchemaResults(schema_path(schema_dir, kind))
            for doc in docs:
                problems.extend(results.problems(doc, validator))
            results.save()

    # rules
    unloaded = {(kind_of(d.path) or "", d.path.stem) for d in documents if not d.ok}
    ctx = Context(root=root, documents=loaded, catalog=assemble(documents, root), unloaded=unloaded)
    for rule in RULES.values():
        if rule.stage != "rule" or rule.check is None or (rules is not None and rule.code not in rules):
            continue
        problems.extend(run_rule(rule, ctx))

    problems = apply_exceptions(root, problems)
    # one problem per (place, code, message)
    return sorted(set(problems), key=_sort_key)


def run_rule(rule: Rule, ctx: Context) -> list[Problem]:
    """The rule's problems; a rule that crashes does not hide the problems of other files.

    The rule first runs over the whole catalogue. If it raises, it runs again
    over each file alone (the rest of the catalogue still there for references):
    the files it handles give their problems as usual, and each file it crashes
    on gets one located VA900 error naming the rule and the exception.
    """
    try:
        return [_checked(rule, p) for p in rule.check(ctx)]
    except Exception:  # noqa: BLE001 - a rule bug must not hide the other problems
        pass
    found: list[Problem] = []
    for doc in ctx.documents:
        alone = Context(root=ctx.root, documents=[doc], catalog=ctx.catalog, unloaded=ctx.unloaded)
        try:
            found.extend(_checked(rule, p) for p in rule.check(alone))
        except Exception as exc:  # noqa: BLE001
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200] if str(exc) else type(exc).__name__
            found.append(
                Problem(
                    doc.path,
                    1,
                    1,
                    "VA900",
                    f"rule {rule.code} ({rule.name}) crashed on this file: {text}",
                    "this is a bug in vramatlas; please report it with the file",
                    severity_of("VA900"),
                )
            )
    return found


def _checked(rule: Rule, problem) -> Problem:
    if not isinstance(problem, Problem):
        raise TypeError(f"rule {rule.code} yielded {type(problem).__name__}, not a Problem")
    return problem


def _abs(path: Path) -> Path:
    """Absolute, without following links: a link is judged as the link, never as what it points to."""
    return Path(os.path.abspath(path))


def _collect(paths: list[Path]) -> tuple[set[Path], set[Path], list[Path]]:
    """(requested files, catalogue roots to check, loose files outside any catalogue)."""
    targets: set[Path] = set()
    roots: set[Path] = set()
    loose: list[Path] = []
    for raw in paths:
        path = _abs(Path(raw))
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{raw}: no such file or folder")
        if path.is_dir():  # a folder named on the command line may itself be a link; links inside are not followed
            folder = path
            if _is_catalog_root(folder):
                roots.add(folder)
            if folder.name in KINDS:
                roots.add(folder.parent)
            try:
                files = [
                    p
                    for p in _walk(folder)
                    if p.suffix in (".yaml", ".yml")
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                ]
            except OSError as exc:
                raise UsageError(f"{raw}: cannot read the folder ({exc.strerror or exc})") from None
            if not files and not roots & {folder, folder.parent}:
                raise UsageError(f"{raw}: no catalogue files (*.yaml) in this folder")
        elif path.suffix in (".yaml", ".yml"):
            files = [path]
        else:
            raise UsageError(f"{raw}: not a catalogue file (catalogue files end in .yaml)")
        for f in files:
            targets.add(f)
            if kind_of(f):
                roots.add(f.parent.parent)
            elif f.name == EXCEPTIONS_FILE:
                roots.add(f.parent)
            else:
                loose.append(f)
    return targets, roots, sorted(set(loose))


def _walk(folder: Path):
    """Every entry under ``folder`` that is not a folder (links listed, never followed)."""
    for base, dirs, names in os.walk(folder, onerror=_raise):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(base, d)))
        for name in sorted(names):
            yield Path(base) / name


def _raise(exc: OSError):
    raise exc


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
        problems.append(
            Problem(
                f,
                1,
                1,
                "VA202",
                "not inside a catalogue folder (catalog/<kind>/<id>.yaml): only its YAML was checked",
                "move it under catalog/gpus, models, methods, quants, runtimes or measurements",
                "warning",
            )
        )
    if not targets and not roots:
        raise UsageError("nothing to check: no catalogue files")
    kept = [
        p
        for p in problems
        if _abs(p.path) in targets
        or p.code in ("VA101", "VA102")
        or (p.line == 0 and (_abs(p.path) in roots or _abs(p.path).parent in roots))
    ]
    # a requested root's catalogue-wide problems count too (rule crashes)
    kept = sorted(set(kept), key=_sort_key)
    return Report(problems=kept, files=len(targets), seconds=time.perf_counter() - start)
