"""Drift panels for users: the static HTML panel and one PNG file of it.

The static panel (:func:`render_panel`, also ``DriftReport._repr_html_``) works wherever
notebook output is shown; its HTML comes from ``mlnb.render.drift`` and its SVG charts from
``mlnb.render.drift_charts`` (no matplotlib). The PNG file (:func:`panel_png`) is drawn with
matplotlib by ``mlnb.monitoring.drift.figures``. The interactive widget on top lives with the
surfaces, in ``mlnb.widgets`` (the core never imports IPython or ipywidgets).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlnb.monitoring.drift.figures import write_panel_png
from mlnb.monitoring.drift.report import (
    ColumnResult,
    DriftReport,
    coerce_report,
    history_rows,
    render_panel,
)
from mlnb.render.drift import column_detail_html as detail_html
from mlnb.render.drift_charts import distribution_svg

__all__ = ["column_detail_html", "panel_png", "render_panel"]


def panel_png(
    report: DriftReport | dict[str, Any],
    path: str | Path,
    history: Sequence[dict[str, Any]] | None = None,
    max_plots: int = 6,
) -> str:
    """Write the panel as one PNG: verdict, score bars with threshold, distributions,
    and the timeline when ``history`` is given. Returns the path written."""
    report = coerce_report(report)
    rows = history_rows(history) if history else None
    return write_panel_png(report, path, rows, max_plots)


def column_detail_html(c: ColumnResult) -> str:
    """Chart and statistics for one column (used by the widget)."""
    return detail_html(c, distribution_svg(c) if c.hist else None)
