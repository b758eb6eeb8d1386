"""Interactive widgets (ipywidgets) on top of the static panels: a surface, like the magics.

Every panel also has a static HTML form (SVG charts) that works where widgets do not (papermill,
nbconvert, GitHub); these add interaction for a live kernel: pick a column, pick a batch.
Commands ask for a widget with a :class:`mlnb.commands.spec.WidgetRequest`; the magics
build it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from mlnb.commands.spec import WidgetRequest
from mlnb.errors import ValidationError
from mlnb.monitoring.drift.panel import column_detail_html
from mlnb.monitoring.drift.report import DriftReport, coerce_report, history_rows
from mlnb.monitoring.monitor import Monitor
from mlnb.render.drift import ordered, report_header_html, report_table_html, svg_img
from mlnb.render.drift_charts import timeline_svg


def build(request: WidgetRequest) -> Any:
    """The widget a command asked for."""
    if request.kind == "drift":
        return drift_widget(request.report, history=request.history)
    raise ValidationError(f"no widget of kind {request.kind!r}.")


def monitor_widget(monitor: Monitor) -> Any:
    """A monitor's latest batch with a slider over all of its batches."""
    history = monitor.history()
    if not history:
        raise ValidationError(f"monitor {monitor.name!r} has no batches yet: call log_batch first.")
    return drift_widget(DriftReport.from_dict(history[-1]["report"]), history=history)


def drift_widget(
    report: DriftReport | dict[str, Any], history: Sequence[dict[str, Any]] | None = None
) -> Any:
    """An ipywidgets panel: pick a column to see its distribution and stats, and (with
    ``history``) pick a batch to see its report."""
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
        children.append(widgets.HTML(svg_img(timeline_svg(rows), "drift across batches")))
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
