"""Monitor commands: ``monitor list|status|history`` everywhere, and ``create|log|panel``
in the notebook (they read DataFrames from its variables)."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.commands.spec import Context, Result
from mlnb.errors import MlnbError
from mlnb.monitoring.monitor import Monitor
from mlnb.render.monitoring import (
    history_rows,
    history_view,
    monitors_view,
    status_text,
    status_view,
)


def variable(ctx: Context, name: str, what: str) -> Any:
    """The notebook variable ``name`` (a clear error if there is none)."""
    ns = ctx.namespace or {}
    if name not in ns:
        raise MlnbError(f"{what} {name!r} is not a variable in this notebook.")
    return ns[name]


def list_monitors(ctx: Context, args: argparse.Namespace) -> Result:
    """Every monitor with its latest verdict."""
    monitors = ctx.registry.monitors.find()
    view = monitors_view(monitors)
    return Result(repr(view), view._repr_html_(), monitors)


def status(ctx: Context, args: argparse.Namespace) -> Result:
    """Latest verdict, metrics, thresholds and open alerts of a monitor (all without NAME)."""
    if args.name is None:
        return list_monitors(ctx, args)
    s = Monitor.load(args.name, registry=ctx.registry).status()
    return Result(status_text(s), status_view(s)._repr_html_(), s)


def history(ctx: Context, args: argparse.Namespace) -> Result:
    """Every batch of a monitor: drift share, drifted columns, metrics against thresholds."""
    monitor = Monitor.load(args.name, registry=ctx.registry)
    batches = monitor.history(limit=args.limit)
    thresholds = monitor.threshold_lines()
    view = history_view(monitor.name or args.name, batches, thresholds)
    headers, rows = history_rows(batches, thresholds)
    data = [dict(zip(headers, r, strict=True)) for r in rows]
    return Result(repr(view), view._repr_html_(), data)


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        if text == "learned":
            return text
        raise MlnbError(f"threshold value {text!r} is not a number (or 'learned').") from None


def create(ctx: Context, args: argparse.Namespace) -> Result:
    """``%monitor create NAME --reference VAR``: fit and store a monitor."""
    thresholds = {}
    for item in args.threshold:
        if "=" not in item:
            raise MlnbError(f"--threshold takes METRIC=VALUE (e.g. accuracy=0.82), got {item!r}.")
        key, value = item.split("=", 1)
        thresholds[key.strip()] = _number(value.strip())
    monitor = Monitor(
        args.name,
        model=args.model,
        reference=variable(ctx, args.reference, "reference data"),
        target=args.target,
        thresholds=thresholds,
        registry=ctx.registry,
    )
    return Result(
        f"monitor {monitor.name!r} fitted on {monitor.config['reference_rows']} rows, "
        f"{len(monitor.config['features'])} features",
        notice=True,
    )


def log(ctx: Context, args: argparse.Namespace) -> Result:
    """``%monitor log NAME BATCH``: score a batch, store it, raise alerts."""
    monitor = Monitor.load(args.name, registry=ctx.registry)
    result = monitor.log_batch(
        variable(ctx, args.batch, "batch"),
        predictions=variable(ctx, args.predictions, "predictions") if args.predictions else None,
        labels=variable(ctx, args.labels, "labels") if args.labels else None,
        when=args.when,
    )
    return Result.of(result)


def panel(ctx: Context, args: argparse.Namespace) -> Result:
    """``%monitor panel NAME``: the drift panel of a batch (or the interactive widget)."""
    monitor = Monitor.load(args.name, registry=ctx.registry)
    return Result.of(monitor.widget() if args.widget else monitor.panel(args.batch))
