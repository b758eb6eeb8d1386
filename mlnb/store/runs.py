"""Runs: experiments, runs, params, metrics with step history and tags; heartbeats and
crash recovery for runs whose process died.

This module owns the SQL of its tables; it returns plain records (dicts).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from mlnb._runtime import HEARTBEAT_SECONDS, STALE_AFTER_SECONDS, host, pid_alive, run_environment
from mlnb.errors import NotFoundError, ValidationError
from mlnb.store.connection import FeatureStore, dumps, loads, now, run_id_filters
from mlnb.store.records import ExperimentRecord, RunRecord, as_record
from mlnb.store.refs import is_number, parse_id

RUN_STATUSES = ("running", "finished", "failed", "crashed", "interrupted")


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{what} must be a non-empty string, got {name!r}.")
    if len(name) > 500:
        raise ValidationError(f"{what} is {len(name)} characters long; keep it under 500.")


def _as_metric_value(key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}."
        ) from None


def sort_value(run: RunRecord, sort: str) -> float | None:
    """What a run is ordered by: its latest metric ``sort``, else its param, else its field;
    None (ordered last) unless that value is a finite number."""
    value = run.get("metrics", {}).get(sort, run.get("params", {}).get(sort, run.get(sort)))
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def sort_runs(runs: list[RunRecord], sort: str, descending: bool) -> list[RunRecord]:
    """Order newest-first runs by ``sort_value``; ties and valueless runs keep newest first.

    The reference for the SQL ordering of ``RunStore.find`` (tests compare the two)."""
    keyed = [(sort_value(r, sort), r) for r in runs]
    present = [(v, r) for v, r in keyed if v is not None]
    present.sort(key=lambda vr: vr[0], reverse=descending)
    return [r for _, r in present] + [r for v, r in keyed if v is None]


# Run fields a listing can be ordered by (the numeric ones of the listing record).
SORTABLE_FIELDS = ("id", "started_at", "ended_at", "pipeline_run_id")
_FINITE = "BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308"
_NUMERIC_PARAM = "(p.value GLOB '[0-9]*' OR p.value GLOB '-[0-9]*')"


class RunFilters:
    """The WHERE terms of a run listing (experiment, status, pipeline run), over ``runs r``."""

    def __init__(self, terms: list[str], args: list[Any], join: str) -> None:
        self.terms = terms
        self.args = args
        self.join = join

    @classmethod
    def of(
        cls, experiment: str | None, status: str | None, pipeline_run_id: int | None
    ) -> RunFilters:
        terms: list[str] = []
        args: list[Any] = []
        join = ""
        if experiment is not None:
            join = "JOIN experiments e ON e.id = r.experiment_id"
            terms.append("e.name = ?")
            args.append(experiment)
        if status is not None:
            terms.append("r.status = ?")
            args.append(status)
        if pipeline_run_id is not None:
            terms.append("r.pipeline_run_id = ?")
            args.append(pipeline_run_id)
        return cls(terms, args, join)

    def sql(self) -> tuple[str, list[Any]]:
        """`` AND ...`` terms to append to a WHERE clause, and their arguments."""
        return "".join(f" AND {t}" for t in self.terms), list(self.args)

    def clause(self) -> tuple[str, list[Any]]:
        """The whole ``WHERE ...`` clause (empty without filters), and its arguments."""
        return (f"WHERE {' AND '.join(self.terms)}" if self.terms else ""), list(self.args)


class RunStore(FeatureStore):
    """Experiments, runs and what they log: params, metric history, tags."""

    def start(
        self,
        experiment: str = "Default",
        name: str = "",
        source: str = "script",
        notebook_path: str | None = None,
        cell_source: str | None = None,
        execution_count: int | None = None,
        pipeline_run_id: int | None = None,
        environment: dict[str, Any] | None = None,
    ) -> int:
        """Create a run in state ``running`` and keep its heartbeat alive; returns its id."""
        _check_name("experiment", experiment)
        fields = {
            "uuid": uuid.uuid4().hex,
            "name": name or "",
            "source": source,
            "notebook_path": notebook_path,
            "cell_source": cell_source,
            "execution_count": execution_count,
            "pipeline_run_id": pipeline_run_id,
            **(environment if environment is not None else run_environment()),
        }
        run_id = self._insert(experiment, fields)
        _heartbeats.add(self, run_id)
        return run_id

    def end(self, run_id: int, status: str = "finished", error: str | None = None) -> None:
        """Close a run as finished, failed, crashed or interrupted (with the error text)."""
        if status not in RUN_STATUSES or status == "running":
            raise ValidationError(f"a run ends as {', '.join(RUN_STATUSES[1:])}, not {status!r}.")
        _heartbeats.remove(self, run_id)
        self._finish(run_id, status, error)

    def log_params(self, run_id: int, params: dict[str, Any]) -> None:
        """Record params of a run (a later value of the same key replaces it)."""
        for key in params:
            _check_name("param name", str(key))
        self._insert_params(run_id, params)

    def log_metrics(self, run_id: int, metrics: dict[str, float], step: int | None = None) -> None:
        """Append metric values; without ``step`` each key continues its own step count."""
        t = time.time()
        points = []
        for key, value in metrics.items():
            _check_name("metric name", str(key))
            s = self.next_metric_step(run_id, key) if step is None else int(step)
            points.append((str(key), _as_metric_value(key, value), s, t))
        self._insert_metrics(run_id, points)

    def log_metric_points(
        self, run_id: int, points: Sequence[tuple[str, float, int, float]]
    ) -> None:
        """Append metric points ``(key, value, step, timestamp)`` recorded elsewhere (an
        import keeps their original steps and times)."""
        for key, value, _, _ in points:
            _check_name("metric name", str(key))
            _as_metric_value(key, value)
        self._insert_metrics(run_id, points)

    def ids_by_tag(self, key: str) -> dict[str, int]:
        """Run id per value of the tag ``key`` (how an import finds what it brought before)."""
        rows = self.db.query("SELECT value, run_id FROM tags WHERE key = ?", (key,))
        return {str(r["value"]): int(r["run_id"]) for r in rows}

    def uuids(self) -> set[str]:
        """Every run's uuid (the identity a sync to MLflow carries across)."""
        return {str(r["uuid"]) for r in self.db.query("SELECT uuid FROM runs")}

    def set_tags(self, run_id: int, tags: dict[str, Any]) -> None:
        """Record tags of a run as strings."""
        self._insert_tags(run_id, {k: str(v) for k, v in tags.items()})

    def get(self, run_ref: int | str) -> RunRecord:
        """Everything about one run: fields, params, metric history, tags, data and models."""
        run_id = self.resolve_id(run_ref)
        run = self.row(run_id)
        run["packages"] = loads(run.get("packages"), {})
        run["params"] = self.params(run_id)
        history = self.metric_history(run_id)
        run["metric_history"] = history
        run["metrics"] = {k: v[-1]["value"] for k, v in history.items()}
        run["tags"] = self.tags(run_id)
        run["data"] = self._reg.data.of_run(run_id)
        run["models"] = self._reg.models.artifacts_of_run(run_id)
        return run

    def resolve_id(self, run_ref: int | str) -> int:
        """A run id from an int, a number string, ``#12`` or a uuid prefix."""
        if isinstance(run_ref, int):
            return parse_id(run_ref, "a run id")
        text = str(run_ref).strip().lstrip("#")
        if is_number(text):
            return parse_id(text, "a run id")
        if len(text) >= 6 and all(c in "0123456789abcdef" for c in text.lower()):
            rows = self.db.query(
                "SELECT id FROM runs WHERE uuid LIKE ? LIMIT 2", (text.lower() + "%",)
            )
            if len(rows) == 1:
                return int(rows[0][0])
        raise ValidationError(
            f"{run_ref!r} is not a run id: use the number shown by `mlnb runs` (e.g. 12)."
        )

    def find(
        self,
        experiment: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        sort: str | None = None,
        descending: bool = True,
        with_details: bool = True,
        pipeline_run_id: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first, each with its params and latest metrics; ``sort`` names a
        metric (else a param, else a run field) to order by instead, valueless runs last.
        ``offset`` skips that many newest runs (paging; not with ``sort``)."""
        if status is not None and status not in RUN_STATUSES:
            raise ValidationError(
                f"unknown run status {status!r}; choose one of {', '.join(RUN_STATUSES)}."
            )
        if limit is not None and limit < 0:
            raise ValidationError(f"limit must be 0 or more, got {limit}.")
        filters = RunFilters.of(experiment, status, pipeline_run_id)
        if sort:
            ids = self._sorted_ids(sort, descending, limit, filters)
            runs = self.rows_by_ids(ids)
        else:
            runs = self.rows(experiment, status, limit, pipeline_run_id, offset)
        if with_details:
            ids = [r["id"] for r in runs]
            metrics = self.latest_metrics(ids)
            params = self.params_of(ids)
            for r in runs:
                r["metrics"] = metrics.get(r["id"], {})
                r["params"] = params.get(r["id"], {})
        return runs

    def _sorted_ids(
        self, sort: str, descending: bool, limit: int | None, filters: RunFilters
    ) -> list[int]:
        """Run ids in ``sort_runs`` order, read through indexes: the first ``limit`` of each
        source of values (metric, param, field) merged, then valueless runs newest first."""
        direction = "DESC" if descending else "ASC"
        lim = "" if limit is None else f"LIMIT {int(limit)}"
        has_metric = "EXISTS (SELECT 1 FROM latest_metrics x WHERE x.run_id = r.id AND x.key = ?)"
        has_param = "EXISTS (SELECT 1 FROM params y WHERE y.run_id = r.id AND y.key = ?)"
        where, args = filters.sql()
        sources = [
            (
                "SELECT m.run_id, m.value FROM latest_metrics m CROSS JOIN runs r "
                f"ON r.id = m.run_id {filters.join} WHERE m.key = ? AND m.value {_FINITE} "
                f"{where} ORDER BY m.value {direction}, m.run_id DESC {lim}",
                [sort, *args],
            ),
            (
                "SELECT p.run_id, CAST(p.value AS REAL) AS v FROM params p CROSS JOIN runs r "
                f"ON r.id = p.run_id {filters.join} WHERE p.key = ? AND {_NUMERIC_PARAM} "
                f"AND CAST(p.value AS REAL) {_FINITE} AND NOT {has_metric} {where} "
                f"ORDER BY CAST(p.value AS REAL) {direction}, p.run_id DESC {lim}",
                [sort, sort, *args],
            ),
        ]
        if sort in SORTABLE_FIELDS:
            sources.append(
                (
                    f"SELECT r.id, r.{sort} FROM runs r {filters.join} "
                    f"WHERE r.{sort} {_FINITE} AND NOT {has_metric} AND NOT {has_param} "
                    f"{where} ORDER BY r.{sort} {direction}, r.id DESC {lim}",
                    [sort, sort, *args],
                )
            )
        valued: list[tuple[float, int]] = []
        for sql, params in sources:
            valued.extend((float(v), int(i)) for i, v in self.db.query_tuples(sql, params))
        sign = -1.0 if descending else 1.0
        valued.sort(key=lambda vi: (sign * vi[0], -vi[1]))
        ids = [i for _, i in (valued if limit is None else valued[:limit])]
        if limit is not None and len(ids) >= limit:
            return ids
        valueless = (
            f"NOT EXISTS (SELECT 1 FROM latest_metrics x WHERE x.run_id = r.id AND x.key = ? "
            f"AND x.value {_FINITE}) AND NOT (NOT {has_metric} AND EXISTS (SELECT 1 FROM "
            f"params p WHERE p.run_id = r.id AND p.key = ? AND {_NUMERIC_PARAM} AND "
            f"CAST(p.value AS REAL) {_FINITE}))"
        )
        valueless_args: list[Any] = [sort, sort, sort]
        if sort in SORTABLE_FIELDS:
            valueless += (
                f" AND NOT (NOT {has_metric} AND NOT {has_param} AND r.{sort} IS NOT NULL "
                f"AND r.{sort} {_FINITE})"
            )
            valueless_args += [sort, sort]
        rest = "" if limit is None else f"LIMIT {int(limit) - len(ids)}"
        rows = self.db.query_tuples(
            f"SELECT r.id FROM runs r {filters.join} WHERE {valueless} {where} "
            f"ORDER BY r.id DESC {rest}",
            [*valueless_args, *args],
        )
        return ids + [int(r[0]) for r in rows]

    def rows_by_ids(self, ids: Sequence[int]) -> list[RunRecord]:
        """The listing fields of these runs, in the order given (unknown ids skipped)."""
        if not ids:
            return []
        found: dict[int, RunRecord] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            for row in self.db.query(
                "SELECT r.id, r.uuid, r.name, r.status, r.source, r.started_at, r.ended_at, "
                "r.notebook_path, r.user, r.pipeline_run_id, e.name AS experiment "
                f"FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id IN ({marks})",
                chunk,
            ):
                found[int(row["id"])] = as_record(RunRecord, dict(row))
        return [found[i] for i in ids if i in found]

    def compare(self, run_refs: list[int | str]) -> dict[str, Any]:
        """Params, metrics and data of several runs side by side, with the differences marked."""
        if len(run_refs) < 2:
            raise ValidationError("compare needs at least two runs, e.g. `mlnb compare 3 7`.")
        runs = [self.get(r) for r in run_refs]
        rows: dict[str, list[dict[str, Any]]] = {"params": [], "metrics": [], "data": []}
        for section in ("params", "metrics"):
            keys = sorted({k for r in runs for k in r[section]})
            for k in keys:
                values = [r[section].get(k) for r in runs]
                rows[section].append(
                    {"key": k, "values": values, "differs": len({dumps(v) for v in values}) > 1}
                )
        names = sorted({(d["role"], d["name"]) for r in runs for d in r["data"]})
        for role, name in names:
            values = [
                next((d["id"] for d in r["data"] if d["role"] == role and d["name"] == name), None)
                for r in runs
            ]
            rows["data"].append(
                {"key": f"{role}:{name}", "values": values, "differs": len(set(values)) > 1}
            )
        return {
            "runs": [
                {k: r[k] for k in ("id", "name", "experiment", "status", "started_at", "ended_at")}
                for r in runs
            ],
            **rows,
        }

    def recover_crashed(self) -> int:
        """Mark runs crashed whose heartbeat is stale or whose process on this host is gone."""
        here = host()
        pids = {pid for _, pid in self.running_on_host(here)}
        alive = {pid for pid in pids if pid == os.getpid() or pid_alive(pid)}
        return self.mark_stale_crashed(
            time.time() - STALE_AFTER_SECONDS, here, sorted(pids - alive), sorted(alive)
        )

    def experiment_id(self, name: str) -> int:
        """The id of an experiment, created on first use."""
        row = self.db.query_one("SELECT id FROM experiments WHERE name = ?", (name,))
        if row:
            return int(row[0])
        with self.db.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO experiments(name, created_at) VALUES (?, ?)",
                (name, now()),
            )
            return int(
                c.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()[0]
            )

    def experiments(self) -> list[ExperimentRecord]:
        """Experiments with their run counts and latest run time."""
        rows = self.db.query(
            # n_runs and last_run_at are kept by triggers on runs: no scan of the runs.
            "SELECT id, name, created_at, n_runs, last_run_at FROM experiments ORDER BY name"
        )
        return [as_record(ExperimentRecord, r) for r in rows]

    def _insert(self, experiment: str, fields: dict[str, Any]) -> int:
        experiment_id = self.experiment_id(experiment)
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
        with self.db.transaction() as c:
            cur = c.execute(f"INSERT INTO runs({names}) VALUES ({marks})", tuple(cols.values()))
            return int(cur.lastrowid or 0)

    def heartbeat(self, run_ids: Sequence[int]) -> None:
        """Refresh the heartbeat of live runs."""
        if not run_ids:
            return
        marks = ", ".join("?" for _ in run_ids)
        with self.db.transaction() as c:
            c.execute(
                f"UPDATE runs SET heartbeat_at = ? WHERE status = 'running' AND id IN ({marks})",
                (now(), *run_ids),
            )

    def _finish(self, run_id: int, status: str, error: str | None = None) -> None:
        # essential: even on a full disk the run must not stay "running"
        self.db.essential_write(
            lambda c: c.execute(
                "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ? "
                "WHERE id = ?",
                (status, now(), now(), error, run_id),
            )
        )

    def update(self, run_id: int, fields: dict[str, Any]) -> None:
        """Change a run's fields (name, notebook path, cell source, ...)."""
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.db.transaction() as c:
            c.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*fields.values(), run_id))

    def mark_stale_crashed(
        self,
        stale_before: float,
        host: str,
        dead_pids: Sequence[int],
        alive_pids: Sequence[int] = (),
    ) -> int:
        """Mark runs crashed whose heartbeat stopped, or whose process on this host is gone;
        a run whose process is alive on this host (``alive_pids``) is never stale."""
        clause = "heartbeat_at < ?"
        params: list[Any] = [stale_before]
        if alive_pids:
            clause = (
                f"(heartbeat_at < ? AND NOT (host IS ? AND pid IN "
                f"({', '.join('?' for _ in alive_pids)})))"
            )
            params += [host, *alive_pids]
        if dead_pids:
            clause += f" OR (host = ? AND pid IN ({', '.join('?' for _ in dead_pids)}))"
            params += [host, *dead_pids]
        with self.db.transaction() as c:
            cur = c.execute(
                "UPDATE runs SET status = 'crashed', ended_at = heartbeat_at, "
                "error = 'the process stopped sending heartbeats (kernel died or was killed)' "
                f"WHERE status = 'running' AND ({clause})",
                params,
            )
            return cur.rowcount

    def running_on_host(self, host: str) -> list[tuple[int, int]]:
        """(run id, pid) of this host's runs still marked running."""
        rows = self.db.query(
            "SELECT id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
            (host,),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    def row(self, run_id: int) -> RunRecord:
        """One run without its params and metrics (NotFoundError if none)."""
        row = self.db.query_one(
            "SELECT r.*, e.name AS experiment FROM runs r "
            "JOIN experiments e ON e.id = r.experiment_id WHERE r.id = ?",
            (run_id,),
        )
        if row is None:
            raise NotFoundError(f"no run with id {run_id}; list runs with `mlnb runs`.")
        return as_record(RunRecord, row)

    def rows(
        self,
        experiment: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        pipeline_run_id: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs newest first, filtered; the listing fields only."""
        clause, params = RunFilters.of(experiment, status, pipeline_run_id).clause()
        page = ""
        if limit or offset:
            page = f"LIMIT {int(limit) if limit else -1} OFFSET {int(offset)}"
        rows = self.db.query(
            "SELECT r.id, r.uuid, r.name, r.status, r.source, r.started_at, r.ended_at, "
            "r.notebook_path, r.user, r.pipeline_run_id, e.name AS experiment "
            f"FROM runs r JOIN experiments e ON e.id = r.experiment_id {clause} "
            f"ORDER BY r.id DESC {page}",
            params,
        )
        if not rows:
            return []
        names = rows[0].keys()
        return [as_record(RunRecord, dict(zip(names, tuple(r), strict=True))) for r in rows]

    def count(self, experiment: str | None = None, status: str | None = None) -> int:
        """How many runs the registry holds (of an experiment, with a status)."""
        clause, params = RunFilters.of(experiment, status, None).clause()
        return int(
            self.db.query(
                f"SELECT COUNT(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id {clause}",
                params,
            )[0][0]
        )

    def latest_metrics(self, run_ids: Sequence[int]) -> dict[int, dict[str, float]]:
        """Last logged value of every metric, per run (for run tables)."""
        if not run_ids:
            return {}
        out: dict[int, dict[str, float]] = {i: {} for i in run_ids}
        for sql, params in run_id_filters(
            "SELECT run_id, key, value FROM latest_metrics WHERE {where}",
            run_ids,
        ):
            for run_id, key, value in self.db.query_tuples(sql, params):
                target = out.get(run_id)
                if target is not None:
                    target[key] = value
        return out

    def params_of(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Params of many runs at once, by run id."""
        if not run_ids:
            return {}
        out: dict[int, dict[str, Any]] = {i: {} for i in run_ids}
        for sql, params in run_id_filters(
            "SELECT run_id, key, value FROM params WHERE {where}", run_ids
        ):
            rows = self.db.query_tuples(sql, params)
            values = json.loads("[" + ",".join(r[2] for r in rows) + "]") if rows else []
            for (run_id, key, _), value in zip(rows, values, strict=True):
                target = out.get(run_id)
                if target is not None:
                    target[key] = value
        return out

    def _insert_params(self, run_id: int, params: dict[str, Any]) -> None:
        if not params:
            return
        with self.db.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO params(run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, str(k), dumps(v)) for k, v in params.items()],
            )

    def _insert_metrics(
        self, run_id: int, metrics: Sequence[tuple[str, float, int, float]]
    ) -> None:
        """Append metric points ``(key, value, step, timestamp)``; history is kept."""
        if not metrics:
            return
        with self.db.transaction() as c:
            c.executemany(
                "INSERT INTO metrics(run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
                [(run_id, k, v, s, t) for k, v, s, t in metrics],
            )

    def next_metric_step(self, run_id: int, key: str) -> int:
        """The step after the last one logged for this metric (0 at first)."""
        row = self.db.query_one(
            "SELECT MAX(step) FROM metrics WHERE run_id = ? AND key = ?", (run_id, key)
        )
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def _insert_tags(self, run_id: int, tags: dict[str, str]) -> None:
        if not tags:
            return
        with self.db.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, str(k), str(v)) for k, v in tags.items()],
            )

    def params(self, run_id: int) -> dict[str, Any]:
        """A run's params."""
        return {
            r[0]: loads(r[1])
            for r in self.db.query(
                "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", (run_id,)
            )
        }

    def metric_history(self, run_id: int) -> dict[str, list[dict[str, float]]]:
        """Every logged value of each of a run's metrics, by step."""
        out: dict[str, list[dict[str, float]]] = {}
        for r in self.db.query(
            "SELECT key, value, step, timestamp FROM metrics WHERE run_id = ? ORDER BY key, step, id",
            (run_id,),
        ):
            out.setdefault(r[0], []).append({"value": r[1], "step": r[2], "timestamp": r[3]})
        return out

    def tags(self, run_id: int) -> dict[str, str]:
        """A run's tags."""
        return {
            r[0]: r[1]
            for r in self.db.query(
                "SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", (run_id,)
            )
        }


class _Heartbeats:
    """One daemon thread per process refreshing the heartbeat of every running run."""

    def __init__(self) -> None:
        self._runs: dict[int, tuple[RunStore, set[int]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, store: RunStore, run_id: int) -> None:
        """Keep the heartbeat of ``run_id`` alive from the background thread."""
        with self._lock:
            self._runs.setdefault(id(store), (store, set()))[1].add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="mlnb-heartbeat", daemon=True
                )
                self._thread.start()

    def remove(self, store: RunStore, run_id: int) -> None:
        """Stop refreshing the heartbeat of ``run_id``."""
        with self._lock:
            entry = self._runs.get(id(store))
            if entry:
                entry[1].discard(run_id)

    def forget(self, store: RunStore) -> None:
        """Stop refreshing every heartbeat of ``store``'s runs."""
        with self._lock:
            self._runs.pop(id(store), None)

    def _loop(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with self._lock:
                work = [(store, sorted(ids)) for store, ids in self._runs.values() if ids]
            for store, ids in work:
                try:
                    store.heartbeat(ids)
                except Exception:  # a missed beat is harmless; never kill the thread
                    pass


_heartbeats = _Heartbeats()


def forget_heartbeats(store: RunStore) -> None:
    """Stop refreshing the heartbeats of ``store``'s runs (its registry is closing)."""
    _heartbeats.forget(store)
