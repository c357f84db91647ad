"""`vramatlas validate [PATH ...] [--format text|github]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..loader import Problem


def display_path(path: Path) -> str:
    """The path relative to the current folder when it is inside it, else absolute."""
    try:
        return (
            Path(os.path.relpath(Path(path).resolve(), Path.cwd().resolve())).as_posix()
            if Path(path).resolve().is_relative_to(Path.cwd().resolve())
            else str(Path(path).resolve())
        )
    except (ValueError, OSError):
        return str(path)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(problem: Problem) -> str:
    """A GitHub Actions workflow command: ::error file=...,line=...,col=...,title=CODE::message."""
    level = "error" if problem.severity == "error" else "warning"
    message = problem.message + (f" ({problem.hint})" if problem.hint else "")
    props = [f"file={_escape_property(display_path(problem.path))}"]
    if problem.line:
        props += [f"line={problem.line}", f"col={problem.col}"]
    props.append(f"title={_escape_property(problem.code)}")
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check catalogue files: YAML, schema and the rules beyond it. "
        "Prints one line per problem and exits 1 if any is an error."
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders to check (default: the whole catalogue)"
    )
    parser.add_argument(
        "--format", choices=("text", "github"), default="text", help="'github' prints GitHub Actions annotations"
    )
    parser.add_argument(
        "--schema-dir",
        metavar="DIR",
        default=None,
        help="folder of <kind>.schema.json files (default: the schemas shipped with vramatlas)",
    )


def run(args: argparse.Namespace) -> int:
    from ..paths import SCHEMA_DIR
    from . import UsageError, validate

    schema_dir = Path(args.schema_dir) if args.schema_dir else SCHEMA_DIR
    if not schema_dir.is_dir():
        print(f"vramatlas validate: --schema-dir {args.schema_dir}: no such folder", file=sys.stderr)
        return 2
    try:
        report = validate(args.paths or None, schema_dir)
    except UsageError as exc:
        print(f"vramatlas validate: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout
    for problem in report.problems:
        if args.format == "github":
            out.write(format_github(problem) + "\n")
        else:
            out.write(problem.format(display_path(problem.path)) + "\n")
    out.flush()
    errors, warnings = len(report.errors), len(report.warnings)
    summary = (
        f"vramatlas validate: {report.files} file{'s' if report.files != 1 else ''}, "
        f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''} "
        f"in {report.seconds:.2f} s"
    )
    print(summary, file=sys.stderr)
    return 1 if errors else 0
