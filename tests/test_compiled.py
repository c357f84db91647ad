"""The compiled catalogue: the same data as the YAML, a cache that is never stale, a stdlib-only estimate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vramatlas import compiled
from vramatlas.catalog import CatalogError, load_catalog, load_yaml_catalog
from vramatlas.loader import MAX_BYTES
from vramatlas.paths import CATALOG_DIR, KINDS

HEAVY = ("numpy", "pandas", "yaml", "jsonschema")
ESTIMATE = [
    "estimate",
    "--model",
    "llama-3.1-8b",
    "--method",
    "qlora",
    "--seq-len",
    "8192",
    "--gpu",
    "rtx-4090",
    "--json",
]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    monkeypatch.delenv(compiled.NO_CACHE_ENV, raising=False)
    monkeypatch.delenv(compiled.CATALOG_JSON_ENV, raising=False)
    return folder / "vramatlas"


@pytest.fixture
def root(tmp_path) -> Path:
    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, copy)
    return copy


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("catalog-*.json")) if cache.is_dir() else []


def _same(a, b) -> None:
    for kind in (*KINDS, "variants"):
        assert a.kind(kind) == b.kind(kind), kind
    assert a.content_hash == b.content_hash


def test_the_compiled_document_is_json_and_holds_the_whole_catalogue():
    yaml_cat = load_yaml_catalog()
    text = json.dumps(compiled.compile_catalog(yaml_cat))
    back = compiled.load_compiled(json.loads(text))
    _same(back, yaml_cat)
    assert len(back.variants) == len(yaml_cat.variants) > 0


def test_a_second_load_comes_from_the_cache_and_equals_the_yaml(cache, root):
    first = load_catalog(root)
    assert len(_entries(cache)) == 1
    hit = compiled.cached_catalog(root)
    assert hit is not None
    _same(hit, first)
    _same(load_catalog(root), load_yaml_catalog(root))
    # locations still come from the YAML, parsed when first asked for
    vid = next(iter(first.variants))
    assert load_catalog(root).documents[("variants", vid)].path.parent.name == "models"


def test_an_edited_added_or_removed_file_is_never_served_stale(cache, root):
    load_catalog(root)
    gpu = sorted((root / "gpus").glob("*.yaml"))[0]
    text = gpu.read_text()
    gpu.write_text(text.replace("name:", "name: Edited", 1) if "name:" in text else text + "\n# edited\n")
    assert load_catalog(root).gpus[gpu.stem] == load_yaml_catalog(root).gpus[gpu.stem]
    assert compiled.cached_catalog(root).content_hash == load_yaml_catalog(root).content_hash
    extra = root / "gpus" / "zz-copy.yaml"
    extra.write_text(gpu.read_text().replace(f"id: {gpu.stem}", "id: zz-copy"))
    assert "zz-copy" in load_catalog(root).gpus
    extra.unlink()
    assert "zz-copy" not in load_catalog(root).gpus
    assert len(_entries(cache)) == 3  # three catalogue states, three entries


def test_a_broken_file_is_refused_even_after_a_good_state_was_cached(cache, root):
    load_catalog(root)
    gpu = sorted((root / "gpus").glob("*.yaml"))[0]
    gpu.write_text("id: [unclosed\n")
    with pytest.raises(CatalogError):
        load_catalog(root)
    assert len(_entries(cache)) == 1


def test_links_and_oversized_files_go_to_the_loader(root):
    assert compiled.LARGEST_FILE == MAX_BYTES
    gpu = sorted((root / "gpus").glob("*.yaml"))[0]
    link = root / "gpus" / "zz-link.yaml"
    link.symlink_to(gpu)
    assert compiled.snapshot_hash(root) is None
    link.unlink()
    assert compiled.snapshot_hash(root) == load_yaml_catalog(root).content_hash
    (root / "gpus" / "zz-big.yaml").write_bytes(b"#" * (MAX_BYTES + 1))
    assert compiled.snapshot_hash(root) is None


def test_an_unwritable_cache_folder_only_means_parsing(tmp_path, monkeypatch, root):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert compiled.store(load_yaml_catalog(root)) is None
    _same(load_catalog(root), load_yaml_catalog(root))


def test_a_corrupt_cache_entry_is_ignored_and_rewritten(cache, root):
    good = load_catalog(root)
    (entry,) = _entries(cache)
    entry.write_text('{"format": 1, "content_hash": "')
    _same(load_catalog(root), good)
    assert json.loads(entry.read_text())["content_hash"] == good.content_hash


def test_no_cache_parses_the_yaml(cache, root, monkeypatch):
    monkeypatch.setenv(compiled.NO_CACHE_ENV, "1")
    load_catalog(root)
    assert _entries(cache) == []


def test_the_cache_keeps_the_newest_entries_only(cache, root, monkeypatch):
    monkeypatch.setattr(compiled, "KEEP", 2)
    gpu = sorted((root / "gpus").glob("*.yaml"))[0]
    for i in range(4):
        with gpu.open("a") as out:
            out.write(f"# state {i}\n")
        load_catalog(root)
    assert len(_entries(cache)) == 2


def test_a_bad_compiled_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "catalog.json"
    bad.write_text('{"format": 999}')
    with pytest.raises(CatalogError, match="format 1"):
        compiled.load_compiled(bad)
    bad.write_text("not json")
    with pytest.raises(CatalogError, match="not a JSON"):
        compiled.load_compiled(bad)
    with pytest.raises(CatalogError, match="cannot read"):
        compiled.load_compiled(tmp_path / "missing.json")


def _run_cli(args: list[str], env: dict[str, str]) -> tuple[dict, list[str]]:
    code = (
        "import json, sys; from vramatlas.cli import main; rc = main(sys.argv[1:]); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout), json.loads(out.stderr.strip().splitlines()[-1])


def test_a_cached_estimate_imports_only_the_standard_library(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop(compiled.CATALOG_JSON_ENV, None)
    env.pop(compiled.NO_CACHE_ENV, None)
    first, heavy_first = _run_cli(ESTIMATE, env)
    assert "yaml" in heavy_first and "numpy" not in heavy_first and "pandas" not in heavy_first
    second, heavy = _run_cli(ESTIMATE, env)
    assert heavy == []
    assert second == first and second["fits"] is False and second["fewest_gpus"] == 2


def test_the_shipped_json_answers_like_the_yaml_with_no_yaml_at_all(tmp_path):
    shipped = tmp_path / "catalog.json"
    shipped.write_text(json.dumps(compiled.compile_catalog(load_yaml_catalog())))
    base = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "empty")}
    base.pop(compiled.CATALOG_JSON_ENV, None)
    for args in (ESTIMATE, [*ESTIMATE[:4], "inference", "--runtime", "llama.cpp", *ESTIMATE[5:]]):
        from_yaml, _ = _run_cli(args, {**base, compiled.NO_CACHE_ENV: "1"})
        from_json, heavy = _run_cli(args, {**base, compiled.CATALOG_JSON_ENV: str(shipped)})
        assert heavy == []
        assert from_json == from_yaml
    assert not (tmp_path / "empty").exists()  # the shipped JSON needs no cache folder
