"""The model registry from Python: ``mlnb.register_model``, ``set_alias``, ``rollback``,
``lineage`` and ``models``, and the :class:`ModelVersion` they return.

Promotion (which runs gates) lives in :mod:`mlnb.lifecycle.promotion`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlnb._runtime import user
from mlnb.errors import ValidationError
from mlnb.render.models import (
    lineage_html,
    lineage_text,
    model_html,
    model_text,
    models_html,
    models_text,
    rollback_html,
    rollback_text,
    version_html,
    version_text,
)
from mlnb.store.records import ModelVersionRecord
from mlnb.store.refs import check_alias, check_model_name, is_number
from mlnb.store.registry import Registry, RegistryArg, current_registry, get_registry
from mlnb.tracking.artifacts import load_artifact, saved_artifact_id
from mlnb.tracking.estimators import is_estimator, is_fitted
from mlnb.tracking.fingerprint import is_data
from mlnb.tracking.run import Run, active_run, start_run

_ARTIFACT_REF = re.compile(r"^artifact:(\d+)$")
_RUN_REF = re.compile(r"^runs?:/?/?(\d+)(?:/(.+))?$")


# -- ModelVersion ------------------------------------------------------------------------


@dataclass
class ModelVersion:
    """One registered version: where it is (stage, aliases) and what it points at."""

    name: str
    version: int
    stage: str
    aliases: list[str]
    artifact_id: int
    object_hash: str
    class_name: str
    format: str
    run_id: int | None
    signature: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    created_by: str | None = None
    created_at: float | None = None
    id: int = 0
    registry_home: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any], registry: Registry) -> ModelVersion:
        return cls(
            name=row["model"],
            version=int(row["version"]),
            stage=row["stage"],
            aliases=list(row.get("aliases", [])),
            artifact_id=int(row["artifact_id"]),
            object_hash=row["object_hash"],
            class_name=row["class_name"],
            format=row["format"],
            run_id=row.get("run_id"),
            signature=row.get("signature") or {},
            description=row.get("description") or "",
            created_by=row.get("created_by"),
            created_at=row.get("created_at"),
            id=int(row["id"]),
            registry_home=str(registry.home),
        )

    @property
    def ref(self) -> str:
        """The reference that names exactly this version (``churn/3``)."""
        return f"{self.name}/{self.version}"

    @property
    def inputs(self) -> list[str]:
        return [c["name"] for c in self.signature.get("inputs", [])]

    def load(self, trusted: list[str] | None = None, allow_pickle: bool = False) -> Any:
        """The model object, loaded safely (sha256 checked, types trusted by the registry)."""
        reg = current_registry()
        if reg is not None and (not self.registry_home or str(reg.home) == self.registry_home):
            return load_artifact(reg, self.artifact_id, trusted=trusted, allow_pickle=allow_pickle)
        if not self.registry_home:
            return load_artifact(get_registry(), self.artifact_id, trusted, allow_pickle)
        other = Registry(self.registry_home, create=False)  # not made the process-wide one
        try:
            return load_artifact(
                other, self.artifact_id, trusted=trusted, allow_pickle=allow_pickle
            )
        finally:
            other.close()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "aliases": self.aliases,
            "artifact_id": self.artifact_id,
            "object_hash": self.object_hash,
            "class_name": self.class_name,
            "format": self.format,
            "run_id": self.run_id,
            "signature": self.signature,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }

    def __repr__(self) -> str:
        return version_text(self.to_dict())

    def _repr_html_(self) -> str:
        return version_html(self.to_dict())


# -- public API ----------------------------------------------------------------------------


def register_model(
    model_or_ref: Any,
    name: str,
    stage: str | None = None,
    aliases: tuple[str, ...] | list[str] | str = (),
    description: str = "",
    run: Any = None,
    X: Any = None,
    allow_pickle: bool = False,
    registry: RegistryArg = None,
) -> ModelVersion:
    """Register a fitted model (or a stored artifact) as the next version of ``name``.

    ``model_or_ref`` is a fitted estimator, ``"runs:/12/model"``, ``"artifact:5"`` or an
    artifact id. An estimator already saved by a tracked cell reuses that artifact (so lineage
    leads to the training run); otherwise it is saved into ``run``, the active run, or a new
    small run. ``X`` (the training frame) records the input signature. ``stage`` may be
    ``"staging"``; production goes through :func:`mlnb.promote`.
    """
    reg = get_registry(registry)
    check_model_name(name)
    alias_list = [aliases] if isinstance(aliases, str) else list(aliases)
    for a in alias_list:
        check_alias(a)
    artifact_id = _artifact_for(reg, model_or_ref, name, run, X, allow_pickle)
    row = reg.models.register_version(
        name, artifact_id, description=description, stage=stage, aliases=alias_list
    )
    return ModelVersion.from_row(row, reg)


def _artifact_for(reg: Registry, obj: Any, name: str, run: Any, X: Any, allow_pickle: bool) -> int:
    """The artifact id to register: an existing one named by ``obj``, or ``obj`` saved now."""
    if isinstance(obj, bool):
        raise ValidationError("register_model needs a fitted model or an artifact reference.")
    if isinstance(obj, int):
        return int(reg.models.artifact(obj)["id"])
    if isinstance(obj, str):
        return _artifact_from_ref(reg, obj)
    if is_estimator(obj) and not is_fitted(obj):
        raise ValidationError(
            f"the {type(obj).__name__} passed to register_model is not fitted; call .fit(...) "
            "first (a registered version must be able to predict)."
        )
    if not hasattr(obj, "predict"):
        raise ValidationError(
            f"register_model needs a fitted model with a predict method, or a reference such "
            f"as 'runs:/12/model'; got a {type(obj).__name__}."
        )
    known = saved_artifact_id(reg, obj) if run is None else None
    if known is not None:
        return known
    return _save_into_run(reg, obj, name, run, X, allow_pickle)


def _artifact_from_ref(reg: Registry, text: str) -> int:
    text = text.strip()
    m = _ARTIFACT_REF.match(text)
    if m or is_number(text):
        return int(reg.models.artifact(int(m.group(1) if m else text))["id"])
    m = _RUN_REF.match(text)
    if m:
        run_id, model_name = int(m.group(1)), m.group(2)
        reg.runs.row(run_id)
        saved = reg.models.artifacts_of_run(run_id)
        if model_name:
            saved = [a for a in saved if a["name"] == model_name]
        if not saved:
            names = ", ".join(a["name"] for a in reg.models.artifacts_of_run(run_id)) or "none"
            raise ValidationError(
                f"run {run_id} saved no model"
                + (f" named {model_name!r}" if model_name else "")
                + f" (its models: {names}); see `mlnb show {run_id}`."
            )
        return int(saved[-1]["id"])
    # another registered version ("fraud/2"): register the same artifact under a new name
    return reg.models.resolve_artifact_id(text)


def _save_into_run(
    reg: Registry, model: Any, name: str, run: Any, X: Any, allow_pickle: bool
) -> int:
    target = run if isinstance(run, Run) else None
    if run is not None and target is None:
        run_id = reg.runs.resolve_id(run)
        reg.runs.row(run_id)
        target = Run(reg, run_id, experiment="")
    if target is None:
        active = active_run()
        if active is not None and active.registry.home == reg.home:
            target = active
    if target is not None:
        return int(target.log_model(model, name=name, allow_pickle=allow_pickle, X=X)["id"])
    with start_run(name=f"register {name}", registry=reg) as new_run:
        if X is not None:
            if is_data(X):
                new_run.log_data(X, name="X")
        return int(new_run.log_model(model, name=name, allow_pickle=allow_pickle, X=X)["id"])


def get_model_version(ref: str, registry: RegistryArg = None) -> ModelVersion:
    """The version a reference names (``churn@production``, ``churn/3``, ``churn@champion``)."""
    reg = get_registry(registry)
    return ModelVersion.from_row(reg.models.resolve(ref), reg)


def load_model(
    ref: str | int,
    trusted: list[str] | None = None,
    allow_pickle: bool = False,
    registry: RegistryArg = None,
) -> Any:
    """Load a stored model, checking its hash first.

    ``ref`` is ``"churn@production"``, ``"churn@champion"``, ``"churn/3"`` (registered models),
    ``"runs:/12/model"`` (the model a run saved under that name) or ``"artifact:5"``.
    """
    reg = get_registry(registry)
    text = str(ref).strip()
    m = _ARTIFACT_REF.match(text)
    if m:
        return load_artifact(reg, int(m.group(1)), trusted=trusted, allow_pickle=allow_pickle)
    m = _RUN_REF.match(text)
    if m:
        run_id, name = int(m.group(1)), m.group(2)
        models = reg.models.artifacts_of_run(run_id)
        if name:
            models = [a for a in models if a["name"] == name]
        if not models:
            raise ValidationError(
                f"run {run_id} saved no model{' named ' + repr(name) if name else ''}; "
                f"see `mlnb show {run_id}`."
            )
        return load_artifact(reg, models[-1]["id"], trusted=trusted, allow_pickle=allow_pickle)
    artifact_id = reg.models.resolve_artifact_id(text)
    return load_artifact(reg, artifact_id, trusted=trusted, allow_pickle=allow_pickle)


def set_alias(
    name: str, alias: str, version: int | str, registry: RegistryArg = None
) -> ModelVersion:
    """Point a free alias (``champion``, ``challenger``, ...) at a version of ``name``."""
    reg = get_registry(registry)
    row = reg.models.set_alias(name, alias, _version_number(version))
    return ModelVersion.from_row(row, reg)


def delete_alias(name: str, alias: str, registry: RegistryArg = None) -> None:
    """Remove a free alias."""
    get_registry(registry).models.delete_alias(name, alias)


def _version_number(version: Any) -> int:
    if isinstance(version, ModelVersion):
        return version.version
    if isinstance(version, bool) or not (
        isinstance(version, int) or (isinstance(version, str) and is_number(version.strip()))
    ):
        raise ValidationError(f"a version is a positive whole number, got {version!r}.")
    number = int(version)
    if number <= 0:
        raise ValidationError(f"model versions start at 1, got {number}.")
    return number


@dataclass
class RollbackResult:
    """What ``mlnb.rollback`` did: which version is back in production and which left."""

    name: str
    restored: int
    replaced: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "restored": self.restored,
            "replaced": self.replaced,
            "reason": self.reason,
        }

    def __repr__(self) -> str:
        return rollback_text(self.to_dict())

    def _repr_html_(self) -> str:
        return rollback_html(self.to_dict())


def rollback_target(
    reg: Registry, name: str
) -> tuple[ModelVersionRecord | None, ModelVersionRecord]:
    """(current production version, the version a rollback restores).

    Production history is replayed as a stack: each promotion pushes a version and each
    return to an earlier version pops back to it, so repeated rollbacks walk further back.
    """
    model_id = reg.models.model_id(name)
    stack: list[int] = []
    for t in reg.models.transitions(model_id):
        if t["to_stage"] != "production":
            continue
        if t["version_id"] in stack:
            del stack[stack.index(t["version_id"]) + 1 :]
        else:
            stack.append(t["version_id"])
    current = reg.models.production_version(name)
    if current is not None:
        while stack and stack[-1] == current["id"]:
            stack.pop()
    if not stack:
        raise ValidationError(
            f"{name} has no earlier production version to roll back to"
            + (f" (version {current['version']} is the first one)." if current else ".")
        )
    target = reg.models.version_by_id(stack[-1])
    assert target is not None
    return current, reg.models.with_aliases(target)


def rollback(name: str, reason: str = "", registry: RegistryArg = None) -> RollbackResult:
    """Put the previous production version of ``name`` back in production, in one step.

    The current one is archived; both changes are recorded with reason ``rollback``.
    """
    reg = get_registry(registry)
    current, target = rollback_target(reg, name)
    text = "rollback" + (f": {reason}" if reason else "")
    reg.models.rollback_production(
        target["model_id"], target["id"], current["id"] if current else None, user(), text
    )
    return RollbackResult(name, target["version"], current["version"] if current else None, text)


class Lineage(dict):
    """The chain behind a version (a dict), shown as an indented tree."""

    def __repr__(self) -> str:
        return lineage_text(self)

    def _repr_html_(self) -> str:
        return lineage_html(self)


def lineage(ref: str, registry: RegistryArg = None) -> Lineage:
    """Where a version came from: artifact hash, run, notebook cell, git commit, data."""
    return Lineage(lineage_record(get_registry(registry), ref))


def lineage_record(reg: Registry, ref: str) -> dict[str, Any]:
    """Version -> artifact (hash) -> run (notebook, cell, git, params, metrics) -> data
    versions -> pipeline run, plus the stage history that put the version where it is."""
    version = reg.models.resolve(ref)
    artifact = reg.models.artifact(version["artifact_id"])
    run = None
    pipeline_run = None
    run_id = version.get("run_id")
    if run_id is not None:
        run = reg.runs.get(run_id)
        pipeline_run_id = run.get("pipeline_run_id")
        if pipeline_run_id:
            pipeline_run = reg.pipelines.run_brief(pipeline_run_id)
    history = [
        t for t in reg.models.transitions(version["model_id"]) if t["version_id"] == version["id"]
    ]
    gates = [
        g for g in reg.models.gate_results(version["model_id"]) if g["version_id"] == version["id"]
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
        "deployment": reg.deployments.serving().get(version["model"]),
    }


class ModelsView:
    """``mlnb.models()``: the registered models (or one model in detail), displayable."""

    def __init__(self, data: Any, detail: bool) -> None:
        self.data = data
        self.detail = detail

    def __repr__(self) -> str:
        return model_text(self.data) if self.detail else models_text(self.data)

    def _repr_html_(self) -> str:
        return model_html(self.data) if self.detail else models_html(self.data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data["versions"] if self.detail else self.data)

    def __len__(self) -> int:
        return len(self.data["versions"] if self.detail else self.data)


def models(name: str | None = None, registry: RegistryArg = None) -> ModelsView:
    """All registered models, or one model's versions, stages, aliases and history."""
    reg = get_registry(registry)
    if name is None:
        return ModelsView(reg.models.find(), detail=False)
    return ModelsView(reg.models.get(name), detail=True)


__all__ = [
    "load_model",
    "ModelVersion",
    "RollbackResult",
    "Lineage",
    "register_model",
    "get_model_version",
    "set_alias",
    "delete_alias",
    "rollback",
    "lineage",
    "models",
]
