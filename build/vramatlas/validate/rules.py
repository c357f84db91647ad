"""The rules beyond the schema: small functions, each with a code, severity and rationale.

Each check receives a :class:`Context` (the loaded documents of one catalogue,
the assembled :class:`~vramatlas.catalog.Catalog`) and yields problems. Checks
never assume the schema passed: they test types before they use a value.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..catalog import Catalog, entity_id, kind_of
from ..loader import Document, Problem
from .registry import register, severity_of

GIB = 2**30
MIB = 2**20


@dataclass
class Context:
    root: Path
    documents: list[Document]  # every catalogue document that loaded into a mapping
    catalog: Catalog
    by_kind: dict[str, list[Document]] = field(default_factory=dict)
    # ids (file stems) of files that exist but did not load: references to them are not "unknown"
    unloaded: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self):
        if not self.by_kind:
            groups: dict[str, list[Document]] = defaultdict(list)
            for doc in self.documents:
                kind = kind_of(doc.path)
                if kind:
                    groups[kind].append(doc)
            self.by_kind = dict(groups)

    def docs(self, kind: str) -> list[Document]:
        return self.by_kind.get(kind, [])


def _p(doc: Document, path: tuple, code: str, message: str, hint: str = "", key: bool = False) -> Problem:
    return doc.problem(path, code, message, hint, severity=severity_of(code), key=key)


def _get(data: Any, *path) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _variants(docs: Iterable[Document]) -> Iterator[tuple[Document, int, dict]]:
    """(family document, index, variant) for every variant that is a mapping."""
    for doc in docs:
        variants = doc.data.get("variants")
        if isinstance(variants, list):
            for i, v in enumerate(variants):
                if isinstance(v, dict):
                    yield doc, i, v


# ---- VA2xx: identity and references ----------------------------------------------------


@register(
    "VA201",
    "file-name-id",
    "error",
    "The file name is the entity's id (as in mdn/browser-compat-data): one can find any entity "
    "from its id, and two files cannot silently describe the same thing.",
)
def file_name_is_id(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.documents:
        ident = doc.data.get("id")
        if isinstance(ident, str) and ident and ident != doc.path.stem:
            yield _p(
                doc,
                ("id",),
                "VA201",
                f"id '{ident}' does not match the file name '{doc.path.name}'",
                f"rename the file to {ident}.yaml, or change the id to '{doc.path.stem}'",
            )


@register(
    "VA202",
    "misplaced-file",
    "error",
    "Only <kind>/<id>.yaml files under the catalogue are read; a file elsewhere or with another "
    "extension would be silently ignored by the build.",
)
def misplaced_files(ctx: Context) -> Iterator[Problem]:
    from ..paths import KINDS

    for kind in KINDS:
        folder = ctx.root / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".yml", ".json", ".yaml") and path.suffix != ".yaml":
                yield Problem(
                    path,
                    1,
                    1,
                    "VA202",
                    f"'{path.name}' is not read: the extension must be .yaml",
                    f"rename it to {path.stem}.yaml",
                    severity_of("VA202"),
                )


@register(
    "VA203",
    "duplicate-id",
    "error",
    "Ids are unique within a kind, and variant ids are unique across all model families, so that "
    "every reference means one thing.",
)
def duplicate_ids(ctx: Context) -> Iterator[Problem]:
    for kind, docs in ctx.by_kind.items():
        seen: dict[str, Document] = {}
        # the file named after the id is the original, whatever sorts first: the copies are blamed
        for doc in sorted(docs, key=lambda d: (d.path.stem != entity_id(d), d.path)):
            ident = entity_id(doc)
            if ident in seen:
                yield _p(
                    doc,
                    ("id",),
                    "VA203",
                    f"{kind[:-1]} id '{ident}' is also used by {seen[ident].path.name}",
                    "give each entity its own id",
                )
            else:
                seen[ident] = doc
    seen_v: dict[str, tuple[Document, int]] = {}
    for doc, i, variant in _variants(sorted(ctx.docs("models"), key=lambda d: d.path)):
        vid = variant.get("id")
        if not isinstance(vid, str):
            continue
        if vid in seen_v:
            other, j = seen_v[vid]
            where = "this file" if other is doc else other.path.name
            yield _p(
                doc,
                ("variants", i, "id"),
                "VA203",
                f"variant id '{vid}' is also used in {where} (variants[{j}])",
                "variant ids are unique across all model families",
            )
        else:
            seen_v[vid] = (doc, i)


def _ids_hint(word: str, known) -> str:
    import difflib

    match = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else ""


@register(
    "VA204",
    "unknown-reference",
    "error",
    "A measurement must name a model variant, method and GPU that exist in the catalogue, or its "
    "comparison with the estimate cannot be made.",
)
def unknown_references(ctx: Context) -> Iterator[Problem]:
    cat = ctx.catalog
    targets = (
        ("model", cat.variants, "model variant", "catalog/models"),
        ("method", cat.methods, "method", "catalog/methods"),
        ("gpu", cat.gpus, "GPU", "catalog/gpus"),
    )
    for doc in ctx.docs("measurements"):
        for key, table, what, folder in targets:
            value = doc.data.get(key)
            if not isinstance(value, str) or value in table:
                continue
            # a target whose file exists but did not load is reported there, not here
            if key == "model" and any(kind == "models" for kind, _ in ctx.unloaded):
                continue
            if (key + "s", value) in ctx.unloaded:
                continue
            hint = _ids_hint(value, table) or f"add it under {folder}/, or fix the id"
            if key == "model" and value in cat.models:
                hint = f"'{value}' is a model family; name one of its variants"
            yield _p(doc, (key,), "VA204", f"{key} '{value}' is not a {what} in the catalogue", hint)


def _format_references(doc: Document) -> Iterator[tuple[tuple, str, str]]:
    """(path, id, kind) of every quant or runtime id a quant or runtime file names."""
    d = doc.data
    if kind_of(doc.path) == "quants":
        tensors = d.get("tensors") if isinstance(d.get("tensors"), dict) else {}
        for cat, rule in tensors.items():
            if not isinstance(rule, dict):
                continue
            yield ("tensors", cat, "type"), rule.get("type"), "quants"
            for i, ov in enumerate(rule.get("overrides") or []):
                if isinstance(ov, dict):
                    yield ("tensors", cat, "overrides", i, "type"), ov.get("type"), "quants"
        yield ("fallback",), d.get("fallback"), "quants"
        for i, rt in enumerate(d.get("runtimes") or []):
            yield ("runtimes", i), rt, "runtimes"
    else:
        for i, q in enumerate(d.get("weight_formats") or []):
            yield ("weight_formats", i), q, "quants"
        yield ("default_quant",), d.get("default_quant"), "quants"
        dtypes = _get(d, "kv_cache", "dtypes")
        for name, q in dtypes.items() if isinstance(dtypes, dict) else []:
            yield ("kv_cache", "dtypes", name), q, "quants"
        pairing = d.get("matrix") if isinstance(d.get("matrix"), dict) else {}
        for i, q in enumerate(pairing.get("quants") or []):
            yield ("matrix", "quants", i), q, "quants"
        yield ("matrix", "method"), pairing.get("method"), "methods"


@register(
    "VA205",
    "unknown-format-reference",
    "error",
    "Weight formats name the tensor types of their mix and the runtimes that load them, and runtimes name "
    "the formats they load and the storage of each KV dtype: a name that is not a catalogue id would "
    "silently drop out of the estimate.",
)
def unknown_format_references(ctx: Context) -> Iterator[Problem]:
    cat = ctx.catalog
    for doc in ctx.docs("quants") + ctx.docs("runtimes"):
        for path, value, kind in _format_references(doc):
            if not isinstance(value, str) or value in cat.kind(kind) or (kind, value) in ctx.unloaded:
                continue
            hint = _ids_hint(value, cat.kind(kind)) or f"add catalog/{kind}/{value}.yaml, or fix the id"
            yield _p(doc, path, "VA205", f"'{value}' is not a {kind[:-1]} id in the catalogue", hint)
    for doc in ctx.docs("runtimes"):  # the matrix's pairings: formats the runtime loads
        pairing = doc.data.get("matrix") if isinstance(doc.data.get("matrix"), dict) else {}
        loads = doc.data.get("weight_formats") or []
        for i, q in enumerate(pairing.get("quants") or []):
            if isinstance(q, str) and q in cat.kind("quants") and q not in loads:
                yield _p(
                    doc,
                    ("matrix", "quants", i),
                    "VA205",
                    f"matrix pairing '{q}' is not a weight format this runtime loads",
                    "add it to weight_formats (with a source) or drop it from matrix.quants",
                )


# ---- VA3xx: values -----------------------------------------------------------------------


@register(
    "VA301",
    "wrong-unit",
    "error",
    "Bytes are integers in bytes, bandwidths in bytes per second, throughput in TFLOPS: a value "
    "a thousand or a million times too small or large is almost always a unit mistake.",
)
def wrong_units(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("gpus"):
        d = doc.data
        usable = _get(d, "memory", "usable_bytes")
        if _num(usable) and 0 < usable < GIB:
            if usable >= 1024:
                hint = f"if the driver reports {usable:g} MiB, write {int(usable * MIB)} (MiB x 2^20)"
            else:
                hint = f"write bytes: nvidia-smi's total MiB x 1048576 (for {usable:g} GiB: {int(usable * GIB)})"
            yield _p(
                doc,
                ("memory", "usable_bytes"),
                "VA301",
                f"memory.usable_bytes is {usable:g}: that looks like MiB or GB, not bytes",
                hint,
            )
        for path in (("memory", "bandwidth_bytes_per_s"), ("interconnect", "bandwidth_bytes_per_s")):
            bw = _get(d, *path)
            if _num(bw) and 0 < bw < 1e9:
                yield _p(
                    doc,
                    path,
                    "VA301",
                    f"{'.'.join(path)} is {bw:g}: that looks like GB/s, not bytes/s",
                    f"{bw:g} GB/s is {int(bw * 1e9)} bytes/s",
                )
        ctx_bytes = d.get("cuda_context_bytes")
        if _num(ctx_bytes) and 0 < ctx_bytes < MIB:
            yield _p(
                doc,
                ("cuda_context_bytes",),
                "VA301",
                f"cuda_context_bytes is {ctx_bytes:g}: that looks like MiB, not bytes",
                f"{ctx_bytes:g} MiB is {int(ctx_bytes * MIB)} bytes",
            )
        compute = d.get("compute")
        if isinstance(compute, dict):
            for key, value in compute.items():
                if (key.endswith("_tflops") or key.endswith("_tops")) and _num(value) and value > 1e5:
                    yield _p(
                        doc,
                        ("compute", key),
                        "VA301",
                        f"compute.{key} is {value:g}: that looks like FLOP/s, not TFLOPS",
                        f"{value:g} FLOP/s is {value / 1e12:g} TFLOPS",
                    )
    for doc in ctx.docs("measurements"):
        measured = doc.data.get("measured")
        if isinstance(measured, dict):
            for key, value in measured.items():
                if key.endswith("_bytes") and _num(value) and 0 < value < MIB:
                    yield _p(
                        doc,
                        ("measured", key),
                        "VA301",
                        f"measured.{key} is {value:g}: that looks like MiB or GiB, not bytes",
                        f"{value:g} MiB is {int(value * MIB)} bytes",
                    )


_NOMINAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MB|GB|TB|MiB|GiB|TiB)\b")


def nominal_bytes(label: str) -> tuple[float, float] | None:
    """'24 GB' -> (24e9, 24 * 2**30): the decimal and binary readings of a marketing label."""
    m = _NOMINAL.match(label)
    if not m:
        return None
    n = float(m.group(1))
    power = {"M": 2, "G": 3, "T": 4}[m.group(2)[0]]
    return n * 1000**power, n * 1024**power


@register(
    "VA302",
    "nominal-vs-usable",
    "error",
    "The usable memory the driver reports is within a few percent of the nominal label; more than "
    "10% apart means one of them is wrong (wrong card, wrong unit, or a typo).",
)
def nominal_vs_usable(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("gpus"):
        label = _get(doc.data, "memory", "nominal")
        usable = _get(doc.data, "memory", "usable_bytes")
        if not isinstance(label, str) or not _num(usable) or usable < GIB:
            continue
        readings = nominal_bytes(label)
        if readings is None:
            continue
        if not all(readings):  # '0 GB': no card is sold with no memory (and it would divide by zero)
            yield _p(
                doc,
                ("memory", "nominal"),
                "VA302",
                f"the nominal label '{label}' says no memory",
                "write the label the vendor sells the card with, e.g. '24 GB'",
            )
            continue
        # a package of several devices (MI250X: two GCDs) is labelled with its total; usable_bytes is one device's
        devices = doc.data.get("devices_per_package")
        if _num(devices) and devices >= 1:
            readings = tuple(r / devices for r in readings)
        off = min(abs(usable - r) / r for r in readings)
        if off > 0.10:
            yield _p(
                doc,
                ("memory", "usable_bytes"),
                "VA302",
                f"memory.usable_bytes ({usable / GIB:.1f} GiB) is {off:.0%} away from the nominal '{label}'",
                "check both: usable_bytes is the driver's total MiB x 2^20",
            )


@register(
    "VA303",
    "count-unit",
    "error",
    "Parameter counts are exact integers (8030261248), not billions (8) or millions; a count under "
    "a million is a unit mistake.",
)
def parameter_units(ctx: Context) -> Iterator[Problem]:
    def check(doc, path, value):
        if _num(value) and 0 < value < 1_000_000:
            scale = "billions" if value < 2000 else "millions"
            yield _p(
                doc,
                path,
                "VA303",
                f"{path[-1]} is {value:g}: that looks like {scale}, not a count",
                "write the exact parameter count from the model's config (e.g. 8030261248)",
            )

    for doc, i, v in _variants(ctx.docs("models")):
        for key in ("parameters", "active_parameters"):
            yield from check(doc, ("variants", i, key), v.get(key))
    for doc in ctx.docs("measurements"):
        yield from check(doc, ("parameters",), doc.data.get("parameters"))


@register(
    "VA304",
    "variants-sorted",
    "error",
    "Variants are listed by parameter count, smallest first, so files read alike and diffs stay small.",
)
def variants_sorted(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("models"):
        variants = doc.data.get("variants")
        if not isinstance(variants, list):
            continue
        previous = None
        for i, v in enumerate(variants):
            count = v.get("parameters") if isinstance(v, dict) else None
            if not _num(count):
                continue
            if previous is not None and count < previous[1]:
                yield _p(
                    doc,
                    ("variants", i),
                    "VA304",
                    f"variant '{v.get('id')}' ({count:,} parameters) comes after '{previous[0]}' ({previous[1]:,})",
                    "sort variants by parameters, smallest first",
                )
                continue
            previous = (v.get("id"), count)


_PUBLISHED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.I)


@register(
    "VA305",
    "parameters-vs-published",
    "warning",
    "The exact count should agree with the published size label within 25%; a larger gap usually "
    "means a count copied from another variant.",
)
def parameters_vs_published(ctx: Context) -> Iterator[Problem]:
    for doc, i, v in _variants(ctx.docs("models")):
        label, count = v.get("parameters_published"), v.get("parameters")
        if not isinstance(label, str) or not _num(count) or count < 1_000_000:
            continue
        m = _PUBLISHED.match(label)
        if not m:
            continue
        published = float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[m.group(2).upper()]
        if abs(count - published) / published > 0.25:
            yield _p(
                doc,
                ("variants", i, "parameters"),
                "VA305",
                f"parameters ({count / 1e9:.2f}B) is far from parameters_published '{label}'",
                "check the count (config-computed total) and the label",
            )


@register(
    "VA306",
    "active-parameters",
    "error",
    "A mixture-of-experts model activates part of its parameters per token: active_parameters "
    "cannot exceed parameters.",
)
def active_parameters(ctx: Context) -> Iterator[Problem]:
    for doc, i, v in _variants(ctx.docs("models")):
        active, total = v.get("active_parameters"), v.get("parameters")
        if _num(active) and _num(total) and active > total:
            yield _p(
                doc,
                ("variants", i, "active_parameters"),
                "VA306",
                f"active_parameters ({active:,}) exceeds parameters ({total:,})",
                "active_parameters is the per-token count of a MoE model; null for dense models",
            )


@register(
    "VA307",
    "gpu-share",
    "error",
    "Unified-memory machines share memory between CPU and GPU, so they must say what fraction the "
    "GPU may use (gpu_share, in (0, 1]); discrete GPUs must leave it null.",
)
def gpu_share(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("gpus"):
        segment = doc.data.get("segment")
        memory = doc.data.get("memory")
        if not isinstance(memory, dict):
            continue
        share = memory.get("gpu_share")
        where = ("memory", "gpu_share")
        if segment == "unified-memory" and share is None:
            yield _p(
                doc,
                ("memory",),
                "VA307",
                "a unified-memory GPU needs memory.gpu_share",
                "the fraction of usable_bytes the GPU may use by default, e.g. 0.75",
                key=True,
            )
        elif segment not in (None, "unified-memory") and share is not None:
            yield _p(
                doc,
                where,
                "VA307",
                f"memory.gpu_share is set on a {segment} GPU",
                "only unified-memory machines have a gpu_share; write null",
            )
        if _num(share) and not 0 < share <= 1:
            yield _p(
                doc,
                where,
                "VA307",
                f"memory.gpu_share is {share:g}, outside (0, 1]",
                "write a fraction, e.g. 0.75 for 75%",
            )


_MEASURED_ORDER = ("weights_loaded_bytes", "peak_allocated_bytes", "peak_reserved_bytes", "process_peak_bytes")


@register(
    "VA308",
    "measurement-consistency",
    "error",
    "A measurement is judged on the quantity `compare` names, so that quantity must be present "
    "(unless the run ran out of memory: an OOM is a result without a peak); "
    "and PyTorch's reserved memory is never below its allocated memory.",
)
def measurement_consistency(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("measurements"):
        measured = doc.data.get("measured")
        compare = doc.data.get("compare")
        oom = doc.data.get("outcome") == "oom"
        if isinstance(measured, dict) and isinstance(compare, str) and not oom:
            if _get(measured, *compare.split(".")) is None:
                present = [k for k, v in measured.items() if v is not None]
                yield _p(
                    doc,
                    ("compare",),
                    "VA308",
                    f"compare names '{compare}', which measured does not give",
                    "measured gives: " + (", ".join(present) or "nothing"),
                )
        if isinstance(measured, dict):
            alloc, reserved = measured.get("peak_allocated_bytes"), measured.get("peak_reserved_bytes")
            if _num(alloc) and _num(reserved) and reserved < alloc:
                yield _p(
                    doc,
                    ("measured", "peak_reserved_bytes"),
                    "VA308",
                    f"peak_reserved_bytes ({reserved:,}) is below peak_allocated_bytes ({alloc:,})",
                    "the caching allocator reserves at least what is allocated; check the two are not swapped",
                )


@register(
    "VA309",
    "measurement-parameters",
    "warning",
    "A measurement's parameter count should match the catalogue variant it names (within 2%); a "
    "mismatch usually means the wrong variant was named.",
)
def measurement_parameters(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("measurements"):
        model, params = doc.data.get("model"), doc.data.get("parameters")
        variant = ctx.catalog.variants.get(model) if isinstance(model, str) else None
        if variant is None or not _num(params) or params <= 0:
            continue
        expected = variant.get("parameters")
        if _num(expected) and expected > 0 and abs(params - expected) / expected > 0.02:
            yield _p(
                doc,
                ("parameters",),
                "VA309",
                f"parameters ({params:,}) differs from {model}'s {expected:,} in the catalogue",
                "name the variant that was measured, or describe it with `config`",
            )


# ---- VA32x: GPU facts --------------------------------------------------------------------


def _device_nominal_bytes(doc: Document) -> float | None:
    """The larger (binary) reading of the nominal label, for ONE device of the package."""
    label = _get(doc.data, "memory", "nominal")
    readings = nominal_bytes(label) if isinstance(label, str) else None
    if readings is None:
        return None
    devices = doc.data.get("devices_per_package")
    return max(readings) / (devices if _num(devices) and devices >= 1 else 1)


def _todos(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, text) of every string value that still starts with TODO."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _todos(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _todos(v, path + (i,))
    elif isinstance(value, str) and value.startswith("TODO"):
        yield path, value


@register(
    "VA310",
    "todo-left",
    "error",
    "vramatlas add writes what only a person can know (names, published size, licence, dates, sources) "
    "as TODO; a file with a TODO left is not finished, whatever else validates.",
)
def todo_left(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.documents:
        for path, text in _todos(doc.data):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
            what = text[len("TODO") :].lstrip(" :") or "fill it in (the comment beside it gives an example)"
            yield _p(doc, path, "VA310", f"{where} is still TODO: {what}", "complete it, with its source in sources")


@register(
    "VA321",
    "usable-above-nominal",
    "error",
    "The driver can never report more memory than the chips hold: usable_bytes above the nominal label "
    "read in binary units (24 GB as 24 GiB, per device of a multi-die package) is a typo or a wrong unit, "
    "and would turn a borderline case into a false 'fits'.",
)
def usable_above_nominal(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("gpus"):
        usable = _get(doc.data, "memory", "usable_bytes")
        ceiling = _device_nominal_bytes(doc)
        if _num(usable) and ceiling is not None and usable > ceiling:
            yield _p(
                doc,
                ("memory", "usable_bytes"),
                "VA321",
                f"memory.usable_bytes ({usable / MIB:,.0f} MiB) is more than the nominal "
                f"'{_get(doc.data, 'memory', 'nominal')}' can hold ({ceiling / MIB:,.0f} MiB per device)",
                "copy the driver's total (nvidia-smi MiB x 2^20); for a multi-die package set devices_per_package",
            )


_PEAK_KEYS = {
    "bf16": "bf16_tflops",
    "fp16": "fp16_tflops",
    "fp16_acc16": "fp16_acc16_tflops",
    "int8": "int8_tops",
    "fp8": "fp8_tflops",
    "fp4": "fp4_tflops",
}


@register(
    "VA322",
    "peak-accumulate",
    "error",
    "Each compute peak states the accumulate precision it is quoted for, and only the peaks that exist do; "
    "FP16 with FP16 accumulate is never slower than with FP32 accumulate. GeForce parts halve FP32 "
    "accumulate, so a copied number is easily the wrong one of the two.",
)
def peak_accumulate(ctx: Context) -> Iterator[Problem]:
    for doc in ctx.docs("gpus"):
        compute = doc.data.get("compute")
        if not isinstance(compute, dict):
            continue
        accumulate = compute.get("accumulate")
        if isinstance(accumulate, dict):
            for key, field_ in _PEAK_KEYS.items():
                if field_ not in compute or key not in accumulate:
                    continue
                has_peak, has_mode = compute[field_] is not None, accumulate[key] is not None
                if has_peak != has_mode:
                    yield _p(
                        doc,
                        ("compute", "accumulate", key),
                        "VA322",
                        f"compute.{field_} is {compute[field_]!r} but accumulate.{key} is {accumulate[key]!r}",
                        "give the accumulate precision exactly for the peaks that are not null",
                    )
        fp16, acc16 = compute.get("fp16_tflops"), compute.get("fp16_acc16_tflops")
        if _num(fp16) and _num(acc16) and acc16 < fp16:
            yield _p(
                doc,
                ("compute", "fp16_acc16_tflops"),
                "VA322",
                f"fp16_acc16_tflops ({acc16:g}) is below fp16_tflops ({fp16:g}, FP32 accumulate)",
                "FP16 accumulate is at least as fast: swapped? (GeForce: fp16_acc16 = 2 x fp16)",
            )
