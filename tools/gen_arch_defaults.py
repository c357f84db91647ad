"""Write build/vramatlas/data/arch_defaults.json: transformers' defaults for the config fields arch.py reads.

A config.json leaves out what its config class defaults (Gemma 3's text config has no head counts, no vocab
and no tying); transformers fills those in when it loads the config. This script reads the class-level
defaults of each known model_type's config class from the installed transformers (recorded in the file) so
arch.py can fill them in the same way without importing transformers. Run it after upgrading transformers:

    .venv/bin/python tools/gen_arch_defaults.py
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import transformers
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build"))
from vramatlas.arch import FIELDS_READ, KNOWN_TYPES  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "build" / "vramatlas" / "data" / "arch_defaults.json"


def _plain(value):
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return None


def class_defaults(cls) -> dict:
    out = {}
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    for name in FIELDS_READ:
        f = fields.get(name)
        if f is not None and f.default is not dataclasses.MISSING:
            value = _plain(f.default)
        elif name in vars(cls) and not callable(vars(cls)[name]):
            value = _plain(vars(cls)[name])
        else:
            continue
        if value is not None:
            out[name] = value
    return out


def layer_pattern(cls) -> list | None:
    """The repeating unit of the layer_types a default config derives (Gemma 3: 5 sliding, 1 full)."""
    try:
        types = list(getattr(cls(), "layer_types", None) or [])
    except Exception:  # noqa: BLE001 - a class that cannot be built with its defaults has no pattern
        return None
    if not types or not all(isinstance(t, str) for t in types):
        return None
    period = next(p for p in range(1, len(types) + 1) if all(t == types[i % p] for i, t in enumerate(types)))
    unit = types[:period]
    windowed = any(t in ("sliding_attention", "chunked_attention") for t in unit)
    return unit if windowed and 2 * period <= len(types) else None


def main() -> int:
    table = {}
    for model_type in sorted(KNOWN_TYPES):
        if model_type not in CONFIG_MAPPING:
            continue
        table[model_type] = class_defaults(CONFIG_MAPPING[model_type])
        pattern = layer_pattern(CONFIG_MAPPING[model_type])
        if pattern:
            table[model_type]["_layer_pattern"] = pattern
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "transformers": transformers.__version__,
        "source": "class-level defaults of each config class (transformers/models/*/configuration_*.py)",
        "defaults": table,
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {len(table)} model types")
    return 0


if __name__ == "__main__":
    sys.exit(main())
