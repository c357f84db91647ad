"""Builds that several test files read, made once per test run (session-scoped) and shared.

* ``full_build``: ``build_site`` of the whole catalogue into a temporary folder (``VRAMATLAS_BROWSER_OUT=DIR``:
  into DIR instead, kept there between runs and rebuilt only when its inputs changed; never a folder inside
  the repository that git does not ignore).
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
REPO = Path(__file__).resolve().parent.parent


def browser_out(given: str) -> Path:
    """$VRAMATLAS_BROWSER_OUT as a folder the build may write to: never one inside this repository that
    git does not ignore (a typo such as ``site`` would otherwise put a whole build among the sources)."""
    import subprocess

    out = Path(given).expanduser().absolute()
    if out.resolve().is_relative_to(REPO):
        ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(out)], capture_output=True)
        if ignored.returncode != 0:
            pytest.fail(
                f"VRAMATLAS_BROWSER_OUT={given}: {out} is inside the repository and not ignored by git; "
                "choose a folder outside it (or dist/)",
                pytrace=False,
            )
    return out


@pytest.fixture(scope="session")
def full_build(tmp_path_factory):

    from vramatlas.site.build import build_site

    given = os.environ.get("VRAMATLAS_BROWSER_OUT")
    # build_site keeps what DIR holds when it was built from exactly these inputs (catalogue, code, site
    # sources) and rebuilds it otherwise: a rerun never tests a stale site
    report = build_site(browser_out(given) if given else tmp_path_factory.mktemp("full-dist"))
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
