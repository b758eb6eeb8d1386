"""``%%track`` and ``%track on|off``: the tracking half of the notebook-only ``track``
command. The IPython half (running the cell, the pre/post-run hooks) stays in
``mlnb.magics.core``; this half builds the capture from the declared options."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.commands.spec import Context
from mlnb.tracking.cell import CellCapture, TrackOptions
from mlnb.tracking.run import deactivate


def comma_list(text: str | None) -> list[str] | None:
    """``a, b,c`` -> ``["a", "b", "c"]`` (None stays None)."""
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def options(args: argparse.Namespace) -> TrackOptions:
    """The capture options from parsed ``%%track`` arguments."""
    return TrackOptions(
        name=args.name,
        params=comma_list(args.params),
        metrics=comma_list(args.metrics) or [],
        data=not args.no_data,
        models=not args.no_models,
        experiment=args.experiment,
    )


def start(
    ctx: Context,
    opts: TrackOptions,
    source: str,
    analysed_source: str,
    execution_count: int | None,
) -> CellCapture:
    """Begin capturing a cell: snapshot the namespace and open its run."""
    capture = CellCapture(
        ctx.registry,
        ctx.namespace if ctx.namespace is not None else {},
        source,
        opts,
        execution_count=execution_count,
        notebook_path=ctx.notebook_path,
        analysed_source=analysed_source,
    )
    capture.before()
    return capture


def release(capture: Any) -> None:
    """Whatever happened, the cell's run is no longer the active one (and is not left
    running)."""
    run = getattr(capture, "run", None)
    if run is None:
        return
    deactivate(run)
    if run.status == "running":
        try:
            run.end("failed", "mlnb could not finish capturing this cell")
        except Exception:
            pass
