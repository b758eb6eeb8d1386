"""``mlnb monitor list|status NAME|history NAME``."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.cli import emit, open_registry


def add_commands(sub: Any) -> None:
    p = sub.add_parser("monitor", help="drift and accuracy monitors")
    msub = p.add_subparsers(dest="monitor_command", metavar="ACTION")
    p.set_defaults(func=cmd_list)
    m = msub.add_parser("list", help="all monitors")
    m.set_defaults(func=cmd_list)
    m = msub.add_parser("status", help="latest verdict, metrics and open alerts of a monitor")
    m.add_argument("name", nargs="?", default=None)
    m.set_defaults(func=cmd_status)
    m = msub.add_parser("history", help="every batch of a monitor")
    m.add_argument("name")
    m.add_argument("--limit", "-n", type=int, default=None)
    m.set_defaults(func=cmd_history)


def cmd_list(args: argparse.Namespace) -> None:
    from mlnb.render.monitoring import monitors_view

    reg = open_registry(args)
    monitors = reg.monitors.find()
    emit(args, monitors, repr(monitors_view(monitors)))


def cmd_status(args: argparse.Namespace) -> None:
    from mlnb.monitoring.monitor import Monitor
    from mlnb.render.monitoring import status_text

    if args.name is None:
        return cmd_list(args)
    reg = open_registry(args)
    status = Monitor.load(args.name, registry=reg).status()
    emit(args, status, status_text(status))


def cmd_history(args: argparse.Namespace) -> None:
    from mlnb.monitoring.monitor import Monitor
    from mlnb.render.monitoring import history_rows, history_view

    reg = open_registry(args)
    monitor = Monitor.load(args.name, registry=reg)
    history = monitor.history(limit=args.limit)
    if getattr(args, "json", False):
        headers, rows = history_rows(history, monitor.threshold_lines())
        emit(args, [dict(zip(headers, r, strict=True)) for r in rows], "")
        return
    print(repr(history_view(monitor.name, history, monitor.threshold_lines())))
