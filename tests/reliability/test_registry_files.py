"""The registry file under stress: damaged pages, backups and their restore, a newer or a
foreign database, a read-only mount, a full disk and a writer killed mid-save.

Each test builds a real registry.db (and object store) and damages or constrains it the way
it happens outside: random bytes over 8 pages, ``PRAGMA user_version`` from a newer mlnb,
a read-only bind mount, a 2 MB tmpfs filled to the last byte, SIGKILL during fsync. The
mounts need root (as in CI's container); without it those tests skip."""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mlnb
from mlnb._runtime import host
from mlnb.errors import RegistryError, WritesRefused
from mlnb.store.registry import Registry
from tests.reliability.figures import record_figure

PAGE = 4096


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from mlnb.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _fitted_model():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def _registry_with_runs(home: Path, n: int = 300) -> Path:
    reg = Registry(home)
    for i in range(n):
        run = reg.runs.start("e", name=f"r{i}", environment={})
        reg.runs.log_params(run, {"text": "p" * 300, "i": i})
        reg.runs.end(run)
    reg.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    reg.close()
    return home / "registry.db"


def _params_pages(db: Path, count: int = 8) -> list[int]:
    """The ``count`` oldest leaf pages of the params table (SQLite's dbstat), so the schema
    and the newest runs stay readable: the registry opens and lists its latest runs."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'params' AND pagetype = 'leaf' ORDER BY pageno"
    ).fetchall()
    conn.close()
    return [int(r[0]) for r in rows[:count]]


def _overwrite_pages(db: Path, pages: list[int]) -> None:
    data = bytearray(db.read_bytes())
    rng = random.Random(8)
    for page in pages:  # SQLite numbers pages from 1
        data[(page - 1) * PAGE : page * PAGE] = rng.randbytes(PAGE)
    db.write_bytes(bytes(data))


# -- item 8: corruption, backups, newer and foreign files ------------------------------


@pytest.fixture
def damaged(tmp_path) -> Path:
    """A registry with 8 pages of random bytes (it still opens and reads its newest runs)."""
    db = _registry_with_runs(tmp_path / "reg")
    pages = _params_pages(db)
    assert len(pages) == 8
    _overwrite_pages(db, pages)
    return db


def test_eight_overwritten_pages_are_reported_and_refuse_writes(damaged):
    before = damaged.read_bytes()
    code, out, _ = _cli(["--registry", str(damaged.parent), "status"])
    assert code == 1
    assert "damaged" in out and "mlnb backup" in out and ".recover" in out
    reg = Registry(damaged.parent)  # it opens and the newest runs can still be read
    assert len(reg.runs.find(limit=5)) == 5
    with pytest.raises(WritesRefused, match="damaged .*refuses to write"):
        reg.runs.start("e", name="after the damage")
    reg.close()
    assert damaged.read_bytes() == before


def test_sqlite_corrupt_on_a_read_refuses_later_writes(damaged, monkeypatch):
    import mlnb.store.connection as connection

    monkeypatch.setattr(connection, "QUICK_CHECK_MAX_BYTES", 0)  # as for a large registry
    reg = Registry(damaged.parent)
    with pytest.raises(RegistryError, match="corrupt"):
        reg.runs.find(limit=None)  # reads every page: SQLITE_CORRUPT
    with pytest.raises(WritesRefused, match="damaged"):
        reg.runs.start("e", name="after the damage")
    reg.close()


def test_each_scheduler_pass_checks_the_registry(damaged):
    from mlnb.pipelines.scheduler import Scheduler

    reg = Registry(damaged.parent)
    scheduler = Scheduler(reg, threaded=False)
    assert scheduler.tick() == {"queued": [], "started": []}
    assert any("damaged" in e for e in scheduler.errors)
    reg.close()


def test_backup_copies_database_and_models_and_restores(registry, registry_home, tmp_path):
    with mlnb.track("kept", registry=registry) as run:
        run.log_model(_fitted_model(), "clf")
    version = mlnb.register_model(_fitted_model(), "churn", registry=registry)
    target = tmp_path / "backups" / "first"
    code, out, err = _cli(["--registry", str(registry_home), "backup", str(target)])
    assert code == 0, err
    assert f"to {target}" in out and "objects" in out
    assert sorted(p.name for p in target.iterdir()) == ["objects", "registry.db"]
    # a backup never overwrites
    code, _, err = _cli(["--registry", str(registry_home), "backup", str(target)])
    assert code == 1 and "already exists" in err
    registry.runs.end(registry.runs.start("e", name="after the backup"))
    # restore as the README says: stop writers, move the broken folder away, copy back
    registry.close()
    shutil.move(registry_home, tmp_path / "broken")
    shutil.copytree(target, registry_home)
    restored = Registry(registry_home)
    names = {r["name"] for r in restored.runs.find(limit=None)}
    assert names == {"kept", "register churn"}  # the state at backup time
    model = mlnb.load_model(f"churn/{version.version}", registry=restored)
    assert list(model.predict([[0.0], [3.0]])) == [0, 1]
    assert restored.db.integrity_check() == "ok"
    restored.close()


def _raw_header(db: Path) -> bytes:
    return db.read_bytes()[:100]


def test_a_newer_schema_is_refused_before_anything_changes(tmp_path):
    Registry(tmp_path).close()
    db = tmp_path / "registry.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(RegistryError, match="schema version 99, newer .* left untouched"):
        Registry(tmp_path)
    assert db.read_bytes() == before  # still in rollback-journal mode: not switched to WAL
    assert not (tmp_path / "registry.db-wal").exists()


def test_a_foreign_sqlite_file_is_never_adopted(tmp_path):
    db = tmp_path / "registry.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(RegistryError, match="not an mlnb registry .*customers"):
        Registry(tmp_path)
    code, _, err = _cli(["--registry", str(tmp_path), "runs"])
    assert code == 1 and "not an mlnb registry" in err
    assert db.read_bytes() == before
    tables = sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("customers",)]


# -- item 9: read-only registries --------------------------------------------------------


def _mount(args: list[str], target: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    proc = subprocess.run(["mount", *args, str(target)], capture_output=True, timeout=30)
    return proc.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _registry_with_model(home: Path) -> None:
    reg = Registry(home)
    with mlnb.track("fit", registry=reg):
        mlnb.log_metric("acc", 0.9)
    mlnb.register_model(_fitted_model(), "churn", stage="staging", registry=reg)
    mlnb.promote("churn", 1, to="production", registry=reg)
    reg.close()


@pytest.fixture
def read_only_mount(tmp_path):
    """A registry with a production model, seen through a read-only bind mount."""
    home = tmp_path / "reg"
    _registry_with_model(home)
    view = tmp_path / "ro"
    view.mkdir()
    if not _mount(["--bind", "-o", "ro", str(home)], view):
        pytest.skip("cannot bind-mount read-only here (needs root)")
    yield home, view
    _umount(view)


def _read_everything(view: Path) -> None:
    reg = Registry(view)
    assert reg.read_only
    assert {r["name"] for r in reg.runs.find()} == {"fit", "register churn"}
    model = mlnb.load_model("churn@production", registry=reg)
    assert list(model.predict([[0.0], [3.0]])) == [0, 1]
    with pytest.raises(WritesRefused, match="read-only"):
        reg.runs.start("e", name="refused")
    reg.close()
    code, out, err = _cli(["--registry", str(view), "runs"])
    assert code == 0 and "fit" in out, err
    code, out, err = _cli(["--registry", str(view), "models"])
    assert code == 0 and "churn" in out, err
    code, _, err = _cli(["--registry", str(view), "alias", "churn", "champion", "1"])
    assert code == 1 and "read-only" in err and err.count("\n") == 1


def test_a_read_only_mount_is_read_with_no_other_process(read_only_mount):
    _home, view = read_only_mount
    assert not (view / "registry.db-shm").exists()  # SQLite must open it immutable
    _read_everything(view)


def test_a_read_only_mount_is_read_while_the_owner_writes(read_only_mount):
    home, view = read_only_mount
    owner = Registry(home)  # keeps -wal and -shm in place, as a live notebook does
    owner.runs.end(owner.runs.start("e", name="live"))
    try:
        reg = Registry(view)
        assert {r["name"] for r in reg.runs.find()} == {"fit", "register churn", "live"}
        reg.close()
    finally:
        owner.close()


# -- item 10: a full disk ----------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    target = tmp_path / "tiny"
    target.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs"], target):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield target
    _umount(target)


def _fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with one file; returns it (delete it to free)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 512)
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    return filler


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_reading_a_registry_on_a_full_disk_never_writes(tiny_disk):
    home = tiny_disk / "reg"
    reg = Registry(home)  # stays open, as a notebook does (the WAL index stays in place)
    env = {"host": host(), "pid": _dead_pid(), "user": "u"}
    stale = reg.runs.start("e", name="kernel died", environment=env)
    filler = _fill(tiny_disk)
    proc = subprocess.run(
        [sys.executable, "-m", "mlnb", "--registry", str(home), "runs"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 0, proc.stderr
    assert "kernel died" in proc.stdout and "running" in proc.stdout
    filler.unlink()
    reg.close()
    again = Registry(home)
    assert again.runs.get(stale)["status"] == "running"  # opening only reads
    again.runs.end(again.runs.start("e", name="next write"))  # the next write marks it
    assert again.runs.get(stale)["status"] == "crashed"
    again.close()


def test_a_run_that_hits_a_full_disk_ends_failed(tiny_disk):
    reg = Registry(tiny_disk / "reg")
    error = None
    for i in range(1000):
        try:
            with mlnb.track(f"r{i}", registry=reg):
                mlnb.log_params({"blob": "x" * 20_000, "i": i})
        except RegistryError as exc:
            error = exc
            break
    assert error is not None and "full" in str(error)
    last = reg.runs.find(limit=1)[0]
    if last["name"] == f"r{i}":  # the disk filled inside the run: it ends failed, saying why
        assert last["status"] == "failed"
        assert "full" in reg.runs.get(last["id"])["error"]
    else:  # the disk filled as the run was being created: nothing half-made is left
        assert last["name"] == f"r{i - 1}" and last["status"] == "finished"
    assert reg.runs.find(status="running") == []
    record_figure("full_disk_runs_kept", {"finished": i, "failed": 1, "running": 0})
    reg.close()


# -- item 14: a writer killed mid-save ---------------------------------------------------

SLOW_SAVE = textwrap.dedent(
    """
    import os, sys, time
    from mlnb.store.registry import Registry
    reg = Registry(sys.argv[1])
    def slow_fsync(fd):  # the disk takes its time: the parent kills us meanwhile
        print("saving", flush=True)
        time.sleep(120)
    os.fsync = slow_fsync
    reg.objects.put_bytes(os.urandom(1 << 20))
    """
)


def _temp_files(reg: Registry) -> list[Path]:
    return sorted(reg.objects.root.glob("*/.tmp-*"))


def test_a_model_save_killed_by_sigkill_leaves_no_temp_file_behind(registry, registry_home):
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(registry_home)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "saving"
        left = _temp_files(registry)
        assert len(left) == 1 and left[0].stat().st_size == 1 << 20
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # a live writer's file (this process), and another host's recent one, are left alone
    live = left[0].with_name(registry.objects._temp_prefix + "live")
    live.write_bytes(b"in progress")
    elsewhere = left[0].with_name(".tmp-1.00000000-other-host")
    elsewhere.write_bytes(b"another machine")
    old = left[0].with_name(".tmp-abandoned")
    old.write_bytes(b"old")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    fresh = Registry(registry_home)
    assert len(_temp_files(fresh)) == 4  # opening only reads
    with mlnb.track("next", registry=fresh) as run:
        run.log_model(_fitted_model(), "clf")  # the next write sweeps
    assert _temp_files(fresh) == sorted([live, elsewhere])
    live.unlink()
    elsewhere.unlink()
    assert all(fresh.objects.verify(p.parent.name + p.name) for p in fresh.objects.root.glob("*/*"))
    fresh.close()
