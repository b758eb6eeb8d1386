"""Deprecated: the old home of the render helpers, kept only until ``mlnb.magics`` and
``mlnb.cli`` import from ``mlnb.render.html``/``text``/``runs`` (see RENDER_RENAMES.txt).
Nothing else may import it; delete it once those surfaces have moved."""

from __future__ import annotations

from mlnb.render.html import (
    AMBER,
    GREEN,
    GREY,
    RED,
    STATUS_COLORS,
    Rendered,
    badge,
    esc,
    html_table,
)
from mlnb.render.runs import (
    compare_html,
    compare_text,
    metric_columns,
    runs_html,
    runs_rows,
    runs_text,
    summary_html,
    summary_text,
)
from mlnb.render.text import fmt_duration, fmt_time, fmt_value, short_id, text_table

__all__ = [
    "AMBER",
    "GREEN",
    "GREY",
    "RED",
    "STATUS_COLORS",
    "Rendered",
    "badge",
    "compare_html",
    "compare_text",
    "esc",
    "fmt_duration",
    "fmt_time",
    "fmt_value",
    "html_table",
    "metric_columns",
    "runs_html",
    "runs_rows",
    "runs_text",
    "short_id",
    "summary_html",
    "summary_text",
    "text_table",
]
