"""Taking a claimed pipeline run to its end: one worker process per attempt, the timeout,
retries with exponential backoff, the stored log, alerts on failure or gate rejection, and
retention of output notebooks."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlnb._runtime import host
from mlnb.pipelines.config import PipelineConfig, require_posix
from mlnb.pipelines.notebook import failing_cell_in_output
from mlnb.pipelines.outcomes import (
    acknowledge_handled_alerts,
    apply_retention,
    may_retry,
    raise_run_alerts,
    requeue_attempt,
)

log = logging.getLogger("mlnb.pipelines")
PIPELINES_DIRNAME = "pipelines"
LOG_TAIL_CHARS = 64_000
KILL_GRACE_SECONDS = 5.0
FINAL_STATUSES = ("finished", "failed", "crashed", "skipped")


def runs_folder(reg: Any, pipeline_name: str) -> Path:
    """Where a pipeline's executed notebooks and logs go: ``<registry>/pipelines/NAME/runs``."""
    return Path(reg.home) / PIPELINES_DIRNAME / pipeline_name / "runs"


def worker_environment() -> dict[str, str]:
    """The caller's environment, with mlnb importable and output unbuffered."""
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])  # the folder holding mlnb/
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_parent not in paths:
        paths.insert(0, package_parent)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    for inherited in ("MLNB_PIPELINE_RUN_ID", "JPY_SESSION_NAME"):  # not this run's identity
        env.pop(inherited, None)
    return env


class ForkedWorker:
    """A worker forked from this process instead of a fresh interpreter: it already has mlnb
    imported, so a `mlnb pipeline run` pays for one Python start, not two. Behaves like the
    ``subprocess.Popen`` it replaces (``pid``, ``wait``, ``returncode``); its own session, its
    output into the run's log, ``os._exit`` at the end (nothing of this process is finalised
    in the child)."""

    def __init__(self, argv: list[str], log_fd: int, cwd: str, env: dict[str, str]) -> None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self.returncode: int | None = None
        self._reaping = threading.Lock()  # one thread reaps; the others read returncode
        self.pid = os.fork()
        if self.pid == 0:  # the child
            code = 1
            try:
                os.setsid()
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                # this process's own streams may not be fds 1 and 2 (a test runner's capture)
                sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env)
                from mlnb.pipelines import worker  # lazily: the scheduler never forks

                code = worker.main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:
                        pass
                os._exit(code)

    def poll(self) -> int | None:
        if self.returncode is None and self._reaping.acquire(blocking=False):
            try:
                if self.returncode is None:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(status)
            finally:
                self._reaping.release()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: killed by that signal); TimeoutExpired after ``timeout``."""
        if self.returncode is not None:
            return self.returncode
        if timeout is None:
            with self._reaping:
                if self.returncode is None:
                    _, status = os.waitpid(self.pid, 0)
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)
        return self.returncode  # type: ignore[return-value]


def may_fork() -> bool:
    """Fork workers only from a single-threaded process (the command line): forking one with
    other threads (the scheduler, a kernel, a Jupyter server) could copy a held lock."""
    return (
        hasattr(os, "fork")
        and threading.active_count() == 1
        and not os.environ.get("MLNB_WORKER_SPAWN")
    )


def exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "the worker process did not exit"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the worker process was killed by {name}"
    return f"the worker process exited with code {returncode} without recording a result"


class RunExecutor:
    """Executes claimed runs; thread-safe, so a scheduler can drive several at once.

    ``sleep`` waits out the retry backoff (tests inject one that returns at once).
    """

    def __init__(
        self,
        registry: Any,
        sleep: Callable[[float], Any] | None = None,
        python: str | None = None,
    ) -> None:
        require_posix()
        self.reg = registry
        self.sleep = sleep or time.sleep
        self.python = python or sys.executable
        self._procs: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._stopping: str | None = None

    # -- claiming -------------------------------------------------------------------------

    def claim(self, run_id: int, pipeline: Mapping[str, Any]) -> bool:
        """Take a queued run if the pipeline is under its concurrency limit."""

        cfg = PipelineConfig.from_dict(pipeline["config"])
        return self.reg.pipelines.claim_run(run_id, cfg.max_concurrent, os.getpid(), host())

    # -- running --------------------------------------------------------------------------

    def execute(self, run_id: int) -> dict[str, Any]:
        """Run a claimed run through all its attempts; returns the final row (or the queued
        row when a retry could not start yet: the scheduler picks it up later)."""
        while True:
            row = self._attempt(run_id)
            if row["status"] not in ("failed", "crashed") or not self._may_retry(row):
                break
            delay = self._requeue(row)
            self.sleep(delay)
            pipeline = self.reg.pipelines.get_by_id(row["pipeline_id"])
            if self._stopping or not self.claim(run_id, pipeline):
                return self.reg.pipelines.run(run_id)
        self._finish(row)
        return self.reg.pipelines.run(run_id)

    def _attempt(self, run_id: int) -> dict[str, Any]:
        run = self.reg.pipelines.run(run_id)
        pipeline = self.reg.pipelines.get_by_id(run["pipeline_id"])
        cfg = PipelineConfig.from_dict(pipeline["config"])
        folder = runs_folder(self.reg, pipeline["name"])
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        output = folder / f"{run_id}-{stamp}.ipynb"
        log_path = output.with_suffix(".log")
        self.reg.pipelines.update_run(run_id, {"output_path": str(output)})
        notebook_dir = Path(pipeline["notebook_path"]).parent
        cwd = str(notebook_dir if notebook_dir.is_dir() else self.reg.home)
        argv = [str(run_id), "--registry", str(self.reg.home), "--parent-pid", str(os.getpid())]
        with open(log_path, "wb") as log_file:
            proc: Any
            if self.python == sys.executable and may_fork():
                with self.reg.db.closed_for_fork():
                    proc = ForkedWorker(argv, log_file.fileno(), cwd, worker_environment())
            else:
                proc = subprocess.Popen(
                    [self.python, "-m", "mlnb.pipelines.worker", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=worker_environment(),
                    cwd=cwd,
                )
        with self._lock:
            self._procs[run_id] = proc
        try:
            self.reg.pipelines.update_run(run_id, {"pid": proc.pid}, only_if_status="running")
            self._wait(proc, run_id, cfg, output)
        finally:
            with self._lock:
                self._procs.pop(run_id, None)
        self._mark_if_unfinished(run_id, proc.returncode, output)
        self.reg.pipelines.update_run(run_id, {"log": _tail(log_path)})
        return self.reg.pipelines.run(run_id)

    def _wait(self, proc: Any, run_id: int, cfg: PipelineConfig, output: Path) -> None:
        """Wait for the worker without polling (its end is noticed at once); at the timeout a
        timer records it and stops the worker."""
        timer = threading.Timer(cfg.timeout_seconds, self._expire, (proc, run_id, cfg, output))
        timer.daemon = True
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
            if timer.is_alive():
                timer.join()

    def _expire(self, proc: Any, run_id: int, cfg: PipelineConfig, output: Path) -> None:
        if proc.poll() is not None:
            return
        self._time_out(run_id, cfg, output)
        self._kill(proc)

    def _time_out(self, run_id: int, cfg: PipelineConfig, output: Path) -> None:
        where = failing_cell_in_output(output)
        cell = (
            f" while executing cell {where[0] + 1} ({where[1]!r})"
            if where
            else " before the first cell started (the worker or kernel was still starting)"
        )
        self.reg.pipelines.update_run(
            run_id,
            {
                "status": "failed",
                "error": f"timed out after {cfg.timeout_seconds:g} s (the pipeline's --timeout)"
                f"{cell}; the kernel was stopped.",
                "failing_cell": where[0] if where else None,
                "ended_at": time.time(),
            },
            only_if_status="running",
        )

    def _mark_if_unfinished(self, run_id: int, returncode: int | None, output: Path) -> None:
        """A worker that died without recording its outcome leaves the run crashed."""
        if self.reg.pipelines.run(run_id)["status"] != "running":
            return
        where = failing_cell_in_output(output) if output.exists() else None
        reason = self._stopping or exit_reason(returncode)
        if where:
            reason += f" while executing cell {where[0] + 1} ({where[1]!r})"
        self.reg.pipelines.update_run(
            run_id,
            {
                "status": "crashed",
                "error": reason,
                "failing_cell": where[0] if where else None,
                "ended_at": time.time(),
            },
            only_if_status="running",
        )

    def _kill(self, proc: Any) -> None:
        """SIGTERM the worker (it stops its kernel), then SIGKILL after a grace period."""
        for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 30.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    # -- retries ----------------------------------------------------------------------------

    def _may_retry(self, row: dict[str, Any]) -> bool:
        return not self._stopping and may_retry(self.reg, row)

    def _requeue(self, row: dict[str, Any]) -> float:
        """Put a failed attempt back in the queue after recording it; returns the backoff."""
        return requeue_attempt(self.reg, row)

    # -- after the last attempt ----------------------------------------------------------------

    def _finish(self, row: dict[str, Any]) -> None:
        pipeline = self.reg.pipelines.get_by_id(row["pipeline_id"])
        try:
            alerts = raise_run_alerts(self.reg, pipeline, row)
            if alerts:
                self.reg.pipelines.merge_run_details(row["id"], {"alerts": alerts})
            acknowledge_handled_alerts(self.reg, pipeline, self.reg.pipelines.run(row["id"]))
        finally:
            apply_retention(self.reg, pipeline)

    def stop_all(self, reason: str) -> list[int]:
        """Stop every run this executor is executing, marking them crashed with ``reason``."""
        self._stopping = reason
        with self._lock:
            procs = dict(self._procs)
        for run_id in procs:
            self.reg.pipelines.update_run(
                run_id,
                {"status": "crashed", "error": reason, "ended_at": time.time()},
                only_if_status="running",
            )
        for proc in procs.values():
            self._kill(proc)
        return list(procs)

    @property
    def active(self) -> list[int]:
        with self._lock:
            return list(self._procs)


def _tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data[-limit * 2 :].decode("utf-8", errors="replace")
    return text[-limit:]
