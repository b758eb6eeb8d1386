"""Starting, finding and stopping deployments: ``mlnb serve`` in the foreground, ``%serve``
in the background, ``mlnb deployments`` (list / status / stop).

The deployment row is written before uvicorn starts and kept current by the server's
heartbeat; a row whose process is gone (or whose heartbeat stopped) reads as crashed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlnb._runtime import host as this_host
from mlnb._runtime import pid_alive
from mlnb.errors import MlnbError, ValidationError
from mlnb.store.records import DeploymentRecord
from mlnb.store.registry import Registry

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
STALE_AFTER_SECONDS = 30.0
READY_TIMEOUT = 60.0


@dataclass
class ServeOptions:
    """How to serve: address, workers, token, logging and monitoring settings."""

    ref: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    token: str | None = None
    log: bool = True
    max_body_mb: float = 5.0
    queue_rows: int = 200_000
    monitor: str | None = None
    window_rows: int = 500
    window_minutes: float = 10.0
    max_p95_ms: float | None = None
    max_error_rate: float | None = None

    def monitoring_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "window_rows": self.window_rows,
            "window_minutes": self.window_minutes,
            "max_p95_ms": self.max_p95_ms,
            "max_error_rate": self.max_error_rate,
            "workers": self.workers,
            "log": self.log,
        }


def check_options(opts: ServeOptions) -> ServeOptions:
    """Refuse what would be unsafe or cannot work, saying how to fix it."""
    if "@" not in opts.ref and "/" not in opts.ref:
        raise ValidationError(
            f"serve which version? {opts.ref!r} names no alias or version: use NAME@ALIAS "
            "(churn@production, followed as the alias moves) or NAME/VERSION."
        )
    if opts.token is None:
        opts.token = os.environ.get("MLNB_SERVE_TOKEN") or None
    if opts.host not in LOOPBACK and not opts.token:
        raise ValidationError(
            f"refusing to serve on {opts.host} without a token: anyone who can reach it could "
            "use the model. Pass --token SECRET (or set MLNB_SERVE_TOKEN), or keep the default "
            "--host 127.0.0.1."
        )
    if opts.workers < 1:
        raise ValidationError(f"--workers must be at least 1, got {opts.workers}.")
    if opts.window_rows < 1 or opts.window_minutes <= 0:
        raise ValidationError("--window-rows and --window-minutes must be above zero.")
    return opts


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (for ``--port 0`` and the notebook)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}"


def register_deployment(reg: Registry, opts: ServeOptions) -> int:
    """Resolve what is served and record the deployment as starting; returns its id."""
    row = reg.models.resolve(opts.ref)
    if opts.monitor is not None and reg.monitors.get(opts.monitor) is None:
        raise ValidationError(
            f"no monitor named {opts.monitor!r}: create it first (mlnb.Monitor(...)) or leave "
            "out --monitor."
        )
    alias = opts.ref.split("@", 1)[1] if "@" in opts.ref else f"v{row['version']}"
    return reg.deployments.start(
        {
            "model_name": row["model"],
            "alias": alias,
            "version": int(row["version"]),
            "url": _url(opts.host, opts.port),
            "bind_host": opts.host,
            "port": opts.port,
            "pid": os.getpid(),
            "host": this_host(),
            "config": opts.monitoring_config(),
        }
    )


def run_server(reg: Registry, opts: ServeOptions) -> int:
    """``mlnb serve``: run uvicorn in this process until stopped; returns the deployment id."""
    import uvicorn

    from mlnb.serving.app import ServeConfig, build_app

    opts = check_options(opts)
    if opts.port == 0:
        opts.port = free_port(opts.host)
    deployment_id = register_deployment(reg, opts)
    config = ServeConfig(
        home=str(reg.home),
        ref=opts.ref,
        deployment_id=deployment_id,
        token=opts.token,
        log=opts.log,
        max_body=int(opts.max_body_mb * 1024 * 1024),
        queue_rows=opts.queue_rows,
        metrics_dir=str(shared_metrics_dir(reg, deployment_id)) if opts.workers > 1 else None,
    )
    print(
        f"mlnb serve: {opts.ref} at {_url(opts.host, opts.port)} (deployment {deployment_id}, "
        f"pid {os.getpid()}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        if config.metrics_dir is not None:
            os.environ["MLNB_SERVE_CONFIG"] = config.to_json()
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = config.metrics_dir  # read by each worker
            uvicorn.run(
                "mlnb.serving.app:create_app",
                factory=True,
                host=opts.host,
                port=opts.port,
                workers=opts.workers,
                log_level="warning",
                access_log=False,
            )
        else:
            uvicorn.run(
                build_app(config),
                host=opts.host,
                port=opts.port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
    except BaseException as exc:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            reg.deployments.set_status(deployment_id, "crashed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if config.metrics_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            os.environ.pop("MLNB_SERVE_CONFIG", None)
            shutil.rmtree(config.metrics_dir, ignore_errors=True)
        current = reg.deployments.get(deployment_id)
        if current["status"] in ("starting", "running"):
            reg.deployments.set_status(deployment_id, "stopped")
    return deployment_id


def shared_metrics_dir(reg: Registry, deployment_id: int) -> Path:
    """An empty folder where the workers of one deployment share their Prometheus series
    (removed when it stops; folders left by deployments that no longer run go too)."""
    root = reg.home / "deployments"
    refresh_statuses(reg)
    running = {d["id"] for d in reg.deployments.find(statuses=("starting", "running"))}
    for old in root.glob("metrics-*"):
        suffix = old.name.removeprefix("metrics-")
        if not suffix.isdigit() or int(suffix) not in running or int(suffix) == deployment_id:
            shutil.rmtree(old, ignore_errors=True)
    path = root / f"metrics-{deployment_id}"
    path.mkdir(parents=True)
    return path


# -- background servers (the notebook's %serve) ------------------------------------------


@dataclass
class Background:
    """A server this process started: its process, URL and deployment."""

    process: subprocess.Popen[bytes]
    url: str
    ref: str
    token: str | None


_background: dict[str, Background] = {}


def start_background(
    reg: Registry, opts: ServeOptions, timeout: float = READY_TIMEOUT
) -> Background:
    """Start ``mlnb serve`` as a child process and wait until it answers /ping."""
    opts = check_options(opts)
    if opts.port == 0:
        opts.port = free_port(opts.host)
    argv = [
        sys.executable,
        "-m",
        "mlnb",
        "--registry",
        str(reg.home),
        "serve",
        *serve_argv(opts),
    ]
    env = dict(os.environ)
    if opts.token:
        env["MLNB_SERVE_TOKEN"] = opts.token
    logs = reg.home / "deployments"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"serve-{opts.port}.log"  # a file, not a pipe nobody drains
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = _url(opts.host, opts.port)
    try:
        wait_ready(url, proc, opts.token, timeout)
    except MlnbError as exc:
        tail = log_path.read_text(errors="replace").strip()[-2000:]
        raise MlnbError(f"{exc} {tail}".strip()) from None
    started = Background(proc, url, opts.ref, opts.token)
    _background[url] = started
    return started


def serve_argv(opts: ServeOptions) -> list[str]:
    """The ``mlnb serve`` arguments that reproduce ``opts`` (the token goes by environment)."""
    argv = [opts.ref, "--host", opts.host, "--port", str(opts.port)]
    argv += ["--workers", str(opts.workers), "--window-rows", str(opts.window_rows)]
    argv += ["--window-minutes", str(opts.window_minutes), "--max-body-mb", str(opts.max_body_mb)]
    argv += ["--queue-rows", str(opts.queue_rows)]
    if opts.monitor:
        argv += ["--monitor", opts.monitor]
    if opts.max_p95_ms is not None:
        argv += ["--max-p95-ms", str(opts.max_p95_ms)]
    if opts.max_error_rate is not None:
        argv += ["--max-error-rate", str(opts.max_error_rate)]
    if not opts.log:
        argv.append("--no-log")
    return argv


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes] | None = None,
    token: str | None = None,
    timeout: float = READY_TIMEOUT,
) -> float:
    """Seconds until ``url``/ping answers 200 (MlnbError if the process exits first)."""
    start = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    while time.monotonic() - start < timeout:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise MlnbError(
                f"the server exited with status {proc.returncode}: {err.strip()[-2000:]}"
            )
        if _pings(f"{url}/ping", headers):
            return time.monotonic() - start
        time.sleep(0.05)
    raise MlnbError(f"the server at {url} did not answer /ping within {timeout:.0f} s.")


def _pings(url: str, headers: dict[str, str]) -> bool:
    """Whether ``url`` answers 200 within a second (standard library: no HTTP client needed)."""
    request = urllib.request.Request(url, headers=headers)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with direct.open(request, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def stop_background(url: str | None = None) -> list[str]:
    """Stop servers this process started (all, or the one at ``url``); their URLs."""
    stopped = []
    for key in list(_background):
        if url is not None and key != url:
            continue
        bg = _background.pop(key)
        bg.process.terminate()
        try:
            bg.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            bg.process.kill()
            bg.process.wait()
        stopped.append(key)
    return stopped


def background_servers() -> list[Background]:
    return list(_background.values())


# -- deployments in the registry -----------------------------------------------------------


def refresh_statuses(reg: Registry) -> None:
    """Mark running deployments crashed when their process is gone or their heartbeat stale."""
    now = time.time()
    for d in reg.deployments.find(statuses=("starting", "running")):
        gone = d["host"] == this_host() and d["pid"] is not None and not pid_alive(d["pid"])
        stale = now - d["heartbeat_at"] > STALE_AFTER_SECONDS
        if gone or stale:
            why = "its process is gone" if gone else "its heartbeat stopped"
            reg.deployments.set_status(d["id"], "crashed", f"{why} (found by mlnb deployments)")


def deployments(reg: Registry, model: str | None = None) -> list[DeploymentRecord]:
    """Deployments, newest first, with crashed ones marked as such."""
    refresh_statuses(reg)
    return reg.deployments.find(model_name=model)


def stop_deployment(reg: Registry, deployment_id: int, timeout: float = 15.0) -> DeploymentRecord:
    """Ask a running deployment's process to stop (SIGTERM) and wait for it."""
    refresh_statuses(reg)
    d = reg.deployments.get(deployment_id)
    if d["status"] not in ("starting", "running"):
        return d
    if d["host"] != this_host():
        raise ValidationError(
            f"deployment {deployment_id} runs on host {d['host']}: stop it there."
        )
    if d["pid"] is not None and pid_alive(d["pid"]):
        os.kill(d["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(d["pid"]):
            time.sleep(0.1)
    d = reg.deployments.get(deployment_id)
    if d["status"] in ("starting", "running"):
        reg.deployments.set_status(deployment_id, "stopped")
    return reg.deployments.get(deployment_id)
