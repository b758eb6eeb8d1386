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
from mlnb.monitoring.alerts import raise_alert
from mlnb.pipelines.config import PipelineConfig, require_posix
from mlnb.pipelines.notebook import failing_cell_in_output

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


def may_retry(reg: Any, row: Mapping[str, Any]) -> bool:
    """Whether a failed or crashed attempt has attempts left under the pipeline's --retries."""
    if row["details"].get("no_retry"):
        return False
    pipeline = reg.pipelines.get_by_id(row["pipeline_id"])
    return bool(row["attempt"] <= PipelineConfig.from_dict(pipeline["config"]).retries)


def requeue_attempt(reg: Any, row: Mapping[str, Any]) -> float:
    """Put a failed attempt back in the queue after recording it; returns the backoff."""
    pipeline = reg.pipelines.get_by_id(row["pipeline_id"])
    cfg = PipelineConfig.from_dict(pipeline["config"])
    delay = cfg.retry_delay_seconds * 2 ** (row["attempt"] - 1)
    attempts = [*row["details"].get("attempts", []), _attempt_record(row)]
    reg.pipelines.merge_run_details(
        row["id"], {"attempts": attempts, "not_before": time.time() + delay}
    )
    reg.pipelines.update_run(
        row["id"],
        {"status": "queued", "attempt": row["attempt"] + 1, "pid": None, "ended_at": None},
        only_if_status=row["status"],
    )
    log.warning(
        "pipeline %s run #%d attempt %d %s (%s); retrying in %g s",
        pipeline["name"],
        row["id"],
        row["attempt"],
        row["status"],
        row["error"],
        delay,
    )
    return delay


def settle_orphaned_run(reg: Any, run_id: int) -> list[int]:
    """A run whose scheduler (or command) died under it: raise the crash alert, and queue a
    retry while ``--retries`` allows (the next scheduler runs it). Returns the alert ids."""
    row = reg.pipelines.run(run_id)
    if row["status"] not in ("failed", "crashed"):
        return []
    pipeline = reg.pipelines.get_by_id(row["pipeline_id"])
    retry = may_retry(reg, row)
    note = (
        f"; retry queued as attempt {row['attempt'] + 1} (it runs when a scheduler is running)"
        if retry
        else ""
    )
    alerts = raise_run_alerts(reg, pipeline, row, note=note)
    if alerts:
        reg.pipelines.merge_run_details(run_id, {"alerts": alerts})
    if retry:
        requeue_attempt(reg, reg.pipelines.run(run_id))
    else:
        apply_retention(reg, pipeline)
    return alerts


def _attempt_record(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: row.get(k)
        for k in (
            "attempt",
            "status",
            "error",
            "failing_cell",
            "started_at",
            "ended_at",
            "output_path",
        )
    }


def _tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data[-limit * 2 :].decode("utf-8", errors="replace")
    return text[-limit:]


def raise_run_alerts(
    reg: Any, pipeline: Mapping[str, Any], row: Mapping[str, Any], note: str = ""
) -> list[int]:
    """Alerts for a run that failed or crashed for good, or whose candidate the gate rejected;
    ``note`` ends the failure alert's message (e.g. that a retry is queued)."""

    evidence = {
        "pipeline": pipeline["name"],
        "pipeline_run_id": row["id"],
        "trigger": row["trigger"],
        "reason": row["reason"],
        "output_path": row["output_path"],
        "attempts": row["attempt"],
    }
    raised = []
    if row["status"] in ("failed", "crashed"):
        attempts = f" after {row['attempt']} attempts" if row["attempt"] > 1 else ""
        triggering = row["details"].get("alert_ids") or []
        if triggering:
            note += "; the alert(s) " + ", ".join(f"#{a}" for a in triggering)
            note += " that triggered it stay open until a retrain is promoted"
        alert = raise_alert(
            reg,
            source="pipeline",
            kind=f"pipeline_run_{row['status']}",
            message=f"pipeline {pipeline['name']} run #{row['id']} {row['status']}{attempts}: "
            f"{row['error']}{note}",
            evidence={**evidence, "error": row["error"], "failing_cell": row["failing_cell"]},
            severity="critical",
            pipeline_id=pipeline["id"],
        )
        raised.append(alert["id"])
    promotion = row["details"].get("promotion") or {}
    if row["status"] == "finished" and promotion.get("decision") == "rejected":
        rejected = [c for c in promotion.get("candidates", []) if not c.get("promoted")]
        names = ", ".join(f"{c['model']} v{c['version']}" for c in rejected)
        checks = "; ".join(
            f"{c.get('message') or ''}".strip() for c in rejected if c.get("message")
        )
        alert = raise_alert(
            reg,
            source="pipeline",
            kind="gate_rejected",
            message=f"pipeline {pipeline['name']} run #{row['id']}: gate {promotion.get('gate')!r} "
            f"rejected {names}; {promotion.get('to')} stays as it was"
            + (f" ({checks})" if checks else ""),
            evidence={**evidence, "promotion": promotion},
            severity="warning",
            pipeline_id=pipeline["id"],
        )
        raised.append(alert["id"])
    if row["status"] == "finished" and promotion.get("decision") == "no_candidate":
        alert = raise_alert(
            reg,
            source="pipeline",
            kind="no_candidate",
            message=f"pipeline {pipeline['name']} run #{row['id']}: {promotion.get('message')}",
            evidence={**evidence, "promotion": promotion},
            severity="warning",
            pipeline_id=pipeline["id"],
        )
        raised.append(alert["id"])
    return raised


def promoted_a_candidate(reg: Any, row: Mapping[str, Any]) -> bool:
    """Whether the run put a new model in place: its gate promoted a candidate, or (with no
    --promote-to) the notebook itself promoted a version it registered to production."""
    if row["status"] != "finished":
        return False
    promotion = row["details"].get("promotion") or {}
    if promotion:
        return promotion.get("decision") == "promoted"
    versions = reg.pipelines.model_versions_of_run(row["id"])
    return any(v["stage"] == "production" for v in versions)


def acknowledge_handled_alerts(
    reg: Any, pipeline: Mapping[str, Any], row: Mapping[str, Any]
) -> list[int]:
    """Once a run promotes a candidate, the open alerts of the watched monitor that the
    pipeline took on are acknowledged (``handled_by=pipeline:NAME``); until then they stay
    open, so a failed retrain never hides the degradation. Returns the ids acknowledged."""
    cfg = PipelineConfig.from_dict(pipeline["config"])
    if not cfg.on_alert or not promoted_a_candidate(reg, row):
        return []
    monitor_id = reg.db.id_by_name("monitors", cfg.on_alert)
    if monitor_id is None:
        return []
    taken = reg.pipelines.last_handled_alert_id(pipeline["id"])
    handled = [
        a["id"]
        for a in reg.alerts.open_of_monitor(monitor_id, 0, cfg.alert_kinds or None)
        if a["id"] <= taken
    ]
    for alert_id in handled:
        reg.alerts.acknowledge(alert_id, by=f"pipeline:{pipeline['name']}")
    if handled:
        reg.pipelines.merge_run_details(row["id"], {"acknowledged_alerts": handled})
    return handled


def apply_retention(reg: Any, pipeline: dict[str, Any]) -> list[int]:
    """Delete output notebooks and logs of all but the newest ``keep_outputs`` ended runs;
    the run rows (status, error, stored log) stay. Returns the runs whose files went."""
    keep = PipelineConfig.from_dict(pipeline["config"]).keep_outputs
    ended = reg.pipelines.runs(pipeline["id"], statuses=("finished", "failed", "crashed"))
    with_files = [r for r in ended if r["output_path"] and not r["details"].get("output_removed")]
    pruned = []
    for row in with_files[keep:]:
        paths = [
            row["output_path"],
            *(a.get("output_path") for a in row["details"].get("attempts", [])),
        ]
        for p in filter(None, paths):
            for f in (Path(p), Path(p).with_suffix(".log")):
                try:
                    f.unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("retention: cannot delete %s: %s", f, exc)
        reg.pipelines.merge_run_details(row["id"], {"output_removed": True})
        pruned.append(row["id"])
    return pruned
