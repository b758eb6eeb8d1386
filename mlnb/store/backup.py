"""Backups of a registry folder: ``registry.db`` through SQLite's online backup API (a
consistent snapshot while notebooks and pipelines keep writing) plus the object store."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from mlnb.errors import RegistryError, ValidationError
from mlnb.store.objects import TEMP_PREFIX
from mlnb.store.paths import DB_FILENAME, OBJECTS_DIRNAME
from mlnb.store.records import BackupRecord

if TYPE_CHECKING:
    from mlnb.store.registry import Registry


def backup_registry(reg: Registry, target: str | os.PathLike[str]) -> BackupRecord:
    """Copy the registry to the new folder ``target``: the database first, then the objects
    (stored objects never change, so copying them after the snapshot misses none)."""
    folder = _new_folder(reg, Path(target).expanduser().absolute())
    db_copy = folder / DB_FILENAME
    try:
        reg.db.backup_to(db_copy)
        n_objects, objects_bytes = _copy_objects(reg.objects.root, folder / OBJECTS_DIRNAME)
        integrity = _quick_check(db_copy)
    except OSError as exc:
        raise RegistryError(
            f"could not write the backup to {folder} ({exc.strerror or exc}); the partial copy "
            "is left there for you to remove."
        ) from exc
    return {
        "path": str(folder),
        "database_bytes": db_copy.stat().st_size,
        "objects": n_objects,
        "objects_bytes": objects_bytes,
        "integrity": integrity,
    }


def _new_folder(reg: Registry, folder: Path) -> Path:
    """Create the backup folder; an existing non-empty one (or the registry itself) is refused."""
    try:
        home = reg.home.resolve()
        resolved = folder.resolve()
        if resolved == home or home in resolved.parents:
            raise ValidationError(
                f"the backup folder {folder} is inside the registry {reg.home}; choose a "
                "folder outside it, ideally on another disk."
            )
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ValidationError(
                f"{folder} already exists and is not an empty folder; a backup never "
                "overwrites anything. Give a new folder, e.g. backups/mlnb-2026-01-31."
            )
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(
            f"cannot create the backup folder {folder} ({exc.strerror}). Choose a writable place."
        ) from exc
    return folder


def _copy_objects(source: Path, target: Path) -> tuple[int, int]:
    """Copy every stored object (not temporary files); returns (count, bytes)."""
    count = size = 0
    if not source.is_dir():
        return count, size
    for path in sorted(source.glob("*/*")):
        if path.name.startswith(TEMP_PREFIX) or not path.is_file():
            continue
        dest = target / path.parent.name / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        count += 1
        size += dest.stat().st_size
    return count, size


def _quick_check(db: Path) -> str:
    """The copy's ``PRAGMA quick_check`` (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "; ".join(str(r[0]) for r in conn.execute("PRAGMA quick_check(5)"))
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
