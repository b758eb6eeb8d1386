"""``mlnb runs|show|compare|data|experiments|status``."""

from __future__ import annotations

import argparse
from typing import Any

from mlnb.cli import emit, open_registry
from mlnb.render.tables import (
    compare_text,
    fmt_duration,
    fmt_time,
    fmt_value,
    runs_text,
    short_id,
    text_table,
)
from mlnb.tracking.data import restore_data


def add_commands(sub: Any) -> None:
    p = sub.add_parser("runs", help="list runs")
    p.add_argument("--experiment", "-e", default=None)
    p.add_argument("--status", default=None, choices=["running", "finished", "failed", "crashed"])
    p.add_argument("--sort", default=None, help="metric or field to sort by (descending)")
    p.add_argument("--asc", action="store_true")
    p.add_argument("--limit", "-n", type=_positive_int, default=50)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="everything about one run")
    p.add_argument("run")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("compare", help="runs side by side")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("data", help="data versions: list, show, restore")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=cmd_data_list)
    d = dsub.add_parser("list", help="list data versions")
    d.add_argument("--limit", "-n", type=_positive_int, default=50)
    d.set_defaults(func=cmd_data_list)
    d = dsub.add_parser("show", help="one data version and the runs that used it")
    d.add_argument("version")
    d.set_defaults(func=cmd_data_show)
    d = dsub.add_parser("restore", help="write a snapshot back to a path")
    d.add_argument("version")
    d.add_argument("path")
    d.set_defaults(func=cmd_data_restore)

    p = sub.add_parser("experiments", help="list experiments")
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("status", help="registry location and counts")
    p.set_defaults(func=cmd_status)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def cmd_runs(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    if args.limit is None:
        args.limit = 50
    runs = reg.runs.find(
        experiment=args.experiment,
        status=args.status,
        limit=args.limit,
        sort=args.sort,
        descending=not args.asc,
    )
    emit(args, runs, runs_text(runs))


def cmd_show(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    run = reg.runs.get(args.run)
    emit(args, run, show_text(run))


def show_text(run: dict[str, Any]) -> str:
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


def cmd_compare(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    cmp = reg.runs.compare(args.runs)
    emit(args, cmp, compare_text(cmp))


def cmd_data_list(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    versions = reg.data.find(getattr(args, "limit", None) or 50)
    rows = [
        [
            short_id(v["id"], 16),
            v["kind"],
            v.get("names") or v["name"],
            f"{v['n_rows']}x{v['n_cols']}" if v.get("n_rows") is not None else "",
            v["n_runs"],
            "yes" if v.get("snapshot") else "",
            fmt_time(v["created_at"]),
        ]
        for v in versions
    ]
    text = (
        text_table(rows, ["version", "kind", "names", "shape", "runs", "snapshot", "first seen"])
        if rows
        else "no data versions recorded yet"
    )
    emit(args, versions, text)


def cmd_data_show(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    v = reg.data.get(args.version)
    lines = [
        f"data version {v['id']}",
        f"  kind: {v['kind']}  shape: {v.get('n_rows')}x{v.get('n_cols')}  bytes: {v.get('nbytes')}",
        f"  first seen: {fmt_time(v['created_at'])}  snapshot: {'yes' if v.get('snapshot') else 'no'}",
    ]
    if v.get("source_path"):
        lines.append(f"  path: {v['source_path']}")
    cols = v["schema"].get("columns")
    if cols:
        lines.append(
            "  columns: "
            + ", ".join(f"{c}:{t}" for c, t in zip(cols, v["schema"]["dtypes"], strict=False))
        )
    if v["runs"]:
        lines.append(
            "  used by: "
            + ", ".join(f"#{r['run_id']} ({r['role']} {r['name']})" for r in v["runs"])
        )
    emit(args, v, "\n".join(lines))


def cmd_data_restore(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    target = restore_data(reg, args.version, args.path)
    emit(args, {"restored": str(target)}, f"restored {args.version} to {target}")


def cmd_experiments(args: argparse.Namespace) -> None:
    reg = open_registry(args)
    exps = reg.runs.experiments()
    rows = [[e["name"], e["n_runs"], fmt_time(e["last_run_at"])] for e in exps]
    emit(
        args,
        exps,
        text_table(rows, ["experiment", "runs", "last run"]) if rows else "no experiments yet",
    )


def cmd_status(args: argparse.Namespace) -> None:
    from mlnb.commands.status import status_dict, status_report

    reg = open_registry(args)
    emit(args, status_dict(reg, "Default"), repr(status_report(reg, "Default")))
