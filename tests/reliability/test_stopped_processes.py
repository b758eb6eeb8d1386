"""A process that is alive on this host but silent (SIGSTOP, a suspended laptop) is never
declared crashed for a stale heartbeat: neither its pipeline run (which would then run twice
and raise a false alert) nor its tracked run. A dead one still is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import mlnb
from mlnb._runtime import host
from mlnb.pipelines.scheduler import recover_pipeline_runs
from mlnb.store.registry import Registry
from tests.pipelines.conftest import notebook  # noqa: F401  (fixture)


@pytest.fixture
def stopped_process():
    """A live process on this host, stopped with SIGSTOP as a debugger or a suspend would."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    os.kill(proc.pid, signal.SIGSTOP)
    yield proc
    os.kill(proc.pid, signal.SIGCONT)
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stopped_pipeline_run_is_not_crashed_for_a_stale_heartbeat(
    registry,
    notebook,  # noqa: F811
    stopped_process,
):
    p = mlnb.create_pipeline("p", notebook, registry=registry)
    alive = registry.pipelines.enqueue_run(p["id"], "manual", "stopped for 100 s")
    dead = registry.pipelines.enqueue_run(p["id"], "manual", "really gone")
    hour_ago = time.time() - 3600
    for run_id, pid in ((alive, stopped_process.pid), (dead, _dead_pid())):
        registry.pipelines.update_run(
            run_id, {"status": "running", "pid": pid, "host": host(), "heartbeat_at": hour_ago}
        )
    assert recover_pipeline_runs(registry) == [dead]
    assert registry.pipelines.run(alive)["status"] == "running"
    kinds = [a["kind"] for a in registry.alerts.find(pipeline="p")]
    assert kinds == ["pipeline_run_crashed"]  # one true alert, none for the stopped run


def test_a_stopped_tracked_run_is_not_crashed_when_the_registry_opens(
    registry_home, stopped_process
):
    reg = Registry(registry_home)
    stopped = reg.runs.start("exp", name="stopped")
    gone = reg.runs.start("exp", name="gone")
    for run_id in (stopped, gone):
        reg.runs.end(run_id, "finished")  # this process's heartbeat thread lets go of them
    hour_ago = time.time() - 3600
    for run_id, pid in ((stopped, stopped_process.pid), (gone, _dead_pid())):
        reg.runs.update(
            run_id,
            {
                "status": "running",
                "ended_at": None,
                "pid": pid,
                "host": host(),
                "heartbeat_at": hour_ago,
            },
        )
    reg.close()
    again = Registry(registry_home)
    try:
        again.runs.end(again.runs.start("exp", name="next"))  # the next write recovers crashes
        assert again.runs.get(stopped)["status"] == "running"
        assert again.runs.get(gone)["status"] == "crashed"
    finally:
        again.close()
