"""Data versions from the tracking side: record a frame, array, file or folder as a version
(optionally keeping a snapshot in the object store), and bring a snapshot back."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.store.registry import Registry, current_registry, get_registry
from mlnb.tracking import fingerprint as fp
from mlnb.tracking.files import file_hash_cache


def fingerprint(obj: Any, registry: Registry | None = None) -> str:
    """The data version id of a DataFrame, Series, ndarray, file or folder; records nothing.

    File hashes are cached in the registry by (inode, size, mtime) when one is open.
    """
    reg = registry or current_registry()
    cache = file_hash_cache(reg) if reg is not None else None
    return fp.fingerprint(obj, cache)


def load_data(version: str, registry: Registry | str | os.PathLike[str] | None = None) -> Any:
    """The snapshot of a data version (recorded with ``snapshot=True``) as the original object."""
    reg = get_registry(registry)
    return load_snapshot(reg, version)


def record_data(
    reg: Registry,
    obj: Any,
    name: str = "",
    run_id: int | None = None,
    role: str = "input",
    snapshot: bool = False,
    described: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record a data version of an in-memory object or a path; optionally keep a copy."""

    version: dict[str, Any]
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj).expanduser()
        version = {
            "id": fp.fingerprint_path(path, file_hash_cache(reg)),
            "kind": "folder" if path.is_dir() else "file",
            "schema": {},
            "source_path": str(path.resolve()),
            "nbytes": _path_size(path),
        }
        if snapshot:
            if path.is_dir():
                raise ValidationError(
                    f"--snapshot keeps single files, and {path} is a folder; snapshot its "
                    "files one by one."
                )
            version["snapshot"] = reg.objects.put_file(path)
    else:
        version = dict(described or fp.describe(obj))
        if snapshot:
            version["snapshot"] = reg.objects.put_bytes(_snapshot_bytes(obj))
    version["name"] = name
    reg.data.record(version)
    if run_id is not None:
        reg.data.link(run_id, [(version["id"], role, name)])
    return version


def load_snapshot(reg: Registry, version_id: str) -> Any:
    """The snapshot of a data version as the object it was (DataFrame, Series, array) or bytes."""
    d = reg.data.row(version_id)
    snapshot = d.get("snapshot")
    if not snapshot:
        raise NotFoundError(
            f"data version {d['id']} has no snapshot; record it with "
            "`%dataversion OBJ --snapshot` (or mlnb.log_data(..., snapshot=True)) to keep a copy."
        )
    data = reg.objects.get_bytes(snapshot)
    return _from_snapshot(d["kind"], data)


def restore_data(
    reg: Registry, version_id: str, target: str | os.PathLike[str], force: bool = False
) -> Path:
    """Write a snapshot back to ``target`` (a file copy, or the frame in the suffix's format).

    An existing file is replaced only with ``force`` (keeping its permissions), a symbolic
    link is never written through, and the file appears whole or not at all.
    """
    d = reg.data.row(version_id)
    snapshot = d.get("snapshot")
    if not snapshot:
        raise NotFoundError(
            f"data version {d['id']} has no snapshot to restore; only versions recorded "
            "with --snapshot can be restored."
        )
    path = _restore_target(Path(target).expanduser(), force)
    if d["kind"] == "file":
        data = reg.objects.get_bytes(snapshot)
        _write_replacing(path, lambda tmp: tmp.write_bytes(data))
        return path
    obj = load_snapshot(reg, d["id"])
    if d["kind"] != "ndarray":
        _frame_format(path)  # refuse an unknown suffix before writing anything
    _write_replacing(path, lambda tmp: _write_frame(obj, tmp))
    return path


def _restore_target(path: Path, force: bool) -> Path:
    """Where a restore may write: not a link, not a folder, not an existing file unless forced."""
    if path.is_symlink():
        raise ValidationError(
            f"{path} is a symbolic link; mlnb never writes through one. Remove the link or "
            "give the real file's path."
        )
    if path.is_dir():
        raise ValidationError(f"{path} is a folder; give a file path such as {path / 'data.csv'}.")
    if path.exists() and not force:
        raise ValidationError(
            f"{path} already exists; pass --force (force=True) to overwrite it, or give "
            "another path."
        )
    return path


def _write_replacing(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file beside ``path``, then rename it into place (a rename
    replaces a link or file without following it); an existing file's mode is kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else _default_mode()
        tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{path.suffix}"
        try:
            write(tmp)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise ValidationError(
            f"cannot write {path} ({exc.strerror or exc}); choose a path in a folder you can "
            "write to."
        ) from exc


def _default_mode() -> int:
    """The mode a new file gets under this process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _path_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _snapshot_bytes(obj: Any) -> bytes:
    import numpy as np  # heavy: loaded when a snapshot is made or read
    import pandas as pd

    buf = io.BytesIO()
    if isinstance(obj, pd.Series):
        obj.to_frame(name=obj.name if obj.name is not None else "__series__").to_parquet(buf)
    elif isinstance(obj, pd.DataFrame):
        frame = obj.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
        frame.to_parquet(buf)
    elif isinstance(obj, np.ndarray):
        np.save(buf, obj, allow_pickle=False)
    else:
        raise ValidationError(f"cannot snapshot a {type(obj).__name__}.")
    return buf.getvalue()


def _from_snapshot(kind: str, data: bytes) -> Any:
    import numpy as np  # heavy: loaded when a snapshot is made or read
    import pandas as pd

    if kind == "dataframe":
        return pd.read_parquet(io.BytesIO(data))
    if kind == "series":
        frame = pd.read_parquet(io.BytesIO(data))
        s = frame.iloc[:, 0]
        return s.rename(None) if s.name == "__series__" else s
    if kind == "ndarray":
        return np.load(io.BytesIO(data), allow_pickle=False)
    return data


def _write_frame(obj: Any, target: Path) -> None:
    import numpy as np  # heavy: loaded when a snapshot is made or read
    import pandas as pd

    if isinstance(obj, np.ndarray):
        with open(target, "wb") as f:  # np.save(path) would add .npy to the name
            np.save(f, obj, allow_pickle=False)
        return
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    suffix = _frame_format(target)
    if suffix == ".csv":
        frame.to_csv(target, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(target)
    else:
        frame.to_json(target, orient="records")


def _frame_format(target: Path) -> str:
    """The format a frame is written in, from the file's suffix."""
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq", ".json"):
        raise ValidationError(
            f"cannot tell which format to write from {target.name!r}: use .csv, .parquet or .json."
        )
    return suffix
