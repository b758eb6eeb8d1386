"""The panel's PNG file (matplotlib): transparent, readable on light and dark notebooks,
each metric on its own axes, the monitor's batch numbers; and out-of-range values binned where
they are. The notebook panel's SVG charts are tested in test_panel_charts.py."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from mlnb.monitoring.drift import drift
from mlnb.monitoring.drift.figures import _draw_timeline
from mlnb.monitoring.drift.panel import panel_png
from mlnb.monitoring.drift.report import history_rows
from tests.drift.frames import monitor_history as _history
from tests.drift.frames import reference_frame, shifted_frame


def _rgba(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png), format="png")


def _dark_share(rgba: np.ndarray) -> float:
    """Share of visible pixels that are near black (unreadable on a dark notebook)."""
    visible = rgba[..., 3] > 0.5
    dark = rgba[..., :3].max(axis=2) < 0.2
    return float((visible & dark).sum() / max(visible.sum(), 1))


@pytest.mark.parametrize("with_history", [False, True])
def test_panel_png_is_transparent_and_has_no_near_black_ink(with_history, tmp_path):
    report = drift(reference_frame(3000), shifted_frame(2000))
    history = _history() if with_history else None
    png = Path(panel_png(report, tmp_path / "p.png", history=history)).read_bytes()
    rgba = _rgba(png)
    assert rgba.shape[2] == 4 and rgba[0, 0, 3] == 0  # the notebook's background shows
    assert _dark_share(rgba) < 0.001
    assert (rgba[..., 3] > 0.5).mean() > 0.005  # something is drawn


def test_each_metric_gets_its_own_axes_and_batches_keep_their_numbers():
    rows = history_rows(_history(4, first_number=7))
    fig = Figure()
    _draw_timeline(fig, fig.add_gridspec(1, 1)[0], rows)
    axes = fig.get_axes()
    assert len(axes) == 2 + 3  # share, column scores, then mae, r2, rmse apart
    labels = [ax.get_ylabel() for ax in axes[2:]]
    assert labels == ["mae", "r2", "rmse"]
    r2 = axes[3]
    low, high = r2.get_ylim()
    assert high - low < 1  # r2 on its own scale, not flattened beside mae ~ 50
    xs = list(axes[0].get_lines()[0].get_xdata())
    assert xs == [7, 8, 9, 10]


def test_values_beyond_the_reference_range_are_drawn_where_they_are():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"v": rng.normal(0, 1, 20_000)})
    cur = pd.DataFrame({"v": np.r_[rng.normal(0, 1, 9000), rng.normal(30, 0.5, 1000)]})
    hist = drift(ref, cur).column("v").hist
    edges, shares = np.array(hist["edges"]), np.array(hist["cur"])
    mids = (edges[:-1] + edges[1:]) / 2
    gap = (mids > 6) & (mids < 27)  # nothing lies here: no wide flat bar across it
    assert shares[gap].sum() < 0.005
    assert shares[mids > 27].sum() == pytest.approx(0.1, abs=0.01)


def test_an_estimate_shares_its_realized_metrics_axes_with_its_band():
    rows = _history(3)
    for i, r in enumerate(rows):
        r["metrics"] = {"accuracy": 0.8 - 0.02 * i, "estimated_accuracy": 0.81 - 0.02 * i}
        r["bands"] = {"estimated_accuracy": [0.78 - 0.02 * i, 0.84 - 0.02 * i]}
    fig = Figure()
    _draw_timeline(fig, fig.add_gridspec(1, 1)[0], history_rows(rows))
    axes = fig.get_axes()
    assert len(axes) == 3 and axes[2].get_ylabel() == "accuracy"
    styles = sorted(line.get_linestyle() for line in axes[2].get_lines()[:2])
    assert styles == ["-", ":"] and axes[2].collections  # dotted estimate, shaded band
