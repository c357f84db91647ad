"""Builds that several test files read, made once per test run (session-scoped) and shared.

* ``full_build``: ``build_site`` of the whole catalogue into a temporary folder (``VRAMATLAS_BROWSER_OUT=DIR``:
  a folder that ``vramatlas build --out DIR`` already filled from this checkout, to rerun without building).
  The browser tests drive it; ``full_matrix`` reads its ``matrix.parquet`` when it has been built already.
* ``full_matrix``: the whole catalogue's matrix: the full build's table when this run has built it (the
  browser tests run first), else computed here. Either way it is the matrix ``vramatlas build`` writes.
* ``hostile_site``: the small catalogue with hostile names (tests/test_site.py's ``build_small``), built once
  for the site tests and the browser's.

Every fixture here is read-only for the tests that use it: a test that changes files builds its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_BUILT: dict[str, object] = {}  # the session's full build, once made


@pytest.fixture(scope="session")
def full_build(tmp_path_factory):
    from types import SimpleNamespace

    from vramatlas.site.build import build_site

    given = os.environ.get("VRAMATLAS_BROWSER_OUT")
    if given:
        report = SimpleNamespace(site=Path(given) / "site", out=Path(given))
    else:
        report = build_site(tmp_path_factory.mktemp("full-dist"))
    _BUILT["full"] = report
    return report


@pytest.fixture(scope="session")
def full_matrix():
    import pandas as pd

    built = _BUILT.get("full")
    if built is not None and (Path(built.out) / "tables" / "matrix.parquet").is_file():
        return pd.read_parquet(Path(built.out) / "tables" / "matrix.parquet")
    from vramatlas.catalog import load_catalog
    from vramatlas.matrix import compute_matrix

    return compute_matrix(load_catalog())


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory):
    from test_site import build_small

    return build_small(tmp_path_factory.mktemp("hostile"), hostile=True)
