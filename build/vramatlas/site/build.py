"""`vramatlas build` and `vramatlas serve`: catalogue -> matrix -> tables -> pages -> site.

The stages, each a function of the previous one's output::

    load_catalog -> compute_matrix -> derived_tables, rules_of_thumb -> write_tables
        -> pages + chart data (the hand-written pages of site/docs copied beside the generated ones)
        -> mkdocs build --strict

How the output is written, so that no failure damages the last good one:

* ``OUT`` is checked before any work (a file, or a folder that cannot be written, is one line, exit 2),
  then the catalogue is validated (the CLI's gate: what validation refuses is never built), and a lock (``OUT/.vramatlas-build.lock``, ``flock``) refuses a second build into the same folder;
* tables and site are written into one fresh folder inside ``OUT`` (``OUT/.vramatlas-build-*``), never
  into the published ones; the sources are never written to;
* everything is checked there (page weight, site size, the data package against the files it lists);
* only then are ``OUT/tables`` and ``OUT/site`` each swapped in whole (an atomic exchange of the
  folder, ``renameat2(RENAME_EXCHANGE)``, where Linux has it); the old ones are deleted after;
* a failing or interrupted build (an exception, Ctrl-C, SIGTERM) deletes its folder and leaves the
  previous output as it was; a killed one (SIGKILL) leaves its folder, which the next build removes
  under the lock;
* the site publishes only files this build wrote: downloads are copied from the fresh tables folder;
* a build whose inputs (catalogue bytes, vramatlas code, site sources, tool versions) hash to the
  key of the output in place, with that output intact, does nothing (``--force`` rebuilds).

On a terminal (and without ``--quiet``) each stage prints as it finishes, with its time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

import yaml

from ..paths import DATA_ROOT, DEFAULT_DIST_DIR, SITE_SRC_DIR

MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_SITE_BYTES = 50 * 1024 * 1024
# The calculator's Python runtime (Pyodide, assets/pyodide/): only the calculator page loads it,
# so it has its own budget instead of eating the tables'.
RUNTIME_DIR = "assets/pyodide"
MAX_RUNTIME_BYTES = 16 * 1024 * 1024
# A table file larger than this is left out of the site (it stays in OUT/tables).
MAX_DOWNLOAD_BYTES = 4 * 1024 * 1024
# What the copies of the tables may take of MAX_SITE_BYTES: the pages, charts' data and assets take about
# 42 MB of the 50 (the calculator's runtime aside), so the downloads get 6 MiB of what is left (the Parquet
# answers, gpu_summary, rules of thumb and the small matrix files); 26 MiB, once the matrix's per-method
# files shrank under 4 MiB (the grid's second rung), took the site to 62 MB, past its limit.
DOWNLOADS_BUDGET = 6 * 1024 * 1024
FORMATS = {".csv": "CSV", ".json": "JSON", ".parquet": "Parquet", ".gz": "gzip"}

OUTPUTS = ("tables", "site")  # what OUT holds; each is swapped in whole
LOCK_NAME = ".vramatlas-build.lock"
STAGING_PREFIX = ".vramatlas-build-"
KEY_NAME = ".vramatlas-build.json"  # the input key and the report of the output in place
LEGACY_LITTER = (".site-new", ".site-old")  # what builds before the staging folder left when killed


class BuildError(Exception):
    """The site could not be built; the message says why in one line."""


class BuildInterrupted(BaseException):
    """SIGTERM during a build: raised so that the staging folder is removed on the way out."""


@dataclass
class BuildReport:
    out: Path
    site: Path
    pages: int
    site_bytes: int
    heaviest_page: str
    heaviest_bytes: int
    seconds: float
    tables: list[Path] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_cpu_seconds: dict[str, float] = field(default_factory=dict)  # this process's CPU time per stage
    unchanged: bool = False  # the inputs matched the output in place: nothing was built

    def lines(self) -> list[str]:
        total = sum(self.stage_seconds.values()) or 1.0
        stages = ", ".join(f"{k} {v:.1f}s ({v / total:.0%})" for k, v in self.stage_seconds.items())
        lines = [
            f"site: {self.site}",
            f"pages: {self.pages}",
            f"site size: {self.site_bytes / 2**20:.1f} MiB ({self.site_bytes:,} bytes; "
            f"the calculator's runtime {runtime_bytes(self.site) / 2**20:.1f} MiB of it)",
            f"heaviest page: {self.heaviest_page} ({self.heaviest_bytes / 1024:.0f} KiB with what it loads)",
            f"tables: {len(self.tables)} files in {self.out / 'tables'}",
            f"build time: {self.seconds:.1f} s ({stages})",
        ]
        if self.unchanged:
            lines.append(
                "unchanged: the catalogue, code and site sources match the output in place "
                "(vramatlas build --force rebuilds)"
            )
        return lines


# ------------------------------------------------------------- stages


@dataclass
class Stages:
    """The functions the build runs; tests may swap any of them."""

    load_catalog: Callable[..., Any]
    compute_matrix: Callable[[Any], Any]
    derived_tables: Callable[[Any, Any], dict] | None
    rules_of_thumb: Callable[[Any], Any] | None
    write_tables: Callable[[dict, Path, Any], list] | None
    accuracy_frame: Callable[[Any], Any] | None
    accuracy_summary: Callable[[Any], Any] | None
    # write_tables in background processes (tables.start_write_tables) while the build writes the pages;
    # its result() is what write_tables returns
    start_write_tables: Callable[[dict, Path, Any], Any] | None = None
    # the derived tables that need no matrix, started in a second process beside the matrix
    # (tables.start_search_tables), handed to derived_tables as searched=
    start_search_tables: Callable[[Any], Any] | None = None


def default_stages() -> Stages:
    from ..accuracy import accuracy_frame, summary
    from ..catalog import load_catalog
    from ..matrix import compute_matrix

    derived = thumbs = write = start_write = start_search = None
    try:
        from ..tables import derived_tables, start_search_tables, start_write_tables, write_tables

        derived, write, start_write, start_search = (
            derived_tables,
            write_tables,
            start_write_tables,
            start_search_tables,
        )
    except ImportError:  # the tables module is optional for the site
        pass
    try:
        from ..thumbs import rules_of_thumb

        thumbs = rules_of_thumb
    except ImportError:
        pass
    return Stages(
        load_catalog, compute_matrix, derived, thumbs, write, accuracy_frame, summary, start_write, start_search
    )


class Progress:
    """Stage times (wall and this process's CPU); on a terminal each stage prints a line as it finishes
    (times and what it made), and a counter (the matrix's rows) redraws one line as it goes.

    CPU time is the honest figure on a shared machine: wall time grows with other load, CPU time does not.
    """

    @staticmethod
    def cpu() -> float:
        """CPU seconds of this process and of its children that have finished (the matrix CSV writer)."""
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self.times: dict[str, float] = {}
        self.cpu_times: dict[str, float] = {}
        self._counted = 0.0  # when the counter line was last drawn

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), self.cpu()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - start
            self.cpu_times[name] = self.cpu_times.get(name, 0.0) + self.cpu() - cpu

    def counter(self, name: str, unit: str) -> Callable[[int, int], None] | None:
        """A ``(done, total)`` callback that redraws "name done / total unit" on the terminal (at most 10 times
        a second), or None when progress is not shown."""
        if self.stream is None:
            return None

        def show(done: int, total: int) -> None:
            now = time.perf_counter()
            if done < total and now - self._counted < 0.1:
                return
            self._counted = now
            self.stream.write(f"\r  {name:<10s} {done:,} / {total:,} {unit} ({done / max(total, 1):.0%})\x1b[K")
            self.stream.flush()

        return show

    def note(self, name: str, what: str) -> None:
        if self.stream is not None:
            wall, cpu = self.times.get(name, 0.0), self.cpu_times.get(name, 0.0)
            self.stream.write(f"\r  {name:<10s} {wall:6.1f} s (CPU {cpu:5.1f} s)  {what}\x1b[K\n")
            self.stream.flush()


def terminal_progress(quiet: bool, stream: TextIO | None = None) -> TextIO | None:
    """Where progress goes: the stream when it is a terminal and the build is not --quiet, else nowhere."""
    stream = stream if stream is not None else sys.stderr
    try:
        return stream if not quiet and stream.isatty() else None
    except (AttributeError, ValueError):
        return None


# ------------------------------------------------------------- the output folder


def prepare_out(out: Path | str, site_src: Path | str = SITE_SRC_DIR, catalog_dir: Path | str | None = None) -> Path:
    """``out`` made and checked before any work: BuildError for a file, an unwritable folder, or sources."""
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"--out {out}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise BuildError(f"--out {out}: the folder is not writable")
    real = out.resolve()
    for what, source in (("the site sources", site_src), ("the catalogue", catalog_dir)):
        if source is None:
            continue
        source = Path(source).resolve()
        for name in OUTPUTS:
            if source == real / name or source.is_relative_to(real / name):
                raise BuildError(f"--out {out} would replace {what} ({source}); choose another folder")
    return out


@contextlib.contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.vramatlas-build.lock``; BuildError at once when another build holds it."""
    import fcntl

    path = out / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise BuildError(f"--out {out}: cannot create the build lock ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            raise BuildError(
                f"another vramatlas build (pid {holder}) is writing into {out}; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def clear_litter(out: Path) -> list[str]:
    """Remove what killed builds left in ``out`` (their staging folders); call under the lock."""
    removed = []
    for entry in out.iterdir():
        if entry.name.startswith(STAGING_PREFIX) or entry.name in LEGACY_LITTER:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), str(b))


def swap_in(stage: Path, out: Path) -> None:
    """Put ``stage/tables`` and ``stage/site`` in place of ``out/tables`` and ``out/site``.

    Each folder is exchanged in one step where the system can (the old one ends
    up in the staging folder, deleted with it); elsewhere the old folder is
    renamed aside first. Tables go first: a site never links to downloads that
    are not in place yet.
    """
    for name in OUTPUTS:
        new, final = stage / name, out / name
        if not new.is_dir():
            continue
        if final.exists() or final.is_symlink():
            if not _exchange(new, final):
                old = stage / f"old-{name}"
                final.rename(old)
                new.rename(final)
        else:
            new.rename(final)


# ------------------------------------------------------------- the input key (no-change rebuilds)


def _hash_tree(h, folder: Path, root: Path | None = None) -> None:
    root = root or folder
    if not folder.is_dir():
        h.update(b"-")
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(root).as_posix().encode()
            data = path.read_bytes()
            h.update(len(rel).to_bytes(8, "big") + rel + len(data).to_bytes(8, "big") + data)


def input_key(catalog_dir: Path, site_src: Path, extra: str = "") -> str | None:
    """sha256 of everything the output is a function of, or None when it cannot be known cheaply.

    The catalogue's files (as the compiled-catalogue cache hashes them), the
    vramatlas package's code and schemas, the site sources and CONTRIBUTING.md,
    and the versions of the tools that render (mkdocs, material, altair, pandas, pyarrow).
    """
    from importlib import metadata

    from ..catalog import files_hash, scan_catalogue
    from ..paths import SCHEMA_DIR

    files, problems = scan_catalogue(catalog_dir)
    if problems:
        return None
    pairs = []
    for path in files:
        if path.is_symlink() or not path.is_file():
            return None  # the loader refuses these: let the build say so
        pairs.append((path, path.read_bytes()))
    h = hashlib.sha256(b"vramatlas-build-1\0" + extra.encode() + b"\0")
    h.update(files_hash(pairs, catalog_dir).encode())
    _hash_tree(h, Path(__file__).resolve().parent.parent)
    _hash_tree(h, SCHEMA_DIR)
    _hash_tree(h, site_src)
    for candidate in (DATA_ROOT / "CONTRIBUTING.md", site_src.parent / "CONTRIBUTING.md"):
        if candidate.is_file():
            h.update(candidate.read_bytes())
            break
    for dist in ("mkdocs", "mkdocs-material", "altair", "pandas", "pyarrow", "numpy"):
        try:
            h.update(f"{dist}={metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=none\0".encode())
    return h.hexdigest()


def output_manifest(out: Path) -> str:
    """sha256 over the relative paths and sizes of every file of ``OUT/tables`` and ``OUT/site``."""
    h = hashlib.sha256()
    for name in OUTPUTS:
        folder = out / name
        if not folder.is_dir():
            h.update(f"missing:{name}\0".encode())
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                h.update(f"{path.relative_to(out).as_posix()}\0{path.stat().st_size}\0".encode())
    return h.hexdigest()


def _unchanged(out: Path, key: str | None) -> BuildReport | None:
    """The stored report when the output in place was built from exactly these inputs and is intact."""
    if key is None:
        return None
    try:
        stored = json.loads((out / KEY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key or stored.get("manifest") != output_manifest(out):
        return None
    report = stored.get("report") or {}
    try:
        return BuildReport(
            out=out,
            site=out / "site",
            pages=int(report["pages"]),
            site_bytes=int(report["site_bytes"]),
            heaviest_page=str(report["heaviest_page"]),
            heaviest_bytes=int(report["heaviest_bytes"]),
            seconds=0.0,
            tables=[out / "tables" / p for p in report.get("tables", [])],
            unchanged=True,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _store_key(out: Path, key: str | None, report: BuildReport) -> None:
    path = out / KEY_NAME
    if key is None:
        path.unlink(missing_ok=True)
        return
    from ..files import write_atomic

    summary = {
        k: v for k, v in asdict(report).items() if k in ("pages", "site_bytes", "heaviest_page", "heaviest_bytes")
    }
    summary["tables"] = [
        p.relative_to(out / "tables").as_posix() for p in report.tables if p.is_relative_to(out / "tables")
    ]
    write_atomic(path, json.dumps({"key": key, "manifest": output_manifest(out), "report": summary}, indent=1) + "\n")


# ------------------------------------------------------------- checks of the fresh output


def check_data_package(tables: Path) -> None:
    """Every resource of ``datapackage.json`` is a file of the size and sha256 it states; no file unlisted."""
    package_path = tables / "datapackage.json"
    if not package_path.is_file():
        if any(tables.rglob("*")):
            raise BuildError("the tables have no datapackage.json")
        return
    try:
        package = json.loads(package_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"datapackage.json does not parse: {exc}") from None
    listed = set()
    for res in package.get("resources") or []:
        paths = res.get("path") if isinstance(res, dict) else None
        for rel in paths if isinstance(paths, list) else [paths]:
            f = tables / str(rel)
            if not isinstance(rel, str) or not f.is_file() or f.resolve().parent != (tables / rel).resolve().parent:
                raise BuildError(f"datapackage.json lists {rel!r}, which the build did not write")
            listed.add(f.resolve())
            data = f.read_bytes()
            size = res.get("x_size_bytes", res.get("bytes"))
            if size is not None and size != len(data):
                raise BuildError(f"tables/{rel} is {len(data):,} bytes; datapackage.json says {size:,}")
            digest = res.get("x_sha256") or str(res.get("hash") or "").removeprefix("sha256:") or None
            if digest and hashlib.sha256(data).hexdigest() != digest:
                raise BuildError(f"tables/{rel} does not match the sha256 in datapackage.json")
    stray = [p for p in tables.rglob("*") if p.is_file() and p != package_path and p.resolve() not in listed]
    if stray:
        raise BuildError(f"tables/{stray[0].relative_to(tables).as_posix()} is not in datapackage.json")


def check_site(site: Path, tables: Path) -> tuple[int, str, int, int]:
    """measure_site's numbers, after the limits and the site's data package copy are checked."""
    if not (site / "index.html").is_file():
        raise BuildError("the built site has no index.html")
    html_pages, heaviest, heaviest_bytes, total = measure_site(site)
    if heaviest_bytes > MAX_PAGE_BYTES:
        raise BuildError(f"page {heaviest} weighs {heaviest_bytes:,} bytes (limit {MAX_PAGE_BYTES:,})")
    runtime = runtime_bytes(site)
    if total - runtime > MAX_SITE_BYTES:
        raise BuildError(
            f"the site weighs {total - runtime:,} bytes without the calculator's runtime (limit {MAX_SITE_BYTES:,})"
        )
    if runtime > MAX_RUNTIME_BYTES:
        raise BuildError(
            f"the calculator's runtime ({RUNTIME_DIR}) weighs {runtime:,} bytes (limit {MAX_RUNTIME_BYTES:,})"
        )
    site_package = site / "tables" / "datapackage.json"
    if site_package.is_file():
        package = json.loads(site_package.read_text(encoding="utf-8"))
        for res in package.get("resources") or []:
            rel = str(res.get("path"))
            copy, original = site / "tables" / rel, tables / rel
            if not copy.is_file() or not original.is_file() or copy.read_bytes() != original.read_bytes():
                raise BuildError(f"the site's tables/{rel} is not the table the build wrote")
    return html_pages, heaviest, heaviest_bytes, total


# ------------------------------------------------------------- the build


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While building, SIGTERM raises BuildInterrupted (so cleanup runs) instead of killing at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise BuildInterrupted(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_site(
    out: Path | str = DEFAULT_DIST_DIR,
    *,
    catalog_dir: Path | str | None = None,
    stages: Stages | None = None,
    site_src: Path | str = SITE_SRC_DIR,
    log: Callable[[str], None] | None = None,
    progress: TextIO | None = None,
    force: bool = False,
    gate: Callable[[Path], None] | None = None,
) -> BuildReport:
    """Build tables and site into ``out`` (see the module docstring for how); return what was built.

    ``progress``: a stream for one line per finished stage (the CLI passes the
    terminal, or None). With the default stages, an output built from the same
    inputs is kept as it is unless ``force``. ``gate(catalog_dir)`` runs once the
    output folder is checked and locked and before any stage (the CLI runs
    validation there: what it refuses is never built).
    """
    start = time.perf_counter()
    site_src = Path(site_src)
    from ..paths import CATALOG_DIR

    catalog_root = Path(catalog_dir) if catalog_dir else CATALOG_DIR
    out = prepare_out(out, site_src, catalog_root)
    cacheable = stages is None
    with build_lock(out), _sigterm_interrupts():
        clear_litter(out)
        key = input_key(catalog_root, site_src) if cacheable else None
        if not force:
            kept = _unchanged(out, key)
            if kept is not None:
                kept.seconds = time.perf_counter() - start
                kept.stage_seconds = {"unchanged": kept.seconds}
                return kept
        if gate is not None:
            t, cpu = time.perf_counter(), Progress.cpu()
            gate(catalog_root)
            gate_seconds, gate_cpu = time.perf_counter() - t, Progress.cpu() - cpu
        else:
            gate_seconds = gate_cpu = None
        stages = stages or default_stages()  # (imports pandas, altair, mkdocs: only once there is work)
        (out / KEY_NAME).unlink(missing_ok=True)  # the output in place is about to stop matching any key
        stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
        try:
            report = _build_into(
                stage, out, catalog_dir, stages, site_src, log or (lambda _m: None), Progress(progress)
            )
            swap_in(stage, out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if gate_seconds is not None:
            report.stage_seconds = {"validate": gate_seconds, **report.stage_seconds}
            report.stage_cpu_seconds = {"validate": gate_cpu, **report.stage_cpu_seconds}
        report.site = out / "site"
        report.tables = [out / "tables" / p.relative_to(stage / "tables") for p in report.tables]
        report.seconds = time.perf_counter() - start
        _store_key(out, key, report)
        return report


def _build_into(
    stage: Path, out: Path, catalog_dir, stages: Stages, site_src: Path, log: Callable[[str], None], progress: Progress
) -> BuildReport:
    """Every stage, writing only into ``stage``; the checks; a report with paths inside ``stage``."""
    from .pages import SiteData, write_downloads_page, write_pages

    tables_dir = stage / "tables"
    with progress.stage("catalogue"):
        catalog = stages.load_catalog(*([Path(catalog_dir)] if catalog_dir else []))
    what = f"{len(catalog.gpus)} GPUs, {len(catalog.variants)} model variants, {len(catalog.methods)} methods"
    log(f"catalogue: {what}")
    progress.note("catalogue", what)
    # two cores: the longest-context and fewest-GPUs searches beside the matrix (which forks a process of its
    # own); then the tables written by three more (tables.TablesJob) while this one writes the pages
    # (vramatlas.forked; a child's CPU time counts in the stage where it is reaped)
    search_job = writer = None
    try:
        if stages.derived_tables and stages.start_search_tables:
            search_job = stages.start_search_tables(catalog)
        with progress.stage("matrix"):
            rows = progress.counter("matrix", "rows")
            matrix = stages.compute_matrix(catalog, **({"on_progress": rows} if rows else {}))
        log(f"matrix: {len(matrix):,} rows")
        progress.note("matrix", f"{len(matrix):,} rows")
        with progress.stage("tables"):
            searched = {"searched": search_job.result()} if search_job is not None else {}
            derived = stages.derived_tables(matrix, catalog, **searched) if stages.derived_tables else {}
            thumbs = stages.rules_of_thumb(catalog) if stages.rules_of_thumb else None
            tables = {"matrix": matrix, **(derived or {})}
            if thumbs is not None:
                tables["rules_of_thumb"] = thumbs
            if stages.write_tables:
                start = stages.start_write_tables or _at_once(stages.write_tables)
                writer = start(tables, tables_dir, catalog)
        progress.note("tables", f"{len(tables)} tables, written beside the pages")
        acc = summ = None
        if stages.accuracy_frame:
            with progress.stage("accuracy"):
                acc = stages.accuracy_frame(catalog)
                summ = (
                    stages.accuracy_summary(acc) if stages.accuracy_summary and acc is not None and len(acc) else None
                )
            progress.note("accuracy", f"{0 if acc is None else len(acc)} measurements compared")
        data = SiteData(
            catalog=catalog,
            matrix=matrix,
            derived=derived or {},
            thumbs=thumbs,
            accuracy=acc,
            accuracy_summary=summ,
            tables_dir=tables_dir,
            contributing=_contributing(site_src),
        )
        work = stage / "work"  # the generated Markdown and the MkDocs config; deleted with the stage
        docs = work / "docs"
        with progress.stage("pages"):
            shutil.copytree(site_src / "docs", docs)
            if (site_src / "overrides").is_dir():
                shutil.copytree(site_src / "overrides", work / "overrides")
            extra = sorted(p.relative_to(docs).as_posix() for p in docs.glob("*.md"))
            pages, nav = write_pages(docs, data, None, extra)  # the downloads page once the tables are written
        log(f"pages: {len(pages)} generated")
        progress.note("pages", f"{len(pages)} generated")
        with progress.stage("downloads"):
            data.table_files = [Path(p) for p in writer.result()] if writer is not None else []
            writer = None
            check_data_package(tables_dir)
            write_downloads_page(docs, data, _copy_downloads(data, docs, tables_dir))
        log(f"tables: {len(data.table_files)} files")
        progress.note("downloads", f"{len(data.table_files)} table files, data package checked")
    except BaseException:
        for job in (search_job, writer):
            if job is not None:
                job.cancel()
        raise
    site = stage / "site"
    with progress.stage("mkdocs"):
        config = _config(site_src, work, docs, site, nav)
        _mkdocs_build(config)
        from .notfound import relative_404

        relative_404(site, yaml.safe_load(config.read_text(encoding="utf-8")).get("site_url"))
        from .prune import prune_theme

        prune_theme(site)  # the theme's source maps and unused search languages: never loaded
    with progress.stage("checks"):
        html_pages, heaviest, heaviest_bytes, total = check_site(site, tables_dir)
    progress.note("mkdocs", f"{html_pages} HTML pages")
    progress.note("checks", f"heaviest page {heaviest_bytes / 1024:.0f} KiB, site {total / 2**20:.1f} MiB")
    return BuildReport(
        out=out,
        site=site,
        pages=html_pages,
        site_bytes=total,
        heaviest_page=heaviest,
        heaviest_bytes=heaviest_bytes,
        seconds=0.0,
        tables=data.table_files,
        stage_seconds=progress.times,
        stage_cpu_seconds=progress.cpu_times,
    )


def _at_once(write_tables: Callable[..., Any]) -> Callable[..., Any]:
    """A table writer that writes in this process (a test's stages that start no second one), with the
    interface of a forked job: ``result()``, ``cancel()``."""
    from ..forked import Forked

    return lambda tables, out, catalog: Forked(write_tables, tables, out, catalog, fork=False)


def _contributing(site_src: Path) -> str | None:
    for candidate in (DATA_ROOT / "CONTRIBUTING.md", site_src.parent / "CONTRIBUTING.md"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return None


def _download_priority(relp: str) -> tuple[int, str]:
    if relp == "datapackage.json":
        return (0, relp)
    if relp.endswith(".parquet"):
        return (1, relp)
    if "/" not in relp:
        return (2, relp)
    return (3, relp)


def _copy_downloads(data, docs: Path, tables_dir: Path) -> dict | None:
    """Copy the written tables into the site's tables/ folder, within the site's size budget.

    Parquet first, then the derived CSV/JSON, then the matrix's per-method CSV;
    a file over MAX_DOWNLOAD_BYTES, or one that would take the downloads over
    DOWNLOADS_BUDGET, stays in OUT/tables only (the page says so). The site's
    copy of datapackage.json lists the resources the site holds.
    """
    package = None
    pkg_path = tables_dir / "datapackage.json"
    if pkg_path.is_file():
        try:
            package = json.loads(pkg_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            package = None
    described = {}
    for res in (package or {}).get("resources") or []:
        if isinstance(res, dict) and res.get("path"):
            paths = res["path"] if isinstance(res["path"], list) else [res["path"]]
            for p in paths:
                described[str(p)] = res
    target = docs / "tables"
    found = {Path(p) for p in data.table_files}
    if tables_dir.is_dir():
        found |= set(tables_dir.rglob("*"))
    files = {}
    for f in found:
        if f.is_file():
            try:
                files[f.relative_to(tables_dir).as_posix()] = f
            except ValueError:
                files[f.name] = f
    used = 0
    on_site: set[str] = set()
    for relp in sorted(files, key=_download_priority):
        f = files[relp]
        size = f.stat().st_size
        if relp == "datapackage.json":
            on_site.add(relp)
            continue
        res = described.get(relp, {})
        fmt = FORMATS.get(f.suffix.lower(), f.suffix.lstrip(".").upper())
        if relp.endswith(".csv.gz"):
            fmt = "CSV, gzipped"
        desc = res.get("description") or res.get("title") or ""
        fits = size <= MAX_DOWNLOAD_BYTES and used + size <= DOWNLOADS_BUDGET
        if fits:
            dest = target / relp
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
            used += size
            on_site.add(relp)
        else:
            desc = (desc + "; " if desc else "") + "not on the site (size): `vramatlas build` writes it to dist/tables/"
        data.downloads.append(
            {
                "name": relp,
                "path": f"tables/{relp}" if fits else None,
                "bytes": size,
                "format": fmt,
                "description": desc,
            }
        )
    if package is not None:
        site_package = dict(package)
        site_package["resources"] = [
            r for r in package.get("resources") or [] if isinstance(r, dict) and str(r.get("path")) in on_site
        ]
        target.mkdir(parents=True, exist_ok=True)
        text = json.dumps(site_package, indent=2, ensure_ascii=False) + "\n"
        (target / "datapackage.json").write_text(text, encoding="utf-8")
        data.downloads.insert(
            0,
            {
                "name": "datapackage.json",
                "path": "tables/datapackage.json",
                "bytes": len(text.encode("utf-8")),
                "format": "JSON",
                "description": "Frictionless data package: the tables on this site, every "
                "column with its type, unit and meaning",
            },
        )
    return package


def _config(site_src: Path, tmp: Path, docs: Path, site_dir: Path, nav: list) -> Path:
    base = yaml.safe_load((site_src / "mkdocs.yml").read_text(encoding="utf-8"))
    base["docs_dir"] = str(docs)
    base["site_dir"] = str(site_dir)
    base["nav"] = nav
    base["strict"] = True
    base["hooks"] = [*base.get("hooks", []), str(Path(__file__).with_name("hooks.py"))]
    theme = base.setdefault("theme", {})
    if theme.get("custom_dir"):
        theme["custom_dir"] = str(tmp / "overrides")
    path = tmp / "mkdocs.yml"
    path.write_text(yaml.safe_dump(base, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _mkdocs_build(config: Path) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logger = logging.getLogger("mkdocs")
    previous = logger.level
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("mkdocs: %(levelname)s %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
    warnings = _FirstWarning()
    logger.addHandler(warnings)
    try:
        cfg = load_config(str(config), strict=True)
        build(cfg)
    except MkDocsException as exc:
        first = f" (the first: {warnings.first})" if warnings.first else ""
        raise BuildError(f"mkdocs build --strict failed: {exc}{first}") from None
    finally:
        logger.removeHandler(warnings)
        logger.setLevel(previous)


class _FirstWarning(logging.Handler):
    """Keeps MkDocs' first warning: strict mode's error says only how many there were."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.first is None:
            self.first = record.getMessage()


def runtime_bytes(site: Path) -> int:
    """Bytes of the calculator's runtime folder in a built site (0 when it has none)."""
    folder = Path(site) / RUNTIME_DIR
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def measure_site(site: Path) -> tuple[int, str, int, int]:
    """(HTML pages, heaviest page, its weight with the local scripts and styles it loads, total bytes)."""
    import re

    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    pages = [p for p in site.rglob("*.html") if p.name != "404.html"]
    heaviest, heaviest_bytes = "", 0
    ref = re.compile(r'(?:src|href)="([^"#?]+\.(?:js|css))(?:\?[^"]*)?"')
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        weight = page.stat().st_size
        for target in set(ref.findall(text)):
            f = (page.parent / target).resolve()
            if f.is_file():
                weight += f.stat().st_size
        if "vega-chart" in text:
            for lib in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
                f = site / "assets" / "js" / lib
                if f.is_file():
                    weight += f.stat().st_size
        if weight > heaviest_bytes:
            heaviest, heaviest_bytes = page.relative_to(site).as_posix(), weight
    return len(pages), heaviest, heaviest_bytes, total
