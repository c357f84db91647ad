"""The catalogue in memory: every GPU, model family, variant, method and measurement.

``load_catalog()`` is what the memory model, the matrix and the site use: it
reads ``catalog/<kind>/*.yaml`` and raises :class:`CatalogError` when a file
cannot be loaded. It does not run the schema or the rules (that is
``vramatlas validate``), and it imports nothing heavy (no pandas). It reads the
catalogue compiled from exactly these files when the cache has it (see
:mod:`vramatlas.compiled`); then it imports only the standard library, which is
why the YAML loader is imported inside the functions that parse.

``read_documents()`` and ``assemble()`` are the non-raising pieces that
validation builds on.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .paths import CATALOG_DIR, KINDS

if TYPE_CHECKING:  # the loader imports PyYAML: only the functions that parse import it
    from .loader import Document, Problem

EXCEPTIONS_FILE = "validation-exceptions.yaml"
SINGULAR = {
    "gpus": "gpu",
    "models": "model",
    "methods": "method",
    "quants": "quant",
    "runtimes": "runtime",
    "measurements": "measurement",
}


class CatalogError(Exception):
    """The catalogue could not be loaded; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        first = self.problems[0].format() if self.problems else "unknown problem"
        more = f" (and {len(self.problems) - 1} more; run 'vramatlas validate')" if len(self.problems) > 1 else ""
        super().__init__(f"the catalogue does not load: {first}{more}")


@dataclass
class Catalog:
    root: Path
    gpus: dict[str, dict] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)  # family id -> family data
    methods: dict[str, dict] = field(default_factory=dict)
    quants: dict[str, dict] = field(default_factory=dict)  # weight formats (and GGUF tensor types)
    runtimes: dict[str, dict] = field(default_factory=dict)
    measurements: dict[str, dict] = field(default_factory=dict)
    variants: dict[str, dict] = field(default_factory=dict)  # variant id -> variant + 'family'
    # (kind, id) -> Document, for locations; variants map to their family's document
    documents: dict[tuple[str, str], Document] = field(default_factory=dict)
    content_hash: str = ""

    def kind(self, kind: str) -> dict[str, dict]:
        return getattr(self, kind)

    def counts(self) -> dict[str, int]:
        return {k: len(self.kind(k)) for k in KINDS} | {"variants": len(self.variants)}


def kind_of(path: Path) -> str | None:
    """The kind of a catalogue file, from the folder it sits in (``gpus`` ...), or None."""
    parent = path.parent.name
    return parent if parent in KINDS else None


def scan_catalogue(root: Path) -> tuple[list[Path], list[Problem]]:
    """Every ``<root>/<kind>/*.yaml`` entry (sorted), and the problems of the folders themselves.

    Entries are listed whatever they are (a symbolic link, a FIFO): the loader
    refuses those with a located problem rather than the build skipping them in
    silence. A kind folder that is a link, or that cannot be read, is a problem
    here. Hidden names (editor lock files such as ``.#gpu.yaml``) are not entries.
    """
    root = Path(root)
    files: list[Path] = []
    problems: list[Problem] = []
    for kind in KINDS:
        folder = root / kind
        if folder.is_symlink():
            problems.append(
                _problem(
                    folder,
                    "VA008",
                    "the folder is a symbolic link",
                    "a link could make the catalogue read files outside it; keep the files in the folder itself",
                )
            )
            continue
        if not folder.is_dir():
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(
                _problem(folder, "VA001", f"cannot read the folder: {exc.strerror or exc}", "check its permissions")
            )
            continue
        files.extend(Path(e.path) for e in entries if e.name.endswith(".yaml") and not e.name.startswith("."))
    return sorted(files), problems


def _problem(path: Path, code: str, message: str, hint: str) -> Problem:
    from .loader import Problem

    return Problem(path, 0, 0, code, message, hint)


def catalogue_files(root: Path) -> list[Path]:
    """Every ``<root>/<kind>/*.yaml`` entry, sorted (see :func:`scan_catalogue`)."""
    return scan_catalogue(root)[0]


def content_hash(documents: list[Document], root: Path) -> str:
    """sha256 over the sorted relative paths and bytes of the files: the tables' provenance."""
    return files_hash([(doc.path, doc.raw) for doc in documents], root)


def files_hash(files: list[tuple[Path, bytes]], root: Path) -> str:
    """:func:`content_hash` of (path, bytes) pairs: also the key of the compiled-catalogue cache."""
    h = hashlib.sha256()
    for rel, raw in sorted((_rel(path, root).encode(), raw) for path, raw in files):
        h.update(len(rel).to_bytes(8, "big") + rel)
        h.update(len(raw).to_bytes(8, "big") + raw)
    return h.hexdigest()


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_documents(root: Path = CATALOG_DIR) -> list[Document]:
    """Load every catalogue file under ``root``; never raises."""
    from .loader import load_document

    return [load_document(p) for p in catalogue_files(Path(root))]


def entity_id(doc: Document) -> str:
    """The file's declared id when it is a string, else the file name's stem."""
    data = doc.data if isinstance(doc.data, dict) else {}
    value = data.get("id")
    return value if isinstance(value, str) and value else doc.path.stem


def assemble(documents: list[Document], root: Path) -> Catalog:
    """Build a Catalog from loaded documents, skipping those that did not load.

    The file named after the id wins when two declare the same id (else the
    first by path); validation's VA203 blames the others.
    """
    cat = Catalog(root=Path(root), content_hash=content_hash(documents, Path(root)))
    for doc in sorted(documents, key=lambda d: (d.path.stem != entity_id(d), d.path)):
        kind = kind_of(doc.path)
        if kind is None or not isinstance(doc.data, dict):
            continue
        ident = entity_id(doc)
        table = cat.kind(kind)
        if ident in table:
            continue
        table[ident] = doc.data
        cat.documents[(kind, ident)] = doc
        if kind == "models":
            for vid, variant in index_variants(ident, doc.data):
                if vid not in cat.variants:
                    cat.variants[vid] = variant
                    cat.documents[("variants", vid)] = doc
    return cat


def index_variants(family_id: str, family: dict) -> Iterator[tuple[str, dict]]:
    """(variant id, the variant with its ``family``) for each well-formed variant of a family."""
    variants = family.get("variants")
    if isinstance(variants, list):
        for variant in variants:
            if isinstance(variant, dict) and isinstance(variant.get("id"), str):
                yield variant["id"], {**variant, "family": family_id}


class LazyDocuments(Mapping):
    """``Catalog.documents`` of a catalogue read from the cache: the YAML is parsed on first use only."""

    def __init__(self, root: Path):
        self._root, self._docs = root, None

    def _load(self) -> dict:
        if self._docs is None:
            self._docs = assemble(read_documents(self._root), self._root).documents
        return self._docs

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def load_catalog(
    root: Path | str | None = None, *, compiled: str | os.PathLike | None = None, cache: bool = True
) -> Catalog:
    """Load the catalogue; raise :class:`CatalogError` if any file fails to load.

    ``root`` defaults to the repository's (or the wheel's) catalogue;
    ``compiled`` (or, with no ``root``, the environment variable
    ``VRAMATLAS_CATALOG_JSON``) reads a compiled JSON catalogue instead.
    Otherwise the cache of compiled catalogues answers when it holds these exact
    files (``cache=False`` or ``VRAMATLAS_NO_CACHE=1``: always parse the YAML).
    """
    from . import compiled as compiled_catalogue

    if root is None:
        compiled = compiled or os.environ.get(compiled_catalogue.CATALOG_JSON_ENV) or None
    if compiled is not None:
        return compiled_catalogue.load_compiled(compiled)
    root = Path(CATALOG_DIR if root is None else root)
    cache = cache and not os.environ.get(compiled_catalogue.NO_CACHE_ENV)
    if cache and root.is_dir():
        hit = compiled_catalogue.cached_catalog(root, documents=LazyDocuments(root))
        if hit is not None:
            return hit
    catalog = load_yaml_catalog(root)
    if cache:
        compiled_catalogue.store(catalog)
    return catalog


def load_yaml_catalog(root: Path | str = CATALOG_DIR) -> Catalog:
    """Parse the catalogue's YAML files; raise :class:`CatalogError` if any fails to load.

    Errors (not warnings) from the loader count: unparseable files, duplicate
    keys, anchors, oversized or binary files.
    """
    from .loader import Problem

    root = Path(root)
    if not root.is_dir():
        raise CatalogError(
            [
                Problem(
                    root,
                    0,
                    0,
                    "VA001",
                    "the catalogue folder does not exist",
                    "pass the folder that holds gpus/, models/, methods/, quants/, runtimes/, measurements/",
                )
            ]
        )
    from .loader import load_document

    files, problems = scan_catalogue(root)
    documents = [load_document(p) for p in files]
    problems += [p for d in documents for p in d.problems if p.severity == "error"]
    if problems:
        raise CatalogError(problems)
    return assemble(documents, root)


def data_of(catalog: Catalog, kind: str, ident: str) -> Any:
    return catalog.kind(kind).get(ident)
