"""Pipelines as text (CLI) and HTML (notebook): the list, one pipeline, its history and one
run with its trigger, error, gate decision and output notebook."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlnb.render.html import GREY, Rendered, badge, esc, html_table
from mlnb.render.text import fmt_duration, fmt_time, text_table


def _schedule(cfg: dict[str, Any]) -> str:
    if not cfg.get("schedule"):
        return ""
    return f"{cfg['schedule']} ({cfg.get('timezone', 'UTC')})"


def _triggers(p: dict[str, Any]) -> str:
    cfg = p["config"]
    parts = []
    if cfg.get("schedule"):
        parts.append(f"cron {_schedule(cfg)}")
    for path in cfg.get("on_new_data", []):
        parts.append(f"new data {path}")
    if cfg.get("on_alert"):
        kinds = cfg.get("alert_kinds") or []
        parts.append(f"alert {cfg['on_alert']}" + (f" ({', '.join(kinds)})" if kinds else ""))
    return "; ".join(parts) or "manual"


def _promotion(details: dict[str, Any]) -> str:
    promo = details.get("promotion")
    if not promo:
        return ""
    decision: str = promo.get("decision", "")
    cands = promo.get("candidates", [])
    if cands:
        what = ", ".join(f"{c['model']} v{c['version']}" for c in cands)
        return f"{decision}: {what} -> {promo.get('to')}"
    return decision


def failure_reason(run: Mapping[str, Any] | None) -> str | None:
    """Why a failed or crashed run failed (exception, message, cell), None for other runs."""
    if not run or run.get("status") not in ("failed", "crashed"):
        return None
    error = str(run.get("error") or "").strip()
    return error or f"the run {run['status']} without a recorded reason; see its log"


def pipelines_text(pipelines: list[dict[str, Any]]) -> str:
    """Pipelines as a text table with schedule, triggers and last run."""
    if not pipelines:
        return "no pipelines; create one with `mlnb pipeline create NAME NOTEBOOK --schedule ...`"
    rows = [
        [
            p["name"],
            p["status"],
            _triggers(p),
            p.get("next_run_at") or "",
            f"#{p['last_run_id']} {p['last_run_status']}" if p.get("last_run_id") else "",
            Path(p["notebook_path"]).name,
        ]
        for p in pipelines
    ]
    return text_table(rows, ["name", "status", "triggers", "next run", "last run", "notebook"])


def pipelines_html(pipelines: list[dict[str, Any]]) -> str:
    """Pipelines as an HTML table with status badges."""
    if not pipelines:
        return f"<span style='color:{GREY}'>{esc(pipelines_text(pipelines))}</span>"
    rows = [
        [
            f"<b>{esc(p['name'])}</b>",
            badge(p["status"], GREY if p["status"] == "paused" else None),
            esc(_triggers(p)),
            esc(p.get("next_run_at") or ""),
            (f"#{p['last_run_id']} " + badge(p["last_run_status"])) if p.get("last_run_id") else "",
            esc(Path(p["notebook_path"]).name),
        ]
        for p in pipelines
    ]
    return html_table(["name", "status", "triggers", "next run", "last run", "notebook"], rows)


def history_rows(runs: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Raw cells of a pipeline's run history, shared by text and HTML."""
    return [
        [
            r["id"],
            r["trigger"],
            r["status"],
            r["attempt"],
            fmt_time(r["started_at"] or r["created_at"]),
            fmt_duration(r["started_at"], r["ended_at"]),
            r["error"] or _promotion(r["details"]) or r["reason"],
        ]
        for r in runs
    ]


HISTORY_HEADERS = ["run", "trigger", "status", "attempt", "started", "duration", "outcome / reason"]


def history_text(runs: Sequence[Mapping[str, Any]]) -> str:
    """A pipeline's runs as a text table."""
    if not runs:
        return "no runs yet"
    return text_table(history_rows(runs), HISTORY_HEADERS)


def history_html(runs: Sequence[Mapping[str, Any]]) -> str:
    """A pipeline's runs as an HTML table."""
    if not runs:
        return f"<span style='color:{GREY}'>no runs yet</span>"
    rows = []
    for r, row in zip(runs, history_rows(runs), strict=True):
        rows.append(
            [esc(row[0]), esc(row[1]), badge(r["status"]), esc(row[3]), esc(row[4]), esc(row[5])]
            + [esc(row[6]) + _output_link(r)]
        )
    return html_table(HISTORY_HEADERS, rows)


def _output_link(run: Mapping[str, Any]) -> str:
    """A link JupyterLab opens in a tab when the output is under the current folder."""
    path = run.get("output_path")
    if not path or run["details"].get("output_removed") or not Path(path).exists():
        return ""
    try:
        rel = os.path.relpath(path, Path.cwd())
    except ValueError:
        rel = path
    if rel.startswith(".."):
        return f" <code style='font-size:10px'>{esc(path)}</code>"
    return f' <a href="{esc(Path(rel).as_posix())}" target="_blank">output</a>'


def pipeline_text(p: dict[str, Any]) -> str:
    """One pipeline as text: notebook, schedule, triggers, options and recent runs."""
    cfg = p["config"]
    lines = [
        f"pipeline {p['name']} ({p['status']})",
        f"  notebook:     {p['notebook_path']}",
        f"  triggers:     {_triggers(p)}",
    ]
    if p.get("next_run_at"):
        lines.append(f"  next run:     {p['next_run_at']}")
    if cfg.get("schedule"):
        lines.append(f"  catch-up:     {cfg.get('catchup', 'once')}")
    if cfg.get("params"):
        lines.append(f"  parameters:   {cfg['params']}")
    if cfg.get("gate") or cfg.get("promote_to"):
        lines.append(
            f"  gate:         {cfg.get('gate') or '(none)'} -> promote to {cfg.get('promote_to')}"
            + (f" (model {cfg['model']})" if cfg.get("model") else "")
        )
    lines.append(
        f"  limits:       timeout {cfg.get('timeout_seconds'):g} s, retries {cfg.get('retries')} "
        f"(first after {cfg.get('retry_delay_seconds'):g} s, doubling), "
        f"{cfg.get('max_concurrent')} at a time, keep {cfg.get('keep_outputs')} outputs"
    )
    lines.append(f"  outputs:      {p.get('runs_folder', '')}")
    recent = p.get("recent_runs") or []
    reason = failure_reason(recent[0]) if recent else None
    if reason:
        lines.append(f"  last run:     #{recent[0]['id']} {recent[0]['status']}: {reason}")
    lines.append("")
    lines.append(history_text(p.get("recent_runs", [])))
    return "\n".join(lines)


def pipeline_html(p: dict[str, Any]) -> str:
    """One pipeline as HTML: its text form, escaped, then its recent runs as a table."""
    text = pipeline_text({**p, "recent_runs": []}).rsplit("\n\n", 1)[0]
    head = "<br>".join(esc(line).replace("  ", "&nbsp;&nbsp;") for line in text.splitlines())
    return f"<div style='font-size:12px'>{head}</div>" + history_html(p.get("recent_runs", []))


def run_text(r: dict[str, Any], with_log: bool = False) -> str:
    """One pipeline run as text: trigger, status, error, gate decision, output."""
    lines = [
        f"pipeline run #{r['id']} of {r['pipeline']}: {r['status']} (attempt {r['attempt']})",
        f"  trigger:      {r['trigger']}: {r['reason']}",
        f"  started:      {fmt_time(r['started_at'])}   duration: "
        f"{fmt_duration(r['started_at'], r['ended_at'])}",
    ]
    if r.get("parameters"):
        lines.append(
            "  parameters:   " + ", ".join(f"{k}={v!r}" for k, v in r["parameters"].items())
        )
    reason = failure_reason(r)
    if reason:
        lines.append(f"  reason:       {reason}")
    elif r.get("error"):
        lines.append(f"  error:        {r['error']}")
    if r.get("failing_cell") is not None:
        lines.append(f"  failing cell: {r['failing_cell'] + 1} (1-based, in the source notebook)")
    for asked in r["details"].get("notebook_promotions", []):
        lines.append(
            f"  notebook:     asked to promote {asked['model']} v{asked['version']} to "
            f"{asked['to']}; left to the pipeline's gate"
        )
    promo = _promotion(r["details"])
    if promo:
        lines.append(f"  promotion:    {promo}")
        for c in r["details"]["promotion"].get("candidates", []):
            if c.get("message"):
                lines.append(f"                {c['model']} v{c['version']}: {c['message']}")
    removed = " (removed by retention)" if r["details"].get("output_removed") else ""
    lines.append(f"  output:       {r.get('output_path') or ''}{removed}")
    for a in r["details"].get("attempts", []):
        lines.append(f"  attempt {a['attempt']}:    {a['status']}: {a.get('error')}")
    if r.get("runs"):
        lines.append(
            "  tracked runs: "
            + ", ".join(f"#{x['id']} {x['name'] or ''}".strip() for x in r["runs"])
        )
    if r.get("model_versions"):
        lines.append(
            "  models:       "
            + ", ".join(f"{m['model']} v{m['version']} ({m['stage']})" for m in r["model_versions"])
        )
    if r["details"].get("alerts"):
        lines.append("  alerts:       " + ", ".join(f"#{a}" for a in r["details"]["alerts"]))
    if with_log and r.get("log"):
        lines += ["", "log:", r["log"]]
    return "\n".join(lines)


def run_rendered(r: dict[str, Any]) -> Rendered:
    """One pipeline run in both forms, with a link to its output notebook."""
    text = run_text(r)
    html = (
        "<pre style='font-size:12px'>"
        + esc(text)
        + "</pre>"
        + (_output_link(r).replace(" ", "", 1) if _output_link(r) else "")
    )
    return Rendered(html, text)
