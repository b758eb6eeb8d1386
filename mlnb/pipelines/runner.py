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
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
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
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "mlnb.pipelines.worker",
                    str(run_id),
                    "--registry",
                    str(self.reg.home),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=worker_environment(),
                cwd=str(notebook_dir if notebook_dir.is_dir() else self.reg.home),
            )
        with self._lock:
            self._procs[run_id] = proc
        try:
            self.reg.pipelines.update_run(run_id, {"pid": proc.pid}, only_if_status="running")
            try:
                proc.wait(timeout=cfg.timeout_seconds)
            except subprocess.TimeoutExpired:
                self._time_out(run_id, cfg, output)
                self._kill(proc)
        finally:
            with self._lock:
                self._procs.pop(run_id, None)
        self._mark_if_unfinished(run_id, proc.returncode, output)
        self.reg.pipelines.update_run(run_id, {"log": _tail(log_path)})
        return self.reg.pipelines.run(run_id)

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

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
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
        if self._stopping or row["details"].get("no_retry"):
            return False
        pipeline = self.reg.pipelines.get_by_id(row["pipeline_id"])
        return row["attempt"] <= PipelineConfig.from_dict(pipeline["config"]).retries

    def _requeue(self, row: dict[str, Any]) -> float:
        """Put a failed attempt back in the queue after recording it; returns the backoff."""
        pipeline = self.reg.pipelines.get_by_id(row["pipeline_id"])
        cfg = PipelineConfig.from_dict(pipeline["config"])
        delay = cfg.retry_delay_seconds * 2 ** (row["attempt"] - 1)
        attempts = [*row["details"].get("attempts", []), _attempt_record(row)]
        self.reg.pipelines.merge_run_details(
            row["id"], {"attempts": attempts, "not_before": time.time() + delay}
        )
        self.reg.pipelines.update_run(
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

    # -- after the last attempt ----------------------------------------------------------------

    def _finish(self, row: dict[str, Any]) -> None:
        pipeline = self.reg.pipelines.get_by_id(row["pipeline_id"])
        try:
            alerts = raise_run_alerts(self.reg, pipeline, row)
            if alerts:
                self.reg.pipelines.merge_run_details(row["id"], {"alerts": alerts})
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


def _attempt_record(row: dict[str, Any]) -> dict[str, Any]:
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


def raise_run_alerts(reg: Any, pipeline: Mapping[str, Any], row: Mapping[str, Any]) -> list[int]:
    """Alerts for a run that failed or crashed for good, or whose candidate the gate rejected."""

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
        alert = raise_alert(
            reg,
            source="pipeline",
            kind=f"pipeline_run_{row['status']}",
            message=f"pipeline {pipeline['name']} run #{row['id']} {row['status']}{attempts}: "
            f"{row['error']}",
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
