"""Where the catalogue, the schemas and the site sources live.

From a source checkout (or an editable install) they are the repository's own
folders; from a wheel they are the copies shipped under ``vramatlas/_data``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent.parent  # build/vramatlas -> repository root


def _data_root() -> Path:
    if (_REPO / "catalog").is_dir() and (_REPO / "schema").is_dir():
        return _REPO
    return _PACKAGE / "_data"


DATA_ROOT = _data_root()
CATALOG_DIR = DATA_ROOT / "catalog"
SCHEMA_DIR = DATA_ROOT / "schema"
SITE_SRC_DIR = DATA_ROOT / "site"
DEFAULT_DIST_DIR = Path("dist")

KINDS = ("gpus", "models", "methods", "quants", "runtimes", "measurements")
