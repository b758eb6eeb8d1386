"""File and folder fingerprints: xxh3-128 of the bytes, cached by (inode, size, mtime) the
way DVC does, so an unchanged file is not read twice. No numpy: the scheduler and the
pipeline worker hash watched data folders without loading the data stack.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from mlnb.errors import ValidationError

if TYPE_CHECKING:
    from mlnb.store.registry import Registry

PREFIX = "dv-"
FILE_CHUNK = 1 << 22


def update_text(h: Any, text: str) -> None:
    """Feed ``text`` to a hash with its length first, so that no two sequences collide."""
    data = text.encode("utf-8", "surrogatepass")
    h.update(struct.pack("<Q", len(data)))
    h.update(data)


class FileHashCache:
    """Lookup/store callbacks for file digests keyed by (path, inode, size, mtime_ns)."""

    def __init__(
        self,
        get: Callable[[str, int, int, int], str | None],
        put: Callable[[str, int, int, int, str], None],
    ) -> None:
        self.get = get
        self.put = put


def hash_file(path: str | os.PathLike[str], cache: FileHashCache | None = None) -> str:
    """xxh3-128 of a file's bytes, reusing the cached digest while inode, size and mtime match."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ValidationError(f"no such file: {p}. Check the path.") from None
    key = (str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if cache is not None:
        cached = cache.get(*key)
        if cached:
            return cached
    h = xxhash.xxh3_128()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(FILE_CHUNK), b""):
            h.update(block)
    digest = PREFIX + h.hexdigest()
    if cache is not None:
        try:
            cache.put(*key, digest)
        except Exception:  # a cache that cannot be written only costs speed
            pass
    return digest


def iter_folder_files(folder: Path) -> list[Path]:
    """Files under a folder in a stable order, skipping hidden files and folders."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                out.append(Path(root) / name)
    return out


def fingerprint_path(path: str | os.PathLike[str], cache: FileHashCache | None = None) -> str:
    """Version id of a file (its bytes) or a folder (relative names plus each file's hash)."""
    p = Path(path).expanduser()
    if p.is_dir():
        h = xxhash.xxh3_128()
        update_text(h, "folder")
        for f in iter_folder_files(p):
            update_text(h, f.relative_to(p).as_posix())
            update_text(h, hash_file(f, cache))
        return PREFIX + h.hexdigest()
    if p.exists():
        return hash_file(p, cache)
    raise ValidationError(f"no such file or folder: {p}. Check the path.")


def file_hash_cache(reg: Registry) -> FileHashCache:
    """The registry's (inode, size, mtime) cache of file hashes, as fingerprinting uses it."""
    return FileHashCache(reg.data.cached_file_hash, reg.data.store_file_hash)
