"""The static site: `vramatlas build` and `vramatlas serve`.

- :mod:`vramatlas.site.charts`: the Altair charts;
- :mod:`vramatlas.site.pages`: the generated Markdown pages;
- :mod:`vramatlas.site.build`: the pipeline (catalogue -> matrix -> tables -> pages -> mkdocs).

Heavy imports (pandas, altair, mkdocs) happen inside the run functions, so
`vramatlas --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("dist"),
        help="output folder: tables in DIR/tables, the site in DIR/site (default: dist)",
    )
    parser.add_argument(
        "--catalog",
        metavar="DIR",
        type=Path,
        default=None,
        help="catalogue folder (default: the repository's or the installed one)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only the summary (progress is shown only on a terminal anyway)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even when the catalogue, code and site sources match the output in place",
    )


def run_build(args: argparse.Namespace) -> int:
    from ..cli import CLIError
    from .build import BuildError, BuildInterrupted, build_site, terminal_progress

    try:
        report = build_site(
            args.out,
            catalog_dir=getattr(args, "catalog", None),
            progress=terminal_progress(getattr(args, "quiet", False)),
            force=getattr(args, "force", False),
            gate=validation_gate,
        )
    except BuildError as exc:
        raise CLIError(f"vramatlas build: {exc}") from None
    except BuildInterrupted:
        print(f"vramatlas build: interrupted; {args.out} is as it was", file=sys.stderr)
        return 143
    except Exception as exc:  # a catalogue that does not load, or outgrows the matrix, says so in one line
        from ..catalog import CatalogError
        from ..matrix import MatrixBudgetError

        if isinstance(exc, (CatalogError, MatrixBudgetError)):
            raise CLIError(f"vramatlas build: {exc}") from None
        raise
    for line in report.lines():
        print(line)
    return 0


def validation_gate(catalog_dir: Path) -> None:
    """Refuse, in one located line, a catalogue that `vramatlas validate` refuses: it is never built."""
    from ..cli import CLIError
    from ..validate import UsageError, validate
    from ..validate.cli import display_path

    try:
        report = validate([catalog_dir])
    except UsageError as exc:
        raise CLIError(f"vramatlas build: {exc}") from None
    if report.errors:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        raise CLIError(
            f"vramatlas build: the catalogue does not validate: {first.format(display_path(first.path))}"
            f"{more}; run 'vramatlas validate'"
        )


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port), for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: TCP ports are 0 to 65535")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    add_build_arguments(parser)
    parser.add_argument("--port", type=port_number, default=8000, help="port on 127.0.0.1, 0-65535 (default: 8000)")
    parser.add_argument("--no-build", action="store_true", help="serve DIR/site as it is, without building")


def run_serve(args: argparse.Namespace) -> int:
    from ..cli import CLIError

    site = Path(args.out) / "site"
    if not args.no_build:
        status = run_build(args)
        if status:
            return status
    if not (site / "index.html").is_file():
        raise CLIError(f"vramatlas serve: no site at {site} (run 'vramatlas build' first)")
    from .serve import serve_forever

    return serve_forever(site, args.port)
