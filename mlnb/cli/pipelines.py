"""``mlnb pipeline create|run|list|show|history|output|pause|resume|delete|export`` and
``mlnb scheduler [--once]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlnb.cli import emit, open_registry


def add_commands(sub: Any) -> None:
    from mlnb.pipelines.options import add_definition_options

    p = sub.add_parser("pipeline", help="notebook pipelines: create, run, list, history...")
    psub = p.add_subparsers(dest="pipeline_command", metavar="ACTION")
    p.set_defaults(func=cmd_list)

    c = psub.add_parser(
        "create",
        help="turn a notebook into a pipeline",
        description="Store a pipeline that runs NOTEBOOK with papermill (parameters go into "
        "the cell tagged 'parameters') on a cron schedule, new data, a monitor alert, or "
        "by hand; optionally gate and promote the model it registers.",
    )
    c.add_argument("name")
    c.add_argument("notebook")
    add_definition_options(c)
    c.set_defaults(func=cmd_create)

    r = psub.add_parser("run", help="run a pipeline now and wait for it")
    r.add_argument("name")
    r.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE")
    r.add_argument("--reason", default="", help="why (recorded with the run)")
    r.add_argument(
        "--params-json", default=None, metavar="JSON", help="parameters as one JSON object"
    )
    r.add_argument(
        "--trigger", default="manual", choices=("manual", "airflow"), help="recorded trigger"
    )
    r.add_argument(
        "--no-promote",
        action="store_true",
        help="skip the gate and promotion (run them later with `mlnb pipeline promote`)",
    )
    r.add_argument("--no-retry", action="store_true", help="one attempt only (the caller retries)")
    r.add_argument(
        "--print-id", action="store_true", help="print only the pipeline run id (for scripts)"
    )
    r.set_defaults(func=cmd_run)

    a = psub.add_parser(
        "promote",
        help="gate and promote the model of a run made with --no-promote",
        description="Run the pipeline's gate on the model version that run RUN_ID registered "
        "and promote it when it passes. Exits 1 when the gate rejects it. Running it again "
        "prints the decision already recorded.",
    )
    a.add_argument("name")
    a.add_argument("run_id", type=int)
    a.set_defaults(func=cmd_promote)

    a = psub.add_parser("list", help="list pipelines")
    a.set_defaults(func=cmd_list)

    a = psub.add_parser("show", help="a pipeline (or one of its runs)")
    a.add_argument("name")
    a.add_argument("run_id", nargs="?", type=int, help="show this run in full")
    a.add_argument("--log", action="store_true", help="with a run: print its log too")
    a.set_defaults(func=cmd_show)

    a = psub.add_parser("history", help="runs of a pipeline, newest first")
    a.add_argument("name")
    a.add_argument("--limit", "-n", type=int, default=20)
    a.set_defaults(func=cmd_history)

    a = psub.add_parser("output", help="path of a run's executed notebook (or its log)")
    a.add_argument("run_id", type=int)
    a.add_argument("--log", action="store_true", help="print the run's log instead")
    a.set_defaults(func=cmd_output)

    for action, helptext in (
        ("pause", "stop automatic runs"),
        ("resume", "restart automatic runs (slots missed while paused do not run)"),
    ):
        a = psub.add_parser(action, help=helptext)
        a.add_argument("name")
        a.set_defaults(func=cmd_pause if action == "pause" else cmd_resume)

    a = psub.add_parser("delete", help="delete a pipeline, its history and outputs")
    a.add_argument("name")
    a.add_argument("--keep-outputs", action="store_true", help="leave the output notebooks")
    a.set_defaults(func=cmd_delete)

    a = psub.add_parser("export", help="print the crontab line or systemd unit to install")
    a.add_argument("name")
    how = a.add_mutually_exclusive_group(required=True)
    how.add_argument("--crontab", action="store_true")
    how.add_argument("--systemd", action="store_true")
    how.add_argument(
        "--airflow", action="store_true", help="an Airflow DAG file (run + gate/promote tasks)"
    )
    a.set_defaults(func=cmd_export)

    s = sub.add_parser(
        "scheduler",
        help="run due pipelines (foreground; one per registry)",
        description="Queue and run due pipeline runs: cron schedules (missed slots follow "
        "each pipeline's --catchup policy), new data, monitor alerts. Runs in the foreground "
        "until stopped; --once runs what is due now and exits (for cron).",
    )
    s.add_argument("--once", action="store_true", help="run what is due now, then exit")
    s.add_argument("--poll", type=float, default=30.0, help="seconds between checks")
    s.add_argument(
        "--pipeline", action="append", default=None, help="only these pipelines (repeatable)"
    )
    s.set_defaults(func=cmd_scheduler)


def _pipeline_json(p: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in p.items() if k != "recent_runs"} | {
        "recent_runs": [_run_json(r) for r in p.get("recent_runs", [])]
    }


def _run_json(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "log"}


def cmd_create(args: argparse.Namespace) -> None:
    from mlnb.pipelines import create_pipeline
    from mlnb.pipelines.options import definition_kwargs
    from mlnb.render.pipelines import pipeline_text

    reg = open_registry(args, create=True)
    p = create_pipeline(args.name, args.notebook, registry=reg, **definition_kwargs(args))
    notes = "".join(f"\nnote: {m}" for m in p["messages"])
    emit(args, _pipeline_json(p), f"{pipeline_text(p).rsplit(chr(10) * 2, 1)[0]}{notes}")


def cmd_run(args: argparse.Namespace) -> int:
    from mlnb.pipelines import get_pipeline_run, run_pipeline
    from mlnb.pipelines.config import parse_params
    from mlnb.render.pipelines import run_text

    reg = open_registry(args)
    params = _json_params(args.params_json) | parse_params(args.param)
    if not args.json:
        print(f"running pipeline {args.name} ...", file=sys.stderr, flush=True)
    row = run_pipeline(
        args.name,
        params=params,
        reason=args.reason,
        registry=reg,
        trigger=args.trigger,
        promote=not args.no_promote,
        retry=not args.no_retry,
    )
    run = get_pipeline_run(row["id"], registry=reg)
    if args.print_id:
        print(run_text(run), file=sys.stderr)
        print(run["id"])
    else:
        emit(args, _run_json(run), run_text(run))
    return 0 if run["status"] == "finished" else 1


def _json_params(text: str | None) -> dict[str, Any]:
    import json

    from mlnb.errors import ValidationError

    if not text:
        return {}
    try:
        params = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"--params-json is not valid JSON ({exc}): {text!r}") from exc
    if not isinstance(params, dict):
        raise ValidationError(f"--params-json must be a JSON object, got {text!r}.")
    return params


def cmd_promote(args: argparse.Namespace) -> int:
    from mlnb.pipelines import promote_pipeline_run

    decision = promote_pipeline_run(args.name, args.run_id, registry=open_registry(args))
    lines = [f"pipeline {args.name} run #{args.run_id}: {decision['decision']}"]
    for c in decision.get("candidates", []):
        verdict = "promoted" if c.get("promoted") else "rejected"
        lines.append(f"  {c['model']} v{c['version']}: {verdict} {c.get('message') or ''}".rstrip())
    if decision.get("message"):
        lines.append(f"  {decision['message']}")
    emit(args, decision, "\n".join(lines))
    return 1 if decision["decision"] in ("rejected", "error") else 0


def cmd_list(args: argparse.Namespace) -> None:
    from mlnb.pipelines import list_pipelines
    from mlnb.render.pipelines import pipelines_text

    pipelines = list_pipelines(registry=open_registry(args))
    emit(args, pipelines, pipelines_text(pipelines))


def cmd_show(args: argparse.Namespace) -> None:
    from mlnb.errors import NotFoundError
    from mlnb.pipelines import describe_pipeline, get_pipeline_run
    from mlnb.render.pipelines import pipeline_text, run_text

    reg = open_registry(args)
    if args.run_id is None:
        p = describe_pipeline(args.name, registry=reg)
        emit(args, _pipeline_json(p), pipeline_text(p))
        return
    run = get_pipeline_run(args.run_id, registry=reg)
    if run["pipeline"] != args.name:
        raise NotFoundError(
            f"run #{args.run_id} belongs to pipeline {run['pipeline']!r}, not {args.name!r}."
        )
    emit(args, run, run_text(run, with_log=args.log))


def cmd_history(args: argparse.Namespace) -> None:
    from mlnb.pipelines import pipeline_history
    from mlnb.render.pipelines import history_text

    runs = pipeline_history(args.name, limit=args.limit, registry=open_registry(args))
    emit(args, [_run_json(r) for r in runs], history_text(runs))


def cmd_output(args: argparse.Namespace) -> None:
    from mlnb.errors import NotFoundError
    from mlnb.pipelines import get_pipeline_run

    run = get_pipeline_run(args.run_id, registry=open_registry(args))
    if args.log:
        print(run["log"] or "(empty log)")
        return
    path = run.get("output_path")
    if not path or not Path(path).exists():
        why = (
            "its output notebook was removed by retention (--keep)"
            if run["details"].get("output_removed")
            else "it has no output notebook (it never started, or the file was deleted)"
        )
        raise NotFoundError(f"run #{run['id']}: {why}.")
    emit(args, {"output_path": path}, path)


def cmd_pause(args: argparse.Namespace) -> None:
    from mlnb.pipelines import set_pipeline_status

    p = set_pipeline_status(args.name, "paused", registry=open_registry(args))
    emit(args, _pipeline_json(p), f"pipeline {p['name']} paused: no automatic runs until resumed")


def cmd_resume(args: argparse.Namespace) -> None:
    from mlnb.pipelines import set_pipeline_status

    p = set_pipeline_status(args.name, "active", registry=open_registry(args))
    nxt = f"; next scheduled run {p['next_run_at']}" if p.get("next_run_at") else ""
    emit(args, _pipeline_json(p), f"pipeline {p['name']} resumed{nxt}")


def cmd_delete(args: argparse.Namespace) -> None:
    from mlnb.pipelines import delete_pipeline

    p = delete_pipeline(args.name, keep_outputs=args.keep_outputs, registry=open_registry(args))
    emit(args, {"deleted": p["name"]}, f"pipeline {p['name']} deleted")


def cmd_export(args: argparse.Namespace) -> None:
    from mlnb.pipelines.export import export_crontab, export_systemd

    reg = open_registry(args)
    if args.airflow:
        from mlnb.pipelines.airflow import export_airflow_dag

        print(export_airflow_dag(reg, args.name))
        return
    print(export_crontab(reg, args.name) if args.crontab else export_systemd(reg, args.name))


def cmd_scheduler(args: argparse.Namespace) -> int:
    from mlnb.pipelines import Scheduler, SchedulerLocked

    reg = open_registry(args, create=True)
    scheduler = Scheduler(reg, poll_seconds=args.poll, pipelines=args.pipeline)
    with _activity_log():
        try:
            if args.once:
                result = scheduler.run_once()
                emit(
                    args,
                    result,
                    f"scheduler --once: {len(result['started'])} run(s) executed, "
                    f"{len(result['recovered'])} crashed run(s) recovered",
                )
                return 0
            signal.signal(
                signal.SIGTERM,
                lambda *_: scheduler.stop(
                    "the scheduler got SIGTERM while the run was in progress"
                ),
            )
            print(
                f"mlnb scheduler: registry {reg.home} (pid {os.getpid()}); Ctrl-C stops it",
                file=sys.stderr,
                flush=True,
            )
            scheduler.run_forever()
            return 0
        except SchedulerLocked as exc:
            print(f"mlnb: {exc}", file=sys.stderr)
            return 0 if args.once else 1


@contextmanager
def _activity_log() -> Iterator[None]:
    """Timestamped INFO lines from mlnb while a scheduler runs (what it queued, started,
    finished, recovered), restored afterwards."""
    logger = logging.getLogger("mlnb")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
