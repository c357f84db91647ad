"""Every site chart goes through chart.to_dict(), which validates it against the Vega-Lite schema."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import pytest

from vramatlas.memory import COMPONENTS
from vramatlas.site import charts


def _all_data(spec: dict) -> list[dict]:
    out = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("data"), dict):
                out.append(node["data"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    return out


def test_schema_is_the_vendored_vega_lite_major():
    spec = charts.spec(alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x="a:Q"))
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")


def test_heatmap_reads_its_data_by_url():
    spec = charts.spec(charts.heatmap("data/heatmap.json", ["GPU A", "GPU B"], ["m1", "m2"]))
    assert {"url": "data/heatmap.json", "format": {"type": "json"}} in _all_data(spec)
    assert spec["encoding"]["color"]["scale"]["domain"] == list(charts.PRECISION_ORDER)
    assert spec["mark"]["type"] == "rect"


def test_memory_vs_context_has_capacity_line_and_method_input():
    chart = charts.memory_vs_context(
        "data/curves.json",
        ["Model A"],
        ["inference-bf16", "qlora"],
        ["bf16", "QLoRA"],
        "inference-bf16",
        24.0,
        0.6,
        "RTX 4090",
    )
    spec = charts.spec(chart)
    assert spec["params"][0]["name"] == "method"
    assert spec["params"][0]["bind"]["options"] == ["inference-bf16", "qlora"]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["line", "rule", "text"]
    rule_data = spec["datasets"][spec["layer"][1]["data"]["name"]]
    assert rule_data[0]["cap"] == 24.0
    assert "GiB" in spec["layer"][0]["encoding"]["y"]["title"]


def test_component_bars_stack_in_component_order():
    rows = [
        {"method": m, "component": c, "gib": 1.0 + i, "order": i}
        for m in ("bf16", "NF4")
        for i, c in enumerate(COMPONENTS)
    ]
    spec = charts.spec(charts.component_bars(rows, "test"))
    assert spec["encoding"]["color"]["scale"]["domain"] == [charts.component_label(c) for c in COMPONENTS]
    assert spec["encoding"]["order"]["field"] == "order"
    assert "GiB" in spec["encoding"]["x"]["title"]


def test_model_context_lines_validate():
    rows = [{"method": "bf16", "seq_len": 2048, "gib": 16.0}, {"method": "bf16", "seq_len": 8192, "gib": 18.0}]
    spec = charts.spec(charts.model_context_lines(rows, [{"name": "RTX 4090", "gib": 24.0}], "t"))
    assert len(spec["layer"]) == 3


def test_explorer_draws_named_rows_coloured_and_labelled():
    """The page's controls fill the named data; colour (colour-blind-safe) is never the only cue."""
    spec = charts.spec(charts.explorer(["m1", "m2"]))
    names = {d.get("name") for d in _all_data(spec)}
    assert {"rows", "cap"} <= names
    bars, labels, rule = spec["layer"]
    assert bars["encoding"]["color"]["scale"]["range"] == list(charts.FITS_COLORS.values())
    assert labels["mark"]["type"] == "text" and labels["encoding"]["text"]["field"] == "label"
    assert spec["width"] == "container"
    assert {p["name"] for p in spec["params"]} == {"xmax"}


def test_every_chart_has_readable_labels_and_follows_the_theme():
    spec = charts.spec(charts.calculator_breakdown())
    assert spec["config"]["axis"]["labelFontSize"] >= 11 and spec["config"]["legend"]["labelFontSize"] >= 11
    assert spec["config"]["axis"]["labelColor"] == "currentColor"
    assert spec["config"]["background"] == "transparent"
    assert {d.get("name") for d in _all_data(spec)} >= {"breakdown", "capacity"}


def test_predicted_vs_measured_has_identity_line():
    frame = pd.DataFrame(
        {
            "measurement": ["a", "b"],
            "method": ["x", "y"],
            "family": ["inference", "lora"],
            "measured": [10.0, 20.0],
            "predicted": [10.5, 19.0],
            "error": [0.05, -0.05],
        }
    )
    spec = charts.spec(charts.predicted_vs_measured(frame))
    line = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert line[0] == {"x": 0.0, "y": 0.0} and line[1]["x"] == line[1]["y"]


def test_invalid_chart_is_refused():
    with pytest.raises(alt.utils.schemapi.SchemaValidationError):
        bad = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x=alt.X("a:Q", scale=alt.Scale(type="nope")))
        charts.spec(bad)


def _curves_args(capacity: float, context: float, gpu: str, models: list[str]) -> tuple:
    return ("data/curves.json", models, ["inference-bf16", "qlora"], ["bf16", "QLoRA"], "qlora", capacity, context, gpu)


def _lines_args(count: int, title: str) -> tuple:
    rows = [
        {"method": ("bf16", "NF4")[i % 2], "seq_len": 2048 * (1 + i // 2), "gib": 1.5 + i / 4} for i in range(count)
    ]
    cards = [{"name": "RTX 4090", "gib": 24.0}, {"name": "H100 <b>", "gib": 79.1}][: 1 + count % 2]
    return rows, cards, title


def _bars_args(methods: tuple[str, ...], title: str) -> tuple:
    parts = COMPONENTS[: 3 + len(methods)]
    return [
        {"method": m, "component": c, "gib": 0.5 + i, "order": i} for m in methods for i, c in enumerate(parts)
    ], title


@pytest.mark.parametrize(
    "template, cases",
    [
        (
            charts.memory_vs_context,
            [
                _curves_args(23.98828125, 0.60626220703125, "NVIDIA GeForce RTX 4090", ["A", "B"]),
                _curves_args(79.1, 0.5, 'H100 "SXM" \u2028 & <script>', ["A", "B", "C"]),
                _curves_args(11.5, 0.0, "x", []),
            ],
        ),
        (charts.model_context_lines, [_lines_args(3, "Model A: peak"), _lines_args(4, "B \u2029 <i>")]),
        (charts.component_bars, [_bars_args(("bf16", "NF4"), "A"), _bars_args(("fp8",), "B\nC")]),
    ],
)
def test_a_template_fills_in_what_altair_writes(template, cases):
    """Every chart of a template after the first is the marked spec with its values put in: the same
    dict Altair writes for those values, inline data and its hashed dataset name included."""
    for args in cases * 2:  # the first call builds the template; the repeats fill it
        filled, built = template.spec(*args), charts.spec(template(*args))
        assert json.dumps(filled) == json.dumps(built)  # key order too: the page's bytes


def test_a_template_refuses_a_value_computed_in_its_build():
    def build(title: str) -> alt.Chart:
        return alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x="a:Q").properties(title=f"{title}!")

    broken = charts.Template(lambda title: {"title": title}, build)
    with pytest.raises(ValueError, match="computed inside"):
        broken.spec("first")


def test_inline_rows_are_what_altair_makes_of_a_frame_with_them():
    """The per-page charts take rows, not DataFrames: the spec (data, dataset name) is the frame's."""
    rows = [
        {"method": "bf16 <b>", "component": "weights", "gib": 14.963, "order": 0},
        {"method": "NF4", "component": "kv cache", "gib": 0.5, "order": 3},
    ]

    def chart(data):
        return alt.Chart(data).mark_bar().encode(x="gib:Q", y="method:N", color="component:N", order="order:Q")

    assert json.dumps(charts.spec(chart(charts.inline(rows)))) == json.dumps(charts.spec(chart(pd.DataFrame(rows))))
