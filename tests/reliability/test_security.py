"""Secrets stay out of everything mlnb writes, and nothing mlnb starts listens beyond loopback.

A pipeline run whose environment holds a webhook URL with credentials and a Jupyter token,
and whose notebook raises an alert (so the webhook is called and fails), must leave neither
secret in the registry (database, WAL, objects), the pipeline run log, the output notebook
or the process output. While a scheduler runs a pipeline, every listening socket of the
scheduler, its worker and the kernel must be bound to 127.0.0.1 or ::1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlnb
from tests.pipelines.conftest import write_notebook
from tests.reliability.figures import record_figure

PASSWORD = "s3cr3t-hook-pass"
URL_TOKEN = "tok-4f9a7c1e"
PATH_SECRET = "XkZp9QeR7vB2"  # Slack/Teams webhooks keep their secret in the path
JUPYTER_TOKEN = "jt-6d2b8e0f9a"
SECRETS = (PASSWORD, URL_TOKEN, PATH_SECRET, JUPYTER_TOKEN)
WEBHOOK = (
    f"http://alice:{PASSWORD}@127.0.0.1:9/services/T0001/B0001/{PATH_SECRET}?token={URL_TOKEN}"
)

ALERTING_CELL = """
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.WARNING)  # warnings into the notebook
import mlnb
from mlnb.monitoring.alerts import raise_alert
from mlnb.store.registry import get_registry
with mlnb.track("secret-check"):
    mlnb.log_metric("acc", 0.71)
alert = raise_alert(get_registry(), "monitor", "accuracy", "accuracy 0.71 fell below 0.82",
                    severity="critical")
print("alert", alert["id"])
from mlnb.monitoring.alerts import flush_webhooks
flush_webhooks(30)  # webhooks go out in the background; wait so the failure shows here
"""


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_no_secret_reaches_the_registry_logs_or_output_notebook(
    registry, registry_home, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("MLNB_ALERT_WEBHOOKS", WEBHOOK)
    monkeypatch.setenv("JUPYTER_TOKEN", JUPYTER_TOKEN)
    nb = write_notebook(tmp_path / "alerting.ipynb", ["n = 1", ALERTING_CELL])
    mlnb.create_pipeline("alerting", nb, registry=registry)
    run = mlnb.run_pipeline("alerting", registry=registry)
    assert run["status"] == "finished", run.get("error")
    output = Path(run["output_path"])
    assert "alert 1" in output.read_text()
    alerts = registry.alerts._rows()
    assert len(alerts) == 1
    registry.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    places = {
        "output notebook": output.read_bytes(),
        "pipeline run record": repr(registry.pipelines.run(run["id"])).encode(),
        "alerts table": repr(alerts).encode(),
        "runs": repr(registry.runs.find(limit=None)).encode(),
        "python log": caplog.text.encode(),
    }
    for path in _files_under(registry_home):
        places[str(path.relative_to(registry_home))] = path.read_bytes()
    leaks = [(where, s) for where, data in places.items() for s in SECRETS if s.encode() in data]
    assert leaks == []
    # the failed webhook is still reported, with the URL redacted
    assert "webhook http://127.0.0.1:9 failed" in output.read_text()
    record_figure("secrets_places_checked", {"places": len(places), "secrets": len(SECRETS)})


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _listening() -> dict[str, str]:
    """Listening TCP sockets: inode -> local address (hex, as /proc/net shows it)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A":  # LISTEN
                found[cols[9]] = cols[1].split(":")[0]
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_scheduler_worker_and_kernel_listen_on_loopback_only(registry, registry_home, tmp_path):
    nb = write_notebook(tmp_path / "slow.ipynb", ["n = 1", "import time\ntime.sleep(30)"])
    p = mlnb.create_pipeline("slow", nb, registry=registry)
    run_id = registry.pipelines.enqueue_run(p["id"], "manual", "loopback check")
    env = {**os.environ, "MLNB_HOME": str(registry_home)}
    sched = subprocess.Popen(
        [sys.executable, "-m", "mlnb", "scheduler", "--poll", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # until the kernel is up and executing (it is the one with ZMQ ports)
            pids = _descendants(sched.pid)
            listening = _listening()
            ours = {i: listening[i] for pid in pids for i in _socket_inodes(pid) if i in listening}
            row = registry.pipelines.run(run_id)
            if row["status"] == "running" and len(pids) >= 3 and len(ours) >= 5:
                break
            assert row["status"] in ("queued", "running"), row
            assert time.monotonic() < deadline, "the kernel never started listening"
            time.sleep(0.3)
    finally:
        sched.kill()
        sched.wait()
    assert set(ours.values()) <= LOOPBACK, ours
    record_figure(
        "listening_sockets", {"processes": len(pids), "sockets": len(ours), "non_loopback": 0}
    )


def test_no_mlnb_code_opens_a_listener_and_jupyter_defaults_to_localhost():
    root = Path(mlnb.__file__).parent
    calls = ("socket.socket(", ".bind(", ".listen(", "HTTPServer", "0.0.0.0", "serve_forever")
    # `mlnb serve` (mlnb/serving/) is the one listener mlnb opens on purpose: loopback by
    # default, a token required anywhere else (tests/serving/test_serve.py checks both)
    hits = [
        f"{p.relative_to(root)}: {c}"
        for p in root.rglob("*.py")
        if p.parent.name != "serving"
        for c in calls
        if c in p.read_text()
    ]
    assert hits == []  # the REST API lives inside jupyter_server, which owns the port
    from jupyter_server.serverapp import ServerApp

    assert ServerApp.ip.default_value == "localhost"
    config = Path(__file__).resolve().parents[2] / "jupyter-config"
    assert not any(
        "0.0.0.0" in p.read_text() or '"ip"' in p.read_text() for p in _files_under(config)
    )
