"""Drift panels for users: the static HTML panel, one PNG file of it, and a widget.

The static panel (:func:`render_panel`, also ``DriftReport._repr_html_``) works wherever
notebook output is shown; its HTML comes from ``mlnb.render.drift`` and its plots from
``mlnb.monitoring.drift.figures``. ``drift_widget`` adds a column picker and a batch slider
on top (ipywidgets).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlnb.monitoring.drift.figures import column_png, timeline_png, write_panel_png
from mlnb.monitoring.drift.report import (
    ColumnResult,
    DriftReport,
    coerce_report,
    history_rows,
    render_panel,
)
from mlnb.render.drift import column_detail_html as detail_html
from mlnb.render.drift import img, ordered, report_header_html, report_table_html

__all__ = ["column_detail_html", "drift_widget", "panel_png", "render_panel"]


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
    """Plot and statistics for one column (used by the widget)."""
    return detail_html(c, column_png(c) if c.hist else None)


def drift_widget(
    report: DriftReport | dict[str, Any], history: Sequence[dict[str, Any]] | None = None
) -> Any:
    """An ipywidgets panel: pick a column to see its distribution and stats, and (with
    ``history``) pick a batch to see its report."""
    import ipywidgets as widgets

    batches: list[tuple[str, DriftReport]] = []
    if history:
        for r in history_rows(history):
            if r["report"] is not None:
                batches.append((r["at"].strftime("%Y-%m-%d %H:%M"), r["report"]))
    current = coerce_report(report)
    if not batches or batches[-1][1].created_at != current.created_at:
        batches.append(("this batch", current))

    header = widgets.HTML()
    table = widgets.HTML()
    detail = widgets.HTML()
    picker = widgets.Dropdown(description="column", layout=widgets.Layout(width="420px"))
    state: dict[str, Any] = {"report": batches[-1][1], "quiet": False}

    def column_options(rep: DriftReport) -> list[tuple[str, str]]:
        return [
            (f"{c.column} — {'DRIFT' if c.drifted else c.status}", c.column) for c in ordered(rep)
        ]

    def show_column(change: Any = None) -> None:
        if state["quiet"]:
            return
        rep = state["report"]
        name = picker.value
        res = next((c for c in rep.columns if c.column == name), None)
        detail.value = column_detail_html(res) if res is not None else ""

    def show_report(rep: DriftReport) -> None:
        state["report"] = rep
        header.value = report_header_html(rep)
        table.value = report_table_html(rep)
        keep = picker.value
        options = column_options(rep)
        values = [v for _, v in options]
        state["quiet"] = True
        try:
            picker.options = options
            picker.value = keep if keep in values else (values[0] if values else None)
        finally:
            state["quiet"] = False
        show_column()

    children: list[Any] = []
    if history:
        rows = history_rows(history)
        children.append(widgets.HTML(img(timeline_png(rows), "drift across batches")))
    if len(batches) > 1:
        slider = widgets.SelectionSlider(
            options=[(label, i) for i, (label, _) in enumerate(batches)],
            value=len(batches) - 1,
            description="batch",
            continuous_update=False,
            layout=widgets.Layout(width="600px"),
        )
        slider.observe(lambda ch: show_report(batches[ch["new"]][1]), names="value")
        children.append(slider)
        box_slider: Any = slider
    else:
        box_slider = None
    picker.observe(show_column, names="value")
    show_report(batches[-1][1])
    children += [header, picker, detail, table]
    box = widgets.VBox(children)
    box.picker = picker  # handles for programmatic use and tests
    box.batch_slider = box_slider
    box.detail = detail
    box.header = header
    return box
