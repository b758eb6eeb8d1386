"""Alert commands: ``alerts list|ack|resolve``."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.commands.spec import Context, Result
from mlnb.render.text import fmt_time, text_table


def alerts_text(alerts: list[dict[str, Any]]) -> str:
    """The alerts as a plain-text table."""
    if not alerts:
        return "no alerts"
    rows = [
        [
            a["id"],
            fmt_time(a["created_at"]),
            a["status"],
            a["severity"],
            a["source"],
            a.get("monitor") or "",
            a["kind"],
            a.get("breach_count") or 1,
            a["message"],
        ]
        for a in alerts
    ]
    return text_table(
        rows,
        ["id", "when", "status", "severity", "source", "monitor", "kind", "batches", "message"],
    )


def list_alerts(ctx: Context, args: argparse.Namespace) -> Result:
    """Open alerts (all with ``--all``), newest first."""
    alerts = ctx.registry.alerts.find(
        status=None if args.all else "open",
        monitor=args.monitor,
        pipeline=args.pipeline,
        limit=args.limit,
    )
    return Result(alerts_text(alerts), data=alerts)


def ack(ctx: Context, args: argparse.Namespace) -> Result:
    """Acknowledge an alert: someone is on it."""
    alert = ctx.registry.alerts.acknowledge(args.alert_id)
    return Result(f"alert #{alert['id']} acknowledged", data=alert)


def resolve(ctx: Context, args: argparse.Namespace) -> Result:
    """Resolve an alert."""
    alert = ctx.registry.alerts.resolve(args.alert_id)
    return Result(f"alert #{alert['id']} resolved", data=alert)
