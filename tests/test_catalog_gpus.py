"""The GPU catalogue (catalog/gpus/*.yaml) against its schema (schema/gpu.schema.json).

Self-contained on purpose: it uses jsonschema and yaml.safe_load directly, not the
project's loader, so it checks the data even while the loader changes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[1]
GPU_DIR = ROOT / "catalog" / "gpus"
SCHEMA_PATH = ROOT / "schema" / "gpu.schema.json"

GIB = 2**30

REQUIRED_IDS = {
    "rtx-3060-12gb", "rtx-3080", "rtx-3090", "rtx-4060-ti-16gb", "rtx-4070-ti-super", "rtx-4080",
    "rtx-4090", "rtx-5090", "rtx-a4000", "rtx-a5000", "rtx-a6000", "rtx-6000-ada",
    "rtx-pro-6000-blackwell", "t4", "v100-16gb", "v100-32gb", "a10", "l4", "l40s", "a100-40gb",
    "a100-80gb", "h100-pcie", "h100-sxm", "h200", "b200", "mi250x", "mi300x", "mi325x",
    "rx-7900-xtx", "arc-a770-16gb", "m2-ultra", "m3-max", "m4-max",
}

GPU_FILES = sorted(GPU_DIR.glob("*.yaml"))


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> Draft202012Validator:
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def gpus() -> dict[str, dict]:
    return {p.stem: _load(p) for p in GPU_FILES}


# ---------------------------------------------------------------- the schema itself

def test_schema_is_valid_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _walk_properties(node: dict, path: str):
    """Yield (path, subschema) for every property definition and array item schema in the
    document tree (properties / items), not inside the conditional allOf/if/then/else."""
    for name, sub in node.get("properties", {}).items():
        here = f"{path}.{name}"
        yield here, sub
        yield from _walk_properties(sub, here)
    if isinstance(node.get("items"), dict):
        here = f"{path}[]"
        yield here, node["items"]
        yield from _walk_properties(node["items"], here)


def test_schema_every_property_has_description_and_examples(schema):
    walked = list(_walk_properties(schema, "$"))
    assert len(walked) > 20
    missing = [p for p, sub in walked if not sub.get("description") or not sub.get("examples")]
    assert not missing, f"properties without description/examples: {missing}"


def test_schema_objects_are_closed(schema):
    def objects(node, path):
        if node.get("type") == "object":
            yield path, node
        for p, sub in _walk_properties(node, path):
            if sub.get("type") == "object":
                yield p, sub

    open_ = [p for p, o in objects(schema, "$") if o.get("additionalProperties") is not False]
    assert not open_, f"objects without additionalProperties: false: {open_}"


def test_schema_examples_validate(schema):
    """Each property's examples are valid against that property's own schema."""
    bad = []
    for path, sub in _walk_properties(schema, "$"):
        v = Draft202012Validator(sub)
        for ex in sub.get("examples", []):
            if not v.is_valid(ex):
                bad.append((path, ex))
    assert not bad, bad


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra=1),
        lambda d: d["memory"].update(extra=1),
        lambda d: d.update(vendor="qualcomm"),
        lambda d: d.update(id="RTX_4090"),
        lambda d: d["memory"].update(usable_bytes=512 * 2**20),
        lambda d: d["memory"].update(usable_bytes=2 * 2**40),
        lambda d: d.update(release_year=2009),
        lambda d: d["memory"].update(gpu_share=0.75),  # a discrete GPU may not carry a share
        lambda d: d["interconnect"].update(kind="ethernet"),
        lambda d: d["sources"][0].update(kind="blog"),
        lambda d: d.update(sources=[]),
        lambda d: d["compute"].update(bf16_tflops=0),
    ],
)
def test_schema_rejects_planted_mistakes(validator, gpus, mutate):
    doc = json.loads(json.dumps(gpus["rtx-4090"]))
    assert validator.is_valid(doc)
    mutate(doc)
    assert not validator.is_valid(doc)


def test_schema_unified_memory_needs_a_share(validator, gpus):
    doc = json.loads(json.dumps(gpus["m4-max"]))
    doc["memory"]["gpu_share"] = None
    assert not validator.is_valid(doc)
    doc["memory"]["gpu_share"] = 1.5
    assert not validator.is_valid(doc)


# ---------------------------------------------------------------- the files

def test_enough_gpus():
    assert len(GPU_FILES) >= 40


@pytest.mark.parametrize("path", GPU_FILES, ids=lambda p: p.stem)
def test_gpu_file_validates(validator, path):
    doc = _load(path)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{path.name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


@pytest.mark.parametrize("path", GPU_FILES, ids=lambda p: p.stem)
def test_file_name_is_id(path):
    assert _load(path)["id"] == path.stem


def test_required_ids_present(gpus):
    assert REQUIRED_IDS - set(gpus) == set()


def test_no_duplicate_ids_or_names(gpus):
    ids = [g["id"] for g in gpus.values()]
    names = [g["name"] for g in gpus.values()]
    assert len(ids) == len(set(ids))
    assert len(names) == len(set(names))


def _nominal_bytes(label: str) -> tuple[float, ...]:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?) (GB|GiB)", label)
    assert m, label
    n = float(m.group(1))
    if m.group(2) == "GiB":
        return (n * GIB,)
    # memory makers' "GB" is binary for GDDR/HBM/LPDDR, vendors' spec pages decimal: accept either
    return (n * 1e9, n * GIB)


@pytest.mark.parametrize("path", GPU_FILES, ids=lambda p: p.stem)
def test_usable_bytes_close_to_nominal(path):
    doc = _load(path)
    usable = doc["memory"]["usable_bytes"]
    targets = _nominal_bytes(doc["memory"]["nominal"])
    assert any(abs(usable - t) <= 0.10 * t for t in targets), (usable, doc["memory"]["nominal"])


@pytest.mark.parametrize("path", GPU_FILES, ids=lambda p: p.stem)
def test_measured_basis_has_a_measured_source(path):
    """A usable_basis that claims a driver report must cite a measured source; a derived one says so."""
    doc = _load(path)
    basis = doc["memory"]["usable_basis"]
    kinds = {s["kind"] for s in doc["sources"]}
    if basis.startswith("derived"):
        assert "no driver" in basis or "report found" in basis
    else:
        assert "measured" in kinds, basis


@pytest.mark.parametrize("path", GPU_FILES, ids=lambda p: p.stem)
def test_usable_bytes_matches_reported_mib(path):
    """Where the basis quotes 'N MiB', usable_bytes is exactly N x 2^20."""
    doc = _load(path)
    basis = doc["memory"]["usable_basis"]
    m = re.search(r"reports (?:VRAM size )?([0-9]+) MiB", basis)
    if m and not basis.startswith("derived"):
        assert doc["memory"]["usable_bytes"] == int(m.group(1)) * 2**20


def test_unified_memory_share(gpus):
    for g in gpus.values():
        if g["segment"] == "unified-memory":
            assert 0 < g["memory"]["gpu_share"] <= 1
            assert g["interconnect"]["kind"] == "unified"
        else:
            assert g["memory"]["gpu_share"] is None


def test_format_support_by_generation(gpus):
    """bf16 needs Ampere/CDNA 2 or later; fp8 needs Ada/Hopper/Blackwell/CDNA 3."""
    for gid in ("t4", "v100-16gb", "v100-32gb", "rtx-2080-ti"):
        if gid in gpus:
            assert gpus[gid]["compute"]["bf16_tflops"] is None, gid
    for gid, g in gpus.items():
        if g["compute"]["fp8_tflops"] is not None:
            assert g["architecture"] in {"Ada Lovelace", "Hopper", "Blackwell", "CDNA 3"}, gid


def test_h200_context_is_the_shared_measurement(gpus):
    assert gpus["h200"]["cuda_context_bytes"] == 650969088
    assert gpus["h200"]["memory"]["usable_bytes"] == 143771 * 2**20
    others = [gid for gid, g in gpus.items() if gid != "h200" and g["cuda_context_bytes"] is not None]
    assert not others
