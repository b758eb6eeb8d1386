"""The model registry from Python: ``mlnb.register_model``, ``set_alias``, ``rollback``,
``lineage`` and ``models``, and the :class:`ModelVersion` they return.

Promotion (which runs gates) lives in :mod:`mlnb.lifecycle.promotion`.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

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
from mlnb.store.registry import Registry, get_registry

_ARTIFACT_REF = re.compile(r"^artifact:(\d+)$")
_RUN_REF = re.compile(r"^runs?:/?/?(\d+)(?:/(.+))?$")

RegistryArg = Registry | str | os.PathLike[str] | None


def _registry(registry: RegistryArg) -> Registry:
    return registry if isinstance(registry, Registry) else get_registry(registry)


# -- the models this process saved, so registering one points at its training run ------


class _SavedModels:
    """Remembers which artifact each in-memory model was saved as (per registry).

    A model fitted in a ``%%track`` cell is saved as an artifact of that run; registering
    the same object afterwards reuses that artifact, so the version's lineage leads to the
    training cell and its data instead of to a new, empty run. A refit invalidates the entry.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[weakref.ref[Any], int, int]] = {}
        self._lock = threading.Lock()

    def remember(self, registry: Registry, model: Any, artifact_id: int) -> None:
        try:
            ref = weakref.ref(model)
        except TypeError:
            return
        with self._lock:
            self._entries[(str(registry.home), id(model))] = (ref, _fit_token(model), artifact_id)

    def artifact_for(self, registry: Registry, model: Any) -> int | None:
        with self._lock:
            entry = self._entries.get((str(registry.home), id(model)))
        if entry is None:
            return None
        ref, token, artifact_id = entry
        if ref() is not model or token != _fit_token(model):
            return None
        return artifact_id


_saved = _SavedModels()


def remember_saved_model(registry: Registry, model: Any, artifact_id: int) -> None:
    """Called by ``Registry.save_model``: note that ``model`` is stored as ``artifact_id``."""
    _saved.remember(registry, model, artifact_id)


def _fit_token(obj: Any) -> int:
    """Changes when an estimator is refitted (its fitted attributes become new objects)."""
    try:
        attrs = [v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("_")]
    except TypeError:
        return 0
    return hash(tuple(id(v) for v in attrs))


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
    def from_row(cls, row: dict[str, Any], registry: Registry) -> ModelVersion:
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
        from mlnb.store.registry import current_registry

        reg = current_registry()
        if reg is not None and (not self.registry_home or str(reg.home) == self.registry_home):
            return reg.load_artifact(self.artifact_id, trusted=trusted, allow_pickle=allow_pickle)
        if not self.registry_home:
            return get_registry().load_artifact(self.artifact_id, trusted, allow_pickle)
        other = Registry(self.registry_home, create=False)  # not made the process-wide one
        try:
            return other.load_artifact(self.artifact_id, trusted=trusted, allow_pickle=allow_pickle)
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
    reg = _registry(registry)
    from mlnb.lifecycle.refs import check_alias, check_model_name

    check_model_name(name)
    alias_list = [aliases] if isinstance(aliases, str) else list(aliases)
    for a in alias_list:
        check_alias(a)
    artifact_id = _artifact_for(reg, model_or_ref, name, run, X, allow_pickle)
    row = reg.register_model_version(
        name, artifact_id, description=description, stage=stage, aliases=alias_list
    )
    return ModelVersion.from_row(row, reg)


def _artifact_for(reg: Registry, obj: Any, name: str, run: Any, X: Any, allow_pickle: bool) -> int:
    """The artifact id to register: an existing one named by ``obj``, or ``obj`` saved now."""
    if isinstance(obj, bool):
        raise ValidationError("register_model needs a fitted model or an artifact reference.")
    if isinstance(obj, int):
        return int(reg.db.get_model_artifact(obj)["id"])
    if isinstance(obj, str):
        return _artifact_from_ref(reg, obj)
    from mlnb.tracking.estimators import is_estimator, is_fitted

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
    known = _saved.artifact_for(reg, obj) if run is None else None
    if known is not None:
        return known
    return _save_into_run(reg, obj, name, run, X, allow_pickle)


def _artifact_from_ref(reg: Registry, text: str) -> int:
    text = text.strip()
    m = _ARTIFACT_REF.match(text)
    if m or text.isdigit():
        return int(reg.db.get_model_artifact(int(m.group(1) if m else text))["id"])
    m = _RUN_REF.match(text)
    if m:
        run_id, model_name = int(m.group(1)), m.group(2)
        reg.db.get_run(run_id)
        saved = reg.db.run_models(run_id)
        if model_name:
            saved = [a for a in saved if a["name"] == model_name]
        if not saved:
            names = ", ".join(a["name"] for a in reg.db.run_models(run_id)) or "none"
            raise ValidationError(
                f"run {run_id} saved no model"
                + (f" named {model_name!r}" if model_name else "")
                + f" (its models: {names}); see `mlnb show {run_id}`."
            )
        return int(saved[-1]["id"])
    # another registered version ("fraud/2"): register the same artifact under a new name
    return reg.resolve_model_ref(text)


def _save_into_run(
    reg: Registry, model: Any, name: str, run: Any, X: Any, allow_pickle: bool
) -> int:
    from mlnb.tracking.run import Run, active_run, start_run

    target = run if isinstance(run, Run) else None
    if run is not None and target is None:
        run_id = reg.resolve_run_id(run)
        reg.db.get_run(run_id)
        target = Run(reg, run_id, experiment="")
    if target is None:
        active = active_run()
        if active is not None and active.registry.home == reg.home:
            target = active
    if target is not None:
        return int(target.log_model(model, name=name, allow_pickle=allow_pickle, X=X)["id"])
    with start_run(name=f"register {name}", registry=reg) as new_run:
        if X is not None:
            from mlnb.tracking.fingerprint import is_data

            if is_data(X):
                new_run.log_data(X, name="X")
        return int(new_run.log_model(model, name=name, allow_pickle=allow_pickle, X=X)["id"])


def get_model_version(ref: str, registry: RegistryArg = None) -> ModelVersion:
    """The version a reference names (``churn@production``, ``churn/3``, ``churn@champion``)."""
    reg = _registry(registry)
    return ModelVersion.from_row(reg.resolve_model_version(ref), reg)


def set_alias(
    name: str, alias: str, version: int | str, registry: RegistryArg = None
) -> ModelVersion:
    """Point a free alias (``champion``, ``challenger``, ...) at a version of ``name``."""
    reg = _registry(registry)
    row = reg.set_model_alias(name, alias, _version_number(version))
    return ModelVersion.from_row(row, reg)


def delete_alias(name: str, alias: str, registry: RegistryArg = None) -> None:
    """Remove a free alias."""
    _registry(registry).delete_model_alias(name, alias)


def _version_number(version: Any) -> int:
    if isinstance(version, ModelVersion):
        return version.version
    if isinstance(version, bool) or not (
        isinstance(version, int) or (isinstance(version, str) and version.strip().isdigit())
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


def rollback(name: str, reason: str = "", registry: RegistryArg = None) -> RollbackResult:
    """Put the previous production version of ``name`` back in production, in one step.

    The current one is archived; both changes are recorded with reason ``rollback``.
    """
    done = _registry(registry).rollback_model(name, reason=reason)
    return RollbackResult(name, done["restored"], done["replaced"], done["reason"])


class Lineage(dict):
    """The chain behind a version (a dict), shown as an indented tree."""

    def __repr__(self) -> str:
        return lineage_text(self)

    def _repr_html_(self) -> str:
        return lineage_html(self)


def lineage(ref: str, registry: RegistryArg = None) -> Lineage:
    """Where a version came from: artifact hash, run, notebook cell, git commit, data."""
    return Lineage(_registry(registry).model_lineage(ref))


class ModelsView:
    """``mlnb.models()``: the registered models (or one model in detail), displayable."""

    def __init__(self, data: Any, detail: bool) -> None:
        self.data = data
        self.detail = detail

    def __repr__(self) -> str:
        return model_text(self.data) if self.detail else models_text(self.data)

    def _repr_html_(self) -> str:
        return model_html(self.data) if self.detail else models_html(self.data)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.data["versions"] if self.detail else self.data)

    def __len__(self) -> int:
        return len(self.data["versions"] if self.detail else self.data)


def models(name: str | None = None, registry: RegistryArg = None) -> ModelsView:
    """All registered models, or one model's versions, stages, aliases and history."""
    reg = _registry(registry)
    if name is None:
        return ModelsView(reg.list_models(), detail=False)
    return ModelsView(reg.get_model(name), detail=True)


__all__ = [
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
