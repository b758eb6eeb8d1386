"""``mlnb alerts [list|ack|resolve]``."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.cli import emit, open_registry
from mlnb.render.tables import fmt_time, text_table


def add_commands(sub: Any) -> None:
    p = sub.add_parser("alerts", help="alerts from monitors and pipelines")
    asub = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    p.set_defaults(func=cmd_list, status="open", monitor=None, pipeline=None, all=False, limit=50)
    a = asub.add_parser("list", help="list alerts (open ones by default)")
    a.add_argument("--all", action="store_true", help="include acknowledged and resolved")
    a.add_argument("--monitor", default=None)
    a.add_argument("--pipeline", default=None)
    a.add_argument("--limit", "-n", type=int, default=50)
    a.set_defaults(func=cmd_list, status="open")
    for action in ("ack", "resolve"):
        a = asub.add_parser(
            action, help=f"{'acknowledge' if action == 'ack' else 'resolve'} an alert"
        )
        a.add_argument("alert_id", type=int)
        a.set_defaults(func=cmd_ack if action == "ack" else cmd_resolve)


def alerts_text(alerts: list[dict[str, Any]]) -> str:
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
            a["message"],
        ]
        for a in alerts
    ]
    return text_table(
        rows, ["id", "when", "status", "severity", "source", "monitor", "kind", "message"]
    )


def cmd_list(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    alerts = reg.alerts.find(
        status=None if args.all else args.status,
        monitor=args.monitor,
        pipeline=args.pipeline,
        limit=args.limit,
    )
    emit(args, alerts, alerts_text(alerts))


def cmd_ack(args: argparse.Namespace) -> None:
    alert = open_registry(args).alerts.acknowledge(args.alert_id)
    emit(args, alert, f"alert #{alert['id']} acknowledged")


def cmd_resolve(args: argparse.Namespace) -> None:
    alert = open_registry(args).alerts.resolve(args.alert_id)
    emit(args, alert, f"alert #{alert['id']} resolved")
