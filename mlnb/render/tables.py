"""Static renderings of registry records: plain-text tables for terminals and HTML for
notebooks. Every user-provided string is escaped: names, params and tags render as text."""

from __future__ import annotations

import datetime as _dt
import html
import json
import uuid
from collections.abc import Sequence
from typing import Any

GREEN = "#1a7f37"
RED = "#cf222e"
AMBER = "#9a6700"
GREY = "#6e7781"
STATUS_COLORS = {
    "finished": GREEN,
    "running": AMBER,
    "failed": RED,
    "crashed": RED,
    "production": GREEN,
    "staging": AMBER,
    "archived": GREY,
    "none": GREY,
    "passed": GREEN,
    "failed_gate": RED,
}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:.4e}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def fmt_duration(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return ""
    s = end - start
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def short_id(version_id: str | None, n: int = 12) -> str:
    return "" if not version_id else str(version_id)[: n + 3]


def text_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A left-aligned plain-text table (what the CLI prints)."""
    cells = [[fmt_value(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = min(max(widths[i], len(c)), 60)

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            _clip(v, widths[i]).ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def badge(text: str, color: str | None = None) -> str:
    color = color or STATUS_COLORS.get(str(text), GREY)
    return (
        f'<span style="display:inline-block;padding:0 6px;border-radius:8px;'
        f'border:1px solid {color};color:{color};font-size:11px;line-height:16px">{esc(text)}</span>'
    )


def html_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], sortable: bool = False
) -> str:
    """An HTML table whose cells are already-escaped HTML; optionally click-to-sort."""
    table_id = f"mlnb-{uuid.uuid4().hex[:8]}"
    head = "".join(
        f'<th style="text-align:left;padding:3px 8px;border-bottom:1px solid {GREY};'
        f'{"cursor:pointer" if sortable else ""}">{esc(h)}</th>'
        for h in headers
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td style="text-align:left;padding:2px 8px">{c}</td>' for c in r)
        + "</tr>"
        for r in rows
    )
    script = ""
    if sortable:
        script = (
            "<script>(function(){var t=document.getElementById('TABLE_ID');if(!t)return;"
            "t.querySelectorAll('th').forEach(function(th,i){th.title='click to sort';"
            "th.addEventListener('click',function(){var b=t.tBodies[0],rs=Array.from(b.rows),"
            "asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';rs.sort(function(x,y){"
            "var a=x.cells[i].innerText,c=y.cells[i].innerText,na=parseFloat(a),nc=parseFloat(c);"
            "var r=(!isNaN(na)&&!isNaN(nc))?na-nc:a.localeCompare(c);return asc?r:-r;});"
            "rs.forEach(function(r){b.appendChild(r);});});});})();</script>"
        ).replace("TABLE_ID", table_id)
    return (
        f'<table id="{table_id}" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{script}"
    )


# -- tracked-cell summary --------------------------------------------------------------


def summary_text(s: Any) -> str:
    parts = [f"mlnb run #{s.run_id} ({s.experiment}) {s.status} in {s.seconds * 1000:.0f} ms"]
    if s.params:
        parts.append(
            "  params:  " + ", ".join(f"{k}={fmt_value(v)}" for k, v in list(s.params.items())[:12])
        )
        if len(s.params) > 12:
            parts[-1] += f" (+{len(s.params) - 12} more)"
    if s.metrics:
        parts.append("  metrics: " + ", ".join(f"{k}={fmt_value(v)}" for k, v in s.metrics.items()))
    data = [*(("in", d) for d in s.inputs), *(("out", d) for d in s.outputs)]
    if data or s.files:
        items = [f"{role} {d['name']} {short_id(d['id'], 8)} {_shape(d)}" for role, d in data]
        items += [f"file {f['name']} {short_id(f['id'], 8)}" for f in s.files]
        parts.append("  data:    " + "; ".join(items))
    if s.models:
        parts.append(
            "  models:  "
            + ", ".join(
                f"{m['name']} ({m['class_name']}, {m['size'] // 1024} KiB)" for m in s.models
            )
        )
    for note in s.notes:
        parts.append(f"  note:    {note}")
    return "\n".join(parts)


def _shape(d: dict[str, Any]) -> str:
    rows, cols = d.get("shape", [None, None])
    return f"[{rows}x{cols}]" if rows is not None else ""


def summary_html(s: Any) -> str:
    color = STATUS_COLORS.get(s.status, GREY)
    lines = [
        f'<div style="font-size:12px;border-left:3px solid {color};padding:2px 8px;margin:2px 0">'
        f"<b>mlnb</b> run <b>#{s.run_id}</b> {badge(s.status)} "
        f'<span style="color:{GREY}">{esc(s.experiment)} · {esc(s.name)} · '
        f"{s.seconds * 1000:.0f} ms</span>"
    ]

    def row(label: str, content: str) -> None:
        lines.append(
            f'<div><span style="color:{GREY};display:inline-block;width:58px">{label}</span>{content}</div>'
        )

    if s.params:
        shown = list(s.params.items())[:12]
        text = ", ".join(f"<code>{esc(k)}</code>={esc(fmt_value(v))}" for k, v in shown)
        if len(s.params) > 12:
            text += f" <i>(+{len(s.params) - 12} more)</i>"
        row("params", text)
    if s.metrics:
        row(
            "metrics",
            ", ".join(f"<b>{esc(k)}</b>={esc(fmt_value(v))}" for k, v in s.metrics.items()),
        )
    items = [
        f"⇢ <code>{esc(d['name'])}</code> {esc(short_id(d['id'], 8))} {esc(_shape(d))}"
        for d in s.inputs
    ]
    items += [
        f"⇠ <code>{esc(d['name'])}</code> {esc(short_id(d['id'], 8))} {esc(_shape(d))}"
        for d in s.outputs
    ]
    items += [f"🗎 <code>{esc(f['name'])}</code> {esc(short_id(f['id'], 8))}" for f in s.files]
    if items:
        row("data", "; ".join(items))
    if s.models:
        row(
            "models",
            ", ".join(
                f"<code>{esc(m['name'])}</code> ({esc(m['class_name'])}, {m['size'] // 1024} KiB)"
                for m in s.models
            ),
        )
    for note in s.notes:
        row("note", f'<span style="color:{AMBER}">{esc(note)}</span>')
    lines.append("</div>")
    return "".join(lines)


# -- runs tables ------------------------------------------------------------------------


def metric_columns(runs: Sequence[dict[str, Any]], limit: int = 6) -> list[str]:
    seen: dict[str, int] = {}
    for r in runs:
        for k in r.get("metrics", {}):
            seen[k] = seen.get(k, 0) + 1
    return sorted(seen, key=lambda k: (-seen[k], k))[:limit]


def runs_rows(runs: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    metrics = metric_columns(runs)
    headers = ["id", "experiment", "name", "status", "started", "duration", *metrics]
    rows = [
        [
            r["id"],
            r.get("experiment", ""),
            r.get("name", ""),
            r["status"],
            fmt_time(r.get("started_at")),
            fmt_duration(r.get("started_at"), r.get("ended_at")),
            *[r.get("metrics", {}).get(m) for m in metrics],
        ]
        for r in runs
    ]
    return headers, rows


def runs_text(runs: Sequence[dict[str, Any]]) -> str:
    if not runs:
        return "no runs recorded yet"
    headers, rows = runs_rows(runs)
    return text_table(rows, headers)


def runs_html(runs: Sequence[dict[str, Any]]) -> str:
    if not runs:
        return "<i>no runs recorded yet</i>"
    headers, rows = runs_rows(runs)
    cells = []
    for r in rows:
        c = [esc(fmt_value(v)) for v in r]
        c[3] = badge(str(r[3]))
        cells.append(c)
    return html_table(headers, cells, sortable=True)


def compare_text(cmp: dict[str, Any]) -> str:
    runs = cmp["runs"]
    headers = ["", *[f"#{r['id']} {r['name']}".strip() for r in runs]]
    rows: list[list[Any]] = [["status", *[r["status"] for r in runs]]]
    for section in ("params", "metrics", "data"):
        for item in cmp[section]:
            mark = "*" if item["differs"] else " "
            rows.append(
                [
                    f"{mark}{section[:-1] if section != 'data' else 'data'} {item['key']}",
                    *item["values"],
                ]
            )
    return text_table(rows, headers) + "\n(* differs)"


def compare_html(cmp: dict[str, Any]) -> str:
    runs = cmp["runs"]
    headers = ["", *[f"#{r['id']} {r['name']}".strip() for r in runs]]
    rows = [["status", *[badge(r["status"]) for r in runs]]]
    for section in ("params", "metrics", "data"):
        for item in cmp[section]:
            style = "background:rgba(154,103,0,0.15)" if item["differs"] else ""
            label = f'<span style="color:{GREY}">{section}</span> <code>{esc(item["key"])}</code>'
            vals = [f'<span style="{style}">{esc(fmt_value(v))}</span>' for v in item["values"]]
            rows.append([label, *vals])
    return (
        html_table(headers, rows)
        + f'<div style="font-size:11px;color:{GREY}">highlighted: differs</div>'
    )


class Rendered:
    """Something with both an HTML and a text form, for ``display()``."""

    def __init__(self, html_text: str, text: str) -> None:
        self._html = html_text
        self._text = text

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return self._text
