"""``mlnb sync --to-mlflow URI``: copy the registry to an MLflow tracking server."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.cli import emit, open_registry


def add_commands(sub: Any) -> None:
    s = sub.add_parser(
        "sync",
        help="copy experiments, runs and model versions to an MLflow server",
        description="Copy experiments, runs (params, metric history, tags, data digests) and "
        "registered model versions with their stages and aliases to an MLflow tracking "
        "server over its REST API. Idempotent: a second sync copies nothing new; runs that "
        "changed since are topped up. mlflow itself need not be installed here.",
    )
    s.add_argument(
        "--to-mlflow",
        required=True,
        metavar="URI",
        help="tracking server, e.g. http://127.0.0.1:5000",
    )
    s.add_argument(
        "--experiment",
        "-e",
        action="append",
        default=None,
        help="only this experiment (repeatable)",
    )
    s.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> None:
    from mlnb.sync import sync_to_mlflow

    report = sync_to_mlflow(
        args.to_mlflow, registry=open_registry(args), experiments=args.experiment
    )
    emit(args, report.to_dict(), report.text())
