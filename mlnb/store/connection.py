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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlnb.errors import RegistryError, ValidationError
from mlnb.store.schema import MIGRATIONS, SCHEMA_VERSION, split_sql

if TYPE_CHECKING:
    from mlnb.store.registry import Registry

BUSY_TIMEOUT_MS = 60_000


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


def explain_sqlite_error(path: Path, exc: sqlite3.Error) -> RegistryError:
    """Turn a raw sqlite3 error into one that names the file and says what to do."""
    msg = str(exc)
    if "readonly" in msg or "read-only" in msg:
        return RegistryError(
            f"the registry {path} is read-only ({msg}). Make the file and its folder "
            "writable, or point MLNB_HOME / `%mlnb registry PATH` at a writable folder."
        )
    if "not a database" in msg or "malformed" in msg or "disk image" in msg:
        return RegistryError(
            f"the registry {path} is corrupt or not an mlnb registry ({msg}). Move it "
            "away or restore it from a backup; mlnb will not overwrite it."
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
            f"the disk holding {path} is full ({msg}); nothing was written. Free some "
            "space and retry."
        )
    return RegistryError(f"registry {path}: {msg}")


class Database:
    """A connection to one ``registry.db`` with the schema brought up to date.

    Thread-safe: one connection guarded by a lock (the heartbeat thread shares it).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise explain_sqlite_error(self.path, exc) from exc
        self.conn = conn
        self.conn.row_factory = sqlite3.Row
        try:
            self._configure()
            self._migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise explain_sqlite_error(self.path, exc) from exc

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
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not enable WAL (journal_mode={mode})")
        c.execute("PRAGMA synchronous = NORMAL")
        c.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise RegistryError(
                f"the registry {self.path} has schema version {current}, newer than this "
                f"mlnb understands ({SCHEMA_VERSION}). Upgrade mlnb."
            )
        if current == SCHEMA_VERSION:
            return
        with self.transaction() as c:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            current = c.execute("PRAGMA user_version").fetchone()[0]
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

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; rolled back whole on any error."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise explain_sqlite_error(self.path, exc) from exc
            try:
                yield self.conn
            except sqlite3.Error as exc:
                self._rollback()
                raise explain_sqlite_error(self.path, exc) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise explain_sqlite_error(self.path, exc) from exc

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
                raise explain_sqlite_error(self.path, exc) from exc

    def query_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Like query() but plain tuples: cheaper for bulk reads."""
        with self._lock:
            try:
                cur = self.conn.cursor()
                cur.row_factory = None
                return cur.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise explain_sqlite_error(self.path, exc) from exc

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

    def id_by_name(self, table: str, name: str) -> int | None:
        """Id of a named monitor, pipeline, experiment or registered model."""
        if table not in ("monitors", "pipelines", "experiments", "registered_models"):
            raise ValidationError(f"{table} has no names")
        row = self.query_one(f"SELECT id FROM {table} WHERE name = ?", (name,))
        return None if row is None else int(row[0])


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
