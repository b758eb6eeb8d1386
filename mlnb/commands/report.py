"""A plain-text account of a registry: runs, models, alerts and pipeline runs (used by
`make demo` and `mlnb report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlnb.render.models import lineage_text
from mlnb.render.runs import runs_text
from mlnb.render.text import fmt_time, fmt_value, text_table


def _section(title: str, body: str) -> str:
    return f"== {title} ==\n{body}\n"


def runs_section(reg: Any) -> str:
    return _section("runs", runs_text(reg.list_runs(limit=20)))


def models_section(reg: Any) -> str:
    rows = []
    for m in reg.db.query(
        "SELECT rm.name, mv.version, mv.stage, mv.run_id, mv.created_at FROM model_versions mv "
        "JOIN registered_models rm ON rm.id = mv.model_id ORDER BY rm.name, mv.version"
    ):
        rows.append([m["name"], m["version"], m["stage"], m["run_id"], fmt_time(m["created_at"])])
    body = (
        text_table(rows, ["model", "version", "stage", "run", "registered"])
        if rows
        else "no registered models"
    )
    transitions = reg.db.query(
        "SELECT rm.name, mv.version, st.from_stage, st.to_stage, st.reason, st.created_at "
        "FROM stage_transitions st JOIN model_versions mv ON mv.id = st.version_id "
        "JOIN registered_models rm ON rm.id = mv.model_id ORDER BY st.id"
    )
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
    alerts = reg.list_alerts(limit=20)
    if not alerts:
        return _section("alerts", "no alerts")
    rows = [
        [a["id"], fmt_time(a["created_at"]), a["status"], a["source"], a["message"]]
        for a in reversed(alerts)
    ]
    return _section("alerts", text_table(rows, ["id", "when", "status", "source", "message"]))


def monitors_section(reg: Any) -> str:
    lines = []
    for m in reg.db.list_monitors():
        batches = reg.db.list_batches(m["id"], with_reports=False)
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
    rows = reg.db.query(
        "SELECT p.name, pr.id, pr.trigger, pr.reason, pr.status, pr.output_path, pr.started_at, pr.ended_at "
        "FROM pipeline_runs pr JOIN pipelines p ON p.id = pr.pipeline_id ORDER BY pr.id"
    )
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
    names = [
        r[0]
        for r in reg.db.query(
            "SELECT DISTINCT rm.name FROM registered_models rm JOIN model_versions mv "
            "ON mv.model_id = rm.id WHERE mv.stage = 'production' ORDER BY rm.name"
        )
    ]
    if not names:
        return _section("lineage", "no model in production")
    texts = []
    for name in names:
        text = lineage_text(reg.model_lineage(f"{name}@production"))
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
