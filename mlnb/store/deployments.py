"""Deployments (``mlnb serve`` processes), their inference log and monitoring windows.

The inference log is an append-only table in ``registry.db`` holding one columnar record
per request (features as ``{"column": [values]}``, predictions, probabilities and labels as
arrays): the server writes it in one transaction per flush (at most one a second) with one
INSERT per request whatever its size, WAL mode makes every committed flush survive a killed
process, feedback labels join it by request id through an index, and the scheduler reads
windows of whole requests with one range scan. This module owns the SQL of the three
tables and returns the records of ``records.py``.
"""

from __future__ import annotations

import base64
import sqlite3
import sys
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

from mlnb.errors import NotFoundError
from mlnb.store.connection import FeatureStore, dumps, loads, now
from mlnb.store.records import (
    DeploymentRecord,
    InferenceRequestRecord,
    InferenceRowRecord,
    WindowRecord,
    as_record,
)

DEPLOYMENT_STATUSES = ("starting", "running", "stopped", "crashed")
# One logged request: (deployment_id, request_id, logged_at, version, n_rows, features as
# {"column": values} JSON, predictions JSON, probabilities JSON, latency_ms, ok, error); the
# values of a column are written by column_value().
LoggedRequest = tuple[
    int, str, float, int | None, int, str | None, str | None, str | None, float, int, str | None
]


def _deployment(row: sqlite3.Row) -> DeploymentRecord:
    d = dict(row)
    d["config"] = loads(d.get("config"), {})
    return as_record(DeploymentRecord, d)


FLOAT64 = "<f8"  # a float column: {"<f8": base64 of its little-endian float64 values}
WIDTH = "width"  # ... of a matrix's rows, one after another: {"<f8": ..., "width": columns}
BINARY_FROM = 16  # shorter float columns are cheaper as JSON numbers


def column_value(values: Any) -> Any:
    """A logged column as JSON-ready data: a numpy float column (or a matrix, one row per
    logged row: a multiclass model's probabilities) of more than a few values as its float64
    bytes in base64 (exact, NaN included, without formatting every value as decimal text),
    any other column as a list of Python values."""
    kind = getattr(getattr(values, "dtype", None), "kind", "")
    if kind == "f" and values.size > BINARY_FROM and values.ndim in (1, 2):
        raw = values.astype(FLOAT64, copy=False).tobytes(order="C")
        encoded: dict[str, Any] = {FLOAT64: base64.b64encode(raw).decode("ascii")}
        if values.ndim == 2:
            encoded[WIDTH] = int(values.shape[1])
        return encoded
    return values.tolist() if hasattr(values, "tolist") else values


def column_values(value: Any) -> list[Any]:
    """The values of a logged column (the inverse of :func:`column_value`; a matrix comes
    back as a list of rows)."""
    if isinstance(value, dict) and FLOAT64 in value:
        floats = array("d")
        floats.frombytes(base64.b64decode(value[FLOAT64]))
        if sys.byteorder == "big":
            floats.byteswap()
        values = floats.tolist()
        width = int(value.get(WIDTH) or 0)
        if width:
            return [values[i : i + width] for i in range(0, len(values), width)]
        return values
    return list(value)


def _request(row: sqlite3.Row) -> InferenceRequestRecord:
    d = dict(row)
    d.pop("upto", None)
    layout = d.pop("layout")
    features = loads(d.get("features"), None)
    if layout == "row" and features is not None:  # logged one row at a time (schema < 6)
        features = {k: [v] for k, v in features.items()}
    elif features is not None:
        features = {k: column_values(v) for k, v in features.items()}
    d["features"] = features
    for key in ("predictions", "probabilities"):
        value = loads(d.get(key), None)
        d[key] = None if value is None else column_values(value)
    d["probabilities"], d["class_probabilities"] = _split_class_rows(d["probabilities"])
    d["labels"] = loads(d.get("labels"), None)
    d["ok"] = bool(d["ok"])
    return as_record(InferenceRequestRecord, d)


def _split_class_rows(
    logged: list[Any] | None,
) -> tuple[list[Any] | None, list[list[float]] | None]:
    """(each row's probability, a multiclass model's rows of class probabilities): for a
    multiclass model the logged rows, each row's top probability beside them, so
    ``probabilities`` means the same for every model."""
    if not logged or not any(isinstance(p, list) for p in logged):
        return logged, None
    tops = [max(p) if isinstance(p, list) and p else None for p in logged]
    return tops, [p if isinstance(p, list) else [] for p in logged]


def request_rows(r: InferenceRequestRecord) -> list[InferenceRowRecord]:
    """A logged request's rows one by one (a refused request is one row without features)."""
    base = {k: r[k] for k in ("id", "deployment_id", "request_id", "logged_at", "version")}
    extra = {"latency_ms": r["latency_ms"], "ok": r["ok"], "error": r["error"]}
    if not r["ok"] or not r["n_rows"]:
        return [
            as_record(
                InferenceRowRecord,
                {
                    **base,
                    **extra,
                    "row_index": r["row_offset"],
                    "features": None,
                    "prediction": None,
                    "probability": None,
                    "label": None,
                    "labelled_at": None,
                    "window_id": r["window_id"],
                },
            )
        ]
    features = r["features"] or {}
    names = list(features)
    predictions = r["predictions"] or [None] * r["n_rows"]
    probabilities = r["probabilities"] or [None] * r["n_rows"]
    labels = r["labels"] or [None] * r["n_rows"]
    return [
        as_record(
            InferenceRowRecord,
            {
                **base,
                **extra,
                "row_index": r["row_offset"] + i,
                "features": {n: features[n][i] for n in names},
                "prediction": predictions[i],
                "probability": probabilities[i],
                "label": labels[i],
                "labelled_at": r["labelled_at"] if labels[i] is not None else None,
                "window_id": r["window_id"],
            },
        )
        for i in range(r["n_rows"])
    ]


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

    def append_requests(self, records: Iterable[LoggedRequest]) -> int:
        """Append logged requests in one transaction; returns the rows they hold (a refused
        request counts as one)."""
        batch = list(records)
        if not batch:
            return 0
        with self.db.transaction() as c:
            c.executemany(
                "INSERT INTO inference_requests(deployment_id, request_id, logged_at, version, "
                "n_rows, features, predictions, probabilities, latency_ms, ok, error) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                batch,
            )
        return sum(max(r[4], 1) for r in batch)

    def count_rows(self, deployment_id: int, ok: bool | None = None) -> int:
        """Rows logged for a deployment (a refused request counts as one row; only answered
        or only refused ones with ``ok``)."""
        sql = "SELECT COALESCE(SUM(MAX(n_rows, 1)), 0) FROM inference_requests WHERE deployment_id = ?"
        params: list[Any] = [deployment_id]
        if ok is not None:
            sql += " AND ok = ?"
            params.append(int(ok))
        return int(self.db.query(sql, params)[0][0])

    def requests(
        self, deployment_id: int, after_id: int = 0, min_rows: int | None = None
    ) -> list[InferenceRequestRecord]:
        """Logged requests of a deployment after ``after_id``, oldest first; with
        ``min_rows``, only as many whole requests as it takes to hold that many rows."""
        if min_rows is None:
            found = self.db.query(
                "SELECT * FROM inference_requests WHERE deployment_id = ? AND id > ? ORDER BY id",
                (deployment_id, after_id),
            )
        else:
            found = self.db.query(
                "SELECT * FROM (SELECT *, SUM(MAX(n_rows, 1)) OVER (ORDER BY id) AS upto "
                "FROM inference_requests WHERE deployment_id = ? AND id > ?) "
                "WHERE upto - MAX(n_rows, 1) < ? ORDER BY id",
                (deployment_id, after_id, min_rows),
            )
        return [_request(r) for r in found]

    def rows(self, deployment_id: int, after_id: int = 0) -> list[InferenceRowRecord]:
        """Logged rows of a deployment after record ``after_id``, oldest first, one per
        prediction (a refused request is one row with ``ok`` False)."""
        return [row for r in self.requests(deployment_id, after_id) for row in request_rows(r)]

    def first_unwindowed(self, deployment_id: int) -> tuple[int, float | None, int]:
        """(last windowed record id, time of the oldest request after it, rows after it)."""
        last = self.db.query_one(
            "SELECT COALESCE(MAX(last_log_id), 0) FROM deployment_windows WHERE deployment_id = ?",
            (deployment_id,),
        )
        after = int(last[0]) if last else 0
        row = self.db.query_one(
            "SELECT MIN(logged_at), COALESCE(SUM(MAX(n_rows, 1)), 0) FROM inference_requests "
            "WHERE deployment_id = ? AND id > ?",
            (deployment_id, after),
        )
        if row is None:
            return after, None, 0
        return after, row[0], int(row[1])

    def add_labels(self, labels: Sequence[tuple[str, int, Any]]) -> tuple[int, list[str]]:
        """Join labels to logged rows by (request id, row); returns (rows labelled, request
        ids that matched nothing). A label given again replaces the first."""
        t = now()
        by_request: dict[str, list[tuple[int, Any]]] = {}
        for request_id, row_index, label in labels:
            by_request.setdefault(request_id, []).append((row_index, label))
        joined, unknown = 0, []
        with self.db.transaction() as c:
            for request_id, given in by_request.items():
                n = self._label_request(c, request_id, given, t)
                joined += n
                if n < len(given):
                    unknown.append(request_id)
        return joined, unknown

    @staticmethod
    def _label_request(
        c: sqlite3.Connection, request_id: str, given: list[tuple[int, Any]], t: float
    ) -> int:
        """Write the labels of one request's rows into its records; returns how many joined."""
        joined = 0
        records = c.execute(
            "SELECT id, row_offset, n_rows, labels FROM inference_requests "
            "WHERE request_id = ? AND ok = 1",
            (request_id,),
        ).fetchall()
        for record_id, offset, n_rows, stored in records:
            values = loads(stored, None) or [None] * n_rows
            mine = [(i - offset, v) for i, v in given if offset <= i < offset + n_rows]
            if not mine:
                continue
            for i, value in mine:
                values[i] = value
            joined += len(mine)
            c.execute(
                "UPDATE inference_requests SET labels = ?, n_labelled = ?, labelled_at = ? "
                "WHERE id = ?",
                (dumps(values), sum(v is not None for v in values), t, record_id),
            )
        return joined

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
                "UPDATE inference_requests SET window_id = ? "
                "WHERE deployment_id = ? AND id BETWEEN ? AND ?",
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

    def window_requests(self, window: WindowRecord) -> list[InferenceRequestRecord]:
        """The answered requests of a window, oldest first."""
        found = self.db.query(
            "SELECT * FROM inference_requests WHERE deployment_id = ? AND id BETWEEN ? AND ? "
            "AND ok = 1 ORDER BY id",
            (window["deployment_id"], window["first_log_id"], window["last_log_id"]),
        )
        return [_request(r) for r in found]

    def mark_realized(self, window_id: int) -> None:
        """A window whose labels all arrived and whose realized metrics are stored."""
        self.db.write("UPDATE deployment_windows SET realized = 1 WHERE id = ?", (window_id,))
