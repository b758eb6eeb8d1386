"""Disk and file failures: a full disk (a real 2 MB tmpfs when this process may mount, and
ENOSPC injected into the object store everywhere), a truncated or corrupted registry.db, an
object whose bytes no longer match its hash, and a registry on a read-only filesystem."""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

import mlnb
from mlnb.errors import IntegrityError, RegistryError
from mlnb.store.registry import Registry


def _mount(args: list[str], target: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    proc = subprocess.run(["mount", *args, str(target)], capture_output=True, timeout=30)
    return proc.returncode == 0


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs (needs root; skipped otherwise, the injection tests below still run)."""
    target = tmp_path / "tiny"
    target.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs"], target):
        pytest.skip("cannot mount a tmpfs here; ENOSPC is covered by injection instead")
    yield target
    subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _fill_until_refused(reg: Registry) -> tuple[list[int], RegistryError]:
    kept = []
    for i in range(10_000):
        try:
            run = reg.runs.start("fill", name=f"r{i}")
            reg.runs.log_params(run, {"blob": "x" * 20_000, "i": i})
            reg.runs.end(run)
        except RegistryError as exc:
            return kept, exc
        kept.append(run)
    raise AssertionError("a 2 MB disk never filled up")


def test_a_full_disk_gives_a_clear_error_and_loses_nothing_recorded(tiny_disk):
    reg = Registry(tiny_disk / "reg")
    kept, err = _fill_until_refused(reg)
    assert "full" in str(err) and str(tiny_disk) in str(err)
    assert len(kept) > 5
    with pytest.raises(RegistryError, match="disk is full"):
        reg.objects.put_bytes(os.urandom(3 << 20))
    assert not [p for p in reg.objects.root.rglob("*") if p.is_file()]  # no partial object
    reg.close()
    # after freeing space (here: reading the same files on a bigger disk) all is intact
    copy = tiny_disk.parent / "copy"
    shutil.copytree(tiny_disk / "reg", copy)
    again = Registry(copy)
    assert again.db.integrity_check() == "ok"
    finished = {r["id"] for r in again.runs.find(limit=None, status="finished")}
    assert set(kept) <= finished
    assert again.runs.get(kept[-1])["params"]["i"] == len(kept) - 1


def _no_space(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_enospc_while_logging_a_model_records_nothing_half(registry, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with mlnb.track("kept", registry=registry):
        mlnb.log_metric("acc", 0.9)
    monkeypatch.setattr(os, "fsync", _no_space)  # the object store fsyncs every object
    with pytest.raises(RegistryError) as err:
        with mlnb.track("doomed", registry=registry) as run:
            run.log_model(model)
    monkeypatch.undo()
    assert "disk is full" in str(err.value) and "nothing was recorded" in str(err.value)
    assert registry.db.query("SELECT COUNT(*) FROM model_artifacts")[0][0] == 0
    leftovers = [p for p in registry.objects.root.rglob("*") if p.is_file()]
    assert leftovers == []  # the temporary file went too
    runs = {r["name"]: r for r in registry.runs.find(limit=None)}
    assert runs["kept"]["status"] == "finished" and runs["kept"]["metrics"] == {"acc": 0.9}
    assert runs["doomed"]["status"] == "failed"
    assert registry.db.integrity_check() == "ok"


def _registry_with_runs(home: Path, n: int = 200) -> Path:
    reg = Registry(home)
    for i in range(n):
        run = reg.runs.start("e", name=f"r{i}")
        reg.runs.log_params(run, {"text": "p" * 500, "i": i})
        reg.runs.end(run)
    reg.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    reg.close()
    return home / "registry.db"


def _assert_refused_untouched(home: Path, db: Path) -> None:
    before = db.read_bytes()
    with pytest.raises(RegistryError) as err:
        reg = Registry(home)
        reg.runs.find(limit=None)  # corruption in data pages shows up on read
        assert reg.db.integrity_check() == "ok", "corruption went unnoticed"
    assert str(db) in str(err.value)
    assert "corrupt" in str(err.value)
    assert db.read_bytes() == before


def test_a_truncated_registry_is_refused_by_name_and_left_untouched(tmp_path):
    db = _registry_with_runs(tmp_path)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    _assert_refused_untouched(tmp_path, db)


def test_random_bytes_in_the_middle_pages_are_refused_and_left_untouched(tmp_path):
    db = _registry_with_runs(tmp_path)
    data = bytearray(db.read_bytes())
    rng = random.Random(3)
    page = 4096
    for p in range(2, len(data) // page - 1, 3):
        start = p * page + 100
        data[start : start + 400] = rng.randbytes(400)
    db.write_bytes(bytes(data))
    _assert_refused_untouched(tmp_path, db)


def test_an_object_whose_bytes_changed_is_refused_when_loading_the_model(registry):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    version = mlnb.register_model(model, "flipped", registry=registry)
    digest = registry.db.query("SELECT object_hash FROM model_artifacts")[0][0]
    path = registry.objects.path_for(digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped on disk
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        mlnb.load_model(f"flipped/{version.version}", registry=registry)


@pytest.fixture
def read_only_view(tmp_path):
    """The same registry seen through a read-only bind mount (root only; skipped otherwise)."""
    home = tmp_path / "reg"
    reg = Registry(home)
    reg.runs.end(reg.runs.start("e", name="before"))
    reg.close()
    view = tmp_path / "ro"
    view.mkdir()
    if not _mount(["--bind", "-o", "ro", str(home)], view):
        pytest.skip("cannot bind-mount read-only here; tests/tracking covers os.access")
    yield home, view
    subprocess.run(["umount", "-l", str(view)], capture_output=True, timeout=30)


def test_a_registry_on_a_read_only_filesystem_says_so(read_only_view):
    home, view = read_only_view
    with pytest.raises(RegistryError) as err:
        reg = Registry(view)
        reg.runs.end(reg.runs.start("e", name="refused"))
    assert "read-only" in str(err.value) and str(view) in str(err.value)
    assert [r["name"] for r in Registry(home).runs.find()] == ["before"]
