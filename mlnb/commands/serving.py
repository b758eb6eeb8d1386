"""Serving commands: ``serve`` (foreground on the command line, background in a notebook,
``%serve stop``) and ``deployments`` (list / status / stop)."""

from __future__ import annotations

import argparse

from mlnb.commands.spec import Context, Result
from mlnb.render.serving import deployment_text, deployments_html, deployments_text
from mlnb.serving import server
from mlnb.serving.server import ServeOptions


def _options(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        ref=args.ref,
        host=args.host,
        port=args.port,
        workers=args.workers,
        token=args.token,
        log=not args.no_log,
        max_body_mb=args.max_body_mb,
        queue_rows=args.queue_rows,
        monitor=args.monitor,
        window_rows=args.window_rows,
        window_minutes=args.window_minutes,
        max_p95_ms=args.max_p95_ms,
        max_error_rate=args.max_error_rate,
    )


def serve(ctx: Context, args: argparse.Namespace) -> Result:
    """Serve NAME@ALIAS over HTTP: in the foreground (CLI) or in the background (notebook)."""
    if ctx.in_notebook and args.ref == "stop":
        stopped = server.stop_background()
        if not stopped:
            return Result("no server started by this notebook is running.", notice=True)
        return Result("stopped " + ", ".join(stopped), notice=True)
    opts = _options(args)
    if ctx.in_notebook:
        if args.port == 8080:
            opts.port = 0  # a free port: several notebooks may serve at once
        started = server.start_background(ctx.registry, opts)
        return Result(
            f"serving {started.ref} at {started.url} (pid {started.process.pid}); "
            "%serve stop stops it",
            notice=True,
        )
    deployment_id = server.run_server(ctx.registry, opts)
    return Result(f"deployment {deployment_id} stopped", data={"deployment_id": deployment_id})


def list_deployments(ctx: Context, args: argparse.Namespace) -> Result:
    """Deployments of every model (or of --model), newest first."""
    found = server.deployments(ctx.registry, model=args.model)
    if not args.all:
        found = [d for d in found if d["status"] in ("starting", "running")] or found[:10]
    return Result(deployments_text(found), deployments_html(found), found)


def status(ctx: Context, args: argparse.Namespace) -> Result:
    """One deployment: what it serves, where, its counters and its monitoring windows."""
    server.refresh_statuses(ctx.registry)
    d = ctx.registry.deployments.get(args.deployment_id)
    windows = ctx.registry.deployments.windows(args.deployment_id)
    data = {**d, "windows": windows}
    return Result(deployment_text(d, windows), None, data)


def stop(ctx: Context, args: argparse.Namespace) -> Result:
    """Stop a running deployment (SIGTERM to its process; it flushes its log first)."""
    d = server.stop_deployment(ctx.registry, args.deployment_id)
    return Result(f"deployment {d['id']} is {d['status']}", data=d)
