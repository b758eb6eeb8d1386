"""The connection to ``registry.db``: pragmas, migrations, short transactions and error
explanations. The feature stores beside it (runs, data, models, monitors, alerts,
pipelines) each own the SQL of their tables and run it through :class:`Database`.

The database is a single SQLite file in WAL mode with foreign keys on and a busy timeout,
and every write is one short ``BEGIN IMMEDIATE`` transaction so that a notebook, the CLI
and scheduled pipelines can write at the same time without losing rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlnb.errors import RegistryError, ValidationError, WritesRefused
from mlnb.store.schema import MIGRATIONS, SCHEMA_VERSION, split_sql

if TYPE_CHECKING:
    from mlnb.store.registry import Registry

BUSY_TIMEOUT_MS = 60_000
T = TypeVar("T")


def now() -> float:
    """Wall-clock time as UNIX seconds, the unit of every timestamp in the registry."""
    return time.time()


def dumps(value: Any) -> str:
    """JSON for the registry: compact, with anything unknown turned into its repr."""
    return json.dumps(value, separators=(",", ":"), default=repr, allow_nan=True)


def loads(text: str | None, default: Any = None) -> Any:
    """Parse a JSON column, tolerating NULL."""
    if text is None:
        return default
    return json.loads(text)


SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
SQLITE_FULL = 13
SQLITE_IOERR = 10
# Disk space kept allocated beside registry.db (``registry.db-reserve``) and given up when the
# disk is full, so that a run can still be recorded as failed instead of staying "running".
RESERVE_SUFFIX = "-reserve"
RESERVE_BYTES = 256 << 10
# Tables every mlnb registry has had since its first schema (a foreign database lacks them).
MLNB_TABLES = frozenset({"meta", "experiments", "runs"})
# Before the first write of a connection the file gets a ``PRAGMA quick_check`` (about 2 ms
# per MB): a damaged registry is refused before anything more is written to it. Larger files
# are checked by ``mlnb status`` and the scheduler instead.
QUICK_CHECK_MAX_BYTES = 256 << 20
RESTORE_HINT = (
    "Stop the processes using it, keep a copy of the folder, then restore your latest "
    "`mlnb backup` (README: 'Restoring a backup') or salvage what is readable with "
    "`sqlite3 registry.db .recover | sqlite3 recovered.db`."
)


def is_corruption(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file is damaged (SQLITE_CORRUPT / SQLITE_NOTADB)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    msg = str(exc)
    return "malformed" in msg or "not a database" in msg


def explain_sqlite_error(path: Path, exc: sqlite3.Error) -> RegistryError:
    """Turn a raw sqlite3 error into one that names the file and says what to do."""
    msg = str(exc)
    if "readonly" in msg or "read-only" in msg:
        return RegistryError(
            f"the registry {path} is read-only ({msg}). Make the file and its folder "
            "writable, or point MLNB_HOME / `%mlnb registry PATH` at a writable folder."
        )
    if is_corruption(exc) or "disk image" in msg:
        return RegistryError(
            f"the registry {path} is corrupt or not an mlnb registry ({msg}); mlnb will not "
            f"write to it. {RESTORE_HINT}"
        )
    if "unable to open" in msg:
        return RegistryError(
            f"cannot open the registry {path} ({msg}). Check that the folder exists and "
            "is writable, or set MLNB_HOME to another folder."
        )
    if "locked" in msg or "busy" in msg:
        return RegistryError(
            f"the registry {path} stayed locked by another writer for "
            f"{BUSY_TIMEOUT_MS // 1000} s ({msg}). Retry when the other process finishes."
        )
    if "disk is full" in msg or "No space" in msg:
        return RegistryError(
            f"the disk holding {path} is full ({msg}); nothing was written. Free some space "
            "and retry."
        )
    if "disk I/O error" in msg:
        return RegistryError(
            f"reading or writing {path} failed ({msg}): the disk may be full, failing or "
            "unplugged, or the file was removed while in use. Check it and retry."
        )
    return RegistryError(f"registry {path}: {msg}")


# How hard a commit waits for the disk: NORMAL (default, WAL) may lose the last commits on a
# power failure or OS crash, never consistency; FULL syncs the WAL on every commit.
SYNCHRONOUS_MODES = ("normal", "full")


def synchronous_mode() -> str:
    """The ``MLNB_SYNCHRONOUS`` setting (normal or full), validated."""
    mode = os.environ.get("MLNB_SYNCHRONOUS", "normal").strip().lower() or "normal"
    if mode not in SYNCHRONOUS_MODES:
        raise ValidationError(
            f"MLNB_SYNCHRONOUS={mode!r} is not a durability mode: use 'normal' (fast; a power "
            "failure may lose the last commits) or 'full' (every commit synced to disk)."
        )
    return mode


class Database:
    """A connection to one ``registry.db`` with the schema brought up to date.

    Thread-safe: one connection guarded by a lock (the heartbeat thread shares it).
    Opening never writes unless the schema must be created or migrated: the file is checked
    (SQLite, an mlnb registry, a schema this mlnb knows) before anything in it changes.
    With ``read_only`` the file is opened read-only (immutable when even the WAL index
    cannot be created, e.g. a read-only mount) and every write is refused with a clear error.
    """

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.corruption: str | None = None
        self._lock = threading.RLock()
        self._write_checked = False
        self._reserve_ready = False
        self._before_first_write: list[Callable[[], object]] = []
        self.synchronous = synchronous_mode()
        # No Python open() of the file here: closing another descriptor of it would drop the
        # POSIX locks SQLite holds through this process's other connections. SQLite itself
        # refuses a file that is not a database ("file is not a database") before writing.
        self.conn = self._connect()
        try:
            version = self._inspect()
            if read_only:
                self._require_current(version)
            else:
                self._configure()
                if version < SCHEMA_VERSION:
                    self._migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise self._explain(exc) from exc
        except BaseException:
            self.conn.close()
            raise
        self.conn.execute("PRAGMA foreign_keys = ON")

    def _connect(self) -> sqlite3.Connection:
        """The connection: read-write, or read-only falling back to immutable."""
        uris = [f"file:{_uri_path(self.path)}?mode=ro", f"file:{_uri_path(self.path)}?immutable=1"]
        targets = uris if self.read_only else [str(self.path)]
        error: sqlite3.Error | None = None
        for target in targets:
            try:
                conn = sqlite3.connect(
                    target,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                    uri=self.read_only,
                )
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                if self.read_only:
                    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.Error as exc:
                error = exc
        assert error is not None
        raise self._explain(error) from error

    def _explain(self, exc: sqlite3.Error) -> RegistryError:
        """The error for ``exc``; a corrupt file is remembered, so later writes are refused."""
        if is_corruption(exc):
            self.corruption = str(exc)
        return explain_sqlite_error(self.path, exc)

    def _inspect(self) -> int:
        """The file's schema version, after refusing a newer schema or a foreign database."""
        c = self.conn
        version = int(c.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"the registry {self.path} has schema version {version}, newer than this "
                f"mlnb understands ({SCHEMA_VERSION}); it was left untouched. Upgrade mlnb "
                "(pip install -U mlnb) to open it."
            )
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and (version == 0 or not MLNB_TABLES <= tables):
            raise RegistryError(
                f"{self.path} is an SQLite database but not an mlnb registry (its tables: "
                f"{', '.join(sorted(tables)[:5])}); mlnb leaves it untouched. Point MLNB_HOME / "
                "--registry at another folder."
            )
        return version

    def _require_current(self, version: int) -> None:
        if version < SCHEMA_VERSION:
            raise RegistryError(
                f"the registry {self.path} is read-only and at schema version {version}; this "
                f"mlnb needs {SCHEMA_VERSION} and cannot migrate a read-only file. Open it once "
                "with write access (or copy it somewhere writable)."
            )

    def table_counts(self) -> dict[str, int]:
        """Rows per table (used by `mlnb status --tables` and tests)."""
        with self._lock:
            names = [
                row[0]
                for row in self.conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            return {
                name: self.conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
                for name in names
            }

    def _configure(self) -> None:
        c = self.conn
        mode = c.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not enable WAL (journal_mode={mode})")
        c.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")

    def _migrate(self) -> None:
        with self.transaction(check=False) as c:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            current = c.execute("PRAGMA user_version").fetchone()[0]
            if current >= SCHEMA_VERSION:
                return
            for version in range(current, SCHEMA_VERSION):
                for statement in split_sql(MIGRATIONS[version]):
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {version + 1}")
            c.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def close(self) -> None:
        """Close the connection (the registry handle is unusable afterwards)."""
        with self._lock:
            self.conn.close()

    def before_first_write(self, action: Callable[[], object]) -> None:
        """Run ``action`` just before this connection's first write (e.g. crash-marking stale
        runs), so that opening a registry to read it never writes."""
        self._before_first_write.append(action)

    def quick_check(self) -> str:
        """SQLite's ``PRAGMA quick_check``: ``ok``, or the first problems found (then every
        later write through this connection is refused)."""
        try:
            rows = self.query("PRAGMA quick_check(5)")
        except RegistryError:
            return self.corruption or "unreadable"
        lines = [line.strip() for r in rows for line in str(r[0]).splitlines()]
        problems = [line for line in lines if line and not line.startswith("***")]
        result = "; ".join(problems[:3]) or "ok"
        if result != "ok":
            self.corruption = result
        return result

    def require_intact(self) -> None:
        """Run ``quick_check`` now and raise (with what to do) when the file is damaged."""
        if self.quick_check() != "ok":
            raise self._damaged()

    def _damaged(self) -> RegistryError:
        return WritesRefused(
            f"the registry {self.path} is damaged ({self.corruption}); mlnb refuses to "
            f"write to it so that nothing more is lost. {RESTORE_HINT}"
        )

    def _check_writable(self) -> None:
        """Refuse a write to a read-only or damaged file, checking the file once first."""
        if self.read_only:
            raise WritesRefused(
                f"the registry {self.path} was opened read-only (the file or its folder is not "
                "writable), so nothing can be recorded in it. Make both writable, or point "
                "MLNB_HOME / --registry at a writable copy."
            )
        if not self._write_checked:
            self._write_checked = True
            try:
                small = self.path.stat().st_size <= QUICK_CHECK_MAX_BYTES
            except OSError:
                small = False
            if small:
                self.quick_check()
        if self.corruption is not None:
            raise self._damaged()
        while self._before_first_write:
            action = self._before_first_write.pop(0)
            try:
                action()
            except BaseException:
                self._before_first_write.insert(0, action)  # tried again on the next write
                raise

    def essential_write(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """One transaction that must land even on a full disk (a run ending as failed): if the
        disk is full, the space reserve kept beside registry.db is given up and it is tried
        once more."""
        try:
            with self.transaction() as c:
                return write(c)
        except RegistryError as exc:
            if not (_is_disk_full(exc.__cause__) and self._release_reserve()):
                raise
        with self.transaction(keep_reserve=False) as c:
            return write(c)

    @property
    def reserve_path(self) -> Path:
        return self.path.with_name(self.path.name + RESERVE_SUFFIX)

    def _ensure_reserve(self) -> None:
        """Keep RESERVE_BYTES of disk allocated beside registry.db while there is room, so a
        full disk still leaves space to record how a run ended."""
        if self._reserve_ready:
            return
        path = self.reserve_path
        try:
            if not path.is_file() or path.stat().st_size < RESERVE_BYTES:
                with open(path, "wb") as f:
                    f.write(bytes(RESERVE_BYTES))  # real blocks, not a sparse file
                    f.flush()
                    os.fsync(f.fileno())
            self._reserve_ready = True
        except OSError:
            path.unlink(missing_ok=True)

    def _release_reserve(self) -> bool:
        """Give the reserve's space back to the disk; False when there was none."""
        self._reserve_ready = False
        try:
            self.reserve_path.unlink()
        except OSError:
            return False
        return True

    @contextmanager
    def closed_for_fork(self) -> Iterator[None]:
        """No connection open during the block, the same one again after it: a process forked
        inside the block inherits no SQLite state (SQLite must not cross a fork; the child
        opens its own registry and leaves with ``os._exit``, never reaching the reopen)."""
        with self._lock:
            self.conn.close()
            try:
                yield
            finally:
                self.conn = self._connect()
                if not self.read_only:
                    self._configure()
                self.conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def transaction(
        self, check: bool = True, keep_reserve: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """One short write transaction; rolled back whole on any error. After a commit the
        disk reserve is (re)made while there is room (``keep_reserve``)."""
        with self._lock:
            if check:
                self._check_writable()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._explain(exc) from exc
            try:
                yield self.conn
            except sqlite3.Error as exc:
                self._rollback()
                raise self._explain(exc) from exc
            except OverflowError as exc:
                self._rollback()
                raise _too_large(()) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._explain(exc) from exc
            if keep_reserve:
                self._ensure_reserve()

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite may already have rolled it back itself (a full
        disk or I/O error), and that must not hide the error that got us here."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read statement."""
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._explain(exc) from exc
            except OverflowError as exc:
                raise _too_large(params) from exc

    def query_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Like query() but plain tuples: cheaper for bulk reads."""
        with self._lock:
            try:
                cur = self.conn.cursor()
                cur.row_factory = None
                return cur.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._explain(exc) from exc
            except OverflowError as exc:
                raise _too_large(params) from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one read statement, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns lastrowid."""
        with self.transaction() as c:
            return c.execute(sql, params).lastrowid or 0

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``ok`` or what is damaged."""
        return str(self.query("PRAGMA integrity_check")[0][0])

    def schema_version(self) -> int:
        """The schema version the file is at (``PRAGMA user_version``)."""
        return int(self.query("PRAGMA user_version")[0][0])

    def backup_to(self, target: Path) -> None:
        """Copy the database to ``target`` with SQLite's online backup API (a consistent
        snapshot even while other processes write)."""
        with self._lock:
            try:
                dest = sqlite3.connect(str(target))
                try:
                    self.conn.backup(dest)
                    # a single self-contained file (no -wal/-shm beside it) until it is opened
                    dest.execute("PRAGMA journal_mode = DELETE").fetchone()
                finally:
                    dest.close()
            except sqlite3.Error as exc:
                raise self._explain(exc) from exc

    def id_by_name(self, table: str, name: str) -> int | None:
        """Id of a named monitor, pipeline, experiment or registered model."""
        if table not in ("monitors", "pipelines", "experiments", "registered_models"):
            raise ValidationError(f"{table} has no names")
        row = self.query_one(f"SELECT id FROM {table} WHERE name = ?", (name,))
        return None if row is None else int(row[0])


def _is_disk_full(exc: BaseException | None) -> bool:
    """Whether a sqlite3 error says the disk is full (SQLITE_FULL, or a failed write)."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in (SQLITE_FULL, SQLITE_IOERR):
        return True
    return "full" in str(exc)


def _uri_path(path: Path) -> str:
    return urllib.parse.quote(str(path.absolute()))


def _too_large(params: Sequence[Any]) -> ValidationError:
    """A number beyond SQLite's 64-bit integers (an id such as 99999999999999999999)."""
    big = next((p for p in params if isinstance(p, int) and abs(p) >= 1 << 63), None)
    shown = "" if big is None else f" ({big})"
    return ValidationError(
        f"a number is too large{shown}: ids and counts must be below {1 << 63}. "
        "Use the id shown by mlnb."
    )


def prefix_pattern(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def run_id_filters(template: str, run_ids: Sequence[int]) -> list[tuple[str, list[Any]]]:
    """Queries covering ``run_ids``: one id range scan for long lists (rows outside the
    wanted set are dropped by the caller), IN-lists for short ones."""
    ids = list(run_ids)
    if len(ids) > 900:
        return [(template.format(where="run_id BETWEEN ? AND ?"), [min(ids), max(ids)])]
    marks = ", ".join("?" for _ in ids)
    return [(template.format(where=f"run_id IN ({marks})"), ids)]


class FeatureStore:
    """Base of the feature stores (``reg.runs``, ``reg.models``, ...): the connection they run
    their SQL on, and the registry handle, through which one store reaches another."""

    def __init__(self, registry: Registry) -> None:
        self._reg = registry
        self.db: Database = registry.db
