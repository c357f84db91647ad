"""The methodology page's "Runtimes" section: each runtime's memory rules with the runtime's own source lines,
the weight formats' per-tensor mixes, and predicted against the runtimes' published start-up log lines."""

from __future__ import annotations

import inspect

from .. import quants as quants_module
from .. import runtime_memory


def _rules(rt: dict) -> list[list[str]]:
    kv, comp, over, d = rt["kv_cache"], rt["compute"], rt["overheads"], rt["defaults"]
    yes = {True: "yes", False: "no"}
    return [
        [
            "KV cache",
            f"{kv['granularity']} granularity, {kv['block_tokens']}-token blocks, context padded to "
            f"{kv['pad_tokens']}; dtypes {', '.join(sorted(kv['dtypes']))}; MLA compressed: {yes[kv['mla_compressed']]}; "
            f"sliding windows capped: {yes[kv['sliding_window_capped']]}"
            + (" (+ n_ubatch cells)" if kv["sliding_window_extra"] == "ubatch" else "")
            + ("; context x parallel slots" if kv["per_sequence_context"] else ""),
        ],
        [
            "Compute",
            f"{comp['model']} at {comp['tokens']}, {comp['activation_bits']}-bit activations, "
            f"logits for {comp['logits_rows']}",
        ],
        [
            "Overheads",
            f"CUDA context: {over['cuda_context']}; cuBLAS {over['cublas_workspace_bytes'] / 2**20:.0f} MiB; "
            f"NCCL {over['nccl_bytes_per_gpu'] / 2**20:.0f} MiB per GPU with tensor parallelism; pool share of "
            f"{over['pool_budget']} memory",
        ],
        ["Defaults", ", ".join(f"{k} {v}" for k, v in d.items() if v is not None and not isinstance(v, (list, dict)))],
        [
            "Host",
            f"token_embd on the CPU: {yes[rt['host']['token_embd_on_cpu']]}; host RAM assumed "
            f"{rt['host']['default_host_memory_bytes'] / 2**30:.0f} GiB",
        ],
        ["Options", ", ".join("--" + o for o in rt["options"]) or "none"],
        [
            "Loads",
            f"token mixers: {', '.join(rt['supports']['mixers'])}; checkpoints: "
            f"{', '.join(rt['supports']['native_weights'])} (a model with anything else is refused). "
            + rt["supports"]["basis"],
        ],
    ]


def runtime_section(catalog, accuracy) -> str:
    from .pages import doc_markdown, esc, link_url, md_table, pct

    out = ["## Runtimes\n"]
    for para in (inspect.getdoc(runtime_memory) or "").split("\n\n"):
        out.append(doc_markdown(" ".join(para.split())) + "\n")
    for rid in sorted(catalog.runtimes):
        rt = catalog.runtimes[rid]
        out.append(f"### {esc(rt['name'])}\n\n*Describes {esc(rt['version'])}.* {esc(rt['summary'])}\n")
        out.append(md_table(["rule", "value"], [[esc(a), esc(b)] for a, b in _rules(rt)], "ll"))
        links = []
        for src in rt["sources"]:
            url = link_url(src["url"])
            label = esc(src["facts"])
            links.append(
                f"- [{esc(src['url'].split('/blob/')[-1] if '/blob/' in src['url'] else src['url'])}]({url}): {label}"
                if url
                else f"- {label}"
            )
        out.append("Sources:\n\n" + "\n".join(links) + "\n")
    out.append("### Weight formats\n")
    out.append(doc_markdown(" ".join((inspect.getdoc(quants_module) or "").split("\n\n")[0].split())) + "\n")
    rows = []
    for qid in sorted(catalog.quants):
        q = catalog.quants[qid]
        if q["family"] != "gguf":
            continue
        exceptions = []
        for cat, rule in q["tensors"].items():
            for ov in rule.get("overrides") or ():
                cond = ", ".join(f"{k.removeprefix('if_')} {v}" for k, v in ov.items() if k.startswith("if_"))
                exceptions.append(f"{cat} {ov['type']} ({ov['layers']}{', ' + cond if cond else ''})")
        rows.append(
            [
                esc(qid),
                esc(q["tensors"]["attn_q"]["type"]),
                f"{quants_module.storage_bits(q):.4g}",
                esc(q["tensors"]["output"]["type"]),
                esc("; ".join(exceptions[:4]) + (" ..." if len(exceptions) > 4 else "")),
            ]
        )
    out.append(
        md_table(["GGUF type", "most tensors", "bits/weight", "output", "exceptions (first match wins)"], rows, "llrll")
    )
    if accuracy is not None and len(accuracy) and "quantity" in accuracy:
        logged = accuracy[accuracy["quantity"] != "peak"]
        if len(logged):
            out.append("### Predicted against the runtimes' own log lines\n")
            out.append(
                f"{len(logged)} published start-up lines (`catalog/measurements/pub-rt-*.yaml`), each run through "
                "`vramatlas estimate` with its runtime, format and options; error = predicted / printed \u2212 1.\n"
            )
            rows = []
            for (rt, q), g in logged.groupby(["runtime", "quantity"], sort=True):
                e = g["abs_error"]
                rows.append([esc(rt), esc(q), len(g), pct(e.median()), pct(e.quantile(0.9)), pct(e.max())])
            out.append(
                md_table(
                    ["runtime", "quantity", "cases", "median abs. error", "90th percentile", "largest"], rows, "llrrrr"
                )
            )
    return "\n".join(out)
