"""The site's charts, built with Altair (Vega-Lite).

Each function returns an Altair chart; ``spec(chart)`` turns it into the
Vega-Lite dict that the page embeds (``chart.to_dict()`` validates it against
the Vega-Lite schema). The charts drawn once per GPU or model page are
:class:`Template` s: ``memory_vs_context.spec(...)`` gives the same dict as
``spec(memory_vs_context(...))`` without running Altair again. Large data is not inlined: the explorer, the heatmap and
the GPU curves read JSON files written under the site's ``data/`` folder, by a
URL relative to the site root (``assets/js/charts.js`` resolves it).

Units: GiB (2^30 bytes) on every axis, and the axis title says so.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import altair as alt
import pandas as pd
from altair.vegalite.v6.api import _dataset_name

from ..memory import COMPONENTS

GiB = 2**30

# One colour per component, the same on every chart (display order = COMPONENTS).
COMPONENT_COLORS = {
    "weights": "#4c78a8",
    "weight_copies": "#9ecae9",
    "adapter_weights": "#72b7b2",
    "kv_cache": "#f58518",
    "activations": "#e45756",
    "logits": "#ff9d98",
    "gradients": "#54a24b",
    "optimizer_states": "#88d27a",
    "master_weights": "#b79a20",
    "workspace": "#bab0ac",
    "cuda_context": "#79706e",
    "allocator_slack": "#d6a5c9",
}

# Heatmap categories, best first.
PRECISION_ORDER = ("bf16", "8-bit", "4-bit", "ternary", "does not fit")
PRECISION_COLORS = ("#1a9850", "#91cf60", "#fee08b", "#80cdc1", "#e6e6e6")

WIDTH = 640


# Every chart: labels of at least 11 px (readable on a phone), text in the page's own colour
# ("currentColor": dark mode turns it light without a re-render), a transparent background.
CONFIG = {
    "background": "transparent",
    "font": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    "axis": {
        "labelFontSize": 11,
        "titleFontSize": 12,
        "labelColor": "currentColor",
        "titleColor": "currentColor",
        "domainColor": "#888888",
        "tickColor": "#888888",
        "gridColor": "#88888840",
    },
    "legend": {"labelFontSize": 11, "titleFontSize": 12, "labelColor": "currentColor", "titleColor": "currentColor"},
    "title": {"fontSize": 13, "color": "currentColor", "subtitleColor": "currentColor"},
    "text": {"fontSize": 11},
    "view": {"stroke": None},
}
# Okabe & Ito's colour-blind-safe pair, with a label on every bar as the second cue.
FITS_COLORS = {"fits": "#0072B2", "does not fit": "#D55E00"}


_VALIDATED: set[str] = set()  # chart kinds (functions) of which one chart has been validated in this process


def spec(chart: alt.TopLevelMixin, kind: str | None = None) -> dict:
    """The Vega-Lite dict of a chart, validated against the schema by Altair, with the site's config;
    strings Vega-safe.

    ``kind``: the chart function (a :class:`Template`'s name): only the first chart of a kind is validated
    in a process, since the charts of one function differ only in their data and titles (tests/test_charts.py
    validates every function's output).
    """
    from ..escape import vega_safe

    out = vega_safe(chart.to_dict(validate=kind is None or kind not in _VALIDATED))
    if kind is not None:
        _VALIDATED.add(kind)
    config = out.setdefault("config", {})
    for key, value in CONFIG.items():
        if isinstance(value, dict):
            config[key] = {**value, **config.get(key, {})}
        else:
            config.setdefault(key, value)
    return out


# ------------------------------------------------------------ per-page charts


_MARK = "\ue000"  # a private-use character: it marks an open value in a template (no chart text holds one)


class Template:
    """A chart function whose charts differ only in their values (a card's capacity, a model's rows).

    Altair takes 15-30 ms a chart; a build draws one per GPU and two per model. So Altair builds
    (and validates) the first chart of a template, then a spec with a marker in place of each value;
    every later spec is that spec with the values put in, the dict Altair would write
    (tests/test_charts.py compares the two, key order included).

    ``values(*args)`` (the function decorated with ``@template(build)``) turns the chart's arguments
    into the values as the spec holds them: strings, numbers and lists as they are, rows as
    :func:`inline` data. ``build(**values)`` makes the Altair chart from them and computes nothing from
    them (a marker has no maximum; a value written into a longer string is refused).
    Calling the template makes the Altair chart; :meth:`spec` makes the Vega-Lite dict.
    """

    def __init__(self, values: Callable[..., dict], build: Callable[..., alt.TopLevelMixin]):
        functools.update_wrapper(self, values)
        self.values, self.build = values, build
        self._marked: dict | None = None
        self._dataset_names: dict[str, str] = {}  # a data value's marker -> its dataset's name in the template

    def __call__(self, *args: Any, **kwargs: Any) -> alt.TopLevelMixin:
        return self.build(**self.values(*args, **kwargs))

    def spec(self, *args: Any, **kwargs: Any) -> dict:
        values = self.values(*args, **kwargs)
        if self._marked is None:
            first = spec(self.build(**values), kind=self.__name__)  # validated
            marks = {name: _marker(name, value) for name, value in values.items()}
            with alt.utils.schemapi.debug_mode(False):  # a marker is no valid value: build unchecked
                self._marked = spec(self.build(**marks), kind=self.__name__)
            _check_whole(self._marked, {_mark(name) for name in values})
            self._dataset_names = {mark: name for name, mark in self._marked.get("datasets", {}).items()}
            return first
        return _put(self._marked, self._filling(values))

    def _filling(self, values: dict) -> dict:
        """Each marker's replacement: the value (Vega-safe, as :func:`spec` makes every string); for inline
        data, its rows as Altair writes them, and its dataset's name (Altair's hash of the rows)."""
        from ..escape import vega_safe

        out = {}
        for name, value in values.items():
            if _is_inline(value):  # Altair names inline data by a hash of its rows
                out[self._dataset_names[_mark(name)]] = _dataset_name(value["values"])
                value = value["values"]
            out[_mark(name)] = vega_safe(value)
        return out


Rows = list[dict[str, Any]]


def template(build: Callable[..., alt.TopLevelMixin]) -> Callable[[Callable[..., dict]], Template]:
    """``@template(build)`` over a chart's values function makes it a :class:`Template`."""
    return lambda values: Template(values, build)


def inline(rows: Rows) -> dict:
    """Rows (one dict each) as a chart's inline data: what Altair makes of a DataFrame with those rows,
    without the DataFrame (building and sanitising one costs more than the chart's spec)."""
    return {"values": rows}


def _is_inline(value: Any) -> bool:
    return isinstance(value, dict) and "values" in value


def _mark(name: str) -> str:
    return f"{_MARK}{name}{_MARK}"


def _marker(name: str, value: Any) -> Any:
    """What the template's chart is built with in place of ``value``: its marker, in the shape Altair
    checks some values for (a list, inline data)."""
    if _is_inline(value):
        return {"values": _mark(name)}
    return [_mark(name)] if isinstance(value, list) else _mark(name)


def _check_whole(node: Any, marks: set[str]) -> None:
    """Refuse a template whose build wrote a marker into a longer string: that value could not be put in."""
    if isinstance(node, dict):
        for key, value in node.items():
            _check_whole(key, marks)
            _check_whole(value, marks)
    elif isinstance(node, list):
        for value in node:
            _check_whole(value, marks)
    elif isinstance(node, str) and _MARK in node and node not in marks:
        raise ValueError(f"chart template: a value was computed inside the chart's build: {node!r}")


def _put(node: Any, filling: dict) -> Any:
    """``node`` with every marker (a string, a key, a list's one marker) replaced by its filling."""
    if isinstance(node, str):
        return filling.get(node, node)
    if isinstance(node, dict):
        return {filling.get(k, k): _put(v, filling) for k, v in node.items()}
    if isinstance(node, list):
        whole = filling.get(node[0]) if len(node) == 1 and isinstance(node[0], str) else None
        return whole if isinstance(whole, list) else [_put(v, filling) for v in node]
    return node


def component_label(name: str) -> str:
    return name.replace("_", " ")


# ------------------------------------------------------------------ home


def heatmap(url: str, gpu_order: Sequence[str], model_order: Sequence[str]) -> alt.Chart:
    """GPU x model: the most precise inference format that fits on one card.

    Data rows (from ``url``): g (GPU name), m (model name), c (category from
    PRECISION_ORDER), p (peak GiB of that format), s (context length).
    """
    data = alt.Data(url=url, format=alt.DataFormat(type="json"))
    return (
        alt.Chart(data, title="Best inference format that fits on one card (8k context, batch 1)")
        .mark_rect(stroke="#88888860", strokeWidth=0.5)
        .encode(
            x=alt.X(
                "m:N", sort=list(model_order), title=None, axis=alt.Axis(labelAngle=-50, labelLimit=140, orient="top")
            ),
            y=alt.Y("g:N", sort=list(gpu_order), title=None, axis=alt.Axis(labelLimit=220)),
            color=alt.Color(
                "c:N",
                title="Fits at",
                scale=alt.Scale(domain=list(PRECISION_ORDER), range=list(PRECISION_COLORS)),
                legend=alt.Legend(orient="bottom", direction="horizontal"),
            ),
            tooltip=[
                alt.Tooltip("g:N", title="GPU"),
                alt.Tooltip("m:N", title="model"),
                alt.Tooltip("c:N", title="best format"),
                alt.Tooltip("p:Q", title="peak (GiB)", format=".1f"),
                alt.Tooltip("s:Q", title="context (tokens)", format=","),
            ],
        )
        .properties(width=alt.Step(13), height=alt.Step(13), usermeta={"narrow": HEATMAP_NARROW})
    )


# A model per 13 px column needs about 1,400 px. In a box narrower than ``below`` (a phone) charts.js
# merges ``patch`` into the spec (a JSON merge patch): the grid takes the box's width, the columns
# go without their names (a tap shows them; the table below has them all), GPU names are cut to fit.
HEATMAP_NARROW = {
    "below": 600,
    "patch": {
        "width": "container",
        "title": {"text": ["Best inference format that fits", "on one card (8k context, batch 1)"]},
        "encoding": {
            "x": {"axis": {"labels": False, "ticks": False, "title": "models, smallest to largest (tap a cell)"}},
            "y": {"axis": {"labelLimit": 120}},
            "color": {"legend": {"columns": 3}},
        },
    },
}


# Two legend columns of 140 px labels need about 360 px: on a phone (a 358 px box) the names are cut at 115.
CURVES_NARROW = {"below": 600, "patch": {"config": {"legend": {"labelLimit": 115}}}}


# ------------------------------------------------------------------- GPU


def _memory_vs_context_chart(
    url: str,
    model_names: list[str],
    methods: list[str],
    method_labels: list[str],
    default_method: str,
    near_card: str,
    with_context: str,
    y_top: float,
    card: dict,
) -> alt.LayerChart:
    data = alt.Data(url=url, format=alt.DataFormat(type="json"))
    method = alt.param(
        name="method",
        value=default_method,
        bind=alt.binding_select(options=methods, labels=method_labels, name="Method "),
    )
    lines = (
        alt.Chart(data)
        .transform_filter("datum.b == 1 && datum.t == method")
        .transform_joinaggregate(smallest="min(n)", groupby=["i"])
        .transform_filter(near_card)
        .transform_calculate(gib=with_context)
        .mark_line(point=True, clip=True)
        .encode(
            x=alt.X(
                "s:Q",
                scale=alt.Scale(type="log", base=2),
                title="context length (tokens, log scale)",
                axis=alt.Axis(values=[2048, 4096, 8192, 16384, 32768, 65536, 131072], labelExpr=_K_LABEL),
            ),
            y=alt.Y(
                "gib:Q",
                title="peak memory per GPU (GiB)",
                scale=alt.Scale(domain=[0, y_top], clamp=False),
            ),
            color=alt.Color(
                "m:N",
                title="model",
                sort=model_names,
                legend=alt.Legend(orient="bottom", columns=2),  # labels cut at 140 px (config: CURVES_NARROW)
                scale=alt.Scale(scheme="tableau10"),
            ),
            shape=alt.Shape("m:N", title="model", sort=model_names),
            tooltip=[
                alt.Tooltip("m:N", title="model"),
                alt.Tooltip("s:Q", title="context", format=","),
                alt.Tooltip("gib:Q", title="peak (GiB)", format=".1f"),
            ],
        )
    )
    rule = (
        alt.Chart(card)
        .mark_rule(color="#b42318", strokeDash=[6, 3], strokeWidth=2)
        .encode(y="cap:Q", tooltip=[alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("cap:Q", title="usable (GiB)")])
    )
    text = (
        alt.Chart(card)
        .mark_text(align="left", dx=4, dy=-7, color="#b42318", fontWeight="bold")
        .encode(y="cap:Q", x=alt.value(0), text="label:N")
    )
    return (
        alt.layer(lines, rule, text)
        .add_params(method)
        .properties(
            width="container",
            height=340,
            usermeta={"narrow": CURVES_NARROW},
            # two lines: one would be wider than a phone (a chart's title does not wrap)
            title=alt.Title(["Peak memory against context, batch 1", "(above the red line: does not fit)"]),
        )
        .configure_legend(labelLimit=140)
    )


@template(_memory_vs_context_chart)
def memory_vs_context(
    url: str,
    model_names: Sequence[str],
    methods: Sequence[str],
    method_labels: Sequence[str],
    default_method: str,
    capacity_gib: float,
    context_gib: float,
    gpu_name: str,
) -> dict:
    """Peak memory (GiB) against context length for a few models, the card's capacity as a line.

    Data rows (from ``url``, shared by every GPU page): i (model id), m (model
    name), t (method id), s (context), b (batch), n (peak GiB without the CUDA context).
    The card's own CUDA context is added here, so one file serves every card.
    """
    # The models near this card's size for the chosen method: smallest peak between a fifth
    # of the card and 1.3 times it (the others are far below or far above the line).
    lo, hi = 0.2 * capacity_gib - context_gib, 1.3 * capacity_gib - context_gib
    return {
        "url": url,
        "model_names": list(model_names),
        "methods": list(methods),
        "method_labels": list(method_labels),
        "default_method": default_method,
        "near_card": f"datum.smallest >= {lo!r} && datum.smallest <= {hi!r}",
        "with_context": f"datum.n + {context_gib!r}",
        "y_top": round(capacity_gib * 1.6, 1),
        # short enough for a phone's plot (the page says which card it is)
        "card": inline([{"cap": capacity_gib, "label": f"{capacity_gib:.1f} GiB usable", "gpu": gpu_name}]),
    }


# ----------------------------------------------------------------- models


def _component_bars_chart(
    data: dict, title: str, methods: list[str], labels: list[str], colors: list[str]
) -> alt.Chart:
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            y=alt.Y(
                "method:N",
                title=None,
                sort=methods,
                axis=alt.Axis(labelLimit=alt.ExprRef("width < 300 ? 90 : 220")),
            ),
            x=alt.X("sum(gib):Q", title="peak memory per GPU (GiB)"),
            color=alt.Color(
                "component:N",
                title="component",
                sort=labels,
                scale=alt.Scale(domain=labels, range=colors),
                legend=alt.Legend(orient="bottom", columns=2, labelLimit=130),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("method:N"),
                alt.Tooltip("component:N"),
                alt.Tooltip("gib:Q", title="GiB", format=".2f"),
            ],
        )
        .properties(width="container", height=alt.Step(22))
    )


@template(_component_bars_chart)
def component_bars(rows: Rows, title: str) -> dict:
    """Stacked bars: one bar per method, one segment per component (GiB).

    ``rows``: method (label), component, gib, order (component index).
    """
    present = [c for c in COMPONENTS if c in {r["component"] for r in rows}]
    return {
        "data": inline([{**r, "component": component_label(r["component"])} for r in rows]),
        "title": title,
        "methods": list(dict.fromkeys(r["method"] for r in rows)),
        "labels": [component_label(c) for c in present],
        "colors": [COMPONENT_COLORS[c] for c in present],
    }


def _model_context_lines_chart(
    frame: dict, cards: dict, title: str, methods: list[str], bottom: float, top: float
) -> alt.LayerChart:
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "seq_len:Q",
                scale=alt.Scale(type="log", base=2),
                title="context length (tokens, log scale)",
                axis=alt.Axis(labelExpr=_K_LABEL),
            ),
            y=alt.Y(
                "gib:Q",
                title="peak memory per GPU (GiB, log scale)",
                scale=alt.Scale(type="log", domain=[bottom, top], nice=False),
            ),
            color=alt.Color(
                "method:N",
                title="method",
                sort=methods,
                legend=alt.Legend(orient="bottom", columns=3, labelLimit=90),
            ),
            shape=alt.Shape("method:N", title="method", sort=methods),
            tooltip=[
                alt.Tooltip("method:N"),
                alt.Tooltip("seq_len:Q", title="context", format=","),
                alt.Tooltip("gib:Q", title="peak (GiB)", format=".1f"),
            ],
        )
    )
    rules = alt.Chart(cards).mark_rule(color="#777", strokeDash=[4, 3]).encode(y="gib:Q")
    labels = (
        alt.Chart(cards)
        .mark_text(align="right", dy=-5, color="#777777", fontSize=11)
        .encode(y="gib:Q", x=alt.value(alt.ExprRef("width")), text="name:N")
    )
    return alt.layer(lines, rules, labels).properties(width="container", height=320, title=title)


@template(_model_context_lines_chart)
def model_context_lines(rows: Rows, cards: Rows, title: str) -> dict:
    """Peak (GiB) against context per method for one model, common cards as labelled lines.

    ``rows``: method (label), seq_len, gib. ``cards``: name, gib.
    """
    peaks, card_gib = [r["gib"] for r in rows], [c["gib"] for c in cards]
    return {
        "frame": inline(rows),
        "cards": inline(cards),
        "title": title,
        "methods": list(dict.fromkeys(r["method"] for r in rows)),
        "bottom": float(min(peaks + card_gib)) * 0.85,
        "top": float(max(peaks + card_gib)) * 1.1,
    }


# ---------------------------------------------------------------- explorer


def explorer(model_order: Sequence[str]) -> alt.LayerChart:
    """Every model's peak memory for the chosen GPU, method, context and batch, against the card's memory.

    The page's controls (assets/js/explorer.js) compute the rows from data/curves.json and
    data/gpus.json and hand them to the named data ``rows`` (m: model, gib: peak incl. the
    card's CUDA context or null beyond the model's maximum context, x: where the label sits,
    verdict, label, spare) and ``cap`` (cap, name); the table under the chart shows the same rows.
    Bars are coloured by verdict (colour-blind-safe) and labelled, so colour is never the only cue.
    """
    xmax = alt.param(name="xmax", value=1024)
    rows = alt.Data(name="rows")
    y = alt.Y(
        "m:N", sort=list(model_order), title=None, axis=alt.Axis(labelLimit=alt.ExprRef("width < 320 ? 120 : 220"))
    )
    x_scale = alt.Scale(type="log", domainMin=0.25, domainMax=alt.ExprRef("xmax"), nice=False)
    tooltip = [
        alt.Tooltip("m:N", title="model"),
        alt.Tooltip("gib:Q", title="peak (GiB)", format=".2f"),
        alt.Tooltip("spare:Q", title="headroom (GiB)", format=".2f"),
        alt.Tooltip("verdict:N", title="verdict"),
    ]
    bars = (
        alt.Chart(rows)
        .transform_filter("datum.gib != null")
        .mark_bar()
        .encode(
            y=y,
            x=alt.X("gib:Q", title="peak memory per GPU (GiB, log scale)", stack=None, scale=x_scale),
            color=alt.Color(
                "verdict:N",
                title="on one card",
                scale=alt.Scale(domain=list(FITS_COLORS), range=list(FITS_COLORS.values())),
                legend=alt.Legend(orient="top", direction="horizontal", labelLimit=250),
            ),
            tooltip=tooltip,
        )
    )
    labels = (
        alt.Chart(rows)
        .mark_text(align="left", dx=3, baseline="middle")
        .encode(y=y, x=alt.X("x:Q", scale=x_scale), text="label:N", tooltip=tooltip, color=alt.value("currentColor"))
    )
    rule = (
        alt.Chart(alt.Data(name="cap"))
        .mark_rule(color="#888888", strokeDash=[6, 3], strokeWidth=2)
        .encode(
            x=alt.X("cap:Q", scale=x_scale),
            tooltip=[alt.Tooltip("name:N", title="GPU"), alt.Tooltip("cap:Q", title="usable (GiB)", format=".1f")],
        )
    )
    return (
        alt.layer(bars, labels, rule)
        .add_params(xmax)
        .properties(
            width="container", height=alt.Step(16), title="Peak memory per model (dashed line: the GPU's usable memory)"
        )
    )


def calculator_breakdown() -> alt.LayerChart:
    """The calculator's answer as one stacked bar per GPU (GiB), the card's usable memory as a line.

    Named data ``breakdown`` (component, gib, order, bar) and ``capacity`` (cap, label), filled by
    assets/js/calculator.js from the JSON the estimate printed.
    """
    present = [component_label(c) for c in COMPONENTS]
    bars = (
        alt.Chart(alt.Data(name="breakdown"))
        .mark_bar()
        .encode(
            y=alt.Y("bar:N", title=None),
            x=alt.X("sum(gib):Q", title="memory per GPU (GiB)"),
            color=alt.Color(
                "component:N",
                title="component",
                sort=present,
                scale=alt.Scale(domain=present, range=[COMPONENT_COLORS[c] for c in COMPONENTS]),
                legend=alt.Legend(orient="bottom", columns=2, labelLimit=130),
            ),
            order=alt.Order("order:Q"),
            tooltip=[alt.Tooltip("component:N"), alt.Tooltip("gib:Q", title="GiB", format=".2f")],
        )
    )
    rule = (
        alt.Chart(alt.Data(name="capacity"))
        .mark_rule(color="#888888", strokeDash=[6, 3], strokeWidth=2)
        .encode(x="cap:Q", tooltip=[alt.Tooltip("label:N", title="GPU")])
    )
    return alt.layer(bars, rule).properties(
        width="container", height=60, title="Where the memory goes (dashed: the GPU's usable memory)"
    )


# ---------------------------------------------------------------- accuracy


def predicted_vs_measured(frame: pd.DataFrame) -> alt.LayerChart:
    """Scatter of predicted against measured peak (GiB), with the identity line.

    ``frame``: measurement, method, family, measured, predicted (GiB), error.
    """
    top = float(max(frame["measured"].max(), frame["predicted"].max())) * 1.05 if len(frame) else 1.0
    ident = pd.DataFrame({"x": [0.0, top], "y": [0.0, top]})
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=70, opacity=0.85)
        .encode(
            x=alt.X("measured:Q", title="measured peak (GiB)", scale=alt.Scale(domain=[0, top])),
            y=alt.Y("predicted:Q", title="predicted peak (GiB)", scale=alt.Scale(domain=[0, top])),
            color=alt.Color("family:N", title="method family"),
            shape=alt.Shape("family:N", title="method family"),
            tooltip=[
                alt.Tooltip("measurement:N"),
                alt.Tooltip("method:N"),
                alt.Tooltip("measured:Q", title="measured (GiB)", format=".2f"),
                alt.Tooltip("predicted:Q", title="predicted (GiB)", format=".2f"),
                alt.Tooltip("error:Q", title="error", format="+.1%"),
            ],
        )
    )
    line = alt.Chart(ident).mark_line(color="#888", strokeDash=[5, 4]).encode(x="x:Q", y="y:Q")
    return alt.layer(line, points).properties(
        width="container", height=420, title="Predicted against measured peak (dashed: exact)"
    )


def _k(n: int) -> str:
    n = int(n)
    return f"{n // 1024}k" if n % 1024 == 0 and n >= 1024 else f"{n:,}"


_K_LABEL = "datum.value >= 1024 ? format(datum.value / 1024, 'd') + 'k' : format(datum.value, 'd')"


def _js_list(values: Sequence[str]) -> str:
    import json

    return json.dumps(list(values))
