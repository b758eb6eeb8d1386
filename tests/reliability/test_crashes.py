"""SIGKILL at the worst moments: mid-write of a model artifact, inside an open write
transaction, and a second scheduler on a registry that already has one.

tests/tracking covers a killed run (-> crashed) and tests/pipelines/test_faults.py a killed
scheduler and worker; these add the object store and the SQLite write path.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlnb.errors import IntegrityError
from mlnb.store.registry import Registry

ARTIFACT_WRITER = textwrap.dedent(
    """
    import os, sys
    from mlnb.store.registry import Registry
    reg = Registry(sys.argv[1])
    i = 0
    while True:
        data = os.urandom(4 << 20) + str(i).encode()
        digest = reg.objects.put_bytes(data)
        reg.models.add_artifact({"name": f"big-{i}", "object_hash": digest,
            "format": "bytes", "flavor": "python", "class_name": "bytes", "size": len(data)})
        print(digest, flush=True)
        i += 1
    """
)


def _object_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _kill_artifact_writer(home: Path, delay: float) -> list[str]:
    """Start the writer, SIGKILL it after ``delay`` s of writing; the digests it recorded."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ARTIFACT_WRITER, str(home)],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline().strip()  # it is writing objects now
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return [first, *rest.split()]


def test_sigkill_mid_artifact_write_never_serves_a_partial_object(tmp_path):
    rng = random.Random(7)
    confirmed: list[str] = []
    for _ in range(3):
        confirmed += _kill_artifact_writer(tmp_path, rng.uniform(0.05, 0.6))
    reg = Registry(tmp_path)
    assert reg.db.integrity_check() == "ok"
    recorded = [r[0] for r in reg.db.query("SELECT object_hash FROM model_artifacts")]
    # nothing recorded before a kill is lost, and every recorded object verifies
    assert set(confirmed) <= set(recorded)
    for digest in recorded:
        assert hashlib.sha256(reg.objects.get_bytes(digest)).hexdigest() == digest
    # no file under a real object name holds anything but the bytes of that name;
    # a write cut short can only leave a hidden .tmp- file, which is never looked up
    for path in _object_files(reg.objects.root):
        if path.name.startswith(".tmp-"):
            continue
        digest = path.parent.name + path.name
        assert reg.objects.verify(digest), f"partial or corrupt object {path}"


def test_a_truncated_object_is_refused_not_served(tmp_path):
    reg = Registry(tmp_path)
    digest = reg.objects.put_bytes(os.urandom(1 << 16))
    path = reg.objects.path_for(digest)
    path.write_bytes(path.read_bytes()[: 1 << 10])  # as if cut short by a crash
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        reg.objects.get_bytes(digest)


OPEN_TRANSACTION = textwrap.dedent(
    """
    import os, signal, sys
    from mlnb.store.registry import Registry
    reg = Registry(sys.argv[1])
    with reg.db.transaction() as c:
        for i in range(5000):
            c.execute("INSERT INTO tags(run_id, key, value) VALUES (?, ?, ?)",
                      (int(sys.argv[2]), f"half-{i}", "x" * 200))
        print("inside", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_sigkill_inside_a_write_transaction_keeps_everything_before_it(tmp_path):
    reg = Registry(tmp_path)
    runs = []
    for i in range(20):
        run = reg.runs.start("before", name=f"kept-{i}")
        reg.runs.log_params(run, {"i": i})
        reg.runs.log_metrics(run, {"m": float(i)})
        reg.runs.end(run)
        runs.append(run)
    reg.close()
    proc = subprocess.run(
        [sys.executable, "-c", OPEN_TRANSACTION, str(tmp_path), str(runs[0])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.strip() == "inside" and proc.returncode == -signal.SIGKILL
    reg = Registry(tmp_path)
    assert reg.db.integrity_check() == "ok"
    assert reg.runs.tags(runs[0]) == {}  # the killed transaction left nothing half done
    assert [r["name"] for r in reg.runs.find(limit=None)] == [
        f"kept-{i}" for i in reversed(range(20))
    ]
    assert all(r["status"] == "finished" for r in reg.runs.find(limit=None))
    assert reg.runs.get(runs[7])["metrics"] == {"m": 7.0}
    # and the registry takes writes again straight away (no stale lock)
    reg.runs.end(reg.runs.start("after"))


def test_a_second_scheduler_process_refuses_and_says_who_holds_the_registry(tmp_path):
    env = {**os.environ, "MLNB_HOME": str(tmp_path)}
    Registry(tmp_path).close()
    first = subprocess.Popen(
        [sys.executable, "-m", "mlnb", "scheduler", "--poll", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = tmp_path / "scheduler.lock"
        deadline = time.monotonic() + 60
        while str(first.pid) not in (lock.read_text() if lock.exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        second = subprocess.run(
            [sys.executable, "-m", "mlnb", "scheduler", "--poll", "0.5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first one keeps running
    finally:
        first.kill()
        first.wait()


KILLED_KERNEL = textwrap.dedent(
    """
    from IPython.testing.globalipapp import get_ipython
    sh = get_ipython()
    sh.run_line_magic("load_ext", "mlnb")
    sh.run_cell("%%track --name kept\\nlr = 0.1\\naccuracy = 0.8")
    sh.run_cell(
        "%%track --name doomed\\nimport os, signal\\nlr = 0.2\\n"
        "print('inside', flush=True)\\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    """
)


def test_a_kernel_killed_mid_capture_leaves_a_crashed_run_and_keeps_the_earlier_one(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_KERNEL],
        env={**os.environ, "MLNB_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "inside" in proc.stdout and proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    reg = Registry(tmp_path)  # opening only reads; the next write notices the dead pid
    reg.runs.end(reg.runs.start("e", name="next"))
    runs = {r["name"]: r for r in reg.runs.find(limit=None)}
    assert runs["doomed"]["status"] == "crashed"
    assert runs["kept"]["status"] == "finished"
    assert runs["kept"]["params"]["lr"] == 0.1 and runs["kept"]["metrics"]["accuracy"] == 0.8
    assert reg.db.integrity_check() == "ok"
