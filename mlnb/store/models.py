"""Model artifacts and the model registry records: registered models, numbered versions,
stages with their transition history, aliases and gate results.

This module owns the SQL of its tables; it returns plain records (dicts).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mlnb._runtime import user as current_user
from mlnb.errors import NotFoundError, RegistryError, ValidationError
from mlnb.store.connection import FeatureStore, dumps, loads, now
from mlnb.store.records import (
    ArtifactRecord,
    GateResultRecord,
    ModelVersionRecord,
    TransitionRecord,
    as_record,
)
from mlnb.store.refs import STAGES, check_alias, check_model_name, parse_model_ref


def _artifact_dict(row: sqlite3.Row) -> ArtifactRecord:
    d = dict(row)
    d["signature"] = loads(d["signature"], {})
    d["trusted_types"] = loads(d["trusted_types"], [])
    return as_record(ArtifactRecord, d)


class ModelStore(FeatureStore):
    """Model artifacts, registered models, versions, stages, aliases and gate results."""

    _VERSION_COLUMNS = (
        "SELECT v.id, v.model_id, m.name AS model, v.version, v.artifact_id, v.run_id, v.stage, "
        "v.description, v.created_by, v.created_at, a.object_hash, a.format, a.flavor, "
        "a.class_name, a.signature, a.size, a.name AS artifact_name "
        "FROM model_versions v JOIN registered_models m ON m.id = v.model_id "
        "JOIN model_artifacts a ON a.id = v.artifact_id "
    )

    _GATE_COLUMNS = (
        "SELECT g.id, g.version_id, v.version, g.gate, g.passed, g.checks, "
        "g.baseline_version_id, b.version AS baseline_version, g.holdout_data_version, "
        "g.created_at FROM gate_results g JOIN model_versions v ON v.id = g.version_id "
        "LEFT JOIN model_versions b ON b.id = g.baseline_version_id "
    )

    def register_version(
        self,
        name: str,
        artifact_id: int,
        description: str = "",
        stage: str | None = None,
        aliases: tuple[str, ...] | list[str] = (),
        user: str | None = None,
        model_description: str = "",
    ) -> ModelVersionRecord:
        """Add a numbered version of model ``name`` pointing at a stored artifact."""

        check_model_name(name)
        aliases = [check_alias(a) for a in aliases]
        if stage not in (None, "none", "staging"):
            raise ValidationError(
                f"a new version can start in 'none' or 'staging', not {stage!r}: production "
                f"goes through mlnb.promote('{name}', to='production', gate=...) so that its "
                "gate runs and the promotion is recorded."
            )
        artifact = self.artifact(int(artifact_id))
        who = user or current_user()
        made = self._insert_version(
            name, artifact["id"], artifact.get("run_id"), description, who, model_description
        )
        if stage == "staging":
            self._transition(made["version_id"], "staging", who, "registered")
        for alias in aliases:
            self._set_alias(made["model_id"], alias, made["version_id"])
        return self.version(name, made["version"])

    def find(self) -> list[dict[str, Any]]:
        """Registered models with version counts, production and staging versions, aliases."""
        models = self.model_rows()
        for m in models:
            m["aliases"] = {a["alias"]: a["version"] for a in self.aliases(m["id"])}
            staging = m.pop("staging_versions") or ""
            m["staging_versions"] = sorted(int(v) for v in str(staging).split(",") if v)
        serving = self._reg.deployments.serving()
        for m in models:
            m["deployment"] = serving.get(m["name"])
        return models

    def model_id(self, name: str) -> int:
        """The id of a registered model (NotFoundError naming the known ones)."""
        row = self.model_row(name)
        if row is None:
            known = [m["name"] for m in self.model_rows()]
            hint = f" Registered models: {', '.join(known)}." if known else ""
            raise NotFoundError(
                f"no registered model named {name!r}.{hint} Register one with "
                "mlnb.register_model(model, name=...) or `%register_model VAR --name NAME`."
            )
        return int(row["id"])

    def get(self, name: str) -> dict[str, Any]:
        """One model: its versions (with aliases), stage history and recent gate results."""
        model_id = self.model_id(name)
        model = dict(self.model_row(name) or {})
        aliases = self.aliases(model_id)
        versions = self.version_rows(model_id)
        for v in versions:
            v["aliases"] = [a["alias"] for a in aliases if a["version_id"] == v["id"]]
        model["versions"] = versions
        model["aliases"] = {a["alias"]: a["version"] for a in aliases}
        model["transitions"] = self.transitions(model_id)
        model["gate_results"] = self.gate_results(model_id, limit=50)
        production = [v for v in versions if v["stage"] == "production"]
        model["production_version"] = production[0]["version"] if production else None
        model["deployment"] = self._reg.deployments.serving().get(name)
        return model

    def version(self, name: str, version: int) -> ModelVersionRecord:
        """One version with its artifact, aliases and stage (NotFoundError if missing)."""
        model_id = self.model_id(name)
        row = self.version_row(model_id, int(version))
        if row is None:
            numbers = [v["version"] for v in self.version_rows(model_id)]
            raise NotFoundError(
                f"{name} has no version {version}; its versions are "
                f"{', '.join(map(str, numbers)) or 'none'} (see `mlnb model {name}`)."
            )
        return self.with_aliases(row)

    def with_aliases(self, row: ModelVersionRecord) -> ModelVersionRecord:
        """``row`` with the aliases that point at it."""
        row["aliases"] = [
            a["alias"] for a in self.aliases(row["model_id"]) if a["version_id"] == row["id"]
        ]
        return row

    def resolve(self, ref: str) -> ModelVersionRecord:
        """The version a reference names: ``churn/3``, ``churn@3``, ``churn@production``,
        ``churn@champion`` or ``churn`` (the latest version). A stage with several versions
        (staging) names its highest-numbered one."""

        parsed = parse_model_ref(ref)
        model_id = self.model_id(parsed.name)
        if parsed.version is not None:
            return self.version(parsed.name, parsed.version)
        if parsed.alias is None or parsed.alias == "latest":
            rows = self.version_rows(model_id)
            if not rows:
                raise NotFoundError(f"{parsed.name} has no versions yet.")
            return self.with_aliases(rows[-1])
        if parsed.alias in STAGES:
            rows = self.versions_in_stage(model_id, parsed.alias)
            if not rows:
                raise NotFoundError(
                    f"{parsed.name} has no version in {parsed.alias}; promote one with "
                    f"`mlnb promote {parsed.name} VERSION --to {parsed.alias}`."
                )
            return self.with_aliases(rows[0])
        version_id = self.alias_version_id(model_id, parsed.alias)
        if version_id is None:
            known = [a["alias"] for a in self.aliases(model_id)]
            raise NotFoundError(
                f"{parsed.name} has no alias {parsed.alias!r}"
                + (f" (aliases: {', '.join(known)})" if known else "")
                + f"; set one with `mlnb alias {parsed.name} {parsed.alias} VERSION`."
            )
        row = self.version_by_id(version_id)
        if row is None:  # unreachable: the alias row references the version
            raise NotFoundError(f"{parsed.name}@{parsed.alias} points at a missing version.")
        return self.with_aliases(row)

    def resolve_artifact_id(self, ref: str) -> int:
        """The artifact id behind a registered-model reference (``name@alias``, ``name/3``)."""
        return int(self.resolve(ref)["artifact_id"])

    def transition(
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

        if to not in STAGES or to == "none":
            raise ValidationError(
                f"cannot move a version to {to!r}: choose staging, production or archived."
            )
        row = self.version(name, version)
        return self._transition(
            row["id"], to, user or current_user(), reason, gate_result_id, expected_production_id
        )

    def production_version(self, name: str) -> ModelVersionRecord | None:
        """The model's version in production, or None."""
        rows = self.versions_in_stage(self.model_id(name), "production")
        return self.with_aliases(rows[0]) if rows else None

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersionRecord:
        """Point a free alias (champion, challenger, ...) at a version."""

        check_alias(alias)
        row = self.version(name, version)
        self._set_alias(row["model_id"], alias, row["id"])
        return self.version(name, version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove a free alias (NotFoundError if the model has none by that name)."""
        if not self._delete_alias(self.model_id(name), alias):
            raise NotFoundError(f"{name} has no alias {alias!r}.")

    def add_artifact(self, artifact: dict[str, Any]) -> int:
        """Record a stored model file; returns its artifact id."""
        with self.db.transaction() as c:
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

    def artifact(self, artifact_id: int) -> ArtifactRecord:
        """One model artifact (NotFoundError if none)."""
        row = self.db.query_one("SELECT * FROM model_artifacts WHERE id = ?", (artifact_id,))
        if row is None:
            raise NotFoundError(f"no model artifact with id {artifact_id}.")
        return _artifact_dict(row)

    def artifacts_of_run(self, run_id: int) -> list[ArtifactRecord]:
        """The model files a run saved, oldest first."""
        rows = self.db.query(
            "SELECT * FROM model_artifacts WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [_artifact_dict(r) for r in rows]

    def versions_of_run(self, run_id: int) -> list[dict[str, Any]]:
        """The model versions registered from a run's artifacts: model, version, stage."""
        rows = self.db.query(
            "SELECT m.name AS model, v.version, v.stage FROM model_versions v "
            "JOIN registered_models m ON m.id = v.model_id WHERE v.run_id = ? "
            "ORDER BY m.name, v.version",
            (run_id,),
        )
        return [dict(r) for r in rows]

    def _insert_version(
        self,
        name: str,
        artifact_id: int,
        run_id: int | None,
        description: str = "",
        created_by: str | None = None,
        model_description: str = "",
    ) -> dict[str, Any]:
        """Create the model if needed and add the next version number, atomically."""
        with self.db.transaction() as c:
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

    def model_row(self, name: str) -> dict[str, Any] | None:
        """The registered model row, or None."""
        row = self.db.query_one("SELECT * FROM registered_models WHERE name = ?", (name,))
        return None if row is None else dict(row)

    def model_rows(self) -> list[dict[str, Any]]:
        """Every registered model with its version count, latest and production versions."""
        rows = self.db.query(
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

    def version_rows(self, model_id: int) -> list[ModelVersionRecord]:
        """A model's versions, oldest first."""
        rows = self.db.query(
            self._VERSION_COLUMNS + "WHERE v.model_id = ? ORDER BY v.version", (model_id,)
        )
        return [self._version_dict(r) for r in rows]

    def version_row(self, model_id: int, version: int) -> ModelVersionRecord | None:
        """One version of a model by number, or None."""
        row = self.db.query_one(
            self._VERSION_COLUMNS + "WHERE v.model_id = ? AND v.version = ?", (model_id, version)
        )
        return None if row is None else self._version_dict(row)

    def version_by_id(self, version_id: int) -> ModelVersionRecord | None:
        """One version by its row id, or None."""
        row = self.db.query_one(self._VERSION_COLUMNS + "WHERE v.id = ?", (version_id,))
        return None if row is None else self._version_dict(row)

    def versions_in_stage(self, model_id: int, stage: str) -> list[ModelVersionRecord]:
        """Versions currently in ``stage``, newest first."""
        rows = self.db.query(
            self._VERSION_COLUMNS + "WHERE v.model_id = ? AND v.stage = ? ORDER BY v.version DESC",
            (model_id, stage),
        )
        return [self._version_dict(r) for r in rows]

    def aliases(self, model_id: int) -> list[dict[str, Any]]:
        """A model's aliases with the versions they point at."""
        rows = self.db.query(
            "SELECT a.alias, a.version_id, v.version, a.updated_at FROM model_aliases a "
            "JOIN model_versions v ON v.id = a.version_id WHERE a.model_id = ? ORDER BY a.alias",
            (model_id,),
        )
        return [dict(r) for r in rows]

    def alias_version_id(self, model_id: int, alias: str) -> int | None:
        """The version row an alias points at, or None."""
        row = self.db.query_one(
            "SELECT version_id FROM model_aliases WHERE model_id = ? AND alias = ?",
            (model_id, alias),
        )
        return None if row is None else int(row[0])

    def _set_alias(self, model_id: int, alias: str, version_id: int) -> None:
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO model_aliases(model_id, alias, version_id, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(model_id, alias) DO UPDATE SET "
                "version_id = excluded.version_id, updated_at = excluded.updated_at",
                (model_id, alias, version_id, now()),
            )

    def _delete_alias(self, model_id: int, alias: str) -> bool:
        with self.db.transaction() as c:
            cur = c.execute(
                "DELETE FROM model_aliases WHERE model_id = ? AND alias = ?", (model_id, alias)
            )
            return cur.rowcount > 0

    def _transition(
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
        with self.db.transaction() as c:
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
        with self.db.transaction() as c:
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

    def transitions(self, model_id: int) -> list[TransitionRecord]:
        """Every stage change of a model's versions, oldest first, with gate verdicts."""
        rows = self.db.query(
            "SELECT t.id, t.version_id, v.version, t.from_stage, t.to_stage, t.user, t.reason, "
            "t.gate_result_id, g.gate, g.passed AS gate_passed, t.created_at "
            "FROM stage_transitions t JOIN model_versions v ON v.id = t.version_id "
            "LEFT JOIN gate_results g ON g.id = t.gate_result_id "
            "WHERE v.model_id = ? ORDER BY t.id",
            (model_id,),
        )
        return [as_record(TransitionRecord, r) for r in rows]

    def record_gate_result(
        self,
        version_id: int,
        gate: str,
        passed: bool,
        checks: list[dict[str, Any]],
        baseline_version_id: int | None,
        holdout_data_version: str | None,
    ) -> int:
        """Store the outcome of a gate run on a version; returns its id."""
        with self.db.transaction() as c:
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

    def gate_result(self, gate_result_id: int) -> GateResultRecord:
        """One stored gate result (NotFoundError if none)."""
        row = self.db.query_one(self._GATE_COLUMNS + "WHERE g.id = ?", (gate_result_id,))
        if row is None:
            raise NotFoundError(f"no gate result with id {gate_result_id}.")
        return self._gate_dict(row)

    def gate_results(self, model_id: int, limit: int | None = None) -> list[GateResultRecord]:
        """A model's gate results, newest first."""
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.db.query(
            self._GATE_COLUMNS + f"WHERE v.model_id = ? ORDER BY g.id DESC {lim}", (model_id,)
        )
        return [self._gate_dict(r) for r in rows]

    def gate_results_involving(
        self, version_id: int, holdout_data_version: str
    ) -> list[GateResultRecord]:
        """Recent gate results on one holdout where a version was the candidate or the
        baseline, newest first (their recorded metrics can be reused)."""
        rows = self.db.query(
            self._GATE_COLUMNS + "WHERE (g.version_id = ? OR g.baseline_version_id = ?) "
            "AND g.holdout_data_version = ? ORDER BY g.id DESC LIMIT 20",
            (version_id, version_id, holdout_data_version),
        )
        return [self._gate_dict(r) for r in rows]

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
    def _version_dict(row: sqlite3.Row) -> ModelVersionRecord:
        d = dict(row)
        d["signature"] = loads(d.get("signature"), {})
        return as_record(ModelVersionRecord, d)

    @staticmethod
    def _gate_dict(row: sqlite3.Row) -> GateResultRecord:
        d = dict(row)
        d["checks"] = loads(d["checks"], [])
        d["passed"] = bool(d["passed"])
        return as_record(GateResultRecord, d)

    def all_versions(self) -> list[dict[str, Any]]:
        """Every version of every model (name, version, stage, run, registered), by name."""
        rows = self.db.query(
            "SELECT rm.name, mv.version, mv.stage, mv.run_id, mv.created_at FROM model_versions mv "
            "JOIN registered_models rm ON rm.id = mv.model_id ORDER BY rm.name, mv.version"
        )
        return [dict(r) for r in rows]

    def all_transitions(self) -> list[dict[str, Any]]:
        """Every stage transition of every model, oldest first."""
        rows = self.db.query(
            "SELECT rm.name, mv.version, st.from_stage, st.to_stage, st.reason, st.created_at "
            "FROM stage_transitions st JOIN model_versions mv ON mv.id = st.version_id "
            "JOIN registered_models rm ON rm.id = mv.model_id ORDER BY st.id"
        )
        return [dict(r) for r in rows]

    def names_in_stage(self, stage: str) -> list[str]:
        """Names of the models that have a version in ``stage``, sorted."""
        rows = self.db.query(
            "SELECT DISTINCT rm.name FROM registered_models rm JOIN model_versions mv "
            "ON mv.model_id = rm.id WHERE mv.stage = ? ORDER BY rm.name",
            (stage,),
        )
        return [str(r[0]) for r in rows]
