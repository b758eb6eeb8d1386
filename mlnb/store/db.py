"""The only module that speaks SQL: schema, migrations and every statement mlnb runs.

Everything else calls the functions here through :class:`Database`. The database is a
single SQLite file in WAL mode with foreign keys on and a busy timeout, and every write is
one short ``BEGIN IMMEDIATE`` transaction so that a notebook, the CLI and scheduled
pipelines can write at the same time without losing rows.
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
from typing import Any

from mlnb.errors import NotFoundError, RegistryError, ValidationError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000

# Each entry upgrades the schema from version i to i + 1. Never edit a released entry:
# append a new one, so that any older registry.db can be brought forward.
MIGRATIONS: list[str] = [
    # 0 -> 1: the whole first schema.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('running','finished','failed','crashed')),
        source TEXT NOT NULL DEFAULT 'script',
        started_at REAL NOT NULL,
        ended_at REAL,
        heartbeat_at REAL NOT NULL,
        pid INTEGER,
        host TEXT,
        user TEXT,
        notebook_path TEXT,
        cell_source TEXT,
        execution_count INTEGER,
        git_commit TEXT,
        git_dirty INTEGER,
        python_version TEXT,
        packages TEXT,
        error TEXT,
        pipeline_run_id INTEGER
    );
    CREATE INDEX runs_experiment ON runs(experiment_id, started_at);
    CREATE INDEX runs_status ON runs(status);

    CREATE TABLE params (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );

    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value REAL,
        step INTEGER NOT NULL DEFAULT 0,
        timestamp REAL NOT NULL
    );
    CREATE INDEX metrics_run_key ON metrics(run_id, key, step);

    CREATE TABLE tags (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );

    CREATE TABLE data_versions (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        schema TEXT NOT NULL DEFAULT '{}',
        n_rows INTEGER,
        n_cols INTEGER,
        nbytes INTEGER,
        source_path TEXT,
        snapshot TEXT,
        created_at REAL NOT NULL
    );

    CREATE TABLE run_data (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        data_version_id TEXT NOT NULL REFERENCES data_versions(id),
        role TEXT NOT NULL CHECK (role IN ('input','output')),
        name TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, data_version_id, role, name)
    );
    CREATE INDEX run_data_version ON run_data(data_version_id);

    CREATE TABLE model_artifacts (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        name TEXT NOT NULL,
        object_hash TEXT NOT NULL,
        format TEXT NOT NULL,
        flavor TEXT NOT NULL,
        class_name TEXT NOT NULL,
        signature TEXT NOT NULL DEFAULT '{}',
        trusted_types TEXT NOT NULL DEFAULT '[]',
        size INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX model_artifacts_run ON model_artifacts(run_id);

    CREATE TABLE registered_models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );

    CREATE TABLE model_versions (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES registered_models(id),
        version INTEGER NOT NULL,
        artifact_id INTEGER NOT NULL REFERENCES model_artifacts(id),
        run_id INTEGER REFERENCES runs(id),
        stage TEXT NOT NULL DEFAULT 'none'
            CHECK (stage IN ('none','staging','production','archived')),
        description TEXT NOT NULL DEFAULT '',
        created_by TEXT,
        created_at REAL NOT NULL,
        UNIQUE (model_id, version)
    );
    CREATE UNIQUE INDEX one_production_version ON model_versions(model_id)
        WHERE stage = 'production';

    CREATE TABLE model_aliases (
        model_id INTEGER NOT NULL REFERENCES registered_models(id),
        alias TEXT NOT NULL,
        version_id INTEGER NOT NULL REFERENCES model_versions(id),
        updated_at REAL NOT NULL,
        PRIMARY KEY (model_id, alias)
    );

    CREATE TABLE gate_results (
        id INTEGER PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES model_versions(id),
        gate TEXT NOT NULL,
        passed INTEGER NOT NULL,
        checks TEXT NOT NULL,
        baseline_version_id INTEGER REFERENCES model_versions(id),
        holdout_data_version TEXT,
        created_at REAL NOT NULL
    );

    CREATE TABLE stage_transitions (
        id INTEGER PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES model_versions(id),
        from_stage TEXT NOT NULL,
        to_stage TEXT NOT NULL,
        user TEXT,
        reason TEXT NOT NULL DEFAULT '',
        gate_result_id INTEGER REFERENCES gate_results(id),
        created_at REAL NOT NULL
    );
    CREATE INDEX stage_transitions_version ON stage_transitions(version_id);

    CREATE TABLE monitors (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        model_name TEXT,
        target TEXT,
        profile TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE monitor_batches (
        id INTEGER PRIMARY KEY,
        monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
        batch_at REAL NOT NULL,
        n_rows INTEGER NOT NULL,
        n_drifted INTEGER NOT NULL,
        n_columns INTEGER NOT NULL,
        dataset_drift INTEGER NOT NULL,
        report TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}',
        predictions TEXT,
        data_version_id TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX monitor_batches_monitor ON monitor_batches(monitor_id, batch_at);

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        monitor_id INTEGER REFERENCES monitors(id) ON DELETE SET NULL,
        pipeline_id INTEGER,
        batch_id INTEGER,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL DEFAULT 'warning',
        message TEXT NOT NULL,
        evidence TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','acknowledged','resolved')),
        handled_by TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX alerts_status ON alerts(status, created_at);

    CREATE TABLE pipelines (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        notebook_path TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','paused')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE pipeline_runs (
        id INTEGER PRIMARY KEY,
        pipeline_id INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        due_key TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('queued','running','finished','failed','crashed','skipped')),
        attempt INTEGER NOT NULL DEFAULT 1,
        started_at REAL,
        ended_at REAL,
        heartbeat_at REAL,
        pid INTEGER,
        host TEXT,
        output_path TEXT,
        log TEXT NOT NULL DEFAULT '',
        error TEXT,
        failing_cell INTEGER,
        details TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        UNIQUE (pipeline_id, due_key)
    );
    CREATE INDEX pipeline_runs_pipeline ON pipeline_runs(pipeline_id, created_at);

    CREATE TABLE file_hashes (
        path TEXT PRIMARY KEY,
        inode INTEGER NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        digest TEXT NOT NULL
    );
    """,
]


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


def _explain_sqlite_error(path: Path, exc: sqlite3.Error) -> RegistryError:
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
            raise _explain_sqlite_error(self.path, exc) from exc
        self.conn = conn
        self.conn.row_factory = sqlite3.Row
        try:
            self._configure()
            self._migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise _explain_sqlite_error(self.path, exc) from exc

    @property
    def utils(self) -> Any:
        """A sqlite-utils view of the same connection, for introspection and export.

        Imported on first use: sqlite-utils pulls in pandas, which ``%load_ext`` must not pay for.
        """
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def table_counts(self) -> dict[str, int]:
        """Rows per table, via sqlite-utils (used by `mlnb status --tables` and tests)."""
        with self._lock:
            db = self.utils
            return {name: db[name].count for name in db.table_names()}

    # -- connection -----------------------------------------------------------------

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
                for statement in _split_sql(MIGRATIONS[version]):
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {version + 1}")
            c.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; rolled back whole on any error."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _explain_sqlite_error(self.path, exc) from exc
            try:
                yield self.conn
            except sqlite3.Error as exc:
                self._rollback()
                raise _explain_sqlite_error(self.path, exc) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _explain_sqlite_error(self.path, exc) from exc

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite may already have rolled it back itself (a full
        disk or I/O error), and that must not hide the error that got us here."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _explain_sqlite_error(self.path, exc) from exc

    def query_tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Like query() but plain tuples: cheaper for bulk reads."""
        with self._lock:
            try:
                cur = self.conn.cursor()
                cur.row_factory = None
                return cur.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _explain_sqlite_error(self.path, exc) from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns lastrowid."""
        with self.transaction() as c:
            return c.execute(sql, params).lastrowid or 0

    def integrity_check(self) -> str:
        return str(self.query("PRAGMA integrity_check")[0][0])

    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def counts(self) -> dict[str, int]:
        """Row counts for the status views (one cheap query)."""
        row = self.query_one(
            """SELECT
                (SELECT COUNT(*) FROM experiments),
                (SELECT COUNT(*) FROM runs),
                (SELECT COUNT(*) FROM runs WHERE status = 'running'),
                (SELECT COUNT(*) FROM runs WHERE status = 'failed'),
                (SELECT COUNT(*) FROM runs WHERE status = 'crashed'),
                (SELECT COUNT(*) FROM data_versions),
                (SELECT COUNT(*) FROM model_artifacts),
                (SELECT COUNT(*) FROM registered_models),
                (SELECT COUNT(*) FROM model_versions WHERE stage = 'production'),
                (SELECT COUNT(*) FROM monitors),
                (SELECT COUNT(*) FROM alerts WHERE status = 'open'),
                (SELECT COUNT(*) FROM pipelines)"""
        )
        keys = (
            "experiments runs running failed crashed data_versions model_artifacts "
            "registered_models production_versions monitors open_alerts pipelines"
        ).split()
        return {k: int(v) for k, v in zip(keys, tuple(row), strict=True)} if row else {}

    # -- experiments ----------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> int:
        row = self.query_one("SELECT id FROM experiments WHERE name = ?", (name,))
        if row:
            return int(row[0])
        with self.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO experiments(name, created_at) VALUES (?, ?)",
                (name, now()),
            )
            return int(
                c.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()[0]
            )

    def list_experiments(self) -> list[dict[str, Any]]:
        rows = self.query(
            """SELECT e.id, e.name, e.created_at, COUNT(r.id) AS n_runs,
                      MAX(r.started_at) AS last_run_at
               FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id
               GROUP BY e.id ORDER BY e.name"""
        )
        return [dict(r) for r in rows]

    # -- runs -----------------------------------------------------------------------

    def create_run(self, experiment: str, fields: dict[str, Any]) -> int:
        experiment_id = self.get_or_create_experiment(experiment)
        t = now()
        cols = {
            "experiment_id": experiment_id,
            "status": "running",
            "started_at": t,
            "heartbeat_at": t,
            **fields,
        }
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        with self.transaction() as c:
            cur = c.execute(f"INSERT INTO runs({names}) VALUES ({marks})", tuple(cols.values()))
            return int(cur.lastrowid or 0)

    def heartbeat_runs(self, run_ids: Sequence[int]) -> None:
        if not run_ids:
            return
        marks = ", ".join("?" for _ in run_ids)
        with self.transaction() as c:
            c.execute(
                f"UPDATE runs SET heartbeat_at = ? WHERE status = 'running' AND id IN ({marks})",
                (now(), *run_ids),
            )

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ? "
                "WHERE id = ?",
                (status, now(), now(), error, run_id),
            )

    def update_run(self, run_id: int, fields: dict[str, Any]) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as c:
            c.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*fields.values(), run_id))

    def mark_stale_runs_crashed(
        self, stale_before: float, host: str, dead_pids: Sequence[int]
    ) -> int:
        """Mark runs crashed whose heartbeat stopped, or whose process on this host is gone."""
        clause = "heartbeat_at < ?"
        params: list[Any] = [stale_before]
        if dead_pids:
            clause += f" OR (host = ? AND pid IN ({', '.join('?' for _ in dead_pids)}))"
            params += [host, *dead_pids]
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE runs SET status = 'crashed', ended_at = heartbeat_at, "
                "error = 'the process stopped sending heartbeats (kernel died or was killed)' "
                f"WHERE status = 'running' AND ({clause})",
                params,
            )
            return cur.rowcount

    def running_runs_on_host(self, host: str) -> list[tuple[int, int]]:
        rows = self.query(
            "SELECT id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
            (host,),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    def get_run(self, run_id: int) -> dict[str, Any]:
        row = self.query_one(
            "SELECT r.*, e.name AS experiment FROM runs r "
            "JOIN experiments e ON e.id = r.experiment_id WHERE r.id = ?",
            (run_id,),
        )
        if row is None:
            raise NotFoundError(f"no run with id {run_id}; list runs with `mlnb runs`.")
        return dict(row)

    def list_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        pipeline_run_id: int | None = None,
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if experiment is not None:
            where.append("e.name = ?")
            params.append(experiment)
        if status is not None:
            where.append("r.status = ?")
            params.append(status)
        if pipeline_run_id is not None:
            where.append("r.pipeline_run_id = ?")
            params.append(pipeline_run_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.query(
            "SELECT r.id, r.uuid, r.name, r.status, r.source, r.started_at, r.ended_at, "
            "r.notebook_path, r.user, r.pipeline_run_id, e.name AS experiment "
            f"FROM runs r JOIN experiments e ON e.id = r.experiment_id {clause} "
            f"ORDER BY r.id DESC {lim}",
            params,
        )
        if not rows:
            return []
        names = rows[0].keys()
        return [dict(zip(names, tuple(r), strict=True)) for r in rows]

    def count_runs(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM runs")[0][0])

    def latest_metrics_for_runs(self, run_ids: Sequence[int]) -> dict[int, dict[str, float]]:
        """Last logged value of every metric, per run (for run tables)."""
        if not run_ids:
            return {}
        out: dict[int, dict[str, float]] = {i: {} for i in run_ids}
        for sql, params in _run_id_filters(
            "SELECT run_id, key, value FROM metrics WHERE {where} ORDER BY run_id, key, step, id",
            run_ids,
        ):
            for run_id, key, value in self.query_tuples(sql, params):
                target = out.get(run_id)
                if target is not None:
                    target[key] = value
        return out

    def params_for_runs(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not run_ids:
            return {}
        out: dict[int, dict[str, Any]] = {i: {} for i in run_ids}
        for sql, params in _run_id_filters(
            "SELECT run_id, key, value FROM params WHERE {where}", run_ids
        ):
            rows = self.query_tuples(sql, params)
            values = json.loads("[" + ",".join(r[2] for r in rows) + "]") if rows else []
            for (run_id, key, _), value in zip(rows, values, strict=True):
                target = out.get(run_id)
                if target is not None:
                    target[key] = value
        return out

    def delete_run(self, run_id: int) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # -- params, metrics, tags --------------------------------------------------------

    def log_params(self, run_id: int, params: dict[str, Any]) -> None:
        if not params:
            return
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO params(run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, str(k), dumps(v)) for k, v in params.items()],
            )

    def log_metrics(self, run_id: int, metrics: Sequence[tuple[str, float, int, float]]) -> None:
        """Append metric points ``(key, value, step, timestamp)``; history is kept."""
        if not metrics:
            return
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO metrics(run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
                [(run_id, k, v, s, t) for k, v, s, t in metrics],
            )

    def next_metric_step(self, run_id: int, key: str) -> int:
        row = self.query_one(
            "SELECT MAX(step) FROM metrics WHERE run_id = ? AND key = ?", (run_id, key)
        )
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def set_tags(self, run_id: int, tags: dict[str, str]) -> None:
        if not tags:
            return
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, str(k), str(v)) for k, v in tags.items()],
            )

    def run_params(self, run_id: int) -> dict[str, Any]:
        return {
            r[0]: loads(r[1])
            for r in self.query(
                "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", (run_id,)
            )
        }

    def run_metric_history(self, run_id: int) -> dict[str, list[dict[str, float]]]:
        out: dict[str, list[dict[str, float]]] = {}
        for r in self.query(
            "SELECT key, value, step, timestamp FROM metrics WHERE run_id = ? ORDER BY key, step, id",
            (run_id,),
        ):
            out.setdefault(r[0], []).append({"value": r[1], "step": r[2], "timestamp": r[3]})
        return out

    def run_tags(self, run_id: int) -> dict[str, str]:
        return {
            r[0]: r[1]
            for r in self.query(
                "SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", (run_id,)
            )
        }

    # -- data versions ----------------------------------------------------------------

    def record_data_version(self, version: dict[str, Any]) -> None:
        """Insert a data version once; a later sighting only fills in a missing snapshot."""
        with self.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO data_versions(id, kind, name, schema, n_rows, n_cols, "
                "nbytes, source_path, snapshot, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    version["id"],
                    version["kind"],
                    version.get("name", ""),
                    dumps(version.get("schema", {})),
                    version.get("n_rows"),
                    version.get("n_cols"),
                    version.get("nbytes"),
                    version.get("source_path"),
                    version.get("snapshot"),
                    now(),
                ),
            )
            if version.get("snapshot"):
                c.execute(
                    "UPDATE data_versions SET snapshot = ? WHERE id = ? AND snapshot IS NULL",
                    (version["snapshot"], version["id"]),
                )

    def link_run_data(self, run_id: int, links: Sequence[tuple[str, str, str]]) -> None:
        """Link ``(data_version_id, role, name)`` triples to a run."""
        if not links:
            return
        with self.transaction() as c:
            c.executemany(
                "INSERT OR IGNORE INTO run_data(run_id, data_version_id, role, name) "
                "VALUES (?, ?, ?, ?)",
                [(run_id, d, role, name) for d, role, name in links],
            )

    def get_data_version(self, version_id: str) -> dict[str, Any]:
        rows = self.query(
            "SELECT * FROM data_versions WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 2",
            (version_id, _prefix_pattern(version_id)),
        )
        exact = [r for r in rows if r["id"] == version_id]
        if exact:
            rows = exact
        if not rows:
            raise NotFoundError(f"no data version {version_id!r}; list them with `mlnb data`.")
        if len(rows) > 1:
            raise ValidationError(
                f"data version prefix {version_id!r} is ambiguous; give more characters."
            )
        out = dict(rows[0])
        out["schema"] = loads(out["schema"], {})
        return out

    def list_data_versions(self, limit: int | None = None) -> list[dict[str, Any]]:
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.query(
            "SELECT d.*, COUNT(DISTINCT rd.run_id) AS n_runs, "
            "GROUP_CONCAT(DISTINCT rd.name) AS names FROM data_versions d "
            "LEFT JOIN run_data rd ON rd.data_version_id = d.id "
            f"GROUP BY d.id ORDER BY d.created_at DESC {lim}"
        )
        out = []
        for r in rows:
            d = dict(r)
            d["schema"] = loads(d["schema"], {})
            out.append(d)
        return out

    def run_data(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT rd.role, rd.name, d.id, d.kind, d.n_rows, d.n_cols, d.source_path, d.snapshot "
            "FROM run_data rd JOIN data_versions d ON d.id = rd.data_version_id "
            "WHERE rd.run_id = ? ORDER BY rd.role, rd.name",
            (run_id,),
        )
        return [dict(r) for r in rows]

    def runs_using_data(self, version_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT rd.run_id, rd.role, rd.name FROM run_data rd WHERE rd.data_version_id = ? "
            "ORDER BY rd.run_id",
            (version_id,),
        )
        return [dict(r) for r in rows]

    # -- file hash cache ----------------------------------------------------------------

    def cached_file_hash(self, path: str, inode: int, size: int, mtime_ns: int) -> str | None:
        row = self.query_one(
            "SELECT digest FROM file_hashes WHERE path = ? AND inode = ? AND size = ? "
            "AND mtime_ns = ?",
            (path, inode, size, mtime_ns),
        )
        return None if row is None else str(row[0])

    def store_file_hash(self, path: str, inode: int, size: int, mtime_ns: int, digest: str) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO file_hashes(path, inode, size, mtime_ns, digest) "
                "VALUES (?, ?, ?, ?, ?)",
                (path, inode, size, mtime_ns, digest),
            )

    # -- model artifacts ------------------------------------------------------------------

    def record_model_artifact(self, artifact: dict[str, Any]) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO model_artifacts(run_id, name, object_hash, format, flavor, "
                "class_name, signature, trusted_types, size, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    artifact.get("run_id"),
                    artifact["name"],
                    artifact["object_hash"],
                    artifact["format"],
                    artifact["flavor"],
                    artifact["class_name"],
                    dumps(artifact.get("signature", {})),
                    dumps(artifact.get("trusted_types", [])),
                    artifact["size"],
                    now(),
                ),
            )
            return int(cur.lastrowid or 0)

    def get_model_artifact(self, artifact_id: int) -> dict[str, Any]:
        row = self.query_one("SELECT * FROM model_artifacts WHERE id = ?", (artifact_id,))
        if row is None:
            raise NotFoundError(f"no model artifact with id {artifact_id}.")
        return _artifact_dict(row)

    def run_models(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM model_artifacts WHERE run_id = ? ORDER BY id", (run_id,))
        return [_artifact_dict(r) for r in rows]

    def artifacts_by_name(self, name: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM model_artifacts WHERE name = ? ORDER BY id DESC", (name,))
        return [_artifact_dict(r) for r in rows]

    # == model registry (issue: lifecycle and gates) =====================================

    def register_model_version(
        self,
        name: str,
        artifact_id: int,
        run_id: int | None,
        description: str = "",
        created_by: str | None = None,
        model_description: str = "",
    ) -> dict[str, Any]:
        """Create the model if needed and add the next version number, atomically."""
        with self.transaction() as c:
            row = c.execute("SELECT id FROM registered_models WHERE name = ?", (name,)).fetchone()
            if row is None:
                model_id = c.execute(
                    "INSERT INTO registered_models(name, description, created_at) VALUES (?, ?, ?)",
                    (name, model_description, now()),
                ).lastrowid
            else:
                model_id = row[0]
                if model_description:
                    c.execute(
                        "UPDATE registered_models SET description = ? WHERE id = ?",
                        (model_description, model_id),
                    )
            version = c.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_id = ?",
                (model_id,),
            ).fetchone()[0]
            version_id = c.execute(
                "INSERT INTO model_versions(model_id, version, artifact_id, run_id, stage, "
                "description, created_by, created_at) VALUES (?, ?, ?, ?, 'none', ?, ?, ?)",
                (model_id, version, artifact_id, run_id, description, created_by, now()),
            ).lastrowid
        return {
            "model_id": int(model_id or 0),
            "version_id": int(version_id or 0),
            "version": version,
        }

    def registered_model(self, name: str) -> dict[str, Any] | None:
        row = self.query_one("SELECT * FROM registered_models WHERE name = ?", (name,))
        return None if row is None else dict(row)

    def list_registered_models(self) -> list[dict[str, Any]]:
        """Every registered model with its version count, latest and production versions."""
        rows = self.query(
            """SELECT m.id, m.name, m.description, m.created_at,
                      COUNT(v.id) AS n_versions,
                      MAX(v.version) AS latest_version,
                      MAX(CASE WHEN v.stage = 'production' THEN v.version END) AS production_version,
                      GROUP_CONCAT(CASE WHEN v.stage = 'staging' THEN v.version END) AS staging_versions,
                      MAX(v.created_at) AS last_version_at,
                      (SELECT MAX(t.created_at) FROM stage_transitions t
                         JOIN model_versions tv ON tv.id = t.version_id
                        WHERE tv.model_id = m.id) AS last_transition_at
               FROM registered_models m LEFT JOIN model_versions v ON v.model_id = m.id
               GROUP BY m.id ORDER BY m.name"""
        )
        return [dict(r) for r in rows]

    _VERSION_COLUMNS = (
        "SELECT v.id, v.model_id, m.name AS model, v.version, v.artifact_id, v.run_id, v.stage, "
        "v.description, v.created_by, v.created_at, a.object_hash, a.format, a.flavor, "
        "a.class_name, a.signature, a.size, a.name AS artifact_name "
        "FROM model_versions v JOIN registered_models m ON m.id = v.model_id "
        "JOIN model_artifacts a ON a.id = v.artifact_id "
    )

    def model_version_rows(self, model_id: int) -> list[dict[str, Any]]:
        rows = self.query(
            self._VERSION_COLUMNS + "WHERE v.model_id = ? ORDER BY v.version", (model_id,)
        )
        return [self._version_dict(r) for r in rows]

    def model_version_row(self, model_id: int, version: int) -> dict[str, Any] | None:
        row = self.query_one(
            self._VERSION_COLUMNS + "WHERE v.model_id = ? AND v.version = ?", (model_id, version)
        )
        return None if row is None else self._version_dict(row)

    def model_version_by_id(self, version_id: int) -> dict[str, Any] | None:
        row = self.query_one(self._VERSION_COLUMNS + "WHERE v.id = ?", (version_id,))
        return None if row is None else self._version_dict(row)

    def model_versions_in_stage(self, model_id: int, stage: str) -> list[dict[str, Any]]:
        """Versions currently in ``stage``, newest first."""
        rows = self.query(
            self._VERSION_COLUMNS + "WHERE v.model_id = ? AND v.stage = ? ORDER BY v.version DESC",
            (model_id, stage),
        )
        return [self._version_dict(r) for r in rows]

    def model_aliases(self, model_id: int) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT a.alias, a.version_id, v.version, a.updated_at FROM model_aliases a "
            "JOIN model_versions v ON v.id = a.version_id WHERE a.model_id = ? ORDER BY a.alias",
            (model_id,),
        )
        return [dict(r) for r in rows]

    def alias_version_id(self, model_id: int, alias: str) -> int | None:
        row = self.query_one(
            "SELECT version_id FROM model_aliases WHERE model_id = ? AND alias = ?",
            (model_id, alias),
        )
        return None if row is None else int(row[0])

    def set_model_alias(self, model_id: int, alias: str, version_id: int) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO model_aliases(model_id, alias, version_id, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(model_id, alias) DO UPDATE SET "
                "version_id = excluded.version_id, updated_at = excluded.updated_at",
                (model_id, alias, version_id, now()),
            )

    def delete_model_alias(self, model_id: int, alias: str) -> bool:
        with self.transaction() as c:
            cur = c.execute(
                "DELETE FROM model_aliases WHERE model_id = ? AND alias = ?", (model_id, alias)
            )
            return cur.rowcount > 0

    def transition_model_version(
        self,
        version_id: int,
        to_stage: str,
        user: str | None,
        reason: str,
        gate_result_id: int | None = None,
        expected_production_id: int | None | object = ...,
    ) -> list[dict[str, Any]]:
        """Move one version to ``to_stage`` in a single write transaction; returns the
        transitions made (a production promotion also archives the version it replaces).

        The state is re-read under the write lock, so two concurrent promotions cannot both
        act on a stale view: ``expected_production_id`` (when given) must still be the
        production version, otherwise nothing changes and RegistryError explains why.
        """
        with self.transaction() as c:
            row = c.execute(
                "SELECT v.id, v.model_id, v.version, v.stage, m.name FROM model_versions v "
                "JOIN registered_models m ON m.id = v.model_id WHERE v.id = ?",
                (version_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no model version with id {version_id}.")
            model_id, number, stage, name = row[1], row[2], row[3], row[4]
            if stage == to_stage:
                raise ValidationError(f"{name} version {number} is already in {to_stage}.")
            if stage == "archived":
                raise ValidationError(
                    f"{name} version {number} is archived and cannot be promoted. To bring back "
                    f"the previous production version run `mlnb rollback {name}`; to reuse this "
                    f"artifact, register it again as a new version."
                )
            current = c.execute(
                "SELECT id, version FROM model_versions WHERE model_id = ? AND stage = 'production'",
                (model_id,),
            ).fetchone()
            current_id = None if current is None else int(current[0])
            if expected_production_id is not ... and current_id != expected_production_id:
                raise RegistryError(
                    f"the production version of {name} changed while this promotion ran (now "
                    f"{'version ' + str(current[1]) if current else 'none'}): another promotion "
                    "or rollback finished first. Nothing was changed; run the promotion again "
                    "so its gate compares against the current production version."
                )
            t = now()
            made = []
            if to_stage == "production" and current_id is not None:
                made.append(
                    self._apply_transition(
                        c,
                        current_id,
                        "production",
                        "archived",
                        user,
                        f"replaced by version {number}",
                        None,
                        t,
                    )
                )
            made.append(
                self._apply_transition(
                    c, version_id, stage, to_stage, user, reason, gate_result_id, t
                )
            )
            return made

    def rollback_production(
        self,
        model_id: int,
        target_version_id: int,
        expected_current_id: int | None,
        user: str | None,
        reason: str,
    ) -> list[dict[str, Any]]:
        """Archive the current production version and restore ``target`` in one transaction."""
        with self.transaction() as c:
            current = c.execute(
                "SELECT id FROM model_versions WHERE model_id = ? AND stage = 'production'",
                (model_id,),
            ).fetchone()
            current_id = None if current is None else int(current[0])
            if current_id != expected_current_id:
                raise RegistryError(
                    "the production version changed while the rollback was being prepared "
                    "(another promotion or rollback finished first). Nothing was changed; "
                    "check `mlnb model NAME` and run the rollback again if still needed."
                )
            target = c.execute(
                "SELECT stage FROM model_versions WHERE id = ? AND model_id = ?",
                (target_version_id, model_id),
            ).fetchone()
            if target is None:
                raise NotFoundError(f"no model version with id {target_version_id}.")
            t = now()
            made = []
            if current_id is not None:
                made.append(
                    self._apply_transition(
                        c, current_id, "production", "archived", user, reason, None, t
                    )
                )
            made.append(
                self._apply_transition(
                    c, target_version_id, target[0], "production", user, reason, None, t
                )
            )
            return made

    def model_stage_transitions(self, model_id: int) -> list[dict[str, Any]]:
        """Every stage change of a model's versions, oldest first, with gate verdicts."""
        rows = self.query(
            "SELECT t.id, t.version_id, v.version, t.from_stage, t.to_stage, t.user, t.reason, "
            "t.gate_result_id, g.gate, g.passed AS gate_passed, t.created_at "
            "FROM stage_transitions t JOIN model_versions v ON v.id = t.version_id "
            "LEFT JOIN gate_results g ON g.id = t.gate_result_id "
            "WHERE v.model_id = ? ORDER BY t.id",
            (model_id,),
        )
        return [dict(r) for r in rows]

    def record_gate_result(
        self,
        version_id: int,
        gate: str,
        passed: bool,
        checks: list[dict[str, Any]],
        baseline_version_id: int | None,
        holdout_data_version: str | None,
    ) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO gate_results(version_id, gate, passed, checks, baseline_version_id, "
                "holdout_data_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    version_id,
                    gate,
                    int(bool(passed)),
                    dumps(checks),
                    baseline_version_id,
                    holdout_data_version,
                    now(),
                ),
            )
            return int(cur.lastrowid or 0)

    _GATE_COLUMNS = (
        "SELECT g.id, g.version_id, v.version, g.gate, g.passed, g.checks, "
        "g.baseline_version_id, b.version AS baseline_version, g.holdout_data_version, "
        "g.created_at FROM gate_results g JOIN model_versions v ON v.id = g.version_id "
        "LEFT JOIN model_versions b ON b.id = g.baseline_version_id "
    )

    def gate_result(self, gate_result_id: int) -> dict[str, Any]:
        row = self.query_one(self._GATE_COLUMNS + "WHERE g.id = ?", (gate_result_id,))
        if row is None:
            raise NotFoundError(f"no gate result with id {gate_result_id}.")
        return self._gate_dict(row)

    def model_gate_results(self, model_id: int, limit: int | None = None) -> list[dict[str, Any]]:
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.query(
            self._GATE_COLUMNS + f"WHERE v.model_id = ? ORDER BY g.id DESC {lim}", (model_id,)
        )
        return [self._gate_dict(r) for r in rows]

    def gate_results_involving(
        self, version_id: int, holdout_data_version: str
    ) -> list[dict[str, Any]]:
        """Recent gate results on one holdout where a version was the candidate or the
        baseline, newest first (their recorded metrics can be reused)."""
        rows = self.query(
            self._GATE_COLUMNS + "WHERE (g.version_id = ? OR g.baseline_version_id = ?) "
            "AND g.holdout_data_version = ? ORDER BY g.id DESC LIMIT 20",
            (version_id, version_id, holdout_data_version),
        )
        return [self._gate_dict(r) for r in rows]

    def pipeline_run_brief(self, pipeline_run_id: int) -> dict[str, Any] | None:
        """The pipeline run that produced a model's run (for lineage)."""
        row = self.query_one(
            "SELECT pr.id, pr.pipeline_id, p.name AS pipeline, p.notebook_path, pr.trigger, "
            "pr.reason, pr.status, pr.started_at, pr.ended_at, pr.output_path "
            "FROM pipeline_runs pr JOIN pipelines p ON p.id = pr.pipeline_id WHERE pr.id = ?",
            (pipeline_run_id,),
        )
        return None if row is None else dict(row)

    @staticmethod
    def _apply_transition(
        c: sqlite3.Connection,
        version_id: int,
        from_stage: str,
        to_stage: str,
        user: str | None,
        reason: str,
        gate_result_id: int | None,
        at: float,
    ) -> dict[str, Any]:
        """Set a version's stage and record the transition (inside the caller's transaction)."""
        try:
            c.execute("UPDATE model_versions SET stage = ? WHERE id = ?", (to_stage, version_id))
        except (
            sqlite3.IntegrityError
        ) as exc:  # the one-production index is the last line of defence
            raise RegistryError(
                f"refused: model version {version_id} cannot enter {to_stage} ({exc}); a model has "
                "at most one production version."
            ) from exc
        cur = c.execute(
            "INSERT INTO stage_transitions(version_id, from_stage, to_stage, user, reason, "
            "gate_result_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (version_id, from_stage, to_stage, user, reason, gate_result_id, at),
        )
        return {
            "id": int(cur.lastrowid or 0),
            "version_id": version_id,
            "from_stage": from_stage,
            "to_stage": to_stage,
            "user": user,
            "reason": reason,
            "gate_result_id": gate_result_id,
            "created_at": at,
        }

    @staticmethod
    def _version_dict(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        d["signature"] = loads(d.get("signature"), {})
        return d

    @staticmethod
    def _gate_dict(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        d["checks"] = loads(d["checks"], [])
        d["passed"] = bool(d["passed"])
        return d

    # == alerts (shared by monitoring and pipelines) ======================================

    def id_by_name(self, table: str, name: str) -> int | None:
        """Id of a named monitor, pipeline, experiment or registered model."""
        if table not in ("monitors", "pipelines", "experiments", "registered_models"):
            raise ValidationError(f"{table} has no names")
        row = self.query_one(f"SELECT id FROM {table} WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    def record_alert(self, alert: dict[str, Any]) -> int:
        t = now()
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO alerts(source, monitor_id, pipeline_id, batch_id, kind, severity, "
                "message, evidence, status, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,'open',?,?)",
                (
                    alert["source"],
                    alert.get("monitor_id"),
                    alert.get("pipeline_id"),
                    alert.get("batch_id"),
                    alert["kind"],
                    alert.get("severity", "warning"),
                    alert["message"],
                    dumps(alert.get("evidence", {})),
                    t,
                    t,
                ),
            )
            return int(cur.lastrowid or 0)

    def get_alert(self, alert_id: int) -> dict[str, Any]:
        row = self.query_one(
            "SELECT a.*, m.name AS monitor FROM alerts a LEFT JOIN monitors m ON m.id = a.monitor_id "
            "WHERE a.id = ?",
            (alert_id,),
        )
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id}; list them with `mlnb alerts`.")
        return _alert_dict(row)

    def list_alerts(
        self,
        status: str | None = None,
        monitor_id: int | None = None,
        pipeline_id: int | None = None,
        after_id: int | None = None,
        limit: int | None = 100,
    ) -> list[dict[str, Any]]:
        where, params = [], []
        for column, value in (
            ("a.status", status),
            ("a.monitor_id", monitor_id),
            ("a.pipeline_id", pipeline_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if after_id is not None:
            where.append("a.id > ?")
            params.append(after_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.query(
            "SELECT a.*, m.name AS monitor FROM alerts a LEFT JOIN monitors m ON m.id = a.monitor_id "
            f"{clause} ORDER BY a.id DESC {lim}",
            params,
        )
        return [_alert_dict(r) for r in rows]

    def set_alert_status(self, alert_id: int, status: str, handled_by: str | None = None) -> None:
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE alerts SET status = ?, handled_by = COALESCE(?, handled_by), updated_at = ? "
                "WHERE id = ?",
                (status, handled_by, now(), alert_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no alert with id {alert_id}; list them with `mlnb alerts`.")

    # == monitoring (issue: drift and accuracy monitoring) ===============================

    def upsert_monitor(
        self,
        name: str,
        model_name: str | None,
        target: str | None,
        profile: str,
        config: dict[str, Any],
    ) -> int:
        """Create a monitor or refit an existing one; its batch history is kept."""
        t = now()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO monitors(name, model_name, target, profile, config, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET model_name = excluded.model_name, "
                "target = excluded.target, profile = excluded.profile, config = excluded.config, "
                "updated_at = excluded.updated_at",
                (name, model_name, target, profile, dumps(config), t, t),
            )
            return int(c.execute("SELECT id FROM monitors WHERE name = ?", (name,)).fetchone()[0])

    def update_monitor_config(self, monitor_id: int, config: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE monitors SET config = ?, updated_at = ? WHERE id = ?",
                (dumps(config), now(), monitor_id),
            )

    def get_monitor(self, name: str) -> dict[str, Any] | None:
        row = self.query_one("SELECT * FROM monitors WHERE name = ?", (name,))
        if row is None:
            return None
        d = dict(row)
        d["config"] = loads(d["config"], {})
        return d

    def list_monitors(self) -> list[dict[str, Any]]:
        rows = self.query(
            """SELECT m.id, m.name, m.model_name, m.target, m.config, m.created_at, m.updated_at,
                      (SELECT COUNT(*) FROM monitor_batches b WHERE b.monitor_id = m.id) AS n_batches,
                      (SELECT COUNT(*) FROM alerts a WHERE a.monitor_id = m.id AND a.status = 'open')
                          AS open_alerts
               FROM monitors m ORDER BY m.name"""
        )
        out = []
        for r in rows:
            d = dict(r)
            d["config"] = loads(d["config"], {})
            out.append(d)
        return out

    def record_batch(self, batch: dict[str, Any]) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO monitor_batches(monitor_id, batch_at, n_rows, n_drifted, n_columns, "
                "dataset_drift, report, metrics, predictions, data_version_id, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    batch["monitor_id"],
                    batch["batch_at"],
                    batch["n_rows"],
                    batch["n_drifted"],
                    batch["n_columns"],
                    int(bool(batch["dataset_drift"])),
                    dumps(batch["report"]),
                    dumps(batch.get("metrics", {})),
                    dumps(batch.get("predictions"))
                    if batch.get("predictions") is not None
                    else None,
                    batch.get("data_version_id"),
                    now(),
                ),
            )
            return int(cur.lastrowid or 0)

    def update_batch_metrics(self, batch_id: int, metrics: dict[str, Any]) -> None:
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE monitor_batches SET metrics = ? WHERE id = ?", (dumps(metrics), batch_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no monitor batch with id {batch_id}.")

    def list_batches(
        self, monitor_id: int, limit: int | None = None, with_reports: bool = True
    ) -> list[dict[str, Any]]:
        """Batches of a monitor, oldest first (the last ``limit`` of them)."""
        cols = (
            "*"
            if with_reports
            else (
                "id, monitor_id, batch_at, n_rows, n_drifted, n_columns, dataset_drift, metrics, "
                "data_version_id, created_at"
            )
        )
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.query(
            f"SELECT * FROM (SELECT {cols} FROM monitor_batches WHERE monitor_id = ? "
            f"ORDER BY batch_at DESC, id DESC {lim}) ORDER BY batch_at, id",
            (monitor_id,),
        )
        return [_batch_dict(r) for r in rows]

    def count_batches(self, monitor_id: int) -> int:
        return int(
            self.query("SELECT COUNT(*) FROM monitor_batches WHERE monitor_id = ?", (monitor_id,))[
                0
            ][0]
        )

    def get_batch(self, batch_id: int) -> dict[str, Any]:
        row = self.query_one("SELECT * FROM monitor_batches WHERE id = ?", (batch_id,))
        if row is None:
            raise NotFoundError(f"no monitor batch with id {batch_id}.")
        return _batch_dict(row)

    # == pipelines (issue: scheduled notebook pipelines) =================================

    def create_pipeline(self, name: str, notebook_path: str, config: dict[str, Any]) -> int:
        """Insert a pipeline; a name that exists already is a ValidationError."""
        t = now()
        with self.transaction() as c:
            try:
                cur = c.execute(
                    "INSERT INTO pipelines(name, notebook_path, config, status, created_at, "
                    "updated_at) VALUES (?, ?, ?, 'active', ?, ?)",
                    (name, notebook_path, dumps(config), t, t),
                )
            except sqlite3.IntegrityError:
                raise ValidationError(
                    f"a pipeline named {name!r} exists already; pick another name, delete it "
                    f"first (`mlnb pipeline delete {name}`) or pass --replace."
                ) from None
            return int(cur.lastrowid or 0)

    def update_pipeline(
        self,
        pipeline_id: int,
        notebook_path: str | None = None,
        config: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> None:
        sets, params = ["updated_at = ?"], [now()]
        for column, value in (
            ("notebook_path", notebook_path),
            ("config", None if config is None else dumps(config)),
            ("status", status),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        with self.transaction() as c:
            c.execute(
                f"UPDATE pipelines SET {', '.join(sets)} WHERE id = ?", (*params, pipeline_id)
            )

    def get_pipeline(self, name: str) -> dict[str, Any]:
        row = self.query_one("SELECT * FROM pipelines WHERE name = ?", (name,))
        if row is None:
            raise NotFoundError(f"no pipeline named {name!r}; list them with `mlnb pipeline list`.")
        return self._pipeline_row(row)

    def get_pipeline_by_id(self, pipeline_id: int) -> dict[str, Any]:
        row = self.query_one("SELECT * FROM pipelines WHERE id = ?", (pipeline_id,))
        if row is None:
            raise NotFoundError(f"no pipeline with id {pipeline_id}.")
        return self._pipeline_row(row)

    def list_pipelines(self, status: str | None = None) -> list[dict[str, Any]]:
        """Pipelines by name, each with its latest run's id, status, trigger and times."""
        clause = "WHERE p.status = ?" if status else ""
        rows = self.query(
            "SELECT p.*, r.id AS last_run_id, r.status AS last_run_status, "
            "r.trigger AS last_run_trigger, r.created_at AS last_run_at, "
            "r.ended_at AS last_run_ended_at, "
            "(SELECT COUNT(*) FROM pipeline_runs x WHERE x.pipeline_id = p.id) AS n_runs "
            "FROM pipelines p LEFT JOIN pipeline_runs r ON r.id = "
            "(SELECT MAX(id) FROM pipeline_runs y WHERE y.pipeline_id = p.id "
            "AND y.status != 'skipped') "
            f"{clause} ORDER BY p.name",
            (status,) if status else (),
        )
        return [self._pipeline_row(r) for r in rows]

    def delete_pipeline(self, pipeline_id: int) -> None:
        """Delete a pipeline and its run history (alerts keep their text, lose the link)."""
        with self.transaction() as c:
            c.execute("UPDATE alerts SET pipeline_id = NULL WHERE pipeline_id = ?", (pipeline_id,))
            c.execute(
                "UPDATE runs SET pipeline_run_id = NULL WHERE pipeline_run_id IN "
                "(SELECT id FROM pipeline_runs WHERE pipeline_id = ?)",
                (pipeline_id,),
            )
            c.execute("DELETE FROM pipelines WHERE id = ?", (pipeline_id,))

    def enqueue_pipeline_run(
        self,
        pipeline_id: int,
        trigger: str,
        reason: str,
        due_key: str | None = None,
        details: dict[str, Any] | None = None,
        status: str = "queued",
    ) -> int | None:
        """Queue a run; returns None when a run with the same ``due_key`` exists (idempotent)."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO pipeline_runs(pipeline_id, trigger, reason, due_key, "
                "status, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pipeline_id, trigger, reason, due_key, status, dumps(details or {}), now()),
            )
            return int(cur.lastrowid) if cur.rowcount else None

    def claim_pipeline_run(self, run_id: int, max_concurrent: int, pid: int, host: str) -> bool:
        """Move a queued run to running when its pipeline is under its concurrency limit.

        One statement, so two processes can never both take the last free slot.
        """
        t = now()
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE pipeline_runs SET status = 'running', started_at = ?, heartbeat_at = ?, "
                "ended_at = NULL, pid = ?, host = ?, error = NULL, failing_cell = NULL "
                "WHERE id = ? AND status = 'queued' AND (SELECT COUNT(*) FROM pipeline_runs r "
                "WHERE r.pipeline_id = pipeline_runs.pipeline_id AND r.status = 'running') < ?",
                (t, t, pid, host, run_id, max_concurrent),
            )
            return cur.rowcount == 1

    def update_pipeline_run(
        self, run_id: int, fields: dict[str, Any], only_if_status: str | None = None
    ) -> bool:
        """Set columns of a run (``details`` as a dict); with ``only_if_status`` only when the
        run is still in that status. Returns whether the row changed."""
        if not fields:
            return False
        values = {k: (dumps(v) if k == "details" else v) for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        where, params = "id = ?", [run_id]
        if only_if_status is not None:
            where += " AND status = ?"
            params.append(only_if_status)
        with self.transaction() as c:
            cur = c.execute(
                f"UPDATE pipeline_runs SET {sets} WHERE {where}", (*values.values(), *params)
            )
            return cur.rowcount == 1

    def merge_pipeline_run_details(self, run_id: int, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge keys into a run's ``details`` JSON inside one transaction; returns the result."""
        with self.transaction() as c:
            row = c.execute("SELECT details FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no pipeline run with id {run_id}.")
            details = {**loads(row[0], {}), **patch}
            c.execute("UPDATE pipeline_runs SET details = ? WHERE id = ?", (dumps(details), run_id))
            return details

    def heartbeat_pipeline_run(self, run_id: int) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE pipeline_runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                (now(), run_id),
            )

    def get_pipeline_run(self, run_id: int) -> dict[str, Any]:
        row = self.query_one(
            "SELECT r.*, p.name AS pipeline FROM pipeline_runs r "
            "JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = ?",
            (run_id,),
        )
        if row is None:
            raise NotFoundError(
                f"no pipeline run with id {run_id}; see `mlnb pipeline history NAME`."
            )
        return self._pipeline_run_row(row)

    def list_pipeline_runs(
        self,
        pipeline_id: int | None = None,
        statuses: Sequence[str] | None = None,
        limit: int | None = None,
        oldest_first: bool = False,
    ) -> list[dict[str, Any]]:
        where, params = [], []
        if pipeline_id is not None:
            where.append("r.pipeline_id = ?")
            params.append(pipeline_id)
        if statuses:
            where.append(f"r.status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.query(
            "SELECT r.*, p.name AS pipeline FROM pipeline_runs r "
            f"JOIN pipelines p ON p.id = r.pipeline_id {clause} "
            f"ORDER BY r.id {'ASC' if oldest_first else 'DESC'} {lim}",
            params,
        )
        return [self._pipeline_run_row(r) for r in rows]

    def count_running_pipeline_runs(self, pipeline_id: int) -> int:
        row = self.query_one(
            "SELECT COUNT(*) FROM pipeline_runs WHERE pipeline_id = ? AND status = 'running'",
            (pipeline_id,),
        )
        return int(row[0]) if row else 0

    def latest_due_key(self, pipeline_id: int, prefix: str) -> str | None:
        """The due key of the newest run whose key starts with ``prefix`` (e.g. ``cron:``)."""
        row = self.query_one(
            "SELECT due_key FROM pipeline_runs WHERE pipeline_id = ? AND due_key LIKE ? "
            "ESCAPE '\\' ORDER BY id DESC LIMIT 1",
            (pipeline_id, _prefix_pattern(prefix)),
        )
        return None if row is None else str(row[0])

    def has_queued_run(self, pipeline_id: int, trigger: str) -> bool:
        row = self.query_one(
            "SELECT 1 FROM pipeline_runs WHERE pipeline_id = ? AND trigger = ? "
            "AND status = 'queued' LIMIT 1",
            (pipeline_id, trigger),
        )
        return row is not None

    def last_successful_pipeline_run(self, pipeline_id: int) -> dict[str, Any] | None:
        row = self.query_one(
            "SELECT r.*, p.name AS pipeline FROM pipeline_runs r "
            "JOIN pipelines p ON p.id = r.pipeline_id "
            "WHERE r.pipeline_id = ? AND r.status = 'finished' ORDER BY r.id DESC LIMIT 1",
            (pipeline_id,),
        )
        return None if row is None else self._pipeline_run_row(row)

    def last_handled_alert_id(self, pipeline_id: int) -> int:
        """The newest alert id a pipeline's alert-triggered runs have taken on (0 if none)."""
        row = self.query_one(
            "SELECT MAX(CAST(substr(due_key, 7) AS INTEGER)) FROM pipeline_runs "
            "WHERE pipeline_id = ? AND due_key LIKE 'alert:%'",
            (pipeline_id,),
        )
        return int(row[0]) if row and row[0] is not None else 0

    def open_monitor_alerts(
        self, monitor_id: int, after_id: int, kinds: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Open alerts of one monitor newer than ``after_id``, oldest first."""
        sql = "SELECT a.*, m.name AS monitor FROM alerts a LEFT JOIN monitors m ON m.id = a.monitor_id "
        sql += "WHERE a.monitor_id = ? AND a.status = 'open' AND a.id > ?"
        params: list[Any] = [monitor_id, after_id]
        if kinds:
            sql += f" AND a.kind IN ({', '.join('?' for _ in kinds)})"
            params.extend(kinds)
        return [_alert_dict(r) for r in self.query(sql + " ORDER BY a.id", params)]

    def mark_pipeline_runs_crashed(self, run_ids: Sequence[int], reason: str) -> int:
        """Mark still-running runs crashed with ``reason``; returns how many changed."""
        if not run_ids:
            return 0
        marks = ", ".join("?" for _ in run_ids)
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE pipeline_runs SET status = 'crashed', error = ?, "
                "ended_at = COALESCE(heartbeat_at, started_at, created_at) "
                f"WHERE status = 'running' AND id IN ({marks})",
                (reason, *run_ids),
            )
            return cur.rowcount

    def model_versions_of_pipeline_run(self, pipeline_run_id: int) -> list[dict[str, Any]]:
        """Model versions registered by runs tracked inside one pipeline run, newest first."""
        rows = self.query(
            "SELECT mv.id AS version_id, rm.name AS model, mv.version, mv.stage, mv.run_id, "
            "mv.created_at FROM model_versions mv "
            "JOIN registered_models rm ON rm.id = mv.model_id "
            "LEFT JOIN model_artifacts ma ON ma.id = mv.artifact_id "
            "WHERE mv.run_id IN (SELECT id FROM runs WHERE pipeline_run_id = ?) "
            "OR ma.run_id IN (SELECT id FROM runs WHERE pipeline_run_id = ?) "
            "ORDER BY mv.id DESC",
            (pipeline_run_id, pipeline_run_id),
        )
        return [dict(r) for r in rows]

    def runs_of_pipeline_run(self, pipeline_run_id: int) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT r.id, r.name, r.status, e.name AS experiment, r.started_at, r.ended_at "
            "FROM runs r JOIN experiments e ON e.id = r.experiment_id "
            "WHERE r.pipeline_run_id = ? ORDER BY r.id",
            (pipeline_run_id,),
        )
        return [dict(r) for r in rows]

    @staticmethod
    def _pipeline_row(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        d["config"] = loads(d["config"], {})
        return d

    @staticmethod
    def _pipeline_run_row(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        d["details"] = loads(d["details"], {})
        return d

    # == server queries (issue: JupyterLab sidebar) =====================================

    def change_counters(self) -> dict[str, Any]:
        """Counters that move whenever anything the sidebar shows changes, in one cheap read.

        Max rowids catch inserts (INSERT OR REPLACE gets a new rowid too), status counts and
        max update times catch in-place changes. Heartbeats are left out on purpose so that a
        running kernel does not make the sidebar refetch every few seconds.
        """
        row = self.query_one(
            """SELECT
                (SELECT COUNT(*) FROM runs) AS n_runs,
                (SELECT MAX(id) FROM runs) AS runs_id,
                (SELECT COUNT(*) FROM runs WHERE status = 'running') AS runs_running,
                (SELECT MAX(ended_at) FROM runs) AS runs_ended,
                (SELECT MAX(id) FROM metrics) AS metrics_id,
                (SELECT MAX(rowid) FROM params) AS params_id,
                (SELECT MAX(rowid) FROM tags) AS tags_id,
                (SELECT COUNT(*) FROM experiments) AS n_experiments,
                (SELECT COUNT(*) FROM data_versions) AS n_data_versions,
                (SELECT MAX(rowid) FROM run_data) AS run_data_id,
                (SELECT COUNT(*) FROM registered_models) AS n_models,
                (SELECT COUNT(*) FROM model_versions) AS n_model_versions,
                (SELECT TOTAL(id) FROM model_versions WHERE stage = 'production') AS prod_ids,
                (SELECT TOTAL(id) FROM model_versions WHERE stage = 'staging') AS staging_ids,
                (SELECT MAX(id) FROM stage_transitions) AS transitions_id,
                (SELECT MAX(id) FROM gate_results) AS gates_id,
                (SELECT MAX(updated_at) FROM model_aliases) AS aliases_at,
                (SELECT COUNT(*) FROM model_aliases) AS n_aliases,
                (SELECT COUNT(*) FROM monitors) AS n_monitors,
                (SELECT MAX(updated_at) FROM monitors) AS monitors_at,
                (SELECT MAX(id) FROM monitor_batches) AS batches_id,
                (SELECT MAX(id) FROM alerts) AS alerts_id,
                (SELECT MAX(updated_at) FROM alerts) AS alerts_at,
                (SELECT COUNT(*) FROM alerts WHERE status = 'open') AS n_open_alerts,
                (SELECT COUNT(*) FROM pipelines) AS n_pipelines,
                (SELECT MAX(updated_at) FROM pipelines) AS pipelines_at,
                (SELECT MAX(id) FROM pipeline_runs) AS pipeline_runs_id,
                (SELECT MAX(COALESCE(ended_at, started_at, created_at)) FROM pipeline_runs)
                    AS pipeline_runs_at,
                (SELECT COUNT(*) FROM pipeline_runs WHERE status IN ('queued', 'running'))
                    AS pipeline_runs_active"""
        )
        return dict(row) if row is not None else {}


def _batch_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["dataset_drift"] = bool(d["dataset_drift"])
    d["metrics"] = loads(d.get("metrics"), {})
    if "report" in d:
        d["report"] = loads(d["report"], {})
    if "predictions" in d:
        d["predictions"] = loads(d["predictions"], None)
    return d


def _alert_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["evidence"] = loads(d["evidence"], {})
    return d


def _artifact_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["signature"] = loads(d["signature"], {})
    d["trusted_types"] = loads(d["trusted_types"], [])
    return d


def _prefix_pattern(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _run_id_filters(template: str, run_ids: Sequence[int]) -> list[tuple[str, list[Any]]]:
    """Queries covering ``run_ids``: one id range scan for long lists (rows outside the
    wanted set are dropped by the caller), IN-lists for short ones."""
    ids = list(run_ids)
    if len(ids) > 900:
        return [(template.format(where="run_id BETWEEN ? AND ?"), [min(ids), max(ids)])]
    marks = ", ".join("?" for _ in ids)
    return [(template.format(where=f"run_id IN ({marks})"), ids)]


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
