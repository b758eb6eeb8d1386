"""Monitors (reference profile and thresholds) and the batches logged to them.

This module owns the SQL of its tables; it returns plain records (dicts).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mlnb.errors import NotFoundError
from mlnb.store.connection import FeatureStore, dumps, loads, now
from mlnb.store.records import BatchRecord, MonitorRecord, as_record


def _batch_dict(row: sqlite3.Row) -> BatchRecord:
    d = dict(row)
    d["dataset_drift"] = bool(d["dataset_drift"])
    d["metrics"] = loads(d.get("metrics"), {})
    if "report" in d:
        d["report"] = loads(d["report"], {})
    if "predictions" in d:
        d["predictions"] = loads(d["predictions"], None)
    d["labels"] = loads(d.get("labels"), None)
    d["estimates"] = loads(d.get("estimates"), None)
    return as_record(BatchRecord, d)


def _json_or_null(value: Any) -> str | None:
    return None if value is None else dumps(value)


class MonitorStore(FeatureStore):
    """Monitors and the batches logged to them."""

    def upsert(
        self,
        name: str,
        model_name: str | None,
        target: str | None,
        profile: str,
        config: dict[str, Any],
    ) -> int:
        """Create a monitor or refit an existing one; its batch history is kept."""
        t = now()
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO monitors(name, model_name, target, profile, config, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET model_name = excluded.model_name, "
                "target = excluded.target, profile = excluded.profile, config = excluded.config, "
                "updated_at = excluded.updated_at",
                (name, model_name, target, profile, dumps(config), t, t),
            )
            return int(c.execute("SELECT id FROM monitors WHERE name = ?", (name,)).fetchone()[0])

    def update_config(self, monitor_id: int, config: dict[str, Any]) -> None:
        """Replace a monitor's config (thresholds, sinks, options)."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE monitors SET config = ?, updated_at = ? WHERE id = ?",
                (dumps(config), now(), monitor_id),
            )

    def get(self, name: str) -> MonitorRecord | None:
        """A monitor with its profile and config, or None."""
        row = self.db.query_one("SELECT * FROM monitors WHERE name = ?", (name,))
        if row is None:
            return None
        d = dict(row)
        d["config"] = loads(d["config"], {})
        return as_record(MonitorRecord, d)

    def find(self) -> list[MonitorRecord]:
        """Every monitor with its batch count and open alerts (profiles left out)."""
        rows = self.db.query(
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
            out.append(as_record(MonitorRecord, d))
        return out

    def record_batch(self, batch: dict[str, Any]) -> int:
        """Store a scored batch (report, metrics, predictions); returns its id."""
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO monitor_batches(monitor_id, batch_at, n_rows, n_drifted, n_columns, "
                "dataset_drift, report, metrics, predictions, data_version_id, labels, estimates, "
                "created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    _json_or_null(batch.get("labels")),
                    _json_or_null(batch.get("estimates")),
                    now(),
                ),
            )
            return int(cur.lastrowid or 0)

    def update_batch_metrics(self, batch_id: int, metrics: dict[str, Any]) -> None:
        """Replace the metrics of a batch (realized once its labels arrived)."""
        with self.db.transaction() as c:
            cur = c.execute(
                "UPDATE monitor_batches SET metrics = ? WHERE id = ?", (dumps(metrics), batch_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no monitor batch with id {batch_id}.")

    def update_batch_labels(self, batch_id: int, labels: dict[str, Any]) -> None:
        """Replace a batch's label summary (coverage, label drift) once late labels arrived."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE monitor_batches SET labels = ? WHERE id = ?", (dumps(labels), batch_id)
            )

    def batches(
        self, monitor_id: int, limit: int | None = None, with_reports: bool = True
    ) -> list[BatchRecord]:
        """Batches of a monitor, oldest first (the last ``limit`` of them)."""
        cols = (
            "*"
            if with_reports
            else (
                "id, monitor_id, batch_at, n_rows, n_drifted, n_columns, dataset_drift, metrics, "
                "data_version_id, labels, estimates, created_at"
            )
        )
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.db.query(
            f"SELECT * FROM (SELECT {cols} FROM monitor_batches WHERE monitor_id = ? "
            f"ORDER BY batch_at DESC, id DESC {lim}) ORDER BY batch_at, id",
            (monitor_id,),
        )
        return [_batch_dict(r) for r in rows]

    def numbers(self, monitor_id: int) -> dict[int, int]:
        """Each batch's number within its monitor: 1, 2, 3... in the order they were logged
        (batch ids count across all monitors, so they are not what users see)."""
        rows = self.db.query(
            "SELECT id FROM monitor_batches WHERE monitor_id = ? ORDER BY id", (monitor_id,)
        )
        return {int(r[0]): i for i, r in enumerate(rows, 1)}

    def count_batches(self, monitor_id: int) -> int:
        """How many batches a monitor has."""
        return int(
            self.db.query(
                "SELECT COUNT(*) FROM monitor_batches WHERE monitor_id = ?", (monitor_id,)
            )[0][0]
        )

    def batch(self, batch_id: int) -> BatchRecord:
        """One batch with its report (NotFoundError if none)."""
        row = self.db.query_one("SELECT * FROM monitor_batches WHERE id = ?", (batch_id,))
        if row is None:
            raise NotFoundError(f"no monitor batch with id {batch_id}.")
        return _batch_dict(row)
