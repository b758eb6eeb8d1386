"""``sync --to-mlflow URI`` and ``import --from-mlflow URI``: the registry and MLflow."""

from __future__ import annotations

import argparse

from mlnb.commands.spec import Context, Result
from mlnb.sync import check_uri, import_from_mlflow, sync_to_mlflow


def sync(ctx: Context, args: argparse.Namespace) -> Result:
    """Copy experiments, runs and model versions (idempotent)."""
    report = sync_to_mlflow(args.to_mlflow, registry=ctx.registry, experiments=args.experiment)
    return Result(report.text(), data=report.to_dict())


def import_runs(ctx: Context, args: argparse.Namespace) -> Result:
    """Bring an MLflow server's runs and registered model versions in (idempotent)."""
    check_uri(args.from_mlflow, "--from-mlflow")  # before the registry folder is made
    report = import_from_mlflow(
        args.from_mlflow, registry=ctx.registry, experiments=args.experiment
    )
    return Result(report.text(), data=report.to_dict())
