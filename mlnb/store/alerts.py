"""Alerts raised by monitors and pipelines, and their open/acknowledged/resolved status.

This module owns the SQL of its tables; it returns plain records (dicts).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from mlnb._runtime import user
from mlnb.errors import NotFoundError, ValidationError
from mlnb.store.connection import FeatureStore, dumps, loads, now
from mlnb.store.records import AlertRecord, as_record


def _alert_dict(row: sqlite3.Row) -> AlertRecord:
    d = dict(row)
    d["evidence"] = loads(d["evidence"], {})
    return as_record(AlertRecord, d)


SEVERITIES = ("info", "warning", "critical")
ALERT_STATUSES = ("open", "acknowledged", "resolved")


# every read of alerts names the monitor beside them
_WITH_MONITOR = (
    "SELECT a.*, m.name AS monitor FROM alerts a LEFT JOIN monitors m ON m.id = a.monitor_id "
)


class AlertStore(FeatureStore):
    """Alerts raised by monitors and pipelines."""

    def find(
        self,
        status: str | None = None,
        monitor: str | None = None,
        pipeline: str | None = None,
        after_id: int | None = None,
        limit: int | None = 100,
    ) -> list[AlertRecord]:
        """Alerts, newest first, optionally only open ones or those of one monitor/pipeline."""
        if status is not None and status not in ALERT_STATUSES:
            raise ValidationError(
                f"alert status must be one of {', '.join(ALERT_STATUSES)}, got {status!r}."
            )
        monitor_id = self._reg.id_of("monitors", monitor) if monitor else None
        pipeline_id = self._reg.id_of("pipelines", pipeline) if pipeline else None
        return self._rows(status, monitor_id, pipeline_id, after_id, limit)

    def acknowledge(self, alert_id: int, by: str | None = None) -> AlertRecord:
        """Mark an alert seen by ``by`` (it stays listed, no longer open)."""
        self.set_status(int(alert_id), "acknowledged", by or user())
        return self.get(int(alert_id))

    def resolve(self, alert_id: int, by: str | None = None) -> AlertRecord:
        """Close an alert for good."""
        self.set_status(int(alert_id), "resolved", by or user())
        return self.get(int(alert_id))

    def record(self, alert: dict[str, Any]) -> int:
        """Store a new alert with its evidence; returns its id. It is open, unless it comes
        already handled (``handled_by``): then it is stored acknowledged in the same write,
        so no pipeline watching for open alerts ever sees it open."""
        t = now()
        handled_by = alert.get("handled_by")
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO alerts(source, monitor_id, pipeline_id, batch_id, kind, severity, "
                "message, evidence, status, handled_by, metric, first_batch_id, last_batch_id, "
                "worst_value, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    alert["source"],
                    alert.get("monitor_id"),
                    alert.get("pipeline_id"),
                    alert.get("batch_id"),
                    alert["kind"],
                    alert.get("severity", "warning"),
                    alert["message"],
                    dumps(alert.get("evidence", {})),
                    "acknowledged" if handled_by else "open",
                    handled_by,
                    alert.get("metric"),
                    alert.get("batch_id"),
                    alert.get("batch_id"),
                    alert.get("value"),
                    t,
                    t,
                ),
            )
            return int(cur.lastrowid or 0)

    def get(self, alert_id: int) -> AlertRecord:
        """One alert with its monitor name (NotFoundError if none)."""
        row = self.db.query_one(
            _WITH_MONITOR + "WHERE a.id = ?",
            (alert_id,),
        )
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id}; list them with `mlnb alerts`.")
        return _alert_dict(row)

    def _rows(
        self,
        status: str | None = None,
        monitor_id: int | None = None,
        pipeline_id: int | None = None,
        after_id: int | None = None,
        limit: int | None = 100,
    ) -> list[AlertRecord]:
        where: list[str] = []
        params: list[Any] = []
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
        rows = self.db.query(
            _WITH_MONITOR + f"{clause} ORDER BY a.id DESC {lim}",
            params,
        )
        return [_alert_dict(r) for r in rows]

    def set_status(self, alert_id: int, status: str, handled_by: str | None = None) -> None:
        """Move an alert to open, acknowledged or resolved, noting who did it."""
        with self.db.transaction() as c:
            t = now()
            cur = c.execute(
                "UPDATE alerts SET status = ?, handled_by = COALESCE(?, handled_by), updated_at = ?, "
                "resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE NULL END WHERE id = ?",
                (status, handled_by, t, status, t, alert_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no alert with id {alert_id}; list them with `mlnb alerts`.")

    def open_of_monitor(
        self, monitor_id: int, after_id: int, kinds: Sequence[str] | None = None
    ) -> list[AlertRecord]:
        """Open alerts of one monitor newer than ``after_id``, oldest first."""
        sql = _WITH_MONITOR + "WHERE a.monitor_id = ? AND a.status = 'open' AND a.id > ?"
        params: list[Any] = [monitor_id, after_id]
        if kinds:
            sql += f" AND a.kind IN ({', '.join('?' for _ in kinds)})"
            params.extend(kinds)
        return [_alert_dict(r) for r in self.db.query(sql + " ORDER BY a.id", params)]

    # -- incidents: one alert row per run of consecutive breaches of a monitor's metric ----

    def active_incident(self, monitor_id: int, metric: str) -> AlertRecord | None:
        """The open or acknowledged (not resolved) incident of a monitor's metric, or None."""
        row = self.db.query_one(
            _WITH_MONITOR
            + "WHERE a.monitor_id = ? AND a.metric = ? AND a.status IN ('open', 'acknowledged') "
            "ORDER BY a.id DESC LIMIT 1",
            (monitor_id, metric),
        )
        return None if row is None else _alert_dict(row)

    def incident_covering(self, monitor_id: int, metric: str, batch_id: int) -> AlertRecord | None:
        """The newest incident of a monitor's metric whose breaches span ``batch_id``, in any
        status (None if no incident of that metric covered the batch)."""
        row = self.db.query_one(
            _WITH_MONITOR + "WHERE a.monitor_id = ? AND a.metric = ? AND a.first_batch_id <= ? "
            "AND a.last_batch_id >= ? ORDER BY a.id DESC LIMIT 1",
            (monitor_id, metric, batch_id, batch_id),
        )
        return None if row is None else _alert_dict(row)

    def mark_incident(
        self, alert_id: int, metric: str, batch_id: int | None, value: float | None
    ) -> None:
        """Make a freshly raised alert the first breach of an incident of ``metric``."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE alerts SET metric = ?, first_batch_id = ?, last_batch_id = ?, "
                "worst_value = ?, breach_count = 1 WHERE id = ?",
                (metric, batch_id, batch_id, value, alert_id),
            )

    def extend_incident(
        self,
        alert_id: int,
        batch_id: int | None,
        worst_value: float | None,
        message: str,
        evidence: dict[str, Any],
    ) -> AlertRecord:
        """One more breaching batch of an incident: its count, last batch, worst value and
        message move on; its status (open or acknowledged by someone) stays."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE alerts SET breach_count = breach_count + 1, "
                "last_batch_id = MAX(COALESCE(last_batch_id, 0), COALESCE(?, 0)), "
                "worst_value = ?, message = ?, evidence = ?, updated_at = ? WHERE id = ?",
                (batch_id, worst_value, message, dumps(evidence), now(), alert_id),
            )
        return self.get(alert_id)

    def close_incident(self, alert_id: int, reason: str) -> AlertRecord:
        """Resolve an incident because its metric recovered: the reason goes into its
        evidence (``recovery``) and into ``handled_by`` unless someone (a person, a
        pipeline) handled it already."""
        current = self.get(alert_id)
        evidence = {**current["evidence"], "recovery": reason}
        t = now()
        with self.db.transaction() as c:
            c.execute(
                "UPDATE alerts SET status = 'resolved', handled_by = COALESCE(handled_by, ?), "
                "evidence = ?, resolved_at = ?, updated_at = ? WHERE id = ?",
                (reason, dumps(evidence), t, t, alert_id),
            )
        return self.get(alert_id)
