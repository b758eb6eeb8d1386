"""``mlnb data restore`` puts a snapshot back without harming what is already there: an
existing file needs --force (and keeps its mode), a symbolic link is never written through,
and a folder or an unwritable path is one clear error line."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pandas as pd
import pytest

import mlnb


def _cli(argv: list[str]) -> tuple[int, str]:
    from mlnb.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


@pytest.fixture
def snapshots(registry, tmp_path):
    """A file and a DataFrame recorded with snapshots: (file version, frame version)."""
    source = tmp_path / "train.csv"
    source.write_text("a,b\n1,2\n3,4\n")
    with mlnb.track("snap", registry=registry):
        file_version = mlnb.log_data(str(source), name="train.csv", snapshot=True)
        frame_version = mlnb.log_data(pd.DataFrame({"x": [1, 2]}), name="df", snapshot=True)
    return file_version, frame_version


def _restore(registry_home: Path, version: str, target: Path, *extra: str) -> tuple[int, str]:
    return _cli(["--registry", str(registry_home), "data", "restore", version, str(target), *extra])


@pytest.mark.parametrize("which", [0, 1])
def test_an_existing_file_needs_force_and_keeps_its_mode(snapshots, registry_home, tmp_path, which):
    version = snapshots[which]
    target = tmp_path / "mine.csv"
    target.write_text("precious\n")
    target.chmod(0o640)
    code, err = _restore(registry_home, version, target)
    assert code == 1 and err.count("\n") == 1
    assert "already exists; pass --force" in err
    assert target.read_text() == "precious\n"
    code, err = _restore(registry_home, version, target, "--force")
    assert code == 0, err
    assert target.read_text() != "precious\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mine")] == []


def test_a_new_file_gets_the_usual_mode(snapshots, registry_home, tmp_path):
    target = tmp_path / "new" / "train.csv"
    code, err = _restore(registry_home, snapshots[0], target)
    assert code == 0, err
    assert target.read_text() == "a,b\n1,2\n3,4\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_symbolic_link_is_never_written_through(snapshots, registry_home, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch\n")
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    for target in (link, dangling):
        for extra in ((), ("--force",)):
            code, err = _restore(registry_home, snapshots[0], target, *extra)
            assert code == 1 and "symbolic link" in err and err.count("\n") == 1
    assert victim.read_text() == "do not touch\n"
    assert not (tmp_path / "nowhere.csv").exists()
    assert link.is_symlink() and dangling.is_symlink()


def test_a_folder_or_an_unwritable_path_is_one_clear_line(snapshots, registry_home, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        (folder, "is a folder"),
        (blocker / "under-a-file.csv", "cannot write"),
        (Path("/proc/mlnb-restore.csv"), "cannot write"),
        (tmp_path / "unknown.format", "cannot tell which format"),
    ]
    for target, fragment in cases:
        version = snapshots[1] if target.suffix == ".format" else snapshots[0]
        code, err = _restore(registry_home, version, target, "--force")
        assert code == 1, (target, err)
        assert fragment in err and err.count("\n") == 1 and "Traceback" not in err, err
