"""The notebook panel's SVG charts: transparent and readable on light and dark notebooks,
each metric on its own axes, the monitor's batch numbers, an estimate inside its band,
thresholds drawn, new categories marked; tick labels that tell every tick apart; and any
column name drawn as text in a well-formed chart."""

from __future__ import annotations

import base64
import dataclasses
import math
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlnb.monitoring.drift import drift
from mlnb.monitoring.drift.report import ColumnResult, history_rows
from mlnb.render.drift_charts import distribution_svg, scores_svg, timeline_svg
from mlnb.render.svg import data_url, tick_label, ticks
from tests.drift.frames import monitor_history, reference_frame, shifted_frame

SVG = "{http://www.w3.org/2000/svg}"
LIGHT, DARK = "#ffffff", "#111111"  # a white notebook and JupyterLab's dark theme


def _with_estimate(rows: list[dict]) -> list[dict]:
    for i, r in enumerate(rows):
        r["metrics"] = {"accuracy": 0.8 - 0.02 * i, "estimated_accuracy": 0.81 - 0.02 * i}
        r["bands"] = {"estimated_accuracy": [0.78 - 0.02 * i, 0.84 - 0.02 * i]}
        r["thresholds"] = {"accuracy": 0.75}
    return rows


def _luminance(hex_color: str) -> float:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    low, high = sorted((_luminance(a), _luminance(b)))
    return (high + 0.05) / (low + 0.05)


def _history(n: int = 4, first_number: int = 7) -> list[dict]:
    return monitor_history(n, first_number, thresholds={"r2": 0.6, "drift_share": 0.5})


def _panels(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("aria-label"): g for g in root.iter(f"{SVG}g") if g.get("aria-label")}


def _texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def _chart(which: str) -> str:
    report = drift(reference_frame(3000), shifted_frame(2000))
    if which == "numeric":
        return distribution_svg(report.column("x0"))
    if which == "categorical":
        return distribution_svg(report.column("plan"))
    if which == "scores":
        return scores_svg(drift(reference_frame(3000), reference_frame(2000, seed=9)))
    return timeline_svg(history_rows(_with_estimate(_history())))


@pytest.mark.parametrize("which", ["numeric", "categorical", "scores", "timeline"])
def test_charts_are_transparent_and_every_colour_reads_on_light_and_dark(which):
    root = ET.fromstring(_chart(which))
    width, height = float(root.get("width")), float(root.get("height"))
    colours = set()
    for element in root.iter():
        for attr in ("fill", "stroke"):
            value = element.get(attr)
            if value and value != "none":
                assert value.startswith("#") and len(value) == 7, value
                colours.add(value)
        if element.tag == f"{SVG}rect":  # no backdrop: the notebook's background shows
            assert not (
                float(element.get("width", 0)) >= width * 0.9
                and float(element.get("height", 0)) >= height * 0.9
            )
    assert "style" not in root.attrib and root.get("fill") == "#768390"  # grey text
    for colour in colours:
        assert _contrast(colour, LIGHT) >= 3 and _contrast(colour, DARK) >= 3, colour
    assert len(list(root.iter(f"{SVG}path"))) >= 3  # something is drawn


def test_each_metric_gets_its_own_axes_and_batches_keep_their_numbers():
    svg = timeline_svg(history_rows(_history(4, first_number=7)))
    panels = _panels(svg)
    assert list(panels) == ["share drifted", "score ÷ threshold", "mae", "r2", "rmse"]
    r2_ticks = [float(t) for t in _texts(panels["r2"]) if t.replace(".", "").isdigit()]
    assert r2_ticks and max(r2_ticks) - min(r2_ticks) < 1  # r2 on its own scale, not mae's
    mae_ticks = [float(t) for t in _texts(panels["mae"]) if t.replace(".", "").isdigit()]
    assert min(mae_ticks) > 40
    bottom = _texts(ET.fromstring(svg))[-5:]
    assert bottom == ["7", "8", "9", "10", "batch"]


def test_thresholds_are_dashed_steps_on_their_metrics_axes():
    panels = _panels(timeline_svg(history_rows(_history())))
    for name in ("share drifted", "r2", "score ÷ threshold"):
        dashed = [p for p in panels[name].iter(f"{SVG}path") if p.get("stroke-dasharray")]
        assert dashed, name
    assert "r2 threshold" in _texts(panels["r2"])
    assert not [p for p in panels["mae"].iter(f"{SVG}path") if p.get("stroke-dasharray")]


def test_an_estimate_shares_its_realized_metrics_axes_with_its_band():
    panels = _panels(timeline_svg(history_rows(_with_estimate(_history(3)))))
    assert list(panels) == ["share drifted", "score ÷ threshold", "accuracy"]
    accuracy = panels["accuracy"]
    paths = list(accuracy.iter(f"{SVG}path"))
    assert [p for p in paths if p.get("fill-opacity")]  # the shaded band
    assert [p for p in paths if p.get("stroke-dasharray") == "2 2.5"]  # the dotted estimate
    labels = _texts(accuracy)
    assert "accuracy" in labels and "estimated_accuracy (95% band)" in labels


def test_dated_batches_are_labelled_by_date():
    start = time.mktime((2025, 3, 1, 0, 0, 0, 0, 0, -1))
    rows = [
        {"batch_at": start + i * 86400, "report": None, "metrics": {"auc": 0.9}} for i in range(3)
    ]
    texts = _texts(ET.fromstring(timeline_svg(history_rows(rows))))
    assert texts[-3:] == ["Mar 01", "Mar 02", "Mar 03"]


def test_new_categories_are_marked_and_the_score_is_titled():
    ref = pd.DataFrame({"c": ["a", "b"] * 500})
    cur = pd.DataFrame({"c": ["a", "b", "zz"] * 300})
    chart = ET.fromstring(distribution_svg(drift(ref, cur).column("c")))
    assert "zz (new)" in _texts(chart)
    assert chart.findtext(f"{SVG}title").startswith("c: ")


def test_values_far_beyond_the_reference_reach_the_axis():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"v": rng.normal(0, 1, 20_000)})
    cur = pd.DataFrame({"v": np.r_[rng.normal(0, 1, 9000), rng.normal(30, 0.5, 1000)]})
    chart = ET.fromstring(distribution_svg(drift(ref, cur).column("v")))
    x_labels = [g for g in chart.iter(f"{SVG}g") if g.get("text-anchor") == "middle"]
    numbers = [float(t) for t in _texts(x_labels[0])]
    assert min(numbers) <= 0 and max(numbers) >= 25  # the axis runs out to the new values


@given(
    low=st.floats(-1e9, 1e9, allow_nan=False),
    span=st.floats(1e-6, 1e9),
    count=st.integers(3, 10),
)
def test_ticks_are_round_evenly_spaced_inside_the_range_and_told_apart(low, span, count):
    high = low + span
    values = ticks(low, high, count)
    assert len(values) <= count + 3  # finite, even below the floats' resolution
    if not high - low > max(abs(low), 1.0) * 1e-9:  # below float resolution at this magnitude
        return
    assert 2 <= len(values) <= count + 2
    slack = (high - low) * 1e-6
    assert all(low - slack <= v <= high + slack for v in values)
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    # even up to the floats' spacing at this magnitude (0.1 steps near 5e8 differ by ~1e-7)
    assert max(steps) - min(steps) <= steps[0] * 1e-6 + 4 * math.ulp(max(abs(low), abs(high)))
    labels = [tick_label(v, steps[0]) for v in values]
    assert len(set(labels)) == len(labels)
    assert all(
        math.isclose(float(lbl), v, rel_tol=0.05, abs_tol=steps[0] / 2)
        for lbl, v in zip(labels, values, strict=True)
    )


def _column(name: str) -> ColumnResult:
    hist = {"type": "categorical", "labels": [name, "b"], "ref": [0.5, 0.5], "cur": [0.2, 0.8]}
    hist["unseen"] = [False, False]
    return ColumnResult(name, "categorical", "chisquare", 0.01, 0.05, True, hist=hist)


@given(name=st.text(max_size=60))
def test_any_column_name_makes_a_well_formed_chart(name):
    url = data_url(distribution_svg(_column(name)))
    assert url.startswith("data:image/svg+xml;base64,")
    chart = ET.fromstring(base64.b64decode(url.removeprefix("data:image/svg+xml;base64,")))
    shown = "".join(" " if c in "\t\n\r" else c if _xml_char(c) else "\ufffd" for c in name)
    assert chart.findtext(f"{SVG}title").startswith(f"{shown}: ")


def _xml_char(c: str) -> bool:
    return c in "\t\n\r" or ("\x20" <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd") or c > "\uffff"


def test_a_long_history_keeps_a_dot_only_where_the_dataset_drifted():
    base = _history(2)
    base[1]["report"] = dataclasses.replace(base[1]["report"], threshold_share=0.3)  # drifts
    records = [
        {**base[i % 2], "batch_at": base[0]["batch_at"] + i, "number": i + 1} for i in range(80)
    ]
    rows = history_rows(records)
    drifted = sum(1 for r in rows if r["report"].dataset_drift)
    assert 0 < drifted < 80
    panels = _panels(timeline_svg(rows))
    dots = [c.get("fill") for c in panels["share drifted"].iter(f"{SVG}circle")]
    assert dots == ["#cf222e"] * (drifted + 1)  # one per drifted batch, one in the legend
    assert "no dataset drift" not in _texts(panels["share drifted"])
    assert not list(panels["r2"].iter(f"{SVG}circle"))  # lines alone
