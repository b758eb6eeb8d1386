"""Pipelines and their runs: the queue the scheduler claims from, due keys, heartbeats, and
what each run produced.

This module owns the SQL of its tables; it returns plain records (dicts).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.store.connection import FeatureStore, dumps, loads, now, prefix_pattern
from mlnb.store.records import PipelineRecord, PipelineRunRecord, as_record


class PipelineStore(FeatureStore):
    """Pipelines, their queued and finished runs, and what those runs produced."""

    def run_brief(self, pipeline_run_id: int) -> dict[str, Any] | None:
        """The pipeline run that produced a model's run (for lineage)."""
        row = self.db.query_one(
            "SELECT pr.id, pr.pipeline_id, p.name AS pipeline, p.notebook_path, pr.trigger, "
            "pr.reason, pr.status, pr.started_at, pr.ended_at, pr.output_path "
            "FROM pipeline_runs pr JOIN pipelines p ON p.id = pr.pipeline_id WHERE pr.id = ?",
            (pipeline_run_id,),
        )
        return None if row is None else dict(row)

    def create(self, name: str, notebook_path: str, config: dict[str, Any]) -> int:
        """Insert a pipeline; a name that exists already is a ValidationError."""
        t = now()
        with self.db.transaction() as c:
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

    def update(
        self,
        pipeline_id: int,
        notebook_path: str | None = None,
        config: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> None:
        """Change a pipeline's notebook, config or status."""
        sets = ["updated_at = ?"]
        params: list[Any] = [now()]
        for column, value in (
            ("notebook_path", notebook_path),
            ("config", None if config is None else dumps(config)),
            ("status", status),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        with self.db.transaction() as c:
            c.execute(
                f"UPDATE pipelines SET {', '.join(sets)} WHERE id = ?", (*params, pipeline_id)
            )

    def get(self, name: str) -> PipelineRecord:
        """A pipeline by name (NotFoundError if none)."""
        row = self.db.query_one("SELECT * FROM pipelines WHERE name = ?", (name,))
        if row is None:
            raise NotFoundError(f"no pipeline named {name!r}; list them with `mlnb pipeline list`.")
        return self._pipeline_row(row)

    def get_by_id(self, pipeline_id: int) -> PipelineRecord:
        """A pipeline by id (NotFoundError if none)."""
        row = self.db.query_one("SELECT * FROM pipelines WHERE id = ?", (pipeline_id,))
        if row is None:
            raise NotFoundError(f"no pipeline with id {pipeline_id}.")
        return self._pipeline_row(row)

    def find(self, status: str | None = None) -> list[PipelineRecord]:
        """Pipelines by name, each with its latest run's id, status, trigger and times."""
        clause = "WHERE p.status = ?" if status else ""
        rows = self.db.query(
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

    def delete(self, pipeline_id: int) -> None:
        """Delete a pipeline and its run history (alerts keep their text, lose the link)."""
        with self.db.transaction() as c:
            c.execute("UPDATE alerts SET pipeline_id = NULL WHERE pipeline_id = ?", (pipeline_id,))
            c.execute(
                "UPDATE runs SET pipeline_run_id = NULL WHERE pipeline_run_id IN "
                "(SELECT id FROM pipeline_runs WHERE pipeline_id = ?)",
                (pipeline_id,),
            )
            c.execute("DELETE FROM pipelines WHERE id = ?", (pipeline_id,))

    def enqueue_run(
        self,
        pipeline_id: int,
        trigger: str,
        reason: str,
        due_key: str | None = None,
        details: dict[str, Any] | None = None,
        status: str = "queued",
    ) -> int | None:
        """Queue a run; returns None when a run with the same ``due_key`` exists (idempotent)."""
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO pipeline_runs(pipeline_id, trigger, reason, due_key, "
                "status, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pipeline_id, trigger, reason, due_key, status, dumps(details or {}), now()),
            )
            return int(cur.lastrowid or 0) if cur.rowcount else None

    def claim_run(self, run_id: int, max_concurrent: int, pid: int, host: str) -> bool:
        """Move a queued run to running when its pipeline is under its concurrency limit.

        One statement, so two processes can never both take the last free slot.
        """
        t = now()
        with self.db.transaction() as c:
            cur = c.execute(
                "UPDATE pipeline_runs SET status = 'running', started_at = ?, heartbeat_at = ?, "
                "ended_at = NULL, pid = ?, host = ?, error = NULL, failing_cell = NULL "
                "WHERE id = ? AND status = 'queued' AND (SELECT COUNT(*) FROM pipeline_runs r "
                "WHERE r.pipeline_id = pipeline_runs.pipeline_id AND r.status = 'running') < ?",
                (t, t, pid, host, run_id, max_concurrent),
            )
            return cur.rowcount == 1

    def update_run(
        self, run_id: int, fields: dict[str, Any], only_if_status: str | None = None
    ) -> bool:
        """Set columns of a run (``details`` as a dict); with ``only_if_status`` only when the
        run is still in that status. Returns whether the row changed."""
        if not fields:
            return False
        values = {k: (dumps(v) if k == "details" else v) for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        where = "id = ?"
        params: list[Any] = [run_id]
        if only_if_status is not None:
            where += " AND status = ?"
            params.append(only_if_status)
        with self.db.transaction() as c:
            cur = c.execute(
                f"UPDATE pipeline_runs SET {sets} WHERE {where}", (*values.values(), *params)
            )
            return cur.rowcount == 1

    def merge_run_details(self, run_id: int, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge keys into a run's ``details`` JSON inside one transaction; returns the result."""
        with self.db.transaction() as c:
            row = c.execute("SELECT details FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no pipeline run with id {run_id}.")
            details = {**loads(row[0], {}), **patch}
            c.execute("UPDATE pipeline_runs SET details = ? WHERE id = ?", (dumps(details), run_id))
            return details

    def heartbeat_run(self, run_id: int) -> None:
        """Note that a running pipeline run is still alive."""
        with self.db.transaction() as c:
            c.execute(
                "UPDATE pipeline_runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                (now(), run_id),
            )

    def run(self, run_id: int) -> PipelineRunRecord:
        """One pipeline run with its pipeline name and log (NotFoundError if none)."""
        row = self.db.query_one(
            "SELECT r.*, p.name AS pipeline FROM pipeline_runs r "
            "JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = ?",
            (run_id,),
        )
        if row is None:
            raise NotFoundError(
                f"no pipeline run with id {run_id}; see `mlnb pipeline history NAME`."
            )
        return self._run_row(row)

    def runs(
        self,
        pipeline_id: int | None = None,
        statuses: Sequence[str] | None = None,
        limit: int | None = None,
        oldest_first: bool = False,
    ) -> list[PipelineRunRecord]:
        """Pipeline runs, newest first (or oldest first), filtered by pipeline and status."""
        where: list[str] = []
        params: list[Any] = []
        if pipeline_id is not None:
            where.append("r.pipeline_id = ?")
            params.append(pipeline_id)
        if statuses:
            where.append(f"r.status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.db.query(
            "SELECT r.*, p.name AS pipeline FROM pipeline_runs r "
            f"JOIN pipelines p ON p.id = r.pipeline_id {clause} "
            f"ORDER BY r.id {'ASC' if oldest_first else 'DESC'} {lim}",
            params,
        )
        return [self._run_row(r) for r in rows]

    def latest_due_key(self, pipeline_id: int, prefix: str) -> str | None:
        """The due key of the newest run whose key starts with ``prefix`` (e.g. ``cron:``)."""
        row = self.db.query_one(
            "SELECT due_key FROM pipeline_runs WHERE pipeline_id = ? AND due_key LIKE ? "
            "ESCAPE '\\' ORDER BY id DESC LIMIT 1",
            (pipeline_id, prefix_pattern(prefix)),
        )
        return None if row is None else str(row[0])

    def due_key_taken(self, pipeline_id: int, due_key: str) -> bool:
        """Whether a run of the pipeline already has this due key."""
        row = self.db.query_one(
            "SELECT 1 FROM pipeline_runs WHERE pipeline_id = ? AND due_key = ? LIMIT 1",
            (pipeline_id, due_key),
        )
        return row is not None

    def has_queued_run(self, pipeline_id: int, trigger: str) -> bool:
        """Whether a run with this trigger is already waiting in the queue."""
        row = self.db.query_one(
            "SELECT 1 FROM pipeline_runs WHERE pipeline_id = ? AND trigger = ? "
            "AND status = 'queued' LIMIT 1",
            (pipeline_id, trigger),
        )
        return row is not None

    def last_successful_run(self, pipeline_id: int) -> PipelineRunRecord | None:
        """The pipeline's latest finished run, or None."""
        row = self.db.query_one(
            "SELECT r.*, p.name AS pipeline FROM pipeline_runs r "
            "JOIN pipelines p ON p.id = r.pipeline_id "
            "WHERE r.pipeline_id = ? AND r.status = 'finished' ORDER BY r.id DESC LIMIT 1",
            (pipeline_id,),
        )
        return None if row is None else self._run_row(row)

    def last_handled_alert_id(self, pipeline_id: int) -> int:
        """The newest alert id a pipeline's alert-triggered runs have taken on (0 if none)."""
        row = self.db.query_one(
            "SELECT MAX(CAST(substr(due_key, 7) AS INTEGER)) FROM pipeline_runs "
            "WHERE pipeline_id = ? AND due_key LIKE 'alert:%'",
            (pipeline_id,),
        )
        return int(row[0]) if row and row[0] is not None else 0

    def mark_runs_crashed(self, run_ids: Sequence[int], reason: str) -> int:
        """Mark still-running runs crashed with ``reason``; returns how many changed."""
        if not run_ids:
            return 0
        marks = ", ".join("?" for _ in run_ids)
        with self.db.transaction() as c:
            cur = c.execute(
                "UPDATE pipeline_runs SET status = 'crashed', error = ?, "
                "ended_at = COALESCE(heartbeat_at, started_at, created_at) "
                f"WHERE status = 'running' AND id IN ({marks})",
                (reason, *run_ids),
            )
            return cur.rowcount

    def model_versions_of_run(self, pipeline_run_id: int) -> list[dict[str, Any]]:
        """Model versions registered by runs tracked inside one pipeline run, newest first."""
        rows = self.db.query(
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

    def tracked_runs_of_run(self, pipeline_run_id: int) -> list[dict[str, Any]]:
        """The tracked runs a pipeline run produced."""
        rows = self.db.query(
            "SELECT r.id, r.name, r.status, e.name AS experiment, r.started_at, r.ended_at "
            "FROM runs r JOIN experiments e ON e.id = r.experiment_id "
            "WHERE r.pipeline_run_id = ? ORDER BY r.id",
            (pipeline_run_id,),
        )
        return [dict(r) for r in rows]

    @staticmethod
    def _pipeline_row(row: sqlite3.Row) -> PipelineRecord:
        d = dict(row)
        d["config"] = loads(d["config"], {})
        return as_record(PipelineRecord, d)

    @staticmethod
    def _run_row(row: sqlite3.Row) -> PipelineRunRecord:
        d = dict(row)
        d["details"] = loads(d["details"], {})
        return as_record(PipelineRunRecord, d)

    def all_runs(self) -> list[dict[str, Any]]:
        """Every run of every pipeline with its pipeline's name, oldest first."""
        rows = self.db.query(
            "SELECT p.name, pr.id, pr.trigger, pr.reason, pr.status, pr.output_path, "
            "pr.started_at, pr.ended_at FROM pipeline_runs pr "
            "JOIN pipelines p ON p.id = pr.pipeline_id ORDER BY pr.id"
        )
        return [dict(r) for r in rows]
