"""%%track in a real Jupyter kernel (jupyter_client): interrupts, restarts and a SIGKILL end
the cell's run as a user would describe it, with its real duration."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager, start_new_kernel

from mlnb.store.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "reg"
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return home


@pytest.fixture
def kernel(kernel_env: Path, tmp_path: Path) -> Iterator[tuple[KernelManager, Any]]:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    execute(kc, "%load_ext mlnb")
    yield km, kc
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=True)


def execute(kc: Any, code: str, timeout: float = 60) -> dict[str, Any]:
    """Run ``code`` and wait for its reply."""
    msg_id = kc.execute(code)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return dict(reply["content"])


def runs_by_name(home: Path) -> dict[str, dict[str, Any]]:
    """Every run by name, after a write (the first write of a handle marks dead runs crashed;
    opening to read never writes)."""
    reg = Registry(home)
    try:
        reg.runs.end(reg.runs.start("probe", name="probe"))
        return {r["name"]: r for r in reg.runs.find(limit=None)}
    finally:
        reg.close()


def test_an_interrupted_cell_is_recorded_as_interrupted(kernel, kernel_env):
    km, kc = kernel
    msg_id = kc.execute("%%track --name stopped\nimport time\ntime.sleep(60)")
    time.sleep(3)  # the cell has started its run and sleeps in it
    km.interrupt_kernel()
    while (reply := kc.get_shell_msg(timeout=30))["parent_header"].get("msg_id") != msg_id:
        pass
    assert reply["content"]["status"] == "error"
    run = runs_by_name(kernel_env)["stopped"]
    assert run["status"] == "interrupted"
    assert 1.5 < run["ended_at"] - run["started_at"] < 30


def test_a_kernel_restart_says_interrupted_and_a_sigkill_keeps_the_duration(kernel, kernel_env):
    km, kc = kernel
    kc.execute("%%track --name restarted\nimport time\ntime.sleep(60)")
    time.sleep(3)  # the cell has started its run and sleeps in it
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=60)
    execute(kc, "%load_ext mlnb")
    kc.execute("%%track --name killed\nimport time\ntime.sleep(60)")
    time.sleep(4)  # the cell has started its run and sleeps in it
    os.kill(km.provisioner.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
    time.sleep(0.5)
    runs = runs_by_name(kernel_env)  # its write recovers the dead kernel's run
    assert runs["restarted"]["status"] == "interrupted"
    killed = runs["killed"]
    assert killed["status"] == "crashed"
    # the run beat every second until the kill: its duration is real, not 0 ms
    assert 2.0 <= killed["ended_at"] - killed["started_at"] <= 4.5
