"""Runs as text and HTML: the summary a tracked cell shows, run lists and run comparisons
(with the data versions each run read and wrote). Every user string is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mlnb.render.html import AMBER, GREY, STATUS_COLORS, badge, esc, html_table
from mlnb.render.text import fmt_duration, fmt_time, fmt_value, short_id, text_table


class CellSummary(Protocol):
    """What a tracked cell recorded (``mlnb.tracking.cell.CaptureSummary`` has this shape)."""

    @property
    def run_id(self) -> int: ...
    @property
    def experiment(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def inputs(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def outputs(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def files(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def models(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def notes(self) -> Sequence[str]: ...


# -- tracked-cell summary --------------------------------------------------------------


def summary_text(s: CellSummary) -> str:
    """The tracked-cell summary as a few lines of text (terminals, logs, papermill)."""
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


def _shape(d: Mapping[str, Any]) -> str:
    rows, cols = d.get("shape", [None, None])
    return f"[{rows}x{cols}]" if rows is not None else ""


def summary_html(s: CellSummary) -> str:
    """The tracked-cell summary as a compact HTML block shown under the cell."""
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


def metric_columns(runs: Sequence[Mapping[str, Any]], limit: int = 6) -> list[str]:
    """The metrics most runs have (then by name), as many as fit a table."""
    seen: dict[str, int] = {}
    for r in runs:
        for k in r.get("metrics", {}):
            seen[k] = seen.get(k, 0) + 1
    return sorted(seen, key=lambda k: (-seen[k], k))[:limit]


def runs_rows(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Headers and raw cells of the runs table, shared by the text and HTML forms."""
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


def runs_text(runs: Sequence[Mapping[str, Any]]) -> str:
    """Runs as a plain-text table (``mlnb runs``)."""
    if not runs:
        return "no runs recorded yet"
    headers, rows = runs_rows(runs)
    return text_table(rows, headers)


def runs_html(runs: Sequence[Mapping[str, Any]]) -> str:
    """Runs as an HTML table with status badges (``%runs``)."""
    if not runs:
        return "<i>no runs recorded yet</i>"
    headers, rows = runs_rows(runs)
    cells = []
    for r in rows:
        c = [esc(fmt_value(v)) for v in r]
        c[3] = badge(str(r[3]))
        cells.append(c)
    return html_table(headers, cells)


def compare_text(cmp: Mapping[str, Any]) -> str:
    """Runs side by side as text, differing rows starred."""
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


def compare_html(cmp: Mapping[str, Any]) -> str:
    """Runs side by side as HTML, differing values highlighted."""
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
