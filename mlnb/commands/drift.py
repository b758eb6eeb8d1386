"""``%drift CURRENT --reference REF | --monitor NAME``: a drift panel inline (notebook only;
its own module because scoring imports numpy)."""

from __future__ import annotations

import argparse

from mlnb.commands.monitoring import variable
from mlnb.commands.spec import Context, Result
from mlnb.monitoring.drift import drift as compute_drift
from mlnb.monitoring.drift.panel import drift_widget, render_panel
from mlnb.monitoring.monitor import Monitor


def drift(ctx: Context, args: argparse.Namespace) -> Result:
    """Score CURRENT against a reference DataFrame, or a stored monitor's profile
    (``--log`` also records it as a batch of that monitor)."""
    current = variable(ctx, args.current, "current data")
    if args.reference is not None:
        report = compute_drift(variable(ctx, args.reference, "reference data"), current)
        return Result.of(drift_widget(report) if args.widget else report)
    monitor = Monitor.load(args.monitor, registry=ctx.registry)
    if args.log:
        result = monitor.log_batch(current)
        return Result.of(monitor.widget() if args.widget else result)
    report = monitor.score(current)
    if args.widget:
        return Result.of(drift_widget(report, history=monitor.history()))
    html = render_panel(report, history=monitor.history() or None)
    return Result(report.summary_text(), html)
