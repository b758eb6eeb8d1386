"""Deployments (``mlnb serve`` processes), their inference log and monitoring windows.

The inference log is an append-only table in ``registry.db``: the server writes it in one
transaction per flush (at most one a second), WAL mode makes every committed flush survive
a killed process, feedback labels join it by request id with one indexed UPDATE, and the
scheduler reads windows of it with one range scan. This module owns the SQL of the three
tables and returns the records of ``records.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from mlnb.errors import NotFoundError
from mlnb.store.connection import FeatureStore, dumps, loads, now
from mlnb.store.records import (
    DeploymentRecord,
    InferenceRowRecord,
    WindowRecord,
    as_record,
)

DEPLOYMENT_STATUSES = ("starting", "running", "stopped", "crashed")
# One logged row: (deployment_id, request_id, row_index, logged_at, version, features JSON,
# prediction JSON, probability, latency_ms, ok, error).
LogRow = tuple[
    int, str, int, float, int | None, str | None, str | None, float | None, float, int, str | None
]


def _deployment(row: sqlite3.Row) -> DeploymentRecord:
    d = dict(row)
    d["config"] = loads(d.get("config"), {})
    return as_record(DeploymentRecord, d)


def _inference(row: sqlite3.Row) -> InferenceRowRecord:
    d = dict(row)
    d["features"] = loads(d.get("features"), None)
    d["prediction"] = loads(d.get("prediction"), None)
    d["label"] = loads(d.get("label"), None)
    d["ok"] = bool(d["ok"])
    return as_record(InferenceRowRecord, d)


def _window(row: sqlite3.Row) -> WindowRecord:
    d = dict(row)
    d["realized"] = bool(d["realized"])
    return as_record(WindowRecord, d)


class DeploymentStore(FeatureStore):
    """Deployments, the rows they served and the windows their monitors scored."""

    # -- deployments -------------------------------------------------------------------

    def start(self, deployment: dict[str, Any]) -> int:
        """Record a server that is starting; returns its id."""
        t = now()
        return self.db.write(
            "INSERT INTO deployments(model_name, alias, version, url, bind_host, port, pid, host, "
            "status, started_at, heartbeat_at, config) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                deployment["model_name"],
                deployment["alias"],
                deployment.get("version"),
                deployment["url"],
                deployment["bind_host"],
                deployment["port"],
                deployment.get("pid"),
                deployment.get("host"),
                "starting",
                t,
                t,
                dumps(deployment.get("config", {})),
            ),
        )

    def get(self, deployment_id: int) -> DeploymentRecord:
        """One deployment (NotFoundError if none)."""
        row = self.db.query_one("SELECT * FROM deployments WHERE id = ?", (deployment_id,))
        if row is None:
            raise NotFoundError(
                f"no deployment with id {deployment_id}; list them with `mlnb deployments`."
            )
        return _deployment(row)

    def find(
        self, model_name: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[DeploymentRecord]:
        """Deployments, newest first (of one model, with these statuses)."""
        where, params = [], []
        if model_name is not None:
            where.append("model_name = ?")
            params.append(model_name)
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(f"SELECT * FROM deployments {clause} ORDER BY id DESC", params)
        return [_deployment(r) for r in rows]

    def set_status(self, deployment_id: int, status: str, error: str | None = None) -> None:
        """Move a deployment to ``status`` (stopped and crashed also stamp the stop time)."""
        ended = now() if status in ("stopped", "crashed") else None
        self.db.write(
            "UPDATE deployments SET status = ?, error = COALESCE(?, error), "
            "stopped_at = COALESCE(?, stopped_at), heartbeat_at = ? WHERE id = ?",
            (status, error, ended, now(), deployment_id),
        )

    def set_version(self, deployment_id: int, version: int) -> None:
        """The version the server answers with now (after start-up or a hot swap)."""
        self.db.write("UPDATE deployments SET version = ? WHERE id = ?", (version, deployment_id))

    def heartbeat(self, deployment_id: int, stats: dict[str, Any]) -> None:
        """Add the counters since the last beat and store the rate and latency p95."""
        self.db.write(
            "UPDATE deployments SET heartbeat_at = ?, requests = requests + ?, "
            "errors = errors + ?, rows_logged = rows_logged + ?, rows_dropped = rows_dropped + ?, "
            "req_per_min = ?, p95_ms = ? WHERE id = ?",
            (
                now(),
                int(stats.get("requests", 0)),
                int(stats.get("errors", 0)),
                int(stats.get("rows_logged", 0)),
                int(stats.get("rows_dropped", 0)),
                float(stats.get("req_per_min", 0.0)),
                stats.get("p95_ms"),
                deployment_id,
            ),
        )

    def update_config(self, deployment_id: int, config: dict[str, Any]) -> None:
        """Replace a deployment's monitoring config."""
        self.db.write(
            "UPDATE deployments SET config = ? WHERE id = ?", (dumps(config), deployment_id)
        )

    def serving(self, fresh_seconds: float = 30.0) -> dict[str, DeploymentRecord]:
        """The newest running deployment of each model whose heartbeat is fresh, by model."""
        rows = self.db.query(
            "SELECT * FROM deployments WHERE status = 'running' AND heartbeat_at > ? "
            "ORDER BY id DESC",
            (now() - fresh_seconds,),
        )
        out: dict[str, DeploymentRecord] = {}
        for r in rows:
            d = _deployment(r)
            out.setdefault(d["model_name"], d)
        return out

    # -- the inference log -------------------------------------------------------------

    def append_rows(self, rows: Iterable[LogRow]) -> int:
        """Append logged rows in one transaction; returns how many."""
        batch = list(rows)
        if not batch:
            return 0
        with self.db.transaction() as c:
            c.executemany(
                "INSERT INTO inference_log(deployment_id, request_id, row_index, logged_at, "
                "version, features, prediction, probability, latency_ms, ok, error) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                batch,
            )
        return len(batch)

    def count_rows(self, deployment_id: int, ok: bool | None = None) -> int:
        """Rows logged for a deployment (only successful or failed ones with ``ok``)."""
        sql = "SELECT COUNT(*) FROM inference_log WHERE deployment_id = ?"
        params: list[Any] = [deployment_id]
        if ok is not None:
            sql += " AND ok = ?"
            params.append(int(ok))
        return int(self.db.query(sql, params)[0][0])

    def rows(
        self, deployment_id: int, after_id: int = 0, limit: int | None = None
    ) -> list[InferenceRowRecord]:
        """Logged rows of a deployment after ``after_id``, oldest first."""
        lim = f"LIMIT {int(limit)}" if limit else ""
        found = self.db.query(
            f"SELECT * FROM inference_log WHERE deployment_id = ? AND id > ? ORDER BY id {lim}",
            (deployment_id, after_id),
        )
        return [_inference(r) for r in found]

    def first_unwindowed(self, deployment_id: int) -> tuple[int, float | None, int]:
        """(last windowed log id, time of the oldest row after it, rows after it)."""
        last = self.db.query_one(
            "SELECT COALESCE(MAX(last_log_id), 0) FROM deployment_windows WHERE deployment_id = ?",
            (deployment_id,),
        )
        after = int(last[0]) if last else 0
        row = self.db.query_one(
            "SELECT MIN(logged_at), COUNT(*) FROM inference_log WHERE deployment_id = ? AND id > ?",
            (deployment_id, after),
        )
        if row is None:
            return after, None, 0
        return after, row[0], int(row[1])

    def add_labels(self, labels: Sequence[tuple[str, int, Any]]) -> tuple[int, list[str]]:
        """Join labels to logged rows by (request id, row); returns (rows labelled, request
        ids that matched nothing)."""
        t = now()
        joined, unknown = 0, []
        with self.db.transaction() as c:
            for request_id, row_index, label in labels:
                cur = c.execute(
                    "UPDATE inference_log SET label = ?, labelled_at = ? "
                    "WHERE request_id = ? AND row_index = ? AND ok = 1",
                    (dumps(label), t, request_id, row_index),
                )
                if cur.rowcount:
                    joined += cur.rowcount
                else:
                    unknown.append(request_id)
        return joined, unknown

    # -- monitoring windows ------------------------------------------------------------

    def add_window(self, window: dict[str, Any]) -> int:
        """Record a scored window and tag its rows with it; returns its id."""
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO deployment_windows(deployment_id, first_log_id, last_log_id, n_rows, "
                "n_requests, n_errors, p95_ms, batch_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    window["deployment_id"],
                    window["first_log_id"],
                    window["last_log_id"],
                    window["n_rows"],
                    window["n_requests"],
                    window["n_errors"],
                    window.get("p95_ms"),
                    window.get("batch_id"),
                    now(),
                ),
            )
            window_id = int(cur.lastrowid or 0)
            c.execute(
                "UPDATE inference_log SET window_id = ? WHERE deployment_id = ? AND id BETWEEN ? AND ?",
                (window_id, window["deployment_id"], window["first_log_id"], window["last_log_id"]),
            )
        return window_id

    def windows(self, deployment_id: int, realized: bool | None = None) -> list[WindowRecord]:
        """Windows of a deployment, oldest first (only those with or without realized metrics)."""
        sql = "SELECT * FROM deployment_windows WHERE deployment_id = ?"
        params: list[Any] = [deployment_id]
        if realized is not None:
            sql += " AND realized = ?"
            params.append(int(realized))
        return [_window(r) for r in self.db.query(sql + " ORDER BY id", params)]

    def window_rows(self, window_id: int) -> list[InferenceRowRecord]:
        """The successful rows of a window, oldest first."""
        found = self.db.query(
            "SELECT * FROM inference_log WHERE window_id = ? AND ok = 1 ORDER BY id", (window_id,)
        )
        return [_inference(r) for r in found]

    def mark_realized(self, window_id: int) -> None:
        """A window whose labels all arrived and whose realized metrics are stored."""
        self.db.write("UPDATE deployment_windows SET realized = 1 WHERE id = ?", (window_id,))
