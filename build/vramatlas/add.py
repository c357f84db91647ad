"""`vramatlas add model ORG/NAME` and `vramatlas add gpu ID`: start a catalogue file for a contributor.

``add model`` reads the model's config.json (from the Hub through :mod:`vramatlas.hub`, or a local
file with ``--config``), keeps the keys the model schema lists (the architecture; token ids, dtype and
training knobs are left out, and keys the schema does not know are named), writes out the keys the
schema requires that config.json leaves to the transformers config-class defaults (named in
``notes``), counts the parameters with :mod:`vramatlas.arch`, and writes the variant into
``catalog/models/<family>.yaml`` (a new family file, or a variant added to an existing one). What only
a person can know (display names, the published size label, release date, licence, the kind of
architecture and native weight format) is written as ``TODO: ...``: `vramatlas validate` refuses
every TODO (rule VA310, one located line each) until it is completed.

``add gpu ID`` writes ``catalog/gpus/<ID>.yaml``: the commented template of every field (the same one
CONTRIBUTING.md shows), every value ``TODO`` with the schema's example beside it. Once completed,
``vramatlas fmt`` drops the comments (catalogue files carry none).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from .paths import CATALOG_DIR, SCHEMA_DIR

# config.json keys that describe no architecture: token ids, dtype, library bookkeeping,
# initialisation and training-only settings, multimodal token ids. Left out without a word.
IGNORED_CONFIG_KEYS = frozenset(
    {
        "_name_or_path",
        "architectures",
        "auto_map",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "torch_dtype",
        "dtype",
        "transformers_version",
        "use_cache",
        "initializer_range",
        "attention_dropout",
        "embd_pdrop",
        "resid_pdrop",
        "hidden_dropout",
        "output_router_logits",
        "router_aux_loss_coef",
        "router_z_loss_coef",
        "router_jitter_noise",
        "pretraining_tp",
        "quantization_config",
        "cache_implementation",
        "full_attn_mod",
        "interpolate_factor",
        "lm_head_bias",
        "image_token_index",
        "image_token_id",
        "boi_token_index",
        "eoi_token_index",
        "mm_tokens_per_image",
        "video_token_id",
        "vision_start_token_id",
        "vision_end_token_id",
        "vision_token_id",
        "spatial_merge_size",
        "projector_hidden_act",
        "multimodal_projector_bias",
        "vision_feature_layer",
        "vision_feature_select_strategy",
        "text_hidden_size",
        "num_logits_to_keep",
        "output_attentions",
        "output_hidden_states",
        "return_dict",
        "is_decoder",
        "for_llm_compressor",
        "rescale_prenorm_residual",
        "use_mamba_kernels",
        "time_step_floor",
        "time_step_init_scheme",
        "time_step_max",
        "time_step_min",
        "time_step_scale",
    }
)

# Keys the model schema requires of a language model's config, in the order they are filled.
_REQUIRED_ATTENTION = (
    "num_hidden_layers",
    "hidden_size",
    "vocab_size",
    "max_position_embeddings",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "hidden_act",
    "tie_word_embeddings",
)
_REQUIRED_SSM = (
    "num_hidden_layers",
    "hidden_size",
    "vocab_size",
    "intermediate_size",
    "hidden_act",
    "tie_word_embeddings",
)
_SSM_TYPES = ("falcon_mamba", "mamba", "mamba2")
_NESTED = "text_config"

TODO = "TODO"


class AddError(ValueError):
    """Bad input for `vramatlas add`: one line, exit status 2."""


# ---- the config ---------------------------------------------------------------------------------


def _schema(schema_dir: Path = SCHEMA_DIR) -> dict:
    return json.loads((schema_dir / "model.schema.json").read_text(encoding="utf-8"))


def config_keys(schema: dict) -> dict[str, Any]:
    """The config keys the model schema allows (name -> subschema)."""
    return schema["$defs"]["variant"]["properties"]["config"]["properties"]


def filter_config(raw: dict, allowed: dict[str, Any], where: str = "") -> tuple[dict, list[str]]:
    """(the keys of ``raw`` the schema lists, in config.json's order; the other non-ignored keys, named)."""
    kept: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in raw.items():
        if key == _NESTED and isinstance(value, dict):
            kept[key], more = filter_config(value, allowed, f"{where}{key}.")
            unknown += more
        elif key in allowed:
            kept[key] = value
        elif key not in IGNORED_CONFIG_KEYS:
            unknown.append(where + key)
    return kept, unknown


def fill_required(config: dict) -> list[str]:
    """Write out the schema-required keys config.json leaves to the transformers defaults; say which."""
    from .arch import TRANSFORMERS_DEFAULTS

    lang = config.get(_NESTED) if isinstance(config.get(_NESTED), dict) else config
    model_type = str(lang.get("model_type") or config.get("model_type") or "")
    defaults = TRANSFORMERS_DEFAULTS.get(model_type, {})
    filled = []
    ssm = config.get("model_type") in _SSM_TYPES
    for key in _REQUIRED_SSM if ssm else _REQUIRED_ATTENTION:
        if key in lang or (key == "hidden_act" and ("hidden_activation" in lang or "activation" in lang)):
            continue
        if key == "tie_word_embeddings" and config is not lang and "tie_word_embeddings" in config:
            value = config["tie_word_embeddings"]  # a multimodal wrapper's own flag decides
        elif key == "hidden_act" and "hidden_activation" in defaults:
            key, value = "hidden_activation", defaults["hidden_activation"]
        elif (
            key == "head_dim"
            and "head_dim" not in defaults
            and lang.get("hidden_size")
            and lang.get("num_attention_heads")
        ):
            value = lang["hidden_size"] // lang["num_attention_heads"]
        elif key == "num_key_value_heads" and key not in defaults and "num_attention_heads" in lang:
            value = lang["num_attention_heads"]
        elif key in defaults:
            value = defaults[key]
        else:
            continue  # nothing to say: validation names the key still missing
        lang[key] = value
        filled.append(f"{key} {value}")
    return filled


def read_config(repo: str | None, config_file: str | None, revision: str | None = None) -> dict:
    if config_file:
        try:
            raw = json.loads(Path(config_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise AddError(f"{config_file}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise AddError(f"{config_file}: not JSON ({exc})") from None
    else:
        from .hub import HubError, read_hub_config

        try:
            raw = read_hub_config(repo, revision=revision)
        except HubError as exc:
            raise AddError(str(exc)) from None
    if not isinstance(raw, dict):
        raise AddError(f"{config_file or repo}: config.json is not a JSON object")
    return raw


# ---- the variant and its family -----------------------------------------------------------------


def slug(text: str) -> str:
    """A catalogue id from a repo name: lowercase-kebab, dots kept inside version numbers."""
    s = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    s = re.sub(r"\.(?![0-9])|(?<![0-9])\.", "-", s)
    return re.sub(r"-{2,}", "-", s).strip("-")


def _guess_architecture(config: dict) -> str:
    """What the config suggests for the family's `architecture` (the contributor confirms it)."""
    lang = config.get(_NESTED) if isinstance(config.get(_NESTED), dict) else config
    experts = max(int(lang.get(k) or 0) for k in ("num_local_experts", "n_routed_experts", "num_experts"))
    layer_types = [str(t) for t in lang.get("layer_types") or []]
    if config.get("model_type") in _SSM_TYPES:
        return "mamba"
    if lang.get("hybrid_override_pattern") or "mamba" in layer_types or lang.get("mamba_d_ssm"):
        return "hybrid-mamba-transformer"
    if "linear_attention" in layer_types or lang.get("linear_num_value_heads"):
        return "hybrid-linear-attention-moe" if experts else "hybrid-linear-attention"
    if lang.get("block_configs"):
        return "heterogeneous-transformer"
    if lang.get("kv_lora_rank") and experts:
        return "mla-dsa-moe-transformer" if lang.get("index_topk") else "mla-moe-transformer"
    return "moe-transformer" if experts else "dense-transformer"


def _guess_weights(raw: dict) -> str:
    quant = raw.get("quantization_config") or {}
    method = str(quant.get("quant_method") or quant.get("fmt") or "").lower()
    if method:
        return method
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(
        str(raw.get("torch_dtype") or raw.get("dtype")), "bf16"
    )


def build_variant(raw: dict, repo: str | None, variant_id: str, schema: dict, source: str) -> tuple[dict, list[str]]:
    """(the variant, warnings for the contributor) from a config.json."""
    from .arch import ConfigError, active_parameters, architecture

    config, unknown = filter_config(raw, config_keys(schema))
    filled = fill_required(config)
    try:
        arch = architecture(config)
    except ConfigError as exc:
        raise AddError(f"{source}: vramatlas.arch cannot read this config: {exc}") from None
    parameters = int(arch["params_total"])
    active = int(active_parameters(arch)) if arch.get("experts") else None
    page = f"https://huggingface.co/{repo}" if repo else None
    notes = [f"Written by vramatlas add from {source}."]
    if filled:
        notes.append(
            "Not in config.json, written out from the transformers config-class defaults: " + ", ".join(filled) + "."
        )
    notes.append(
        "parameters (and active_parameters) counted by vramatlas.arch from this config; check them with "
        "transformers (build the model on the meta device and sum the parameters) and say so here."
    )
    sources = [
        {
            "url": f"{page}/blob/main/config.json" if page else f"{TODO}: the URL of this config.json",
            "facts": "config.json values",
            "kind": "official",
        },
        {
            "url": page or f"{TODO}: the model card's URL",
            "facts": f"{TODO}: what the model card says (published size, context, licence, release date)",
            "kind": "card",
        },
    ]
    variant = {
        "id": variant_id,
        "name": f"{TODO}: display name, e.g. {repo.split('/')[-1] if repo else variant_id}",
        "hf_repo": repo,
        "parameters": parameters,
        "parameters_published": f"{TODO}: the size its authors publish, e.g. 8B or 30.5B total / 3.3B active",
        "active_parameters": active,
        "released": f"{TODO}: YYYY-MM-DD the weights were published",
        "config": config,
        "sources": sources,
        "notes": " ".join(notes),
    }
    warnings = [
        f"config key '{k}' is not in schema/model.schema.json: left out (if it changes the architecture, "
        "add it to the schema's config properties)"
        for k in unknown
    ]
    return variant, warnings


def new_family(family_id: str, raw: dict, config: dict, repo: str | None) -> dict:
    return {
        "id": family_id,
        "name": f"{TODO}: display name of the family",
        "organization": f"{TODO}: who published the model"
        + (f" (the repo owner is {repo.split('/')[0]})" if repo else ""),
        "architecture": f"{TODO}: the config suggests {_guess_architecture(config)}",
        "weights_native": f"{TODO}: the published checkpoint's precision; config.json suggests {_guess_weights(raw)}",
        "license": f"{TODO}: the licence named on the model card",
        "release": f"{TODO}: YYYY-MM of the family's first release",
        "sources": [
            {
                "url": f"https://huggingface.co/{repo}" if repo else f"{TODO}: the model card's URL",
                "facts": f"{TODO}: what it backs (paper, announcement, card)",
                "kind": "card",
            }
        ],
        "variants": [],
    }


def add_model(
    repo: str | None,
    config_file: str | None,
    family: str | None = None,
    variant_id: str | None = None,
    catalog_dir: Path = CATALOG_DIR,
    schema_dir: Path = SCHEMA_DIR,
    revision: str | None = None,
) -> tuple[Path, list[str]]:
    """Write the variant into its family file; (the file written, warnings)."""
    from .fmt import canonical_order, dump
    from .hub import is_repo_id

    if repo is not None and not is_repo_id(repo):
        raise AddError(f"'{repo}' is not a Hugging Face repo id (ORG/NAME)")
    if repo is None and config_file is None:
        raise AddError("give the model's Hub id (ORG/NAME) or --config FILE")
    raw = read_config(repo, config_file, revision)
    variant_id = variant_id or slug(repo.split("/")[-1] if repo else Path(config_file).parent.name or "model")
    family_id = family or variant_id
    for what, ident in (("variant id", variant_id), ("family id", family_id)):
        if not re.fullmatch(r"[a-z0-9]+([.-][a-z0-9]+)*", ident):
            raise AddError(f"{what} '{ident}' is not lowercase-kebab (give --id / --family)")
    schema = _schema(schema_dir)
    source = f"https://huggingface.co/{repo}/blob/main/config.json" if repo and not config_file else str(config_file)
    variant, warnings = build_variant(raw, repo, variant_id, schema, source)
    path = catalog_dir / "models" / f"{family_id}.yaml"
    taken = _variant_ids(catalog_dir / "models")
    if variant_id in taken:
        raise AddError(f"variant id '{variant_id}' is already in {taken[variant_id]} (give another --id)")
    if path.exists():
        from .loader import load_document

        doc = load_document(path)
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("variants"), list):
            raise AddError(f"{path}: not a model family file that loads (run vramatlas validate {path})")
        data = doc.data
    else:
        data = new_family(family_id, raw, variant["config"], repo)
    data["variants"].append(variant)
    data["variants"].sort(key=lambda v: v.get("parameters") if isinstance(v.get("parameters"), int) else 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(canonical_order(data, schema)), encoding="utf-8")
    return path, warnings


def _variant_ids(models_dir: Path) -> dict[str, str]:
    import yaml

    ids: dict[str, str] = {}
    for p in sorted(models_dir.glob("*.yaml")):
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for v in (data or {}).get("variants") or []:
            if isinstance(v, dict) and isinstance(v.get("id"), str):
                ids[v["id"]] = p.name
    return ids


# ---- a GPU ----------------------------------------------------------------------------------------

_VALUE_LINE = re.compile(r"^(?P<lead>\s*(?:- )?)(?P<key>[a-z_0-9]+): (?P<value>.+?)(?:  # e\.g\. also (?P<also>.*))?$")


def gpu_template(gpu_id: str, schema_dir: Path = SCHEMA_DIR) -> str:
    """The commented GPU template with every value TODO (its example kept in the comment) and the id filled."""
    from .validate.templates import template

    out = []
    for line in template("gpus", schema_dir).splitlines():
        m = _VALUE_LINE.match(line)
        if not m or line.lstrip().startswith("#"):
            out.append(line)
            continue
        if m["key"] == "id" and not m["lead"].strip():
            out.append(f"id: {gpu_id}")
            continue
        examples = m["value"] + (f", {m['also']}" if m["also"] else "")
        out.append(f"{m['lead']}{m['key']}: {TODO}  # e.g. {examples}")
    return "\n".join(out) + "\n"


def add_gpu(gpu_id: str, catalog_dir: Path = CATALOG_DIR, schema_dir: Path = SCHEMA_DIR) -> Path:
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", gpu_id):
        raise AddError(f"GPU id '{gpu_id}' is not lowercase-kebab (e.g. rtx-5090, m4-max)")
    path = catalog_dir / "gpus" / f"{gpu_id}.yaml"
    if path.exists():
        raise AddError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(gpu_template(gpu_id, schema_dir), encoding="utf-8")
    return path


# ---- the command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="model|gpu", required=True)
    m = sub.add_parser(
        "model",
        help="a model variant from its config.json (Hub id or --config FILE)",
        description="Write a model variant into catalog/models/<family>.yaml from its config.json; "
        "what needs a person is marked TODO and refused by validate until completed.",
    )
    m.add_argument("repo", nargs="?", metavar="ORG/NAME", help="the model's Hugging Face repo id")
    m.add_argument("--config", metavar="FILE", help="read this config.json instead of the Hub's")
    m.add_argument(
        "--family", metavar="ID", help="the family file to add to (default: a new family named like the variant)"
    )
    m.add_argument("--id", dest="variant_id", metavar="ID", help="the variant id (default: from the repo name)")
    m.add_argument("--revision", help="a Hub revision (branch, tag or commit)")
    m.add_argument("--catalog", type=Path, default=CATALOG_DIR, help=argparse.SUPPRESS)
    g = sub.add_parser(
        "gpu",
        help="the commented template of a GPU file",
        description="Write catalog/gpus/<ID>.yaml: every field commented, every value TODO.",
    )
    g.add_argument("gpu_id", metavar="ID", help="the new GPU's id (lowercase-kebab)")
    g.add_argument("--catalog", type=Path, default=CATALOG_DIR, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    import sys

    from .cli import CLIError

    try:
        if args.what == "gpu":
            path = add_gpu(args.gpu_id, args.catalog)
            print(
                f"wrote {path}: fill in every TODO (vramatlas validate {path} lists them), then run "
                f"vramatlas fmt {path}"
            )
            return 0
        path, warnings = add_model(
            args.repo, args.config, args.family, args.variant_id, args.catalog, revision=args.revision
        )
    except AddError as exc:
        raise CLIError(str(exc)) from None
    for w in warnings:
        print(f"{path}: warning: {w}", file=sys.stderr)
    print(f"wrote {path}: complete every TODO (vramatlas validate {path} lists them)")
    return 0
