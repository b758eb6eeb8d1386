"""The drift panels: static HTML (no raw rows, escaped names, SVG charts as images, the
drifted columns' shown and every other column's folded), a PNG file (a real matplotlib
render), and the ipywidgets panel."""

from __future__ import annotations

import base64
import re
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from mlnb.monitoring.drift import drift, fit_profile, score
from mlnb.monitoring.drift.panel import panel_png, render_panel
from mlnb.render.drift import GREEN
from mlnb.widgets import drift_widget
from tests.drift.frames import reference_frame, shifted_frame

SENTINEL = 987654.321
EVIL = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def drifted_report():
    ref = reference_frame(4000)
    cur = shifted_frame(3000)
    cur.loc[17, "x0"] = SENTINEL  # a raw value that exists in exactly one row
    ref = ref.rename(columns={"x2": EVIL})
    cur = cur.rename(columns={"x2": EVIL})
    cur["plan"] = cur["plan"].where(cur.index % 10 != 0, "enterprise")
    return drift(ref, cur)


@pytest.fixture(scope="module")
def history(drifted_report):
    profile = fit_profile(reference_frame(4000))
    start = time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1))
    records = []
    for i, shift in enumerate([0.0, 0.0, 0.3, 0.7, 1.0]):
        cur = reference_frame(1500, seed=20 + i)
        cur[["x0", "x1", "x3"]] += shift
        records.append(
            {
                "batch_at": start + i * 30 * 86400,
                "report": score(profile, cur).to_dict() if i % 2 else score(profile, cur),
                "metrics": {"accuracy": 0.88 - 0.17 * shift},
                "thresholds": {"accuracy": 0.82, "drift_share": 0.5},
            }
        )
    return records


def _text(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text)


SVG = "{http://www.w3.org/2000/svg}"


def _charts(html_text: str) -> list[ET.Element]:
    """The panel's charts, parsed (each must be a well-formed SVG document)."""
    urls = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html_text)
    return [ET.fromstring(base64.b64decode(u)) for u in urls]


def _titles(html_text: str) -> list[str]:
    return [chart.findtext(f"{SVG}title") or "" for chart in _charts(html_text)]


def _shown_and_folded(html_text: str) -> tuple[str, str]:
    """The panel before the folded "other columns" section, and that section."""
    start = html_text.find("<details")
    if start < 0:
        return html_text, ""
    end = html_text.rfind("</details>") + len("</details>")
    return html_text[:start] + html_text[end:], html_text[start:end]


def test_panel_html_has_verdict_table_and_charts(drifted_report):
    html_text = render_panel(drifted_report)
    assert "3 of 8 columns drifted" in _text(html_text) and "NO DATASET DRIFT" in html_text
    charts = _charts(html_text)
    assert charts and all(c.tag == f"{SVG}svg" for c in charts)
    for name in ("x0", "x1", "plan", "wasserstein", "jensenshannon", "enterprise"):
        assert name in html_text
    assert drifted_report._repr_html_() == html_text


def test_drifted_columns_show_at_once_and_the_others_fold_away(drifted_report):
    shown, folded = _shown_and_folded(render_panel(drifted_report))
    drifted = set(drifted_report.drifted_columns)
    assert {t.split(":")[0] for t in _titles(shown)} == drifted
    with_hist = {c.column for c in drifted_report.columns if c.hist}
    assert {t.split(":")[0] for t in _titles(folded)} == with_hist - drifted
    assert "the other 5 columns" in _text(folded)


def test_columns_beyond_max_plots_fold_away_too(drifted_report):
    shown, folded = _shown_and_folded(render_panel(drifted_report, max_plots=1))
    strongest = drifted_report.drifted_columns
    assert len(_charts(shown)) == 1 and "(1 of 3)" in _text(shown)
    folded_names = {t.split(":")[0] for t in _titles(folded)}
    assert len(set(strongest) & folded_names) == 2


def test_a_wide_report_folds_only_the_highest_scores_and_says_how_to_see_all(drifted_report):
    _, folded = _shown_and_folded(render_panel(drifted_report, max_folded=2))
    others = [c for c in drifted_report.columns if c.hist and not c.drifted]
    expected = sorted(others, key=lambda c: -c.strength())[:2]
    assert {t.split(":")[0] for t in _titles(folded)} == {c.column for c in expected}
    text = _text(folded)
    assert "the other 5 columns" in text and "2 with the highest scores" in text
    assert "render_panel(report, max_folded=5)" in text


def test_panel_html_contains_no_raw_row_values(drifted_report):
    html_text = render_panel(drifted_report)
    charts = "".join(ET.tostring(c, encoding="unicode") for c in _charts(html_text))
    for text in (html_text, charts):
        assert "987654" not in text
        assert "987,654" not in text
        assert "9.87654" not in text


def test_panel_html_escapes_column_names(drifted_report):
    html_text = render_panel(drifted_report)
    assert EVIL not in html_text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html_text
    assert "<script" not in html_text.lower()
    # inside a chart the name is text of a well-formed SVG, never markup
    titles = [t for t in _titles(html_text) if t.startswith(EVIL)]
    assert len(titles) == 1


def test_panel_uses_inline_styles_only(drifted_report):
    html_text = render_panel(drifted_report)
    assert "<style" not in html_text and "class=" not in html_text
    assert "<link" not in html_text and "<script" not in html_text


def test_clean_panel_is_green_and_shows_scores(drifted_report):
    ref = reference_frame(3000)
    html_text = render_panel(drift(ref, reference_frame(2000, seed=9)))
    assert "NO DATASET DRIFT" in html_text and "0 of 8 columns" in _text(html_text)
    assert GREEN in html_text  # green
    shown, folded = _shown_and_folded(html_text)
    assert _titles(shown) == ["drift score per column"]
    assert len(_charts(folded)) == 8  # every column's distribution, on demand


def test_panel_with_history_adds_a_timeline(drifted_report, history):
    html_text = render_panel(drifted_report, history=history)
    assert "Across batches" in html_text
    assert _titles(html_text)[-1] == "drift and metrics across batches"


def test_panel_png_writes_real_pngs(tmp_path, drifted_report, history):
    clean = drift(reference_frame(3000), reference_frame(2000, seed=9))
    for name, report, hist in (("clean", clean, None), ("drifted", drifted_report, history)):
        path = tmp_path / f"{name}.png"
        assert panel_png(report, path, history=hist) == str(path)
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG")
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        assert width == 1100 and height > 300


def test_panel_accepts_a_report_dict(drifted_report):
    assert "3 of 8 columns" in _text(render_panel(drifted_report.to_dict()))


def test_widget_switches_columns_and_batches(drifted_report, history):
    box = drift_widget(drifted_report, history=history)
    picker, slider = box.picker, box.batch_slider
    values = [v for _, v in picker.options]
    assert values[:3] == ["x0", "x1", "plan"] or set(values[:3]) == {"x0", "x1", "plan"}
    picker.value = "plan"
    assert "enterprise" in box.detail.value and "data:image/svg+xml;base64," in box.detail.value
    picker.value = EVIL
    assert EVIL not in box.detail.value
    assert slider is not None and len(slider.options) == len(history) + 1
    picker.value = "x3"
    slider.value = 0  # the first, clean batch
    assert "NO DATASET DRIFT" in box.header.value
    assert picker.value == "x3"  # the picked column stays selected
    slider.value = len(history) - 1
    assert "x0" in box.detail.value or picker.value in box.detail.value


def test_widget_without_history_has_no_slider(drifted_report):
    box = drift_widget(drifted_report)
    assert box.batch_slider is None
    assert box.picker.value in {"x0", "x1", "plan"}


def test_core_modules_do_not_import_ipython_and_panels_do_not_import_matplotlib():
    import subprocess

    code = (
        "import sys, time, mlnb.monitoring.drift as d, pandas as pd;"
        "from mlnb.monitoring.drift.panel import render_panel;"
        "r = d.drift(pd.DataFrame({'a': [1.0, 2.0, 3.0] * 50}), pd.DataFrame({'a': [2.0, 3.0] * 50}));"
        "h = [{'batch_at': time.time() - 86400 * i, 'report': r, 'metrics': {'auc': 0.8}}"
        " for i in range(3)];"
        "assert 'drift and metrics' in render_panel(r, history=h) and r._repr_html_();"
        "print('IPython' in sys.modules, 'ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_text_repr_is_the_summary(drifted_report):
    assert repr(drifted_report) == drifted_report.summary_text()
    assert "x0" in repr(drifted_report)


def test_panel_handles_structured_statuses():
    ref = pd.DataFrame({"a": np.arange(300.0), "b": ["x", "y", "z"] * 100, "c": np.arange(300.0)})
    cur = pd.DataFrame({"a": ["text"] * 50, "b": [None] * 50, "d": np.arange(50.0)})
    html_text = render_panel(drift(ref, cur))
    for word in ("type changed", "all missing", "missing from this batch", "not in the reference"):
        assert word in html_text


def test_timeline_of_batches_logged_at_the_same_moment(drifted_report):
    now = time.time()
    records = [
        {"batch_at": now + i * 0.5, "report": drifted_report, "metrics": {"accuracy": 0.8}}
        for i in range(3)
    ]
    records.append({"batch_at": now + 2, "report": None, "metrics": {}})
    timeline = _charts(render_panel(drifted_report, history=records))[-1]
    last_axis = [t.text for t in timeline.iter(f"{SVG}text")]
    assert "batch" in last_axis  # numbered, not four ticks at the same second
    assert {"1", "2", "3", "4"} <= set(last_axis)
