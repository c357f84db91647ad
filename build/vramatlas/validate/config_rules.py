"""Rules that make validation the gate: what the model or the build would refuse, validate refuses first.

* cross-field rules on each model config (KV heads and heads, head width, MoE routing);
* the model's own reading of each config (:func:`vramatlas.arch.architecture`) and the
  physical bounds of :mod:`vramatlas.bounds`, run here so their refusals are located;
* characters no name may hold (control and line/paragraph separators, bidi overrides);
* a catalogue with nothing to build.

Each check tests types before it uses a value: the schema may not have passed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterator, Mapping

from ..loader import Problem
from .registry import register, severity_of
from .rules import Context, _int, _p, _variants


def _config_maps(config: Any, path: tuple) -> Iterator[tuple[tuple, Mapping]]:
    """The config and every mapping nested in it (text_config, block_configs[i] ...), with their paths."""
    stack = [(path, config)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            yield where, value
            stack.extend((where + (k,), v) for k, v in value.items() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((where + (i,), v) for i, v in enumerate(value) if isinstance(v, (dict, list)))


def _first(config: Mapping, *names: str) -> tuple[str | None, Any]:
    for name in names:
        if _int(config.get(name)):
            return name, config[name]
    return None, None


_HEADS = ("num_attention_heads", "n_head", "num_heads", "n_heads")
_KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num")
_HIDDEN = ("hidden_size", "n_embd", "d_model", "dim")


def _configs(ctx: Context):
    for doc, i, variant in _variants(ctx.docs("models")):
        config = variant.get("config")
        if isinstance(config, dict):
            for where, mapping in _config_maps(config, ("variants", i, "config")):
                yield doc, where, mapping


@register(
    "VA350",
    "kv-heads",
    "error",
    "Grouped-query attention shares each key/value head among heads / kv_heads query heads, so "
    "num_key_value_heads is at most num_attention_heads and divides it (transformers "
    "models/llama/modeling_llama.py: num_key_value_groups = num_attention_heads // num_key_value_heads, "
    "then repeat_kv); the memory model's KV cache rests on that count.",
    exceptable=False,
)
def kv_heads(ctx: Context) -> Iterator[Problem]:
    for doc, where, config in _configs(ctx):
        h_name, heads = _first(config, *_HEADS)
        kv_name, kv = _first(config, *_KV_HEADS)
        if not heads or not kv or heads <= 0 or kv <= 0:
            continue
        if kv > heads:
            yield _p(
                doc,
                where + (kv_name,),
                "VA350",
                f"{kv_name} ({kv}) exceeds {h_name} ({heads})",
                "a model has at most one key/value head per query head",
            )
        elif heads % kv:
            yield _p(
                doc,
                where + (kv_name,),
                "VA350",
                f"{kv_name} ({kv}) does not divide {h_name} ({heads})",
                "each key/value head serves the same number of query heads",
            )


@register(
    "VA351",
    "head-width",
    "error",
    "Without an explicit head_dim, transformers splits the hidden size evenly across the heads "
    "(head_dim = hidden_size // num_attention_heads, modeling_llama.py LlamaAttention), so hidden_size "
    "must be a multiple of the head count; otherwise heads x head_dim would not match the projections.",
    exceptable=False,
)
def head_width(ctx: Context) -> Iterator[Problem]:
    for doc, where, config in _configs(ctx):
        if config.get("head_dim") is not None or config.get("kv_lora_rank") or config.get("qk_nope_head_dim"):
            continue
        h_name, heads = _first(config, *_HEADS)
        w_name, hidden = _first(config, *_HIDDEN)
        if heads and hidden and heads > 0 and hidden % heads:
            yield _p(
                doc,
                where + (h_name,),
                "VA351",
                f"{w_name} ({hidden}) is not a multiple of {h_name} ({heads})",
                "give head_dim explicitly, as the model's config.json does, or fix the counts",
            )


@register(
    "VA352",
    "moe-routing",
    "error",
    "A mixture-of-experts router picks num_experts_per_tok of the experts, so it cannot pick more than "
    "exist; DeepSeek's group-limited routing splits the experts into n_group equal groups and keeps "
    "topk_group of them (modeling_deepseek_v3.py: n_routed_experts // n_group); the dense first layers "
    "(first_k_dense_replace) are among the layers.",
    exceptable=False,
)
def moe_routing(ctx: Context) -> Iterator[Problem]:
    for doc, where, config in _configs(ctx):
        e_name, experts = _first(config, "num_local_experts", "n_routed_experts", "num_experts")
        active = config.get("num_experts_per_tok")
        if experts and _int(active) and active > experts:
            yield _p(
                doc,
                where + ("num_experts_per_tok",),
                "VA352",
                f"num_experts_per_tok ({active}) exceeds {e_name} ({experts})",
                "a token is routed to some of the experts",
            )
        groups, top = config.get("n_group"), config.get("topk_group")
        if _int(groups) and groups > 0:
            if _int(top) and top > groups:
                yield _p(
                    doc,
                    where + ("topk_group",),
                    "VA352",
                    f"topk_group ({top}) exceeds n_group ({groups})",
                    "the router keeps some of the groups",
                )
            if experts and experts % groups:
                yield _p(
                    doc,
                    where + ("n_group",),
                    "VA352",
                    f"n_group ({groups}) does not divide {e_name} ({experts})",
                    "the experts split into equal groups",
                )
        l_name, layers = _first(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
        dense = config.get("first_k_dense_replace")
        if layers and _int(dense) and dense > layers:
            yield _p(
                doc,
                where + ("first_k_dense_replace",),
                "VA352",
                f"first_k_dense_replace ({dense}) exceeds {l_name} ({layers})",
                "the dense first layers are some of the model's layers",
            )


@register(
    "VA353",
    "model-refuses-config",
    "error",
    "Every config the catalogue holds must be one the memory model reads: a value past its physical "
    "range (vramatlas.bounds: e.g. hidden_size over 2^20, any integer past 2^53), values whose "
    "products are (parameters past 2^50, a per-token cache past 2^30 values), or a config the "
    "architecture reader refuses would otherwise pass validation and then stop the build with no "
    "file named, or wrap a 64-bit byte count in the matrix.",
    exceptable=False,
)
def model_refuses_config(ctx: Context) -> Iterator[Problem]:
    from ..arch import architecture
    from ..bounds import PARAMETERS, config_problems, number_problem, reading_problem

    for doc, i, variant in _variants(ctx.docs("models")):
        config = variant.get("config")
        where = ("variants", i, "config")
        if not isinstance(config, dict):
            continue
        out_of_range = list(config_problems(config))
        for path, message in out_of_range:
            yield _p(doc, where + path, "VA353", message, "write the value from the model's config.json")
        parameters = variant.get("parameters")
        if isinstance(parameters, (int, float)) and not isinstance(parameters, bool):
            message = number_problem(parameters, PARAMETERS)
            if message:
                out_of_range.append(((), message))
                yield _p(
                    doc,
                    ("variants", i, "parameters"),
                    "VA353",
                    f"parameters {message}",
                    "write the exact count from the model's config",
                )
        if out_of_range:
            continue
        try:
            # the module-by-module count, whatever `parameters` says (which is bounded above on its own)
            counted = architecture(config, None)
        except Exception as exc:  # noqa: BLE001 - any refusal of the reader is this file's problem
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            yield _p(
                doc,
                where,
                "VA353",
                f"the memory model cannot read this config: {text}",
                "the config must describe the model as its config.json does",
                key=True,
            )
            continue
        too_big = reading_problem(counted)
        if too_big:
            yield _p(doc, where, "VA353", too_big, "write the values from the model's config.json", key=True)


# Characters no catalogue string may hold: C0/C1 controls (a newline only in prose fields), the line and
# paragraph separators (Vega's expression parser and JavaScript before ES2019 reject them in strings),
# and the bidirectional overrides that make text display in another order than it reads ("Trojan source").
# Cc is exactly U+0000-001F and U+007F-009F; Zl and Zp are U+2028 and U+2029
_BAD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BAD_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PROSE_FIELDS = {
    "notes",
    "facts",
    "protocol",
    "summary",
    "description",
    "reason",
    "basis",
    "usable_basis",
    "why_not_comparable",
    "outcome_detail",
}


def bad_character(text: str, prose: bool) -> str | None:
    """The first character of ``text`` no catalogue string may hold, as 'U+XXXX (name)', else None."""
    found = (_BAD if prose else _BAD_LINE).search(text)
    if found is None:
        return None
    ch = found.group(0)
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'control character').lower()})"


@register(
    "VA354",
    "bad-characters",
    "error",
    "Names and text reach HTML pages, Vega specs, CSV cells, CI logs and terminals: control "
    "characters, U+2028/U+2029 (which break Vega's expression parser) and bidirectional overrides "
    "are refused in every string (a newline only in prose fields such as notes).",
    exceptable=False,
)
def bad_characters(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.documents:
        stack: list[tuple[tuple, Any]] = [((), doc.data)]
        while stack:
            path, value = stack.pop()
            if isinstance(value, dict):
                for key, item in value.items():
                    found = bad_character(str(key), False)
                    if found:
                        yield _p(doc, path + (key,), "VA354", f"a key holds {found}", "remove it", key=True)
                    stack.append((path + (key,), item))
            elif isinstance(value, list):
                stack.extend((path + (j,), v) for j, v in enumerate(value))
            elif isinstance(value, str):
                field = next((p for p in reversed(path) if isinstance(p, str)), "")
                found = bad_character(value, field in PROSE_FIELDS)
                if found:
                    yield _p(
                        doc,
                        path,
                        "VA354",
                        f"{field or 'the value'} holds {found}",
                        "remove it; write plain text (a line break only in notes and other prose)",
                    )


@register(
    "VA355",
    "empty-catalogue",
    "error",
    "A catalogue with no GPU, no model or no method has no matrix to build: it is refused here, "
    "where it is named, rather than by the build.",
    exceptable=False,
)
def empty_catalogue(ctx: Context) -> Iterator[Problem]:
    for kind in ("gpus", "models", "methods"):
        if not ctx.docs(kind) and not any(k == kind for k, _ in ctx.unloaded):
            yield Problem(
                ctx.root,
                0,
                0,
                "VA355",
                f"the catalogue has no {kind}",
                f"add at least one file under {kind}/",
                severity_of("VA355"),
            )
