"""`vramatlas build` and `vramatlas serve`: catalogue -> matrix -> tables -> pages -> site.

The stages, each a function of the previous one's output::

    load_catalog -> compute_matrix -> derived_tables, rules_of_thumb -> write_tables (OUT/tables)
        -> pages + chart data (a temporary docs folder: the hand-written pages of site/docs
           copied beside the generated ones) -> mkdocs build --strict (site_dir = OUT/site)

Nothing is written into the sources: the generated Markdown lives in a
temporary folder and MkDocs' ``site_dir`` points into OUT. The new site is
built beside the old one and renamed into place, so a failed build leaves the
previous site whole.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..paths import DATA_ROOT, DEFAULT_DIST_DIR, SITE_SRC_DIR

MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_SITE_BYTES = 50 * 1024 * 1024
# A table file larger than this is left out of the site (it stays in OUT/tables).
MAX_DOWNLOAD_BYTES = 4 * 1024 * 1024
DOWNLOADS_BUDGET = 26 * 1024 * 1024
FORMATS = {".csv": "CSV", ".json": "JSON", ".parquet": "Parquet", ".gz": "gzip"}


class BuildError(Exception):
    """The site could not be built; the message says why in one line."""


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

    def lines(self) -> list[str]:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.stage_seconds.items())
        return [
            f"site: {self.site}",
            f"pages: {self.pages}",
            f"site size: {self.site_bytes / 2**20:.1f} MiB ({self.site_bytes:,} bytes)",
            f"heaviest page: {self.heaviest_page} ({self.heaviest_bytes / 1024:.0f} KiB with what it loads)",
            f"tables: {len(self.tables)} files in {self.out / 'tables'}",
            f"build time: {self.seconds:.1f} s ({stages})",
        ]


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


def default_stages() -> Stages:
    from ..accuracy import accuracy_frame, summary
    from ..catalog import load_catalog
    from ..matrix import compute_matrix

    derived = thumbs = write = None
    try:
        from ..tables import derived_tables, write_tables

        derived, write = derived_tables, write_tables
    except ImportError:  # the tables module is optional for the site
        pass
    try:
        from ..thumbs import rules_of_thumb

        thumbs = rules_of_thumb
    except ImportError:
        pass
    return Stages(load_catalog, compute_matrix, derived, thumbs, write, accuracy_frame, summary)


def _timed(times: dict, name: str, fn: Callable, *args):
    t = time.perf_counter()
    try:
        return fn(*args)
    finally:
        times[name] = times.get(name, 0.0) + time.perf_counter() - t


def build_site(out: Path | str = DEFAULT_DIST_DIR, *, catalog_dir: Path | str | None = None,
               stages: Stages | None = None, site_src: Path | str = SITE_SRC_DIR,
               log: Callable[[str], None] | None = None) -> BuildReport:
    """Build tables and site into ``out``; return what was built."""
    from .pages import SiteData, write_pages

    log = log or (lambda _msg: None)
    start = time.perf_counter()
    times: dict[str, float] = {}
    out = Path(out).resolve()
    site_src = Path(site_src)
    stages = stages or default_stages()

    catalog = _timed(times, "catalogue", stages.load_catalog, *( [Path(catalog_dir)] if catalog_dir else []))
    log(f"catalogue: {len(catalog.gpus)} GPUs, {len(catalog.variants)} model variants, {len(catalog.methods)} methods")
    matrix = _timed(times, "matrix", stages.compute_matrix, catalog)
    log(f"matrix: {len(matrix):,} rows")
    derived = _timed(times, "tables", stages.derived_tables, matrix, catalog) if stages.derived_tables else {}
    thumbs = _timed(times, "tables", stages.rules_of_thumb, catalog) if stages.rules_of_thumb else None
    table_files: list[Path] = []
    tables_dir = out / "tables"
    if stages.write_tables:
        tables = {"matrix": matrix, **(derived or {})}
        if thumbs is not None:
            tables["rules_of_thumb"] = thumbs
        table_files = [Path(p) for p in _timed(times, "tables", stages.write_tables, tables, tables_dir, catalog)]
        log(f"tables: {len(table_files)} files in {tables_dir}")
    acc = summ = None
    if stages.accuracy_frame:
        acc = _timed(times, "accuracy", stages.accuracy_frame, catalog)
        summ = stages.accuracy_summary(acc) if stages.accuracy_summary and acc is not None and len(acc) else None

    contributing = None
    for candidate in (DATA_ROOT / "CONTRIBUTING.md", site_src.parent / "CONTRIBUTING.md"):
        if candidate.is_file():
            contributing = candidate.read_text(encoding="utf-8")
            break

    data = SiteData(catalog=catalog, matrix=matrix, derived=derived or {}, thumbs=thumbs, accuracy=acc,
                    accuracy_summary=summ, table_files=table_files, tables_dir=tables_dir,
                    contributing=contributing)

    with tempfile.TemporaryDirectory(prefix="vramatlas-site-") as tmp:
        tmp = Path(tmp)
        docs = tmp / "docs"
        t = time.perf_counter()
        shutil.copytree(site_src / "docs", docs)
        if (site_src / "overrides").is_dir():
            shutil.copytree(site_src / "overrides", tmp / "overrides")
        package = _copy_downloads(data, docs, tables_dir)
        extra = sorted(p.relative_to(docs).as_posix() for p in docs.glob("*.md"))
        pages, nav = write_pages(docs, data, package, extra)
        times["pages"] = time.perf_counter() - t
        log(f"pages: {len(pages)} generated")

        staging = out / ".site-new"
        if staging.exists():
            shutil.rmtree(staging)
        config = _config(site_src, tmp, docs, staging, nav)
        _timed(times, "mkdocs", _mkdocs_build, config)

    final = out / "site"
    old = out / ".site-old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    if old.exists():
        shutil.rmtree(old)

    html_pages, heaviest, heaviest_bytes, total = measure_site(final)
    report = BuildReport(out=out, site=final, pages=html_pages, site_bytes=total, heaviest_page=heaviest,
                         heaviest_bytes=heaviest_bytes, seconds=time.perf_counter() - start, tables=table_files,
                         stage_seconds=times)
    if heaviest_bytes > MAX_PAGE_BYTES:
        raise BuildError(f"page {heaviest} weighs {heaviest_bytes:,} bytes (limit {MAX_PAGE_BYTES:,})")
    if total > MAX_SITE_BYTES:
        raise BuildError(f"the site weighs {total:,} bytes (limit {MAX_SITE_BYTES:,})")
    return report


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
        data.downloads.append({"name": relp, "path": f"tables/{relp}" if fits else None, "bytes": size,
                               "format": fmt, "description": desc})
    if package is not None:
        site_package = dict(package)
        site_package["resources"] = [r for r in package.get("resources") or []
                                     if isinstance(r, dict) and str(r.get("path")) in on_site]
        target.mkdir(parents=True, exist_ok=True)
        text = json.dumps(site_package, indent=2, ensure_ascii=False) + "\n"
        (target / "datapackage.json").write_text(text, encoding="utf-8")
        data.downloads.insert(0, {"name": "datapackage.json", "path": "tables/datapackage.json",
                                  "bytes": len(text.encode("utf-8")), "format": "JSON",
                                  "description": "Frictionless data package: the tables on this site, every "
                                                 "column with its type, unit and meaning"})
    return package


def _config(site_src: Path, tmp: Path, docs: Path, site_dir: Path, nav: list) -> Path:
    base = yaml.safe_load((site_src / "mkdocs.yml").read_text(encoding="utf-8"))
    base["docs_dir"] = str(docs)
    base["site_dir"] = str(site_dir)
    base["nav"] = nav
    base["strict"] = True
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
    try:
        cfg = load_config(str(config), strict=True)
        build(cfg)
    except MkDocsException as exc:
        raise BuildError(f"mkdocs build --strict failed: {exc}") from None
    finally:
        logger.setLevel(previous)


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
