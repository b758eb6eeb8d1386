"""Text and HTML views of deployments (``mlnb deployments``, the models table's serving
column, lineage). Every user string is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlnb.render.html import GREEN, GREY, RED, badge, esc, html_table
from mlnb.render.text import fmt_time, text_table

_HEADERS = [
    "id",
    "model",
    "alias",
    "version",
    "url",
    "status",
    "requests",
    "errors",
    "req/min",
    "p95 ms",
    "heartbeat",
]
_STATUS_COLORS = {"running": GREEN, "crashed": RED, "stopped": GREY, "starting": GREY}


def serving_summary(d: Mapping[str, Any] | None) -> str:
    """One line: ``serving v2 at http://127.0.0.1:8080 · 310 req/min · p95 4 ms``."""
    if not d:
        return "-"
    p95 = f" · p95 {d['p95_ms']:.0f} ms" if d.get("p95_ms") is not None else ""
    return f"serving v{d['version']} at {d['url']} · {d['req_per_min']:.0f} req/min{p95}"


def _rows(found: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [
        [
            d["id"],
            d["model_name"],
            d["alias"],
            f"v{d['version']}" if d.get("version") is not None else "-",
            d["url"],
            d["status"],
            d["requests"],
            d["errors"],
            f"{d['req_per_min']:.0f}",
            f"{d['p95_ms']:.1f}" if d.get("p95_ms") is not None else "-",
            fmt_time(d["heartbeat_at"]),
        ]
        for d in found
    ]


def deployments_text(found: Sequence[Mapping[str, Any]]) -> str:
    """Deployments as a text table."""
    if not found:
        return "no deployments yet (start one with `mlnb serve NAME@production`)"
    return text_table(_rows(found), _HEADERS)


def deployments_html(found: Sequence[Mapping[str, Any]]) -> str:
    """Deployments as an HTML table with status badges."""
    if not found:
        return "<i>no deployments yet</i>"
    rows = []
    for r in _rows(found):
        cells = [esc(c) for c in r]
        cells[5] = badge(str(r[5]), _STATUS_COLORS.get(str(r[5])))
        rows.append(cells)
    return html_table(_HEADERS, rows)


def deployment_text(d: Mapping[str, Any], windows: Sequence[Mapping[str, Any]]) -> str:
    """One deployment with its counters and the monitoring windows scored so far."""
    cfg = d.get("config") or {}
    lines = [
        f"deployment {d['id']}: {d['model_name']}@{d['alias']} v{d['version']} at {d['url']} "
        f"[{d['status']}]",
        f"  pid {d['pid']} on {d['host']}, started {fmt_time(d['started_at'])}, "
        f"heartbeat {fmt_time(d['heartbeat_at'])}",
        f"  requests {d['requests']}, errors {d['errors']}, rows logged {d['rows_logged']}, "
        f"dropped {d['rows_dropped']}, {d['req_per_min']:.0f} req/min, "
        f"p95 {format(d['p95_ms'], '.1f') if d.get('p95_ms') is not None else '-'} ms",
        f"  monitor {cfg.get('monitor') or '-'}: windows of {cfg.get('window_rows')} rows or "
        f"{cfg.get('window_minutes')} min; max p95 {cfg.get('max_p95_ms') or '-'} ms, "
        f"max error rate {cfg.get('max_error_rate') or '-'}",
    ]
    if d.get("error"):
        lines.append(f"  error: {d['error']}")
    if windows:
        rows = [
            [
                w["id"],
                w["n_rows"],
                w["n_requests"],
                w["n_errors"],
                f"{w['p95_ms']:.1f}" if w.get("p95_ms") is not None else "-",
                w["batch_id"] or "-",
                "yes" if w["realized"] else "no",
                fmt_time(w["created_at"]),
            ]
            for w in windows[-20:]
        ]
        lines.append(
            text_table(
                rows,
                ["window", "rows", "requests", "errors", "p95 ms", "batch", "labels", "scored"],
            )
        )
    return "\n".join(lines)
