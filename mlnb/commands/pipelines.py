"""Pipeline commands: ``pipeline create|run|promote|list|show|history|output|pause|resume|
delete|export`` and the command line's ``scheduler``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlnb.commands.spec import Context, Result
from mlnb.errors import NotFoundError, ValidationError
from mlnb.pipelines.airflow import export_airflow_dag
from mlnb.pipelines.api import (
    create_pipeline,
    delete_pipeline,
    describe_pipeline,
    get_pipeline_run,
    list_pipelines,
    pipeline_history,
    promote_pipeline_run,
    run_pipeline,
    set_pipeline_status,
)
from mlnb.pipelines.config import parse_params, validate_params
from mlnb.pipelines.export import export_crontab, export_systemd
from mlnb.pipelines.scheduler import Scheduler, SchedulerLocked
from mlnb.render.pipelines import (
    failure_reason,
    history_html,
    history_text,
    pipeline_html,
    pipeline_text,
    pipelines_html,
    pipelines_text,
    run_rendered,
    run_text,
)


def _pipeline_json(p: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in p.items() if k != "recent_runs"} | {
        "recent_runs": [_run_json(r) for r in p.get("recent_runs", [])]
    }


def _run_json(r: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "log"} | {"failure_reason": failure_reason(r)}


def this_notebook(ctx: Context) -> Path:
    """The notebook this kernel belongs to (VS Code says so too), else a clear error."""
    ns = ctx.namespace or {}
    vscode = ns.get("__vsc_ipynb_file__")
    found = vscode if isinstance(vscode, str) else ctx.notebook_path
    if found:
        path = Path(found).expanduser()
        for candidate in (path, Path.cwd() / path, Path.cwd() / path.name):
            if candidate.suffix == ".ipynb" and candidate.exists():
                return candidate.resolve()
    raise ValidationError(
        "cannot tell which notebook this is (Jupyter did not say); pass --notebook PATH."
    )


def _notebook(ctx: Context, args: argparse.Namespace) -> Path:
    given = args.notebook_option or args.notebook
    if args.notebook_option and args.notebook and args.notebook_option != args.notebook:
        raise ValidationError("two notebooks given (NOTEBOOK and --notebook); pass one.")
    if given:
        return Path(given).expanduser()
    if ctx.in_notebook:
        return this_notebook(ctx)
    raise ValidationError(
        f"say which notebook to run: mlnb pipeline create {args.name} NOTEBOOK [options]."
    )


def create(ctx: Context, args: argparse.Namespace) -> Result:
    """Store a pipeline that runs a notebook on a schedule, new data, an alert or by hand."""
    inside = os.environ.get("MLNB_PIPELINE_RUN_ID")
    if ctx.in_notebook and inside:
        return Result(
            f"inside pipeline run #{inside}: `%pipeline create {args.name}` left the "
            "stored definition as it is.",
            notice=True,
        )
    notebook = _notebook(ctx, args)
    p = create_pipeline(args.name, notebook, registry=ctx.registry, **definition_kwargs(args))
    if not ctx.in_notebook:
        notes = "".join(f"\nnote: {m}" for m in p["messages"])
        text = f"{pipeline_text(p).rsplit(chr(10) * 2, 1)[0]}{notes}"
        return Result(text, data=_pipeline_json(p))
    for message in p["messages"]:
        ctx.say(message)
    if any(m.startswith("tagged ") for m in p["messages"]):
        ctx.say("the notebook file changed on disk; reload it (File > Reload) before saving.")
    else:
        ctx.say(f"runs execute {notebook.name} as saved on disk; save it to include edits.")
    return Result(pipeline_text(p), pipeline_html(p), _pipeline_json(p))


def _json_params(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        params = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"--params-json is not valid JSON ({exc}): {text!r}") from exc
    if not isinstance(params, dict):
        raise ValidationError(f"--params-json must be a JSON object, got {text!r}.")
    return validate_params(params, "--params-json")


def run(ctx: Context, args: argparse.Namespace) -> Result:
    """Run a pipeline now in a fresh kernel and wait (exit 1 unless it finished)."""
    params = _json_params(args.params_json) | parse_params(args.param)
    ctx.say(f"running pipeline {args.name} in a fresh kernel ...")
    row = run_pipeline(
        args.name,
        params=params,
        reason=args.reason,
        registry=ctx.registry,
        trigger=args.trigger,
        promote=not args.no_promote,
        retry=not args.no_retry,
    )
    prun = get_pipeline_run(row["id"], registry=ctx.registry)
    code = 0 if prun["status"] == "finished" else 1
    if args.print_id:
        print(run_text(prun), file=sys.stderr)
        return Result(str(prun["id"]), raw=True, code=code)
    return Result(run_text(prun), run_rendered(prun)._repr_html_(), _run_json(prun), code=code)


def promote(ctx: Context, args: argparse.Namespace) -> Result:
    """Gate and promote the model of a run made with ``--no-promote`` (exit 1 if rejected)."""
    decision = promote_pipeline_run(args.name, args.run_id, registry=ctx.registry)
    lines = [f"pipeline {args.name} run #{args.run_id}: {decision['decision']}"]
    for c in decision.get("candidates", []):
        verdict = "promoted" if c.get("promoted") else "rejected"
        lines.append(f"  {c['model']} v{c['version']}: {verdict} {c.get('message') or ''}".rstrip())
    if decision.get("message"):
        lines.append(f"  {decision['message']}")
    code = 1 if decision["decision"] in ("rejected", "error") else 0
    return Result("\n".join(lines), data=decision, code=code)


def list_all(ctx: Context, args: argparse.Namespace) -> Result:
    """Every pipeline with its triggers, status and next run."""
    pipelines = list_pipelines(registry=ctx.registry)
    return Result(pipelines_text(pipelines), pipelines_html(pipelines), pipelines)


def show(ctx: Context, args: argparse.Namespace) -> Result:
    """A pipeline's definition and recent runs, or one of its runs in full."""
    if args.run_id is None:
        p = describe_pipeline(args.name, registry=ctx.registry)
        return Result(pipeline_text(p), pipeline_html(p), _pipeline_json(p))
    prun = get_pipeline_run(args.run_id, registry=ctx.registry)
    if prun["pipeline"] != args.name:
        raise NotFoundError(
            f"run #{args.run_id} belongs to pipeline {prun['pipeline']!r}, not {args.name!r}."
        )
    html = None if args.log else run_rendered(prun)._repr_html_()
    return Result(
        run_text(prun, with_log=args.log), html, prun | {"failure_reason": failure_reason(prun)}
    )


def history(ctx: Context, args: argparse.Namespace) -> Result:
    """Runs of a pipeline, newest first."""
    runs = pipeline_history(args.name, limit=args.limit, registry=ctx.registry)
    return Result(history_text(runs), history_html(runs), [_run_json(r) for r in runs])


def output(ctx: Context, args: argparse.Namespace) -> Result:
    """Where a run's executed notebook is (or the run's log with ``--log``)."""
    prun = get_pipeline_run(args.run_id, registry=ctx.registry)
    if args.log:
        return Result(prun["log"] or "(empty log)", raw=True)
    path = prun.get("output_path")
    if not path or not Path(path).exists():
        why = (
            "its output notebook was removed by retention (--keep)"
            if prun["details"].get("output_removed")
            else "it has no output notebook (it never started, or the file was deleted)"
        )
        raise NotFoundError(f"run #{prun['id']}: {why}.")
    return Result(path, data={"output_path": path})


def pause(ctx: Context, args: argparse.Namespace) -> Result:
    """Stop automatic runs until resumed."""
    p = set_pipeline_status(args.name, "paused", registry=ctx.registry)
    return Result(
        f"pipeline {p['name']} paused: no automatic runs until resumed",
        data=_pipeline_json(p),
        notice=True,
    )


def resume(ctx: Context, args: argparse.Namespace) -> Result:
    """Restart automatic runs (slots missed while paused do not run)."""
    p = set_pipeline_status(args.name, "active", registry=ctx.registry)
    nxt = f"; next scheduled run {p['next_run_at']}" if p.get("next_run_at") else ""
    return Result(f"pipeline {p['name']} resumed{nxt}", data=_pipeline_json(p), notice=True)


def delete(ctx: Context, args: argparse.Namespace) -> Result:
    """Delete a pipeline, its history and (unless ``--keep-outputs``) its output notebooks."""
    p = delete_pipeline(args.name, keep_outputs=args.keep_outputs, registry=ctx.registry)
    return Result(f"pipeline {p['name']} deleted", data={"deleted": p["name"]}, notice=True)


def export(ctx: Context, args: argparse.Namespace) -> Result:
    """The crontab line, systemd unit or Airflow DAG that keeps the pipeline scheduled."""
    if args.airflow:
        text = export_airflow_dag(ctx.registry, args.name)
    elif args.crontab:
        text = export_crontab(ctx.registry, args.name)
    else:
        text = export_systemd(ctx.registry, args.name)
    return Result(text, raw=True)


def scheduler(ctx: Context, args: argparse.Namespace) -> Result:
    """Run due pipeline runs in the foreground until stopped (``--once``: what is due now)."""
    reg = ctx.registry
    sched = Scheduler(reg, poll_seconds=args.poll, pipelines=args.pipeline)
    with _activity_log():
        try:
            if args.once:
                return _once_result(reg, sched.run_once(), sched.errors)
            signal.signal(
                signal.SIGTERM,
                lambda *_: sched.stop("the scheduler got SIGTERM while the run was in progress"),
            )
            sched.run_forever(
                on_locked=lambda: print(
                    f"mlnb scheduler: registry {reg.home} (pid {os.getpid()}); Ctrl-C stops it",
                    file=sys.stderr,
                    flush=True,
                )
            )
            return Result()
        except SchedulerLocked as exc:
            print(f"mlnb: {exc}", file=sys.stderr)
            return Result(code=0 if args.once else 1)


def _once_result(reg: Any, result: dict[str, list[int]], errors: list[str]) -> Result:
    """What ``scheduler --once`` did; exit 1 when a run it started failed or crashed or a
    pipeline could not be checked, so that cron wrappers and monitoring see it."""
    lines = [
        f"scheduler --once: {len(result['started'])} run(s) executed, "
        f"{len(result['recovered'])} crashed run(s) recovered"
    ]
    for run_id in result["failed"]:
        run = reg.pipelines.run(run_id)
        lines.append(f"  run #{run_id} of {run['pipeline']} {run['status']}: {run['error']}")
    lines += [f"  error: {e}" for e in errors]
    code = 1 if result["failed"] or errors else 0
    return Result("\n".join(lines), data={**result, "errors": errors}, code=code)


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


def definition_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`mlnb.pipelines.api.create_pipeline` from ``pipeline create``'s options."""
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
