"""Tracking commands: ``runs``, ``show``, ``compare``, ``experiments``, ``status`` and the
notebook's ``%mlnb registry`` / ``%mlnb experiment``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mlnb.commands.spec import Context, Result
from mlnb.commands.status import damage_notice, status_dict, status_report
from mlnb.render.html import esc
from mlnb.render.runs import compare_html, compare_text, runs_html, runs_text
from mlnb.render.text import fmt_duration, fmt_time, fmt_value, text_table
from mlnb.store.registry import get_registry, set_registry
from mlnb.tracking.run import current_experiment, set_experiment


def registry(ctx: Context, args: argparse.Namespace) -> Result:
    """``%mlnb registry [PATH]``: the registry this notebook writes to, or switch it."""
    reg = set_registry(os.path.expanduser(args.path)) if args.path else get_registry()
    return Result(f"registry {reg.home}", data={"registry": str(reg.home)}, notice=True)


def experiment(ctx: Context, args: argparse.Namespace) -> Result:
    """``%mlnb experiment [NAME]``: the experiment new runs belong to, or set it."""
    name = set_experiment(args.name) if args.name is not None else current_experiment()
    return Result(f"experiment {name!r}", data={"experiment": name}, notice=True)


def runs(ctx: Context, args: argparse.Namespace) -> Result:
    """Runs, newest (or best by ``--sort``) first; ``--compare`` shows some side by side."""
    if args.compare:
        return _compare(ctx, args.compare)
    found = ctx.registry.runs.find(
        experiment=args.experiment,
        status=args.status,
        limit=args.limit,
        sort=args.sort,
        descending=not args.asc,
    )
    return Result(runs_text(found), runs_html(found), found)


def compare(ctx: Context, args: argparse.Namespace) -> Result:
    """Params, metrics and data of runs side by side."""
    return _compare(ctx, args.runs)


def _compare(ctx: Context, run_ids: list[str]) -> Result:
    cmp = ctx.registry.runs.compare(run_ids)
    return Result(compare_text(cmp), compare_html(cmp), cmp)


def show(ctx: Context, args: argparse.Namespace) -> Result:
    """Everything recorded about one run."""
    run = ctx.registry.runs.get(args.run)
    return Result(show_text(run), data=run)


def experiments(ctx: Context, args: argparse.Namespace) -> Result:
    """Experiments with their run counts."""
    exps = ctx.registry.runs.experiments()
    rows = [[e["name"], e["n_runs"], fmt_time(e["last_run_at"])] for e in exps]
    text = text_table(rows, ["experiment", "runs", "last run"]) if rows else "no experiments yet"
    return Result(text, data=exps)


def status(ctx: Context, args: argparse.Namespace) -> Result:
    """Where the registry is and what it holds."""
    experiment = current_experiment() if ctx.in_notebook else "Default"
    s = status_dict(ctx.registry, experiment)
    report = status_report(s, ctx.tracking_every_cell)
    notice = damage_notice(s)
    if notice:
        text = f"{report!r}\n{notice}"
        html = f"{report._repr_html_()}<p style='color:#cf222e'>{esc(notice)}</p>"
        return Result(text, html, s, code=1)
    return Result(repr(report), report._repr_html_(), s)


def show_text(run: dict[str, Any]) -> str:
    """The text of ``mlnb show RUN``."""
    lines = [
        f"run #{run['id']}  {run['name']}".rstrip(),
        f"  experiment: {run['experiment']}",
        f"  status:     {run['status']}" + (f"  ({run['error']})" if run.get("error") else ""),
        f"  started:    {fmt_time(run['started_at'])}   duration: {fmt_duration(run['started_at'], run['ended_at'])}",
        f"  source:     {run['source']}"
        + (f"  notebook: {run['notebook_path']}" if run.get("notebook_path") else "")
        + (f"  cell [{run['execution_count']}]" if run.get("execution_count") else ""),
        f"  by:         {run.get('user')}@{run.get('host')}  python {run.get('python_version')}",
    ]
    if run.get("git_commit"):
        lines.append(
            f"  git:        {run['git_commit'][:12]}{' (dirty)' if run.get('git_dirty') else ''}"
        )
    if run.get("pipeline_run_id"):
        lines.append(f"  pipeline run: {run['pipeline_run_id']}")
    if run.get("packages"):
        lines.append("  packages:   " + ", ".join(f"{k} {v}" for k, v in run["packages"].items()))
    if run["params"]:
        lines.append("params:")
        lines += [f"  {k} = {fmt_value(v)}" for k, v in run["params"].items()]
    if run["metric_history"]:
        lines.append("metrics:")
        for k, hist in run["metric_history"].items():
            extra = f"  ({len(hist)} steps)" if len(hist) > 1 else ""
            lines.append(f"  {k} = {fmt_value(hist[-1]['value'])}{extra}")
    if run["data"]:
        lines.append("data:")
        lines += [
            f"  {d['role']:6} {d['name'] or '-':20} {d['id']}  {d['kind']}"
            + (f" {d['n_rows']}x{d['n_cols']}" if d.get("n_rows") is not None else "")
            + (f"  {d['source_path']}" if d.get("source_path") else "")
            for d in run["data"]
        ]
    if run["models"]:
        lines.append("models:")
        lines += [
            f"  {m['name']:20} {m['class_name']}  {m['format']}  sha256 {m['object_hash'][:12]}  artifact:{m['id']}"
            for m in run["models"]
        ]
    if run["tags"]:
        lines.append("tags:")
        lines += [f"  {k} = {v}" for k, v in run["tags"].items()]
    if run.get("cell_source"):
        lines.append("cell source:")
        lines += [f"  | {ln}" for ln in run["cell_source"].splitlines()]
    return "\n".join(lines)
