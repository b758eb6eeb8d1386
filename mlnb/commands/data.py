"""Data-version commands: ``data list|show|restore`` and the notebook's ``%dataversion``."""

from __future__ import annotations

import argparse
import os

from mlnb.commands.spec import Context, Result
from mlnb.errors import MlnbError
from mlnb.render.html import esc
from mlnb.render.text import fmt_time, short_id, text_table
from mlnb.tracking.data import record_data, restore_data
from mlnb.tracking.fingerprint import is_data
from mlnb.tracking.run import active_run


def list_versions(ctx: Context, args: argparse.Namespace) -> Result:
    """Data versions, newest first, with the runs that used them."""
    versions = ctx.registry.data.find(args.limit)
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
    return Result(text, data=versions)


def show(ctx: Context, args: argparse.Namespace) -> Result:
    """One data version: shape, schema, snapshot and the runs that used it."""
    v = ctx.registry.data.get(args.version)
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
    return Result("\n".join(lines), data=v)


def restore(ctx: Context, args: argparse.Namespace) -> Result:
    """Write a data version's snapshot back to a file."""
    target = restore_data(ctx.registry, args.version, args.path, force=args.force)
    return Result(f"restored {args.version} to {target}", data={"restored": str(target)})


def dataversion(ctx: Context, args: argparse.Namespace) -> Result:
    """``%dataversion VAR_OR_PATH``: record a data version (inside the active run, if any)."""
    ns = ctx.namespace or {}
    if args.target in ns and is_data(ns[args.target]):
        obj, name = ns[args.target], args.name or args.target
    elif args.target in ns:
        raise MlnbError(
            f"{args.target} is a {type(ns[args.target]).__name__}; %dataversion versions "
            "DataFrames, Series, numpy arrays, or a file/folder path."
        )
    elif os.path.exists(os.path.expanduser(args.target)):
        obj, name = (
            os.path.expanduser(args.target),
            args.name or os.path.basename(args.target.rstrip("/")),
        )
    else:
        raise MlnbError(
            f"{args.target!r} is neither a variable in the notebook nor an existing file or "
            "folder. Check the spelling or the path."
        )
    run = active_run()
    version = record_data(
        ctx.registry, obj, name=name, run_id=run.id if run else None, snapshot=args.snapshot
    )
    shape = (
        f"{version.get('n_rows')}x{version.get('n_cols')}"
        if version.get("n_rows") is not None
        else version["kind"]
    )
    kept = " (snapshot kept: restore with `mlnb data restore`)" if version.get("snapshot") else ""
    return Result(
        f"data version {version['id']} of {name} [{shape}]{kept}",
        f"<div style='font-size:12px'>mlnb: data version <code>{esc(short_id(version['id'], 32))}</code> of <code>{esc(name)}</code> [{esc(shape)}]{esc(kept)}</div>",
        version,
    )
