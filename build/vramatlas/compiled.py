"""The catalogue compiled to one JSON document, and a cache of it keyed by the files' contents.

Parsing ~200 YAML files costs tens of milliseconds and imports PyYAML; reading
one JSON file of the same data costs about one. :func:`load_catalog` therefore
looks in the user's cache folder (``$XDG_CACHE_HOME/vramatlas`` or
``~/.cache/vramatlas``) for the catalogue compiled from exactly these files:
the key is the sha256 of every file's relative path and bytes (the catalogue's
``content_hash``) and of this loader's own source, so an edited, added or
removed file, or a new version of the code, misses the cache and never gets a
stale answer. Re-hashing costs a few milliseconds for a few hundred small files.
A missing, unreadable or read-only cache folder only means the YAML is parsed.

:func:`compile_catalog` gives the JSON-able document; :func:`load_compiled`
reads one (a path, or the parsed data). The site ships it with the browser
calculator, where Pyodide has no PyYAML: ``VRAMATLAS_CATALOG_JSON=/path.json``
makes ``vramatlas estimate`` read it instead of the YAML folder. On that path,
and on a cache hit, only the standard library is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from .catalog import Catalog, CatalogError, files_hash, index_variants, scan_catalogue
from .paths import KINDS

FORMAT = 1  # bump when the compiled document's layout changes
CATALOG_JSON_ENV = "VRAMATLAS_CATALOG_JSON"  # a compiled catalogue to read instead of the YAML folder
NO_CACHE_ENV = "VRAMATLAS_NO_CACHE"  # set (non-empty) to always parse the YAML
KEEP = 16  # compiled catalogues kept in the cache folder (one per catalogue and code state; the newest win)
LARGEST_FILE = 1 << 20  # the loader's MAX_BYTES: a larger file never loaded, so it is never in the cache
_SOURCES = ("catalog.py", "compiled.py", "loader.py", "paths.py")  # the code that turns files into the catalogue


class CompiledCatalogError(CatalogError):
    """A compiled catalogue that cannot be read (no located problems: there is no YAML)."""

    def __init__(self, message: str):
        self.problems = []
        Exception.__init__(self, message)


def compile_catalog(catalog: Catalog) -> dict[str, Any]:
    """The catalogue as one JSON-able document (every kind's entities, as loaded)."""
    return {"format": FORMAT, "content_hash": catalog.content_hash, **{kind: catalog.kind(kind) for kind in KINDS}}


def from_compiled(data: Mapping[str, Any], root: Path | None = None, documents: Mapping | None = None) -> Catalog:
    """A :class:`Catalog` from :func:`compile_catalog`'s document."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise CompiledCatalogError(
            f"not a compiled vramatlas catalogue of format {FORMAT} (found {found!r}); "
            "compile it again with this version"
        )
    cat = Catalog(root=Path(root) if root is not None else Path("."), content_hash=str(data.get("content_hash", "")))
    for kind in KINDS:
        table = data.get(kind) or {}
        if not isinstance(table, dict):
            raise CompiledCatalogError(f"compiled catalogue: '{kind}' is not an object")
        cat.kind(kind).update(table)
    for ident, family in cat.models.items():
        for vid, variant in index_variants(ident, family):
            cat.variants.setdefault(vid, variant)
    if documents is not None:
        cat.documents = documents
    return cat


def load_compiled(source: str | os.PathLike | Mapping[str, Any]) -> Catalog:
    """A compiled catalogue from a JSON file (or its parsed data), e.g. the one shipped with the site."""
    if isinstance(source, Mapping):
        return from_compiled(source)
    path = Path(source)
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise CompiledCatalogError(f"{path}: cannot read the compiled catalogue: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CompiledCatalogError(f"{path}: not a JSON compiled catalogue: {exc}") from None
    return from_compiled(data, root=path.parent)


# ------------------------------------------------------------------ the cache


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vramatlas"


@lru_cache(maxsize=1)
def _code_hash() -> str:
    h = hashlib.sha256(str(FORMAT).encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        try:
            h.update((here / name).read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


def cache_path(content_hash: str) -> Path:
    key = hashlib.sha256((content_hash + _code_hash()).encode()).hexdigest()
    return cache_dir() / f"catalog-{key}.json"


def snapshot_hash(root: Path) -> str | None:
    """The catalogue's content hash from the files' bytes alone, or None when the YAML path must decide.

    Anything the loader might refuse without reading it as YAML (a link, a
    FIFO, an oversized file, an unreadable one) is left to the loader.
    """
    pairs = []
    try:
        files, problems = scan_catalogue(root)
        if problems:  # a linked or unreadable kind folder: the YAML path says so
            return None
        for path in files:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size > LARGEST_FILE:
                return None
            pairs.append((path, path.read_bytes()))
    except OSError:
        return None
    return files_hash(pairs, root)


def cached_catalog(root: Path, documents: Mapping | None = None) -> Catalog | None:
    """The compiled catalogue of exactly these files, from the cache folder; None on a miss."""
    digest = snapshot_hash(root)
    if digest is None:
        return None
    try:
        data = json.loads(cache_path(digest).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("content_hash") != digest:
        return None
    return from_compiled(data, root=root, documents=documents)


def store(catalog: Catalog) -> Path | None:
    """Write the compiled catalogue to the cache folder (atomically); None when it cannot."""
    target = cache_path(catalog.content_hash)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(compile_catalog(catalog), out, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(target.parent)
    except (OSError, TypeError, ValueError):  # read-only or full disk; data JSON cannot hold
        return None
    return target


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("catalog-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)
