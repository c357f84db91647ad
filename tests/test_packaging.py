"""The wheel carries the catalogue, the schemas and the site sources, so an
installed vramatlas works outside the repository."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_data(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob("vramatlas-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("gpus", "models", "methods", "measurements"):
        shipped = {n for n in names if n.startswith(f"vramatlas/_data/catalog/{kind}/") and n.endswith(".yaml")}
        assert len(shipped) == len(list((ROOT / "catalog" / kind).glob("*.yaml"))), kind
    for schema in (ROOT / "schema").glob("*.schema.json"):
        assert f"vramatlas/_data/schema/{schema.name}" in names
    assert "vramatlas/_data/site/mkdocs.yml" in names
    assert "vramatlas/_data/CONTRIBUTING.md" in names
    assert "vramatlas/memory.py" in names and "vramatlas/cli.py" in names
    assert not any(n.startswith("build/") for n in names)  # the package installs as vramatlas, not build.vramatlas
