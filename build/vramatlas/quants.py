"""Weight formats as data: the bytes of each tensor category of a model in a format.

A quant file (catalog/quants/<id>.yaml) gives the storage of one tensor type
(bits, block, scales) and, for a file type, the type of every tensor category
with its exceptions, exactly as the format's quantizer assigns them (GGUF:
llama.cpp's ``llama_tensor_get_type``). :func:`category_bytes` walks a model's
tensors category by category, layer by layer, and applies the rules; nothing
here tests a quant id. Plain floats, no numpy: this runs once per (model,
format), and the matrix reuses the resulting bits per weight.
"""

from __future__ import annotations

from typing import Any, Mapping

LINEAR_CATEGORIES = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


class QuantError(ValueError):
    """A format that cannot be applied (an unknown tensor type in its mix)."""


def storage_bits(spec: Mapping[str, Any]) -> float:
    """Bits of one stored weight: value bits plus block scales and their second-level scales."""
    st = spec["storage"]
    block, sblock = st["block_size"], st["scale_block_size"]
    bits = float(st["bits"])
    if block:
        bits += st["scale_bits"] / block
        if sblock:
            bits += st["scale2_bits"] / (block * sblock)
    return bits


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _layer_selected(rule: Mapping[str, Any], i: int, n: int) -> bool:
    kind = rule["layers"]
    if kind == "all":
        return True
    if kind == "more-bits":
        return use_more_bits(i, n)
    if kind == "first-eighth":
        return i < n // 8
    if kind == "first-sixteenth":
        return i < n // 16
    if kind == "first":
        return i < int(rule.get("count") or 0)
    if kind == "middle":
        return n // 8 <= i < 7 * n // 8
    raise QuantError(f"unknown layer selector '{kind}'")


def _model_matches(rule: Mapping[str, Any], arch: Mapping[str, float]) -> bool:
    heads, kv_heads = int(arch["heads"]), max(int(arch["kv_heads"]), 1)
    experts, layers = int(arch["experts"]), int(arch["layers"])
    checks = (
        ("if_gqa_at_least", lambda v: heads // kv_heads >= v),
        ("if_experts", lambda v: experts == v),
        ("if_experts_at_least", lambda v: experts >= v),
        ("if_layers", lambda v: layers == v),
    )
    return all(test(rule[key]) for key, test in checks if rule.get(key) is not None)


def tensor_type(rule: Mapping[str, Any], i: int, n: int, arch: Mapping[str, float]) -> str:
    """The type of one category's tensor in layer i of n: the first matching override, else the rule's type."""
    for override in rule.get("overrides") or ():
        if _model_matches(override, arch) and _layer_selected(override, i, n):
            return override["type"]
    return rule["type"]


def _fitting_type(quants: Mapping[str, Mapping], name: str, ncols: int) -> str:
    """llama.cpp's fallback: a row length that is not a multiple of the type's block takes the fallback type."""
    spec = _spec(quants, name)
    block = spec["storage"]["block_size"]
    if spec["family"] != "gguf" or not block or ncols % block == 0:
        return name
    fallback = spec.get("fallback")
    if fallback and ncols % (_spec(quants, fallback)["storage"]["block_size"] or 1) == 0:
        return fallback
    return "fp16"  # llama.cpp: "must use F16 due to unusual shape"


def _spec(quants: Mapping[str, Mapping], name: str) -> Mapping[str, Any]:
    spec = quants.get(name)
    if spec is None:
        raise QuantError(f"tensor type '{name}' is not a quant in the catalogue")
    return spec


def layer_tensors(arch: Mapping[str, float], i: int) -> dict[str, tuple[float, int]]:
    """(parameters, row length) of each quantizable category in layer i.

    Row length is the input width (ggml's ne[0]), which decides the block fit.
    MLA and other low-rank attention shapes count as attn_q (their tensors are
    neither attn_v nor attn_k to llama.cpp's quantizer).
    """
    hidden, heads, kv_heads = int(arch["hidden"]), int(arch["heads"]), int(arch["kv_heads"])
    head_dim, v_head_dim = int(arch["head_dim"]), int(arch["v_head_dim"])
    layers = max(int(arch["layers"]), 1)
    q, kv, o = hidden * heads * head_dim, hidden * kv_heads * head_dim, heads * v_head_dim * hidden
    attn_per_layer = (arch["params_attn"] - arch["params_mixers"]) / layers  # attention's own: no Mamba, GDN
    standard = arch["kv_width"] == 2 * kv_heads * head_dim and q + 2 * kv + o <= attn_per_layer + 1
    out: dict[str, tuple[float, int]] = {}
    if standard:
        out.update(attn_q=(q, hidden), attn_k=(kv, hidden), attn_v=(kv, hidden), attn_output=(o, heads * v_head_dim))
    else:
        out["attn_q"] = (attn_per_layer, hidden)
    dense = i < int(arch["dense_layers"])
    width = int(arch["intermediate"]) if dense else int(arch["moe_intermediate"])
    copies = 1 if dense else int(arch["experts"]) + int(arch["shared_experts"])
    per = hidden * width * copies
    if arch["mlp_matrices"] >= 3:
        out["ffn_gate"] = (per, hidden)
    out["ffn_up"] = (per, hidden)
    out["ffn_down"] = (per, width)
    return out


def category_bytes(
    quant: Mapping[str, Any], quants: Mapping[str, Mapping], arch: Mapping[str, float]
) -> dict[str, float]:
    """Bytes of the model's weights in this format, by kind: linear, embedding, lm_head, other.

    Every quantizable tensor gets its category's type for its layer; a tied
    model's token embedding takes the output rule (llama.cpp quantizes the
    shared tensor as the output). A non-attention mixer's 2-D weights take the
    format's own type (llama.cpp's default_type: no rule names them). What the
    per-layer shapes do not cover (biases, norms, routers, an SSM's conv kernel
    and A/D, the rest of the exact count) is stored at the `other` type.
    """
    rules = quant["tensors"]
    n = int(arch["layers"])
    bits_of = {name: storage_bits(spec) for name, spec in quants.items()}

    def bytes_at(rule, i, params, ncols):
        name = _fitting_type(quants, tensor_type(rule, i, n, arch), ncols)
        return params * bits_of[name] / 8

    linear = 0.0
    counted = 0.0
    for i in range(n):
        for cat, (params, ncols) in layer_tensors(arch, i).items():
            linear += bytes_at(rules[cat], i, params, ncols)
            counted += params
    hidden = int(arch["hidden"])
    # a Mamba, Gated DeltaNet or short-conv mixer's projections (ssm_in, ssm_x, ssm_dt, ssm_out, ...) match
    # none of llama.cpp's per-tensor rules: they take the file type's own type, this format's
    linear += arch["params_mixer_matrices"] * bits_of[_fitting_type(quants, quant["id"], hidden)] / 8
    counted += arch["params_mixer_matrices"]
    tied = arch["params_lm_head"] == 0
    embed_rule = rules["output"] if tied else rules["token_embd"]
    embedding = bytes_at(embed_rule, 0, arch["params_embed"], hidden)
    lm_head = bytes_at(rules["output"], 0, arch["params_lm_head"], hidden) if not tied else 0.0
    other_bits = bits_of[_spec(quants, rules["other"]["type"]) and rules["other"]["type"]]
    linear_total = arch["params_attn"] + arch["params_mlp"] + arch["params_experts"]
    leftover = max(linear_total - counted, 0.0)  # attention biases; a mixer's conv kernel, A, D, norms
    return {
        "linear": linear + leftover * other_bits / 8,
        "embedding": embedding,
        "lm_head": lm_head,
        "other": arch["params_other"] * other_bits / 8,
    }


def bits_per_kind(
    quant: Mapping[str, Any], quants: Mapping[str, Mapping], arch: Mapping[str, float]
) -> dict[str, float]:
    """Effective bits per weight of each weight kind of this model in this format (the method columns' bpw_*)."""
    by_kind = category_bytes(quant, quants, arch)
    params = {
        "linear": arch["params_attn"] + arch["params_mlp"] + arch["params_experts"],
        "embedding": arch["params_embed"],
        "lm_head": arch["params_lm_head"],
        "other": arch["params_other"],
    }
    fallback_bits = storage_bits(_spec(quants, quant["tensors"]["output"]["type"]))
    return {k: (8 * by_kind[k] / params[k] if params[k] else fallback_bits) for k in params}
