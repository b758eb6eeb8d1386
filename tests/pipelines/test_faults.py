"""A scheduler killed with SIGKILL in the middle of a run: the run ends crashed with the
reason, nothing else is lost, and the next scheduler carries on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlnb
from mlnb.pipelines.scheduler import Scheduler
from tests.pipelines.conftest import write_notebook


def _wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _cell_running(path: str | None) -> bool:
    if not path or not Path(path).exists():
        return False
    try:
        cells = json.loads(Path(path).read_text())["cells"]
    except ValueError:
        return False
    return any(
        c["metadata"].get("papermill", {}).get("status") == "running"
        and "sleep" in "".join(c["source"])
        for c in cells
    )


def _start_scheduler(registry_home: Path) -> subprocess.Popen:
    env = {**os.environ, "MLNB_HOME": str(registry_home)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlnb", "scheduler", "--poll", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _setup(registry, tmp_path, **options):
    nb = write_notebook(tmp_path / "long.ipynb", ["n = 1", "import time\ntime.sleep(120)"])
    p = mlnb.create_pipeline("long", nb, registry=registry, **options)
    stuck = registry.pipelines.enqueue_run(p["id"], "manual", "will be interrupted")
    return p, stuck


def _running_in_worker(registry, run_id, scheduler_pid):
    row = registry.pipelines.run(run_id)
    ok = row["status"] == "running" and row["pid"] not in (None, scheduler_pid)
    return row if ok and _cell_running(row["output_path"]) else None


def test_sigkilled_scheduler_leaves_a_crashed_run_and_the_next_one_carries_on(
    registry, registry_home, tmp_path
):
    p, stuck = _setup(registry, tmp_path)
    sched = _start_scheduler(registry_home)
    try:
        row = _wait_for(
            lambda: _running_in_worker(registry, stuck, sched.pid), what="the run to start"
        )
        sched.kill()  # SIGKILL: no cleanup in the scheduler at all
        sched.wait()
        # the worker notices its parent died, stops its kernel and records why
        crashed = _wait_for(
            lambda: (r := registry.pipelines.run(stuck))["status"] != "running" and r,
            timeout=30,
            what="the run to end",
        )
    finally:
        if sched.poll() is None:
            sched.kill()
    assert crashed["status"] == "crashed"
    assert f"(pid {sched.pid}) died" in crashed["error"]
    assert "while executing cell 2 ('import time')" in crashed["error"]
    assert crashed["failing_cell"] == 1
    _wait_for(lambda: not _alive(row["pid"]), timeout=15, what="the worker to exit")
    (alert,) = registry.alerts.find(pipeline="long")  # the worker raised it: nobody else can
    assert alert["kind"] == "pipeline_run_crashed" and f"(pid {sched.pid}) died" in alert["message"]
    # the next scheduler starts despite the killed one and runs what is queued next
    later = registry.pipelines.enqueue_run(p["id"], "manual", "after the crash")
    registry.pipelines.update(
        p["id"], notebook_path=str(write_notebook(tmp_path / "quick.ipynb", ["n = 1"]))
    )
    result = Scheduler(registry).run_once()
    assert result["started"] == [later]
    assert registry.pipelines.run(later)["status"] == "finished"
    assert registry.pipelines.run(stuck)["status"] == "crashed"


def test_when_scheduler_and_worker_are_both_killed_the_next_scheduler_marks_the_run(
    registry, registry_home, tmp_path
):
    p, stuck = _setup(registry, tmp_path)
    sched = _start_scheduler(registry_home)
    try:
        row = _wait_for(
            lambda: _running_in_worker(registry, stuck, sched.pid), what="the run to start"
        )
        os.kill(row["pid"], signal.SIGKILL)  # e.g. the OOM killer or `kill -9` on both
        sched.kill()
        sched.wait()
    finally:
        if sched.poll() is None:
            sched.kill()
    _wait_for(lambda: not _alive(row["pid"]), timeout=15, what="the worker to go")
    assert registry.pipelines.run(stuck)["status"] == "running"  # nobody left to say
    recovered = Scheduler(registry).run_once()["recovered"]
    assert recovered == [stuck]
    crashed = registry.pipelines.run(stuck)
    assert crashed["status"] == "crashed"
    assert f"pid {row['pid']}" in crashed["error"] and "is gone" in crashed["error"]
    assert "while executing cell 2" in crashed["error"]
    (alert,) = registry.alerts.find(pipeline="long")
    assert alert["kind"] == "pipeline_run_crashed"


def _alive(pid: int) -> bool:
    from mlnb._runtime import pid_alive as _pid_alive

    return _pid_alive(pid)


def test_sigterm_stops_the_scheduler_and_says_so_in_the_run(registry, registry_home, tmp_path):
    p, stuck = _setup(registry, tmp_path)
    sched = _start_scheduler(registry_home)
    try:
        row = _wait_for(
            lambda: _running_in_worker(registry, stuck, sched.pid), what="the run to start"
        )
        sched.terminate()
        assert sched.wait(timeout=30) == 0
    finally:
        if sched.poll() is None:
            sched.kill()
    crashed = registry.pipelines.run(stuck)
    assert crashed["status"] == "crashed"
    assert crashed["error"] == "the scheduler got SIGTERM while the run was in progress"
    _wait_for(lambda: not _alive(row["pid"]), timeout=15, what="the worker to exit")
    from mlnb.pipelines.scheduler import SchedulerLock

    assert SchedulerLock(registry_home).holder() == {}


def test_a_run_whose_scheduler_was_sigkilled_alerts_and_is_retried(
    registry, registry_home, tmp_path
):
    p, stuck = _setup(registry, tmp_path, retries=1, retry_delay=0.5)
    sched = _start_scheduler(registry_home)
    try:
        row = _wait_for(
            lambda: _running_in_worker(registry, stuck, sched.pid), what="the run to start"
        )
        sched.kill()
        sched.wait()
        queued = _wait_for(
            lambda: (r := registry.pipelines.run(stuck))["status"] == "queued" and r,
            timeout=30,
            what="the retry to be queued",
        )
    finally:
        if sched.poll() is None:
            sched.kill()
    assert queued["attempt"] == 2
    (first,) = queued["details"]["attempts"]
    assert first["status"] == "crashed" and f"(pid {sched.pid}) died" in first["error"]
    (alert,) = registry.alerts.find(pipeline="long")
    assert alert["kind"] == "pipeline_run_crashed"
    assert "retry queued as attempt 2" in alert["message"]
    _wait_for(lambda: not _alive(row["pid"]), timeout=15, what="the worker to exit")
    registry.pipelines.update(
        p["id"], notebook_path=str(write_notebook(tmp_path / "quick.ipynb", ["n = 1"]))
    )
    time.sleep(0.6)  # the retry's backoff
    result = Scheduler(registry).run_once()
    assert result["started"] == [stuck] and result["failed"] == []
    assert registry.pipelines.run(stuck)["status"] == "finished"
