"""The registry: one SQLite database plus a content-addressed object store in one folder.

:class:`Registry` is what the rest of mlnb (capture, gates, drift, pipelines, the CLI, the
server) talks to; its methods return plain dicts ready for JSON or tables.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from mlnb.errors import NotFoundError, RegistryError, ValidationError
from mlnb.store.db import Database, dumps, loads
from mlnb.store.objects import ObjectStore
from mlnb.store.paths import DB_FILENAME, OBJECTS_DIRNAME, resolve_home

HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 90.0
RUN_STATUSES = ("running", "finished", "failed", "crashed")


class Registry:
    """An mlnb registry folder (``registry.db`` + ``objects/``), opened and migrated.

    Opening it marks runs whose process died as crashed. ``Registry()`` uses ``$MLNB_HOME``
    or ``./.mlnb``.
    """

    def __init__(self, home: str | os.PathLike[str] | None = None, create: bool = True) -> None:
        self.home = resolve_home(home)
        self.db_path = self.home / DB_FILENAME
        if not self.db_path.exists():
            if not create:
                raise RegistryError(
                    f"no mlnb registry at {self.home}. Track a run first, or point MLNB_HOME "
                    "(or --registry) at the folder that holds registry.db."
                )
            _make_folder(self.home)
        elif not os.access(self.home, os.W_OK) or not os.access(self.db_path, os.W_OK):
            raise RegistryError(
                f"the registry {self.db_path} is read-only. Make it and its folder writable, "
                "or point MLNB_HOME / `%mlnb registry PATH` at a writable folder."
            )
        self.db = Database(self.db_path)
        self.objects = ObjectStore(self.home / OBJECTS_DIRNAME)
        self.recover_crashed_runs()

    def __repr__(self) -> str:
        return f"Registry({str(self.home)!r})"

    def close(self) -> None:
        _heartbeats.forget(self)
        self.db.close()

    # -- runs -----------------------------------------------------------------------

    def start_run(
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
        from mlnb._runtime import run_environment

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
        run_id = self.db.create_run(experiment, fields)
        _heartbeats.add(self, run_id)
        return run_id

    def end_run(self, run_id: int, status: str = "finished", error: str | None = None) -> None:
        if status not in RUN_STATUSES or status == "running":
            raise ValidationError(f"a run ends as finished, failed or crashed, not {status!r}.")
        _heartbeats.remove(self, run_id)
        self.db.finish_run(run_id, status, error)

    def log_params(self, run_id: int, params: dict[str, Any]) -> None:
        for key in params:
            _check_name("param name", str(key))
        self.db.log_params(run_id, params)

    def log_metrics(self, run_id: int, metrics: dict[str, float], step: int | None = None) -> None:
        """Append metric values; without ``step`` each key continues its own step count."""
        t = time.time()
        points = []
        for key, value in metrics.items():
            _check_name("metric name", str(key))
            s = self.db.next_metric_step(run_id, key) if step is None else int(step)
            points.append((str(key), _as_metric_value(key, value), s, t))
        self.db.log_metrics(run_id, points)

    def set_tags(self, run_id: int, tags: dict[str, Any]) -> None:
        self.db.set_tags(run_id, {k: str(v) for k, v in tags.items()})

    def get_run(self, run_ref: int | str) -> dict[str, Any]:
        """Everything about one run: fields, params, metric history, tags, data and models."""
        run_id = self.resolve_run_id(run_ref)
        run = self.db.get_run(run_id)
        run["packages"] = loads(run.get("packages"), {})
        run["params"] = self.db.run_params(run_id)
        history = self.db.run_metric_history(run_id)
        run["metric_history"] = history
        run["metrics"] = {k: v[-1]["value"] for k, v in history.items()}
        run["tags"] = self.db.run_tags(run_id)
        run["data"] = self.db.run_data(run_id)
        run["models"] = self.db.run_models(run_id)
        return run

    def resolve_run_id(self, run_ref: int | str) -> int:
        """A run id from an int, a number string, ``#12`` or a uuid prefix."""
        if isinstance(run_ref, int):
            return run_ref
        text = str(run_ref).strip().lstrip("#")
        if text.isdigit():
            return int(text)
        if len(text) >= 6 and all(c in "0123456789abcdef" for c in text.lower()):
            rows = self.db.query(
                "SELECT id FROM runs WHERE uuid LIKE ? LIMIT 2", (text.lower() + "%",)
            )
            if len(rows) == 1:
                return int(rows[0][0])
        raise ValidationError(
            f"{run_ref!r} is not a run id: use the number shown by `mlnb runs` (e.g. 12)."
        )

    def list_runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        sort: str | None = None,
        descending: bool = True,
        with_details: bool = True,
        pipeline_run_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, each with its params and latest metrics; ``sort`` names a
        metric (or a run field) to order by instead."""
        if status is not None and status not in RUN_STATUSES:
            raise ValidationError(
                f"unknown run status {status!r}; choose one of {', '.join(RUN_STATUSES)}."
            )
        runs = self.db.list_runs(
            experiment, status, limit if sort is None else None, pipeline_run_id
        )
        if with_details:
            ids = [r["id"] for r in runs]
            metrics = self.db.latest_metrics_for_runs(ids)
            params = self.db.params_for_runs(ids)
            for r in runs:
                r["metrics"] = metrics.get(r["id"], {})
                r["params"] = params.get(r["id"], {})
        if sort:
            runs = _sort_runs(runs, sort, descending)
            if limit:
                runs = runs[:limit]
        return runs

    def compare_runs(self, run_refs: list[int | str]) -> dict[str, Any]:
        """Params, metrics and data of several runs side by side, with the differences marked."""
        if len(run_refs) < 2:
            raise ValidationError("compare needs at least two runs, e.g. `mlnb compare 3 7`.")
        runs = [self.get_run(r) for r in run_refs]
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

    def list_experiments(self) -> list[dict[str, Any]]:
        return self.db.list_experiments()

    def recover_crashed_runs(self) -> int:
        """Mark runs crashed whose heartbeat is stale or whose process on this host is gone."""
        from mlnb._runtime import host

        here = host()
        dead = [
            pid
            for _, pid in self.db.running_runs_on_host(here)
            if pid != os.getpid() and not _pid_alive(pid)
        ]
        return self.db.mark_stale_runs_crashed(time.time() - STALE_AFTER_SECONDS, here, dead)

    # -- data versions --------------------------------------------------------------

    def file_hash_cache(self):  # type: ignore[no-untyped-def]
        from mlnb.tracking.fingerprint import FileHashCache

        return FileHashCache(self.db.cached_file_hash, self.db.store_file_hash)

    def record_data(
        self,
        obj: Any,
        name: str = "",
        run_id: int | None = None,
        role: str = "input",
        snapshot: bool = False,
        described: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a data version of an in-memory object or a path; optionally keep a copy."""
        from mlnb.tracking import fingerprint as fp

        if isinstance(obj, (str, os.PathLike)):
            path = Path(obj).expanduser()
            version = {
                "id": fp.fingerprint_path(path, self.file_hash_cache()),
                "kind": "folder" if path.is_dir() else "file",
                "schema": {},
                "source_path": str(path.resolve()),
                "nbytes": _path_size(path),
            }
            if snapshot:
                if path.is_dir():
                    raise ValidationError(
                        f"--snapshot keeps single files, and {path} is a folder; snapshot its "
                        "files one by one."
                    )
                version["snapshot"] = self.objects.put_file(path)
        else:
            version = dict(described or fp.describe(obj))
            if snapshot:
                version["snapshot"] = self.objects.put_bytes(_snapshot_bytes(obj))
        version["name"] = name
        self.db.record_data_version(version)
        if run_id is not None:
            self.db.link_run_data(run_id, [(version["id"], role, name)])
        return version

    def link_data(self, run_id: int, version_id: str, role: str, name: str) -> None:
        self.db.link_run_data(run_id, [(version_id, role, name)])

    def get_data_version(self, version_id: str) -> dict[str, Any]:
        d = self.db.get_data_version(version_id)
        d["runs"] = self.db.runs_using_data(d["id"])
        return d

    def list_data_versions(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self.db.list_data_versions(limit)

    def load_data(self, version_id: str) -> Any:
        """The snapshot of a data version as the object it was (DataFrame, Series, array) or bytes."""
        d = self.db.get_data_version(version_id)
        if not d.get("snapshot"):
            raise NotFoundError(
                f"data version {d['id']} has no snapshot; record it with "
                "`%dataversion OBJ --snapshot` (or mlnb.log_data(..., snapshot=True)) to keep a copy."
            )
        data = self.objects.get_bytes(d["snapshot"])
        return _from_snapshot(d["kind"], data)

    def restore_data(self, version_id: str, target: str | os.PathLike[str]) -> Path:
        """Write a snapshot back to ``target`` (a file copy, or the frame in the suffix's format)."""
        d = self.db.get_data_version(version_id)
        if not d.get("snapshot"):
            raise NotFoundError(
                f"data version {d['id']} has no snapshot to restore; only versions recorded "
                "with --snapshot can be restored."
            )
        target = Path(target).expanduser()
        if d["kind"] == "file":
            self.objects.copy_to(d["snapshot"], target)
            return target
        obj = self.load_data(d["id"])
        _write_frame(obj, target)
        return target

    # -- model artifacts ---------------------------------------------------------------

    def save_model(
        self,
        model: Any,
        name: str,
        run_id: int | None = None,
        signature: dict[str, Any] | None = None,
        allow_pickle: bool = False,
    ) -> dict[str, Any]:
        """Serialise a model into the object store and record it as an artifact of a run."""
        from mlnb.tracking.artifacts import serialize
        from mlnb.tracking.estimators import class_name
        from mlnb.tracking.estimators import signature as model_signature

        data, fmt, trusted = serialize(model, allow_pickle=allow_pickle)
        digest = self.objects.put_bytes(data)
        artifact = {
            "run_id": run_id,
            "name": name,
            "object_hash": digest,
            "format": fmt,
            "flavor": "sklearn" if type(model).__module__.startswith("sklearn") else "python",
            "class_name": class_name(model),
            "signature": signature if signature is not None else model_signature(model),
            "trusted_types": trusted,
            "size": len(data),
        }
        artifact["id"] = self.db.record_model_artifact(artifact)
        from mlnb.lifecycle.versions import remember_saved_model

        remember_saved_model(self, model, artifact["id"])
        return artifact

    def load_artifact(
        self,
        artifact_id: int,
        trusted: list[str] | None = None,
        allow_pickle: bool = False,
    ) -> Any:
        """Load a stored model after checking its sha256; types trusted by registry or caller."""
        from mlnb.tracking.artifacts import deserialize

        artifact = self.db.get_model_artifact(artifact_id)
        data = self.objects.get_bytes(artifact["object_hash"])
        return deserialize(
            data, artifact["format"], artifact["trusted_types"], trusted, allow_pickle
        )

    # == model registry (issue: lifecycle and gates) ===================================

    def register_model_version(
        self,
        name: str,
        artifact_id: int,
        description: str = "",
        stage: str | None = None,
        aliases: tuple[str, ...] | list[str] = (),
        user: str | None = None,
        model_description: str = "",
    ) -> dict[str, Any]:
        """Add a numbered version of model ``name`` pointing at a stored artifact."""
        from mlnb._runtime import user as current_user
        from mlnb.lifecycle.refs import check_alias, check_model_name

        check_model_name(name)
        aliases = [check_alias(a) for a in aliases]
        if stage not in (None, "none", "staging"):
            raise ValidationError(
                f"a new version can start in 'none' or 'staging', not {stage!r}: production "
                f"goes through mlnb.promote('{name}', to='production', gate=...) so that its "
                "gate runs and the promotion is recorded."
            )
        artifact = self.db.get_model_artifact(int(artifact_id))
        who = user or current_user()
        made = self.db.register_model_version(
            name, artifact["id"], artifact.get("run_id"), description, who, model_description
        )
        if stage == "staging":
            self.db.transition_model_version(made["version_id"], "staging", who, "registered")
        for alias in aliases:
            self.db.set_model_alias(made["model_id"], alias, made["version_id"])
        return self.get_model_version(name, made["version"])

    def list_models(self) -> list[dict[str, Any]]:
        """Registered models with version counts, production and staging versions, aliases."""
        models = self.db.list_registered_models()
        for m in models:
            m["aliases"] = {a["alias"]: a["version"] for a in self.db.model_aliases(m["id"])}
            staging = m.pop("staging_versions") or ""
            m["staging_versions"] = sorted(int(v) for v in str(staging).split(",") if v)
        return models

    def registered_model_id(self, name: str) -> int:
        row = self.db.registered_model(name)
        if row is None:
            known = [m["name"] for m in self.db.list_registered_models()]
            hint = f" Registered models: {', '.join(known)}." if known else ""
            raise NotFoundError(
                f"no registered model named {name!r}.{hint} Register one with "
                "mlnb.register_model(model, name=...) or `%register_model VAR --name NAME`."
            )
        return int(row["id"])

    def get_model(self, name: str) -> dict[str, Any]:
        """One model: its versions (with aliases), stage history and recent gate results."""
        model_id = self.registered_model_id(name)
        model = dict(self.db.registered_model(name) or {})
        aliases = self.db.model_aliases(model_id)
        versions = self.db.model_version_rows(model_id)
        for v in versions:
            v["aliases"] = [a["alias"] for a in aliases if a["version_id"] == v["id"]]
        model["versions"] = versions
        model["aliases"] = {a["alias"]: a["version"] for a in aliases}
        model["transitions"] = self.db.model_stage_transitions(model_id)
        model["gate_results"] = self.db.model_gate_results(model_id, limit=50)
        production = [v for v in versions if v["stage"] == "production"]
        model["production_version"] = production[0]["version"] if production else None
        return model

    def get_model_version(self, name: str, version: int) -> dict[str, Any]:
        """One version with its artifact, aliases and stage (NotFoundError if missing)."""
        model_id = self.registered_model_id(name)
        row = self.db.model_version_row(model_id, int(version))
        if row is None:
            numbers = [v["version"] for v in self.db.model_version_rows(model_id)]
            raise NotFoundError(
                f"{name} has no version {version}; its versions are "
                f"{', '.join(map(str, numbers)) or 'none'} (see `mlnb model {name}`)."
            )
        return self._with_aliases(row)

    def _with_aliases(self, row: dict[str, Any]) -> dict[str, Any]:
        row["aliases"] = [
            a["alias"]
            for a in self.db.model_aliases(row["model_id"])
            if a["version_id"] == row["id"]
        ]
        return row

    def resolve_model_version(self, ref: str) -> dict[str, Any]:
        """The version a reference names: ``churn/3``, ``churn@3``, ``churn@production``,
        ``churn@champion`` or ``churn`` (the latest version). A stage with several versions
        (staging) names its highest-numbered one."""
        from mlnb.lifecycle.refs import STAGES, parse_model_ref

        parsed = parse_model_ref(ref)
        model_id = self.registered_model_id(parsed.name)
        if parsed.version is not None:
            return self.get_model_version(parsed.name, parsed.version)
        if parsed.alias is None or parsed.alias == "latest":
            rows = self.db.model_version_rows(model_id)
            if not rows:
                raise NotFoundError(f"{parsed.name} has no versions yet.")
            return self._with_aliases(rows[-1])
        if parsed.alias in STAGES:
            rows = self.db.model_versions_in_stage(model_id, parsed.alias)
            if not rows:
                raise NotFoundError(
                    f"{parsed.name} has no version in {parsed.alias}; promote one with "
                    f"`mlnb promote {parsed.name} VERSION --to {parsed.alias}`."
                )
            return self._with_aliases(rows[0])
        version_id = self.db.alias_version_id(model_id, parsed.alias)
        if version_id is None:
            known = [a["alias"] for a in self.db.model_aliases(model_id)]
            raise NotFoundError(
                f"{parsed.name} has no alias {parsed.alias!r}"
                + (f" (aliases: {', '.join(known)})" if known else "")
                + f"; set one with `mlnb alias {parsed.name} {parsed.alias} VERSION`."
            )
        return self._with_aliases(self.db.model_version_by_id(version_id) or {})

    def resolve_model_ref(self, ref: str) -> int:
        """The artifact id behind a registered-model reference (``name@alias``, ``name/3``)."""
        return int(self.resolve_model_version(ref)["artifact_id"])

    def transition_model_version(
        self,
        name: str,
        version: int,
        to: str,
        reason: str = "",
        user: str | None = None,
        gate_result_id: int | None = None,
        expected_production_id: int | None | object = ...,
    ) -> list[dict[str, Any]]:
        """Move a version to another stage (production demotes the old one to archived)."""
        from mlnb._runtime import user as current_user
        from mlnb.lifecycle.refs import STAGES

        if to not in STAGES or to == "none":
            raise ValidationError(
                f"cannot move a version to {to!r}: choose staging, production or archived."
            )
        row = self.get_model_version(name, version)
        return self.db.transition_model_version(
            row["id"], to, user or current_user(), reason, gate_result_id, expected_production_id
        )

    def production_version(self, name: str) -> dict[str, Any] | None:
        rows = self.db.model_versions_in_stage(self.registered_model_id(name), "production")
        return self._with_aliases(rows[0]) if rows else None

    def rollback_target(self, name: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(current production version, the version a rollback restores).

        Production history is replayed as a stack: each promotion pushes a version and each
        return to an earlier version pops back to it, so repeated rollbacks walk further back.
        """
        model_id = self.registered_model_id(name)
        stack: list[int] = []
        for t in self.db.model_stage_transitions(model_id):
            if t["to_stage"] != "production":
                continue
            if t["version_id"] in stack:
                del stack[stack.index(t["version_id"]) + 1 :]
            else:
                stack.append(t["version_id"])
        current = self.production_version(name)
        if current is not None:
            while stack and stack[-1] == current["id"]:
                stack.pop()
        if not stack:
            raise ValidationError(
                f"{name} has no earlier production version to roll back to"
                + (f" (version {current['version']} is the first one)." if current else ".")
            )
        target = self.db.model_version_by_id(stack[-1])
        assert target is not None
        return current, self._with_aliases(target)

    def rollback_model(
        self, name: str, reason: str = "", user: str | None = None
    ) -> dict[str, Any]:
        """Restore the previous production version in one step; the current one is archived."""
        from mlnb._runtime import user as current_user

        current, target = self.rollback_target(name)
        text = "rollback" + (f": {reason}" if reason else "")
        made = self.db.rollback_production(
            target["model_id"],
            target["id"],
            current["id"] if current else None,
            user or current_user(),
            text,
        )
        return {
            "model": name,
            "restored": target["version"],
            "replaced": current["version"] if current else None,
            "reason": text,
            "transitions": made,
        }

    def set_model_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        """Point a free alias (champion, challenger, ...) at a version."""
        from mlnb.lifecycle.refs import check_alias

        check_alias(alias)
        row = self.get_model_version(name, version)
        self.db.set_model_alias(row["model_id"], alias, row["id"])
        return self.get_model_version(name, version)

    def delete_model_alias(self, name: str, alias: str) -> None:
        if not self.db.delete_model_alias(self.registered_model_id(name), alias):
            raise NotFoundError(f"{name} has no alias {alias!r}.")

    def record_gate_result(
        self,
        version_id: int,
        gate: str,
        passed: bool,
        checks: list[dict[str, Any]],
        baseline_version_id: int | None = None,
        holdout_data_version: str | None = None,
    ) -> int:
        return self.db.record_gate_result(
            version_id, gate, passed, checks, baseline_version_id, holdout_data_version
        )

    def gate_result(self, gate_result_id: int) -> dict[str, Any]:
        return self.db.gate_result(gate_result_id)

    def gate_results_involving(self, version_id: int, holdout: str) -> list[dict[str, Any]]:
        """Gate results on a holdout where the version was candidate or baseline."""
        return self.db.gate_results_involving(version_id, holdout)

    def model_lineage(self, ref: str) -> dict[str, Any]:
        """Version -> artifact (hash) -> run (notebook, cell, git, params, metrics) -> data
        versions -> pipeline run, plus the stage history that put the version where it is."""
        version = self.resolve_model_version(ref)
        artifact = self.db.get_model_artifact(version["artifact_id"])
        run = None
        pipeline_run = None
        if version.get("run_id") is not None:
            run = self.get_run(version["run_id"])
            if run.get("pipeline_run_id"):
                pipeline_run = self.db.pipeline_run_brief(run["pipeline_run_id"])
        history = [
            t
            for t in self.db.model_stage_transitions(version["model_id"])
            if t["version_id"] == version["id"]
        ]
        gates = [
            g
            for g in self.db.model_gate_results(version["model_id"])
            if g["version_id"] == version["id"]
        ]
        return {
            "model": version["model"],
            "version": version["version"],
            "stage": version["stage"],
            "aliases": version["aliases"],
            "description": version["description"],
            "created_by": version["created_by"],
            "created_at": version["created_at"],
            "artifact": artifact,
            "run": run,
            "data": run["data"] if run else [],
            "pipeline_run": pipeline_run,
            "transitions": history,
            "gate_results": gates,
        }

    def load_model_version(
        self, ref: str, trusted: list[str] | None = None, allow_pickle: bool = False
    ) -> Any:
        """Load a registered version safely (hash checked, trusted types from the registry)."""
        return self.load_artifact(
            self.resolve_model_ref(ref), trusted=trusted, allow_pickle=allow_pickle
        )

    # == alerts (shared by monitoring and pipelines) =====================================

    def list_alerts(
        self,
        status: str | None = None,
        monitor: str | None = None,
        pipeline: str | None = None,
        after_id: int | None = None,
        limit: int | None = 100,
    ) -> list[dict[str, Any]]:
        """Alerts, newest first, optionally only open ones or those of one monitor/pipeline."""
        from mlnb.monitoring.alerts import ALERT_STATUSES

        if status is not None and status not in ALERT_STATUSES:
            raise ValidationError(
                f"alert status must be one of {', '.join(ALERT_STATUSES)}, got {status!r}."
            )
        monitor_id = self._id_of("monitors", monitor) if monitor else None
        pipeline_id = self._id_of("pipelines", pipeline) if pipeline else None
        return self.db.list_alerts(status, monitor_id, pipeline_id, after_id, limit)

    def acknowledge_alert(self, alert_id: int, by: str | None = None) -> dict[str, Any]:
        from mlnb._runtime import user

        self.db.set_alert_status(int(alert_id), "acknowledged", by or user())
        return self.db.get_alert(int(alert_id))

    def resolve_alert(self, alert_id: int, by: str | None = None) -> dict[str, Any]:
        from mlnb._runtime import user

        self.db.set_alert_status(int(alert_id), "resolved", by or user())
        return self.db.get_alert(int(alert_id))

    def _id_of(self, table: str, name: str) -> int:
        row = self.db.id_by_name(table, name)
        if row is None:
            kind = table.rstrip("s")
            raise NotFoundError(f"no {kind} named {name!r}; list them with `mlnb {table}`.")
        return row

    # == monitoring (issue: drift and accuracy monitoring) =============================

    # == pipelines (issue: scheduled notebook pipelines) ===============================

    def create_pipeline(
        self, name: str, notebook: str | os.PathLike[str], **options: Any
    ) -> dict[str, Any]:
        """Store a pipeline running ``notebook`` (see :func:`mlnb.pipelines.create_pipeline`)."""
        from mlnb.pipelines import create_pipeline

        return create_pipeline(name, notebook, registry=self, **options)

    def list_pipelines(self) -> list[dict[str, Any]]:
        """Pipelines with their triggers, next scheduled time and last run."""
        from mlnb.pipelines import list_pipelines

        return list_pipelines(registry=self)

    def get_pipeline(self, name: str) -> dict[str, Any]:
        """One pipeline with its config, next scheduled time and recent runs."""
        from mlnb.pipelines import describe_pipeline

        return describe_pipeline(name, registry=self)

    def pipeline_runs(self, name: str, limit: int | None = 20) -> list[dict[str, Any]]:
        """A pipeline's runs, newest first (trigger and reason, status, error, output)."""
        from mlnb.pipelines import pipeline_history

        return pipeline_history(name, limit=limit, registry=self)

    def get_pipeline_run(self, run_id: int) -> dict[str, Any]:
        """One pipeline run with the tracked runs and model versions it produced."""
        from mlnb.pipelines import get_pipeline_run

        return get_pipeline_run(run_id, registry=self)

    def run_pipeline(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a pipeline now in a fresh kernel and wait for the outcome."""
        from mlnb.pipelines import run_pipeline

        return run_pipeline(name, params=params, registry=self)

    def pause_pipeline(self, name: str) -> dict[str, Any]:
        from mlnb.pipelines import set_pipeline_status

        return set_pipeline_status(name, "paused", registry=self)

    def resume_pipeline(self, name: str) -> dict[str, Any]:
        from mlnb.pipelines import set_pipeline_status

        return set_pipeline_status(name, "active", registry=self)

    def delete_pipeline(self, name: str, keep_outputs: bool = False) -> dict[str, Any]:
        from mlnb.pipelines import delete_pipeline

        return delete_pipeline(name, keep_outputs=keep_outputs, registry=self)

    # == server queries (issue: JupyterLab sidebar) ====================================

    def change_counters(self) -> dict[str, Any]:
        """Counts and max ids that move whenever the registry changes (one cheap read); the
        sidebar hashes them into a token and refetches only when the token moves."""
        return self.db.change_counters()


# -- the process-wide registry ---------------------------------------------------------

_current: Registry | None = None
_current_lock = threading.Lock()


def get_registry(home: str | os.PathLike[str] | None = None) -> Registry:
    """The registry in use by this process (opened on first use), or the one at ``home``."""
    global _current
    with _current_lock:
        if home is not None:
            wanted = resolve_home(home)
            if _current is None or _current.home != wanted:
                _current = Registry(wanted)
            return _current
        if _current is None:
            _current = Registry()
        return _current


def set_registry(home: str | os.PathLike[str] | Registry) -> Registry:
    """Switch this process to another registry folder (``%mlnb registry PATH``)."""
    global _current
    reg = home if isinstance(home, Registry) else Registry(home)
    with _current_lock:
        _current = reg
    return reg


def current_registry() -> Registry | None:
    return _current


# -- heartbeats ----------------------------------------------------------------------


class _Heartbeats:
    """One daemon thread per process refreshing the heartbeat of every running run."""

    def __init__(self) -> None:
        self._runs: dict[int, tuple[Registry, set[int]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, reg: Registry, run_id: int) -> None:
        with self._lock:
            self._runs.setdefault(id(reg), (reg, set()))[1].add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="mlnb-heartbeat", daemon=True
                )
                self._thread.start()

    def remove(self, reg: Registry, run_id: int) -> None:
        with self._lock:
            entry = self._runs.get(id(reg))
            if entry:
                entry[1].discard(run_id)

    def forget(self, reg: Registry) -> None:
        with self._lock:
            self._runs.pop(id(reg), None)

    def _loop(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with self._lock:
                work = [(reg, sorted(ids)) for reg, ids in self._runs.values() if ids]
            for reg, ids in work:
                try:
                    reg.db.heartbeat_runs(ids)
                except Exception:  # a missed beat is harmless; never kill the thread
                    pass


_heartbeats = _Heartbeats()


# -- helpers ---------------------------------------------------------------------------


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(
            f"cannot create the registry folder {path} ({exc.strerror}). Point MLNB_HOME or "
            "`%mlnb registry PATH` at a writable folder."
        ) from exc
    if not os.access(path, os.W_OK):
        raise RegistryError(
            f"the registry folder {path} is read-only. Point MLNB_HOME or "
            "`%mlnb registry PATH` at a writable folder."
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


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


def _sort_runs(runs: list[dict[str, Any]], sort: str, descending: bool) -> list[dict[str, Any]]:
    """Order runs by a metric, param or field; runs without a numeric value go last."""

    def value(r: dict[str, Any]) -> Any:
        return r.get("metrics", {}).get(sort, r.get("params", {}).get(sort, r.get(sort)))

    def numeric(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    present = [r for r in runs if numeric(value(r))]
    missing = [r for r in runs if not numeric(value(r))]
    present.sort(key=value, reverse=descending)
    return present + missing


def _path_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _snapshot_bytes(obj: Any) -> bytes:
    import io

    import numpy as np
    import pandas as pd

    buf = io.BytesIO()
    if isinstance(obj, pd.Series):
        obj.to_frame(name=obj.name if obj.name is not None else "__series__").to_parquet(buf)
    elif isinstance(obj, pd.DataFrame):
        frame = obj.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
        frame.to_parquet(buf)
    elif isinstance(obj, np.ndarray):
        np.save(buf, obj, allow_pickle=False)
    else:
        raise ValidationError(f"cannot snapshot a {type(obj).__name__}.")
    return buf.getvalue()


def _from_snapshot(kind: str, data: bytes) -> Any:
    import io

    import numpy as np
    import pandas as pd

    if kind == "dataframe":
        return pd.read_parquet(io.BytesIO(data))
    if kind == "series":
        frame = pd.read_parquet(io.BytesIO(data))
        s = frame.iloc[:, 0]
        return s.rename(None) if s.name == "__series__" else s
    if kind == "ndarray":
        return np.load(io.BytesIO(data), allow_pickle=False)
    return data


def _write_frame(obj: Any, target: Path) -> None:
    import numpy as np
    import pandas as pd

    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(obj, np.ndarray):
        np.save(target, obj, allow_pickle=False)
        return
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    suffix = target.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(target, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(target)
    elif suffix == ".json":
        frame.to_json(target, orient="records")
    else:
        raise ValidationError(
            f"cannot tell which format to write from {target.name!r}: use .csv, .parquet or .json."
        )


__all__ = [
    "Registry",
    "get_registry",
    "set_registry",
    "current_registry",
    "Database",
    "dumps",
    "loads",
]
