"""``sync --to-mlflow URI``: copy the registry to an MLflow tracking server."""

from __future__ import annotations

import argparse

from mlnb.commands.spec import Context, Result
from mlnb.sync import sync_to_mlflow


def sync(ctx: Context, args: argparse.Namespace) -> Result:
    """Copy experiments, runs and model versions (idempotent)."""
    report = sync_to_mlflow(args.to_mlflow, registry=ctx.registry, experiments=args.experiment)
    return Result(report.text(), data=report.to_dict())
