"""The `vramatlas` command: a thin dispatcher over subcommands owned by their modules.

Each subcommand lives in its own module, which provides two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...          # the exit status

(names configurable per entry in :data:`SUBCOMMANDS`). Only the module of the
subcommand being run is imported, so `vramatlas --help` and `vramatlas
validate` stay fast: modules should import pandas/altair inside ``run``.

Errors: a subcommand raises :class:`CLIError` (or returns 2) for bad input;
the dispatcher prints one line on stderr and exits 2. Any other exception is
reported in one line as an internal error (exit 2); set VRAMATLAS_DEBUG=1 for
the traceback. Failures with a known cause (a path that is missing, not writable
or a file where a folder belongs; a full disk; a port; recursion; overflow) get
their own one-line message instead (:func:`known_failure`), exit 2. Ctrl-C exits 130, a closed pipe exits quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, NamedTuple, Sequence


class Subcommand(NamedTuple):
    module: str
    add_arguments: str
    run: str
    help: str


# name -> (module, add_arguments function, run function, one-line help)
SUBCOMMANDS: dict[str, Subcommand] = {
    "validate": Subcommand(
        "vramatlas.validate.cli",
        "add_arguments",
        "run",
        "check catalogue files (YAML, schema, rules); exit 1 on any error",
    ),
    "fmt": Subcommand(
        "vramatlas.fmt",
        "add_arguments",
        "run",
        "rewrite catalogue files in canonical order and style (--check: only report)",
    ),
    "estimate": Subcommand(
        "vramatlas.estimate_cli",
        "add_arguments",
        "run",
        "estimate the peak GPU memory of one model, method and workload",
    ),
    "list": Subcommand(
        "vramatlas.list_cli",
        "add_arguments",
        "run",
        "list the ids of models, GPUs, methods, runtimes or quants (--json for scripts)",
    ),
    "accuracy": Subcommand(
        "vramatlas.accuracy", "add_arguments", "run", "compare estimates with every measurement in the catalogue"
    ),
    "build": Subcommand(
        "vramatlas.site", "add_build_arguments", "run_build", "build tables, charts, pages and the site into dist/"
    ),
    "diff": Subcommand(
        "vramatlas.diff", "add_arguments", "run", "show how the built matrix changes between two catalogues"
    ),
    "serve": Subcommand("vramatlas.site", "add_serve_arguments", "run_serve", "build, then serve the site locally"),
    "measure": Subcommand(
        "vramatlas.measure",
        "add_arguments",
        "run",
        "measure peak GPU memory of a case on this machine (needs the 'measure' extra)",
    ),
    "add": Subcommand(
        "vramatlas.add",
        "add_arguments",
        "run",
        "start a catalogue file: a model from its config.json (ORG/NAME or --config), a GPU template",
    ),
}


class CLIError(Exception):
    """Bad input: the message is printed as one line and the exit status is 2."""


class _NotAvailable(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the contract), naming the command and where to look."""

    def error(self, message: str):  # type: ignore[override]
        raise CLIError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _resolve(name: str) -> tuple[Callable, Callable]:
    spec = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        # the subcommand's own module (or its package) is missing: not written yet
        if exc.name and (spec.module == exc.name or spec.module.startswith(exc.name + ".")):
            raise _NotAvailable(f"vramatlas {name}: not available yet ({spec.module} does not exist)") from None
        raise CLIError(
            f"vramatlas {name}: missing dependency '{exc.name}' (install it, e.g. pip install -e '.[measure]')"
        ) from None
    add = getattr(module, spec.add_arguments, None)
    run = getattr(module, spec.run, None)
    if not callable(add) or not callable(run):
        raise _NotAvailable(
            f"vramatlas {name}: not available yet ({spec.module} has no {spec.add_arguments}/{spec.run})"
        )
    return add, run


def _version() -> str:
    from . import __version__

    return __version__


def build_parser(selected: str | None = None) -> tuple[argparse.ArgumentParser, Callable | None]:
    """The parser; only ``selected``'s module is imported to add its arguments."""
    parser = _Parser(
        prog="vramatlas",
        description="Which language models run, or can be fine-tuned, on which GPUs.",
        epilog="Run 'vramatlas COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"vramatlas {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = None
    for name, spec in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        if name == selected:
            add, run = _resolve(name)
            add(p)
    return parser, run


def _selected(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
    return None


def _main(argv: Sequence[str]) -> int:
    name = _selected(argv)
    try:
        parser, run = build_parser(name)
    except _NotAvailable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    status = run(args)
    return int(status or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except CLIError as exc:
        print(str(exc).splitlines()[0] if str(exc) else "vramatlas: error", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vramatlas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, silence the flush at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 2
    except (OSError, RecursionError, MemoryError, OverflowError) as exc:
        # known failure causes (paths, permissions, a full disk, ports, recursion, overflow): one line each
        if os.environ.get("VRAMATLAS_DEBUG"):
            raise
        print(known_failure(_selected(argv), exc), file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        if os.environ.get("VRAMATLAS_DEBUG"):
            raise
        text = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"vramatlas: internal error: {type(exc).__name__}"
            + (f": {text}" if text else "")
            + " (set VRAMATLAS_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 2


def known_failure(command: str | None, exc: BaseException) -> str:
    """The one-line message for a failure with a known cause (not a bug in vramatlas)."""
    from .escape import one_line

    prefix = f"vramatlas {command}" if command else "vramatlas"
    if isinstance(exc, OSError):
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        why = exc.strerror or str(exc) or type(exc).__name__
        return one_line(f"{prefix}: {where}: {why}" if where else f"{prefix}: {why}")
    if isinstance(exc, RecursionError):
        return f"{prefix}: the input is nested too deeply to read"
    if isinstance(exc, MemoryError):
        return f"{prefix}: out of memory (the input is too large for this machine)"
    return one_line(f"{prefix}: a number is too large to compute with ({exc})".splitlines()[0])


def entry() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
