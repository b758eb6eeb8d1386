"""A plain-text account of a registry: runs, models, alerts and pipeline runs (used by
`make demo` and `mlnb report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlnb.lifecycle.versions import lineage_record
from mlnb.render.models import lineage_text
from mlnb.render.runs import runs_text
from mlnb.render.text import fmt_time, fmt_value, text_table


def _section(title: str, body: str) -> str:
    return f"== {title} ==\n{body}\n"


def runs_section(reg: Any) -> str:
    return _section("runs", runs_text(reg.runs.find(limit=20)))


def models_section(reg: Any) -> str:
    rows = []
    for m in reg.models.all_versions():
        rows.append([m["name"], m["version"], m["stage"], m["run_id"], fmt_time(m["created_at"])])
    body = (
        text_table(rows, ["model", "version", "stage", "run", "registered"])
        if rows
        else "no registered models"
    )
    transitions = reg.models.all_transitions()
    if transitions:
        body += "\n\nstage transitions:\n" + text_table(
            [
                [
                    t["name"],
                    t["version"],
                    f"{t['from_stage']} -> {t['to_stage']}",
                    t["reason"],
                    fmt_time(t["created_at"]),
                ]
                for t in transitions
            ],
            ["model", "version", "transition", "reason", "when"],
        )
    return _section("model versions", body)


def alerts_section(reg: Any) -> str:
    alerts = reg.alerts.find(limit=20)
    if not alerts:
        return _section("alerts", "no alerts")
    rows = [
        [a["id"], fmt_time(a["created_at"]), a["status"], a["source"], a["message"]]
        for a in reversed(alerts)
    ]
    return _section("alerts", text_table(rows, ["id", "when", "status", "source", "message"]))


def monitors_section(reg: Any) -> str:
    lines = []
    for m in reg.monitors.find():
        batches = reg.monitors.batches(m["id"], with_reports=False)
        for b in batches:
            metrics = ", ".join(
                f"{k}={fmt_value(v)}" for k, v in b["metrics"].items() if k == "accuracy"
            )
            lines.append(
                [
                    m["name"],
                    b["id"],
                    fmt_time(b["batch_at"])[:10],
                    f"{b['n_drifted']}/{b['n_columns']}",
                    "YES" if b["dataset_drift"] else "no",
                    metrics,
                ]
            )
    body = (
        text_table(lines, ["monitor", "batch", "date", "drifted", "dataset drift", "metrics"])
        if lines
        else "no monitors"
    )
    return _section("monitoring", body)


def pipelines_section(reg: Any) -> str:
    rows = reg.pipelines.all_runs()
    if not rows:
        return _section("pipelines", "no pipeline runs")
    table = [
        [r["name"], r["id"], r["trigger"], r["reason"], r["status"], r["output_path"] or ""]
        for r in rows
    ]
    return _section(
        "pipeline runs",
        text_table(table, ["pipeline", "run", "trigger", "why", "status", "output notebook"]),
    )


def lineage_section(reg: Any) -> str:
    """Where each production model came from: artifact, run, cell, data files, pipeline run."""
    names = reg.models.names_in_stage("production")
    if not names:
        return _section("lineage", "no model in production")
    texts = []
    for name in names:
        text = lineage_text(lineage_record(reg, f"{name}@production"))
        keep = [
            ln for ln in text.splitlines() if not ln.lstrip().startswith(("|", "└─ cell source"))
        ]
        texts.append("\n".join(keep))
    return _section("lineage of production models", "\n\n".join(texts))


def demo_report(reg: Any, outputs: list[Path], root: Path) -> str:
    parts = [
        runs_section(reg),
        models_section(reg),
        monitors_section(reg),
        alerts_section(reg),
        pipelines_section(reg),
        lineage_section(reg),
    ]
    where = [f"registry:          {reg.home}"]
    where += [f"output notebook:   {p}" for p in outputs]
    where.append("open them in JupyterLab (with the mlnb sidebar): make lab")
    parts.append(_section("where things are", "\n".join(where)))
    return "\n".join(parts)
