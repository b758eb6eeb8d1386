"""The registry file itself: schema, pragmas, crash recovery, concurrency, bad files."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from mlnb.errors import IntegrityError, NotFoundError, RegistryError, ValidationError
from mlnb.store.registry import Registry
from mlnb.store.schema import SCHEMA_VERSION


def test_new_registry_has_schema_wal_and_foreign_keys(tmp_path):
    reg = Registry(tmp_path / "reg")
    assert (tmp_path / "reg" / "registry.db").exists()
    assert reg.db.schema_version() == SCHEMA_VERSION
    assert reg.db.query("PRAGMA journal_mode")[0][0] == "wal"
    assert reg.db.query("PRAGMA foreign_keys")[0][0] == 1
    assert reg.db.query("PRAGMA busy_timeout")[0][0] >= 5000
    assert reg.db.integrity_check() == "ok"
    assert "runs" in reg.db.table_counts()


def test_reopening_does_not_migrate_twice_and_keeps_data(tmp_path):
    reg = Registry(tmp_path)
    run = reg.runs.start("exp", name="a")
    reg.runs.end(run)
    reg.close()
    again = Registry(tmp_path)
    assert [r["name"] for r in again.runs.find()] == ["a"]


def test_newer_schema_is_refused_with_a_clear_error(tmp_path):
    Registry(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "registry.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(RegistryError, match="newer than this mlnb"):
        Registry(tmp_path)


def test_corrupt_registry_file_names_the_file_and_is_not_overwritten(tmp_path):
    db = tmp_path / "registry.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RegistryError) as err:
        Registry(tmp_path)
    assert str(db) in str(err.value)
    assert "corrupt" in str(err.value)
    assert db.read_bytes() == b"this is not sqlite" * 100


def test_read_only_registry_gives_clear_error(tmp_path, monkeypatch):
    Registry(tmp_path).close()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode)
    )
    reg = Registry(tmp_path)  # opened read-only: reads work
    assert reg.read_only and reg.runs.find() == []
    with pytest.raises(RegistryError, match="read-only"):
        reg.runs.start("e")


def test_unwritable_location_gives_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RegistryError, match="cannot create the registry folder"):
        Registry(blocker / "sub")


def test_registry_opened_without_create_requires_existing(tmp_path):
    with pytest.raises(RegistryError, match="no mlnb registry"):
        Registry(tmp_path / "nothing", create=False)


def test_object_store_keeps_same_bytes_once_and_refuses_tampering(tmp_path):
    reg = Registry(tmp_path)
    a = reg.objects.put_bytes(b"model bytes")
    b = reg.objects.put_bytes(b"model bytes")
    assert a == b
    files = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    assert len(files) == 1
    files[0].write_bytes(b"model bytez")
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        reg.objects.get_bytes(a)


def test_object_write_interrupted_leaves_no_partial_object(tmp_path):
    reg = Registry(tmp_path)

    def explode(f):
        f.write(b"half")
        raise KeyboardInterrupt

    digest = "ab" * 32
    with pytest.raises(KeyboardInterrupt):
        reg.objects._write_atomically(digest, explode)
    assert not reg.objects.exists(digest)
    assert not [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]


def test_run_lifecycle_and_metric_history(tmp_path):
    reg = Registry(tmp_path)
    run = reg.runs.start("churn", name="fit")
    reg.runs.log_params(run, {"C": 0.5, "layers": [1, 2]})
    reg.runs.log_metrics(run, {"loss": 1.0})
    reg.runs.log_metrics(run, {"loss": 0.5})
    reg.runs.log_metrics(run, {"loss": 0.25}, step=10)
    reg.runs.set_tags(run, {"team": "growth"})
    reg.runs.end(run)
    got = reg.runs.get(run)
    assert got["status"] == "finished" and got["ended_at"] >= got["started_at"]
    assert got["params"] == {"C": 0.5, "layers": [1, 2]}
    assert [p["step"] for p in got["metric_history"]["loss"]] == [0, 1, 10]
    assert got["metrics"]["loss"] == 0.25
    assert got["tags"] == {"team": "growth"}
    assert got["experiment"] == "churn"
    assert got["user"] and got["host"] and got["python_version"]


def test_bad_values_are_refused_and_nothing_is_half_written(tmp_path):
    reg = Registry(tmp_path)
    run = reg.runs.start()
    with pytest.raises(ValidationError, match="metric 'acc' must be a number"):
        reg.runs.log_metrics(run, {"loss": 0.1, "acc": "high"})
    assert reg.runs.get(run)["metrics"] == {}
    with pytest.raises(ValidationError, match="non-empty"):
        reg.runs.log_params(run, {"": 1})
    with pytest.raises(ValidationError):
        reg.runs.end(run, "exploded")
    with pytest.raises(NotFoundError):
        reg.runs.get(999)
    with pytest.raises(ValidationError, match="not a run id"):
        reg.runs.get("nonsense")


def test_sql_metacharacters_are_just_text(tmp_path):
    reg = Registry(tmp_path)
    name = "x'; DROP TABLE runs; --"
    run = reg.runs.start(experiment=name, name=name)
    reg.runs.log_params(run, {name: name})
    assert reg.runs.find(experiment=name)[0]["name"] == name
    assert reg.runs.get(run)["params"] == {name: name}


def test_list_runs_sorts_by_metric(tmp_path):
    reg = Registry(tmp_path)
    for acc in (0.7, 0.9, 0.8):
        r = reg.runs.start()
        reg.runs.log_metrics(r, {"acc": acc})
        reg.runs.end(r)
    r = reg.runs.start()
    reg.runs.end(r)
    ordered = [x["metrics"].get("acc") for x in reg.runs.find(sort="acc")]
    assert ordered == [0.9, 0.8, 0.7, None]
    assert [
        x["metrics"].get("acc") for x in reg.runs.find(sort="acc", descending=False, limit=2)
    ] == [0.7, 0.8]


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from mlnb.store.registry import Registry
    reg = Registry(sys.argv[1])
    run = reg.runs.start("exp", name="doomed")
    print(run, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_process_leaves_a_crashed_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL
    run_id = int(proc.stdout.strip())
    reg = Registry(tmp_path)
    assert reg.runs.get(run_id)["status"] == "running"  # opening only reads
    reg.runs.end(reg.runs.start("e"))  # the next write marks it
    run = reg.runs.get(run_id)
    assert run["status"] == "crashed"
    assert "heartbeat" in run["error"]


def test_stale_heartbeat_from_another_host_becomes_crashed(tmp_path):
    reg = Registry(tmp_path)
    run = reg.runs.start(environment={"host": "elsewhere", "pid": 1, "user": "u"})
    reg.runs.update(run, {"heartbeat_at": time.time() - 3600})
    assert reg.runs.recover_crashed() == 1
    assert reg.runs.get(run)["status"] == "crashed"
    fresh = reg.runs.start(environment={"host": "elsewhere", "pid": 1, "user": "u"})
    reg.runs.recover_crashed()
    assert reg.runs.get(fresh)["status"] == "running"


def _write_runs(home: str, worker: int, n: int) -> None:
    reg = Registry(home)
    for i in range(n):
        run = reg.runs.start("load", name=f"w{worker}-{i}")
        reg.runs.log_params(run, {"worker": worker, "i": i})
        reg.runs.log_metrics(run, {"m": i})
        reg.runs.end(run)


def test_concurrent_writers_lose_nothing(tmp_path):
    Registry(tmp_path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_runs, args=(str(tmp_path), w, 150)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    reg = Registry(tmp_path)
    runs = reg.runs.find(limit=None)
    assert len(runs) == 450
    assert {r["name"] for r in runs} == {f"w{w}-{i}" for w in range(3) for i in range(150)}
    assert reg.db.query("SELECT COUNT(*) FROM params")[0][0] == 900
    assert reg.db.query("SELECT COUNT(*) FROM metrics")[0][0] == 450
    assert reg.db.integrity_check() == "ok"


def test_every_registry_argument_resolves_through_get_registry(tmp_path):
    """An open Registry is used as it is (never made the process-wide one); a folder opens."""
    from mlnb.store.registry import current_registry, get_registry

    before = current_registry()
    other = Registry(tmp_path / "other")
    assert get_registry(other) is other
    assert current_registry() is before
    assert get_registry(tmp_path / "other").home == other.home
