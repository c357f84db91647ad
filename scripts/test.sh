#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need
# (Chromium from Debian for the browser tests, the package with its test and
# measure extras in .venv), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned to the CPU build: the measure tests run tiny models on the CPU,
# and an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test,measure]"

# Lint and layout first (the rule set and the files are in pyproject.toml's [tool.ruff]; build/vramatlas included).
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .

# pytest exits 5 when it collected no test: that fails this script too (set -e).
exec .venv/bin/python -m pytest "$@"
