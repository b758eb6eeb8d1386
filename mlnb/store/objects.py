"""Content-addressed object store: files named by the sha256 of their bytes, stored once.

Writes go to a temporary file in the same folder, are fsynced and then renamed into place, so
a process killed mid-write never leaves a partial object under a real name; reads verify the
hash before handing bytes out, so a corrupted or tampered object is refused, never served.
A temporary file left by a writer that was killed (``.tmp-PID.HOST-*``) is removed before the
store's next write once its process is gone (or, from another host, after an hour).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from errno import ENOSPC
from pathlib import Path
from typing import BinaryIO

from mlnb._runtime import host, pid_alive
from mlnb.errors import IntegrityError, NotFoundError, RegistryError

CHUNK = 1 << 20
# Objects at least this large are hashed beside the caller's parse (see get_bytes_checking).
BACKGROUND_HASH_BYTES = 4 << 20
TEMP_PREFIX = ".tmp-"
# A temporary file whose writer cannot be checked (another host, an old name) is stale after:
STALE_TEMP_SECONDS = 3600.0
_TEMP_NAME = re.compile(r"^\.tmp-(\d+)\.([0-9a-f]{8})-")


def _refuse_mismatch(path: Path, digest: str, actual: str) -> None:
    """Raise IntegrityError when an object's bytes no longer hash to the name it is stored under."""
    if actual != digest:
        raise IntegrityError(
            f"object {path} does not match its recorded sha256 (expected {digest[:12]}..., "
            f"found {actual[:12]}...): it was modified or corrupted after it was stored. "
            "It is refused; restore it from a backup or re-log the artifact."
        )


class _BackgroundSha256:
    """The sha256 of some bytes, computed in a daemon thread; ``hexdigest()`` waits for it."""

    def __init__(self, data: bytes) -> None:
        self._digest = ""
        self._thread = threading.Thread(target=self._run, args=(data,), daemon=True)
        self._thread.start()

    def _run(self, data: bytes) -> None:
        self._digest = hashlib.sha256(data).hexdigest()

    def hexdigest(self) -> str:
        self._thread.join()
        return self._digest


def _host_tag(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:8]


class ObjectStore:
    """Objects under ``root/ab/cdef...`` keyed by their sha256 hex digest."""

    BACKGROUND_HASH_BYTES = BACKGROUND_HASH_BYTES

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._swept = False
        self._temp_prefix = f"{TEMP_PREFIX}{os.getpid()}.{_host_tag(host())}-"

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete temporary files of writers that died mid-save (their pid is gone on this
        host, or they are older than an hour); returns what was removed."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        here = _host_tag(host())
        for tmp in self.root.glob(f"*/{TEMP_PREFIX}*"):
            if _is_stale(tmp, here):
                try:
                    tmp.unlink()
                except OSError:
                    continue
                removed.append(tmp)
        return removed

    def path_for(self, digest: str) -> Path:
        """Where the object with this digest lives (a folder per first two hex digits)."""
        _check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        """Whether an object with this digest is stored."""
        return self.path_for(digest).exists()

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` (once) and return its sha256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._write_atomically(digest, lambda f: f.write(data))
        return digest

    def put_file(self, source: str | os.PathLike[str]) -> str:
        """Store a file's bytes (once), streaming, and return the digest."""
        h = hashlib.sha256()
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
        digest = h.hexdigest()
        if not self.exists(digest):

            def copy(out: BinaryIO) -> None:
                with open(source, "rb") as f:
                    for block in iter(lambda: f.read(CHUNK), b""):
                        out.write(block)

            self._write_atomically(digest, copy)
            if not self.verify(digest):
                self.path_for(digest).unlink(missing_ok=True)
                raise RegistryError(f"{source} changed while it was being stored; try again.")
        return digest

    def get_bytes(self, digest: str) -> bytes:
        """The object's bytes, after checking they still hash to ``digest``."""
        data, check = self.get_bytes_checking(digest)
        check()
        return data

    def get_bytes_checking(self, digest: str) -> tuple[bytes, Callable[[], None]]:
        """The object's bytes and a ``check()`` that raises unless they hash to ``digest``.

        Large objects are hashed in a thread (hashlib releases the GIL) while the caller
        parses them, so a model load pays for the sha256 only once it outlasts the parse;
        the caller must call ``check()`` before building anything from the bytes."""
        path = self.path_for(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"object {digest[:12]} is missing from {self.root}; the registry refers to it "
                "but the file was deleted."
            ) from None
        if len(data) < BACKGROUND_HASH_BYTES:
            actual = hashlib.sha256(data).hexdigest()
            return data, lambda: _refuse_mismatch(path, digest, actual)
        hashing = _BackgroundSha256(data)
        return data, lambda: _refuse_mismatch(path, digest, hashing.hexdigest())

    def copy_to(self, digest: str, target: str | os.PathLike[str]) -> None:
        """Write a verified copy of an object to ``target`` (atomically)."""
        data = self.get_bytes(digest)
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def verify(self, digest: str) -> bool:
        """Whether the stored bytes still hash to their name."""
        h = hashlib.sha256()
        try:
            with open(self.path_for(digest), "rb") as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    h.update(block)
        except FileNotFoundError:
            return False
        return h.hexdigest() == digest

    def _write_atomically(self, digest: str, write: Callable[[BinaryIO], object]) -> None:
        """Write through a temporary file in the same folder, fsync, then rename into place."""
        final = self.path_for(digest)
        if not self._swept:
            self._swept = True
            self.remove_stale_temp_files()
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=self._temp_prefix)
        except OSError as exc:
            raise RegistryError(f"cannot write to the object store {self.root}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            hint = " The disk is full: free some space and retry." if exc.errno == ENOSPC else ""
            raise RegistryError(
                f"could not store an object in {self.root} ({exc}); nothing was recorded.{hint}"
            ) from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise IntegrityError(f"{digest!r} is not a sha256 hex digest.")


def _is_stale(tmp: Path, here: str) -> bool:
    """Whether a temporary object file was left by a writer that is gone."""
    try:
        age = time.time() - tmp.stat().st_mtime
    except OSError:
        return False
    match = _TEMP_NAME.match(tmp.name)
    if match and match.group(2) == here:
        pid = int(match.group(1))
        return pid != os.getpid() and not pid_alive(pid)
    return age > STALE_TEMP_SECONDS
