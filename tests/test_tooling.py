"""Contributor tooling: ruff sees the package under build/, pre-commit runs the catalogue checks, editors map
every schema to its files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], capture_output=True, text=True, cwd=ROOT)


def test_ruff_lints_the_package_under_build():
    """ruff, like black, has skipped folders named `build` by default: pyproject.toml must keep it in."""
    r = ruff("check", "--show-files")
    assert r.returncode == 0, r.stderr
    files = {Path(line).resolve() for line in r.stdout.splitlines() if line.strip()}
    for name in ("cli.py", "add.py", "arch.py"):
        assert (ROOT / "build" / "vramatlas" / name).resolve() in files, f"ruff does not see build/vramatlas/{name}"
    assert not any(".venv" in p.parts for p in files)


def test_ruff_passes_on_the_code():
    r = ruff("check", "--output-format", "concise", ".")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_code_is_ruff_formatted():
    """Layout is ruff format's: a file left unformatted fails here, as it fails CI's `ruff format --check`."""
    r = ruff("format", "--check", ".")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_pre_commit_runs_validate_fmt_and_ruff_on_changed_files():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert hooks["vramatlas-validate"]["entry"] == "vramatlas validate"
    assert hooks["vramatlas-fmt"]["entry"] == "vramatlas fmt --check"
    for hid in ("vramatlas-validate", "vramatlas-fmt"):
        pattern = re.compile(hooks[hid]["files"])
        assert pattern.search("catalog/models/qwen3.yaml") and pattern.search("catalog/gpus/rtx-4090.yaml")
        assert not pattern.search("build/vramatlas/cli.py")
    assert hooks["vramatlas-validate-all"]["pass_filenames"] is False
    assert "ruff check" in hooks["ruff-check"]["entry"] and "ruff format" in hooks["ruff-format"]["entry"]
    # the subcommands the hooks call exist
    from vramatlas.cli import SUBCOMMANDS

    assert {"validate", "fmt", "add"} <= set(SUBCOMMANDS)


def test_vscode_maps_every_schema_to_its_catalogue_files():
    settings = json.loads((ROOT / ".vscode" / "settings.json").read_text())
    mapping = settings["yaml.schemas"]
    schemas = sorted(p.name for p in (ROOT / "schema").glob("*.schema.json"))
    assert sorted(Path(s).name for s in mapping) == schemas
    for schema, glob in mapping.items():
        assert (ROOT / schema).is_file(), schema
        assert list(ROOT.glob(glob)), f"{glob} matches no catalogue file"


def test_test_script_runs_ruff():
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "ruff check" in script and "ruff format --check" in script
