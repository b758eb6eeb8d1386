"""``mlnb scheduler``: one process per registry that queues due pipeline runs and runs them.

It needs no notebook server. Time comes from an injectable ``clock`` and waiting goes
through an injectable ``sleep``, so tests drive days of schedule without waiting. A lock
file in the registry folder keeps a second scheduler out; a scheduler that was killed
leaves runs behind that the next one marks crashed (their process is gone or their
heartbeat stopped) before it carries on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlnb._runtime import host
from mlnb._runtime import pid_alive as _pid_alive
from mlnb.errors import MlnbError, RegistryError
from mlnb.pipelines.config import PipelineConfig, check_duration, next_due, require_posix
from mlnb.pipelines.notebook import failing_cell_in_output
from mlnb.pipelines.outcomes import settle_orphaned_run
from mlnb.pipelines.runner import RunExecutor
from mlnb.pipelines.triggers import due_fires, enqueue_fires
from mlnb.store.records import PipelineRecord
from mlnb.store.registry import get_registry

if sys.platform != "win32":  # POSIX only: require_posix() explains it elsewhere
    import fcntl

log = logging.getLogger("mlnb.scheduler")
LOCK_FILENAME = "scheduler.lock"
STALE_AFTER_SECONDS = 90.0


class SchedulerLocked(RegistryError):
    """Another scheduler holds this registry's lock; ``holder`` says who."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


class SchedulerLock:
    """An exclusive ``flock`` on ``<registry>/scheduler.lock`` holding the owner's pid, host
    and start time. The kernel drops it when the process dies, even by SIGKILL."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        require_posix()
        self.path = Path(home) / LOCK_FILENAME
        self._fd: int | None = None

    def acquire(self) -> None:

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            since = holder.get("since")
            when = (
                dt.datetime.fromtimestamp(since, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                if isinstance(since, (int, float))
                else "an unknown time"
            )
            raise SchedulerLocked(
                f"another mlnb scheduler is running for the registry {self.path.parent}: pid "
                f"{holder.get('pid', '?')} on host {holder.get('host', '?')}, since {when}. "
                "One scheduler per registry runs every pipeline in it; stop that one first "
                "if you want to start another.",
                holder,
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd, json.dumps({"pid": os.getpid(), "host": host(), "since": time.time()}).encode()
        )
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                os.close(self._fd)  # closing drops the flock
                self._fd = None

    def holder(self) -> dict[str, Any]:
        """Who holds the lock now ({} when nobody does)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_holder(fd)
            return {}
        finally:
            os.close(fd)

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        return json.loads(data) if data else {}
    except (OSError, ValueError):
        return {}


def recover_pipeline_runs(reg: Any, skip: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """Mark ``running`` pipeline runs crashed when their process on this host is gone, or
    (for runs on another host) their heartbeat is older than STALE_AFTER_SECONDS, naming the
    reason and the cell; raise the alert a crash deserves and queue a retry when --retries
    allows. A process alive on this host is never crashed for a stale heartbeat (it may be
    stopped or the machine suspended). Runs in ``skip`` (this process's own) are left alone."""

    here = host()
    now = time.time()
    reasons: dict[int, str] = {}
    for run in reg.pipelines.runs(statuses=("running",)):
        if run["id"] in skip:
            continue
        local = run["host"] == here and bool(run["pid"])
        if local and not _pid_alive(run["pid"]):
            reasons[run["id"]] = (
                f"the process running it (pid {run['pid']} on {here}) is gone: the "
                "scheduler or its worker was killed (e.g. SIGKILL) or the machine restarted"
            )
        elif local:
            continue  # alive here: stopped (SIGSTOP) or suspended, never crashed for silence
        elif (run["heartbeat_at"] or 0) < now - STALE_AFTER_SECONDS:
            reasons[run["id"]] = (
                f"no heartbeat for {now - (run['heartbeat_at'] or now):.0f} s from pid "
                f"{run['pid']} on {run['host']}; its process stopped"
            )
    crashed = []
    for run_id, reason in reasons.items():
        row = reg.pipelines.run(run_id)
        where = (
            failing_cell_in_output(row["output_path"])
            if row["output_path"] and Path(row["output_path"]).exists()
            else None
        )
        cell = f" while executing cell {where[0] + 1} ({where[1]!r})" if where else ""
        if where:
            reg.pipelines.update_run(run_id, {"failing_cell": where[0]}, "running")
        if reg.pipelines.mark_runs_crashed([run_id], f"crashed: {reason}{cell}"):
            log.warning("pipeline run #%d marked crashed: %s", run_id, reason)
            settle_orphaned_run(reg, run_id)
            crashed.append(run_id)
    return crashed


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    """Queues due runs of every active pipeline (or of ``pipelines``) and executes them.

    ``execute`` (default: a :class:`RunExecutor`) takes a claimed run id to its end; with
    ``threaded`` each run executes in its own thread so the scheduler keeps ticking.
    """

    def __init__(
        self,
        registry: Any = None,
        clock: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], Any] | None = None,
        poll_seconds: float = 30.0,
        pipelines: list[str] | None = None,
        execute: Callable[[int], Any] | None = None,
        threaded: bool = True,
    ) -> None:

        self.reg = get_registry(registry)
        self.clock = clock or utc_now
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self.poll_seconds = check_duration("--poll", poll_seconds)
        self.only = set(pipelines) if pipelines else None
        self.executor = RunExecutor(self.reg, sleep=self.sleep)
        self.execute = execute or self.executor.execute
        self.threaded = threaded
        self.lock = SchedulerLock(self.reg.home)
        self._threads: dict[int, threading.Thread] = {}
        self.errors: list[str] = []

    # -- one step ----------------------------------------------------------------------------

    def tick(self) -> dict[str, list[int]]:
        """Queue what is due now and start what may start; a failing step is logged and
        the scheduler carries on (a locked registry, a vanished notebook...)."""
        queued, started = [], []
        try:
            self.reg.db.require_intact()  # PRAGMA quick_check: a damaged registry gets no writes
            self.recover()
            score_deployments(self.reg)  # served traffic -> monitors -> alerts, first
            queued = self.enqueue_due()
            started = self.start_queued()
        except MlnbError as exc:
            self._error(f"scheduler tick failed, retrying next tick: {exc}")
        except Exception as exc:  # a bug must not end the scheduler either; say what it was
            log.exception("scheduler tick failed unexpectedly")
            self._error(f"scheduler tick failed, retrying next tick: {type(exc).__name__}: {exc}")
        return {"queued": queued, "started": started}

    def enqueue_due(self) -> list[int]:
        now = self.clock()
        queued = []
        for pipeline in self._pipelines("active"):
            try:
                for run_id, fire in enqueue_fires(
                    self.reg, pipeline, due_fires(self.reg, pipeline, now)
                ):
                    queued.append(run_id)
                    log.info(
                        "pipeline %s: run #%d %s (%s)",
                        pipeline["name"],
                        run_id,
                        fire.status,
                        fire.reason,
                    )
            except Exception as exc:  # one broken pipeline never blocks the others
                self._error(f"pipeline {pipeline['name']}: cannot check its triggers: {exc}")
        return queued

    def start_queued(self) -> list[int]:
        """Claim queued runs (oldest first) while each pipeline is under its limit."""
        started = []
        now = time.time()
        for pipeline in self._pipelines("active"):
            queued = self.reg.pipelines.runs(
                pipeline["id"], statuses=("queued",), oldest_first=True
            )
            for run in queued:
                if run["details"].get("not_before", 0) > now or run["id"] in self._threads:
                    continue  # waiting out a retry backoff
                if not self.executor.claim(run["id"], pipeline):
                    break
                started.append(run["id"])
                self._launch(run["id"])
        return started

    def _launch(self, run_id: int) -> None:
        if not self.threaded:
            self._execute_logged(run_id)
            return
        thread = threading.Thread(
            target=self._execute_logged, args=(run_id,), name=f"mlnb-run-{run_id}", daemon=True
        )
        self._threads[run_id] = thread
        thread.start()

    def _execute_logged(self, run_id: int) -> None:
        try:
            row = self.execute(run_id)
            if isinstance(row, dict):
                log.info(
                    "pipeline run #%d %s%s",
                    run_id,
                    row.get("status"),
                    f": {row['error']}" if row.get("error") else "",
                )
        except Exception as exc:  # one run's trouble never stops the scheduler
            self._error(f"pipeline run #{run_id}: {type(exc).__name__}: {exc}")
            try:
                self.reg.pipelines.mark_runs_crashed(
                    [run_id], f"the scheduler could not execute it: {type(exc).__name__}: {exc}"
                )
            except MlnbError:
                pass
        finally:
            self._threads.pop(run_id, None)

    def _pipelines(self, status: str) -> list[PipelineRecord]:
        pipelines = self.reg.pipelines.find(status)
        if self.only is not None:
            pipelines = [p for p in pipelines if p["name"] in self.only]
        return pipelines

    def _error(self, message: str) -> None:
        self.errors.append(message)
        log.error("%s", message)

    # -- recovery -----------------------------------------------------------------------------

    def recover(self) -> list[int]:
        """Mark runs crashed whose process is gone (same host) or whose heartbeat is stale;
        their queued siblings stay queued and run now."""
        return recover_pipeline_runs(self.reg, skip=set(self._threads))

    # -- loops ---------------------------------------------------------------------------------

    def run_once(self) -> dict[str, list[int]]:
        """``mlnb scheduler --once``: recover, run everything due now, wait, exit.

        ``failed`` lists the runs started in this pass that ended failed or crashed, so that
        a cron wrapper can exit non-zero."""
        with self.lock:
            recovered = self.recover()
            result = self.tick()
            started = list(result["started"])
            while True:
                self.wait()
                more = self.start_queued()
                if not more:
                    break
                started += more
            failed = [
                run_id
                for run_id in started
                if self.reg.pipelines.run(run_id)["status"] in ("failed", "crashed")
            ]
            return {
                "recovered": recovered,
                "queued": result["queued"],
                "started": started,
                "failed": failed,
            }

    def run_forever(
        self, max_ticks: int | None = None, on_locked: Callable[[], Any] | None = None
    ) -> None:
        """``mlnb scheduler``: tick, then sleep until the next cron slot or ``poll_seconds``.

        ``on_locked`` is called once the lock is held (the CLI prints its banner there, so a
        second scheduler refuses before saying it runs)."""
        with self.lock:
            if on_locked is not None:
                on_locked()
            self.recover()
            ticks = 0
            try:
                while not self._stop.is_set() and (max_ticks is None or ticks < max_ticks):
                    self.tick()
                    ticks += 1
                    if max_ticks is not None and ticks >= max_ticks:
                        break
                    self.sleep(self.seconds_until_next_check())
            except KeyboardInterrupt:
                self.stop("the scheduler was interrupted (Ctrl-C) while the run was in progress")
            finally:
                if self._stop.is_set():
                    self.executor.stop_all(self._stop_reason)
                self.wait()

    def seconds_until_next_check(self) -> float:
        """Until the nearest cron slot of an active pipeline, at most ``poll_seconds``."""
        now = self.clock()
        wait = self.poll_seconds
        for pipeline in self._pipelines("active"):
            cfg = PipelineConfig.from_dict(pipeline["config"])
            if cfg.schedule:
                try:
                    due = next_due(cfg.schedule, cfg.timezone, now)
                except Exception:  # a broken schedule is reported by tick()
                    continue
                wait = min(wait, max((due - now).total_seconds(), 0.0) + 0.5)
        return max(wait, 0.5)

    _stop_reason = "the scheduler was stopped while the run was in progress"

    def stop(self, reason: str | None = None) -> None:
        """Ask ``run_forever`` to end; runs still executing are stopped and marked crashed."""
        if reason:
            self._stop_reason = reason
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for runs started by this scheduler to end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._threads:
            for thread in list(self._threads.values()):
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(remaining)
            if deadline is not None and time.monotonic() >= deadline:
                return


def score_deployments(reg: Any) -> list[str]:
    """Score served traffic with its monitors. Imported here, not at the top: the drift engine
    it loads is not for every `mlnb pipeline ...` command, only for a scheduler pass."""
    from mlnb.serving.live import score_deployment_windows

    return score_deployment_windows(reg)
