"""``%drift CURRENT --reference REF | --monitor NAME``: a drift panel inline (notebook only;
its own module because scoring imports numpy)."""

from __future__ import annotations

import argparse

from mlnb.commands.monitoring import variable
from mlnb.commands.spec import Context, Result, WidgetRequest
from mlnb.monitoring.drift import DriftReport
from mlnb.monitoring.drift import drift as compute_drift
from mlnb.monitoring.drift.panel import render_panel
from mlnb.monitoring.monitor import Monitor


def drift(ctx: Context, args: argparse.Namespace) -> Result:
    """Score CURRENT against a reference DataFrame, or a stored monitor's profile
    (``--log`` also records it as a batch of that monitor)."""
    current = variable(ctx, args.current, "current data")
    if args.reference is not None:
        report = compute_drift(variable(ctx, args.reference, "reference data"), current)
        if args.widget:
            return Result(report.summary_text(), widget=WidgetRequest("drift", report))
        return Result.of(report)
    monitor = Monitor.load(args.monitor, registry=ctx.registry)
    if args.log:
        result = monitor.log_batch(current)
        if args.widget:
            history = monitor.history()
            latest = DriftReport.from_dict(history[-1]["report"])
            return Result(repr(result), widget=WidgetRequest("drift", latest, history))
        return Result.of(result)
    report = monitor.score(current)
    if args.widget:
        request = WidgetRequest("drift", report, monitor.history())
        return Result(report.summary_text(), widget=request)
    html = render_panel(report, history=monitor.history() or None)
    return Result(report.summary_text(), html)
