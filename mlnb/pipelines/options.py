"""The options of ``pipeline create``, shared by ``%pipeline`` and ``mlnb pipeline`` so the
two stay the same."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.pipelines.config import parse_params


def add_definition_options(p: argparse.ArgumentParser) -> None:
    """Add every ``pipeline create`` option after NAME (and NOTEBOOK, which callers add)."""
    p.add_argument("--schedule", default=None, help="cron expression, e.g. '0 3 * * *' or @daily")
    p.add_argument(
        "--timezone", "--tz", default="UTC", help="time zone of the schedule (default UTC)"
    )
    p.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter injected by papermill (repeatable; Python literal or string)",
    )
    p.add_argument(
        "--on-new-data",
        action="append",
        default=[],
        metavar="PATH",
        help="run when this file or folder's content changes (repeatable)",
    )
    p.add_argument(
        "--on-alert",
        default=None,
        metavar="MONITOR[:KINDS]",
        help="run when the monitor raises an alert (optionally only of these kinds)",
    )
    p.add_argument("--gate", default=None, help="gate the candidate model must pass")
    p.add_argument(
        "--promote-to",
        default=None,
        choices=["staging", "production"],
        help="stage the candidate moves to when it passes",
    )
    p.add_argument("--model", default=None, help="registered model to gate (default: any)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per attempt")
    p.add_argument("--retries", type=int, default=0, help="extra attempts after a failure")
    p.add_argument(
        "--retry-delay", type=float, default=30.0, help="seconds before the first retry (doubles)"
    )
    p.add_argument("--max-concurrent", type=int, default=1, help="runs at a time (default 1)")
    p.add_argument("--keep", type=int, default=20, help="output notebooks to keep (default 20)")
    p.add_argument(
        "--catchup",
        choices=["once", "skip"],
        default="once",
        help="missed cron slots: one run for all of them (once) or none (skip)",
    )
    p.add_argument("--kernel", default="python3", help="Jupyter kernel (default python3)")
    p.add_argument(
        "--tag-parameters",
        action="store_true",
        help="tag the cell of literal assignments as 'parameters' if none is tagged",
    )
    p.add_argument(
        "--replace", action="store_true", help="redefine an existing pipeline (keeps history)"
    )


def definition_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`mlnb.pipelines.create_pipeline` from parsed options."""
    return {
        "schedule": args.schedule,
        "timezone": args.timezone,
        "params": parse_params(args.param),
        "on_new_data": args.on_new_data,
        "on_alert": args.on_alert,
        "gate": args.gate,
        "promote_to": args.promote_to,
        "model": args.model,
        "timeout": args.timeout,
        "retries": args.retries,
        "retry_delay": args.retry_delay,
        "max_concurrent": args.max_concurrent,
        "keep": args.keep,
        "catchup": args.catchup,
        "kernel": args.kernel,
        "tag_parameters": args.tag_parameters,
        "replace": args.replace,
    }
