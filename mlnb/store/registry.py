"""The registry handle: one folder holding ``registry.db`` and the object store, opened and
migrated, with one store per feature (``reg.runs``, ``reg.data``, ``reg.models``,
``reg.monitors``, ``reg.alerts``, ``reg.pipelines``, ``reg.deployments``) the way sqlite-utils hands out
``db["table"]``. The handle itself holds no domain logic.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from mlnb.errors import NotFoundError, RegistryError
from mlnb.store.alerts import AlertStore
from mlnb.store.connection import Database
from mlnb.store.data import DataStore
from mlnb.store.deployments import DeploymentStore
from mlnb.store.models import ModelStore
from mlnb.store.monitors import MonitorStore
from mlnb.store.objects import ObjectStore
from mlnb.store.paths import DB_FILENAME, OBJECTS_DIRNAME, resolve_home
from mlnb.store.pipelines import PipelineStore
from mlnb.store.runs import RunStore, forget_heartbeats


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
        self.runs = RunStore(self)
        self.data = DataStore(self)
        self.models = ModelStore(self)
        self.monitors = MonitorStore(self)
        self.alerts = AlertStore(self)
        self.pipelines = PipelineStore(self)
        self.deployments = DeploymentStore(self)
        self.runs.recover_crashed()

    def __repr__(self) -> str:
        return f"Registry({str(self.home)!r})"

    def close(self) -> None:
        """Stop heartbeats of runs opened through this handle and close the connection."""
        forget_heartbeats(self.runs)
        self.db.close()

    def id_of(self, table: str, name: str) -> int:
        """Id of a named monitor, pipeline, experiment or model (NotFoundError if none)."""
        row = self.db.id_by_name(table, name)
        if row is None:
            kind = table.rstrip("s")
            raise NotFoundError(f"no {kind} named {name!r}; list them with `mlnb {table}`.")
        return row

    def counts(self) -> dict[str, int]:
        """Row counts for the status views (one cheap query)."""
        row = self.db.query_one(
            """SELECT
                (SELECT COUNT(*) FROM experiments),
                (SELECT COUNT(*) FROM runs),
                (SELECT COUNT(*) FROM runs WHERE status = 'running'),
                (SELECT COUNT(*) FROM runs WHERE status = 'failed'),
                (SELECT COUNT(*) FROM runs WHERE status = 'crashed'),
                (SELECT COUNT(*) FROM data_versions),
                (SELECT COUNT(*) FROM model_artifacts),
                (SELECT COUNT(*) FROM registered_models),
                (SELECT COUNT(*) FROM model_versions WHERE stage = 'production'),
                (SELECT COUNT(*) FROM monitors),
                (SELECT COUNT(*) FROM alerts WHERE status = 'open'),
                (SELECT COUNT(*) FROM pipelines)"""
        )
        keys = (
            "experiments runs running failed crashed data_versions model_artifacts "
            "registered_models production_versions monitors open_alerts pipelines"
        ).split()
        return {k: int(v) for k, v in zip(keys, tuple(row), strict=True)} if row else {}

    def change_counters(self) -> dict[str, Any]:
        """Counters that move whenever anything the sidebar shows changes, in one cheap read.

        Max rowids catch inserts (INSERT OR REPLACE gets a new rowid too), status counts and
        max update times catch in-place changes. Heartbeats are left out on purpose so that a
        running kernel does not make the sidebar refetch every few seconds.
        """
        row = self.db.query_one(
            """SELECT
                (SELECT COUNT(*) FROM runs) AS n_runs,
                (SELECT MAX(id) FROM runs) AS runs_id,
                (SELECT COUNT(*) FROM runs WHERE status = 'running') AS runs_running,
                (SELECT MAX(ended_at) FROM runs) AS runs_ended,
                (SELECT MAX(id) FROM metrics) AS metrics_id,
                (SELECT MAX(rowid) FROM params) AS params_id,
                (SELECT MAX(rowid) FROM tags) AS tags_id,
                (SELECT COUNT(*) FROM experiments) AS n_experiments,
                (SELECT COUNT(*) FROM data_versions) AS n_data_versions,
                (SELECT MAX(rowid) FROM run_data) AS run_data_id,
                (SELECT COUNT(*) FROM registered_models) AS n_models,
                (SELECT COUNT(*) FROM model_versions) AS n_model_versions,
                (SELECT TOTAL(id) FROM model_versions WHERE stage = 'production') AS prod_ids,
                (SELECT TOTAL(id) FROM model_versions WHERE stage = 'staging') AS staging_ids,
                (SELECT MAX(id) FROM stage_transitions) AS transitions_id,
                (SELECT MAX(id) FROM gate_results) AS gates_id,
                (SELECT MAX(updated_at) FROM model_aliases) AS aliases_at,
                (SELECT COUNT(*) FROM model_aliases) AS n_aliases,
                (SELECT COUNT(*) FROM monitors) AS n_monitors,
                (SELECT MAX(updated_at) FROM monitors) AS monitors_at,
                (SELECT MAX(id) FROM monitor_batches) AS batches_id,
                (SELECT MAX(id) FROM alerts) AS alerts_id,
                (SELECT MAX(updated_at) FROM alerts) AS alerts_at,
                (SELECT COUNT(*) FROM alerts WHERE status = 'open') AS n_open_alerts,
                (SELECT COUNT(*) FROM pipelines) AS n_pipelines,
                (SELECT MAX(updated_at) FROM pipelines) AS pipelines_at,
                (SELECT MAX(id) FROM pipeline_runs) AS pipeline_runs_id,
                (SELECT MAX(COALESCE(ended_at, started_at, created_at)) FROM pipeline_runs)
                    AS pipeline_runs_at,
                (SELECT COUNT(*) FROM pipeline_runs WHERE status IN ('queued', 'running'))
                    AS pipeline_runs_active"""
        )
        return dict(row) if row is not None else {}


# A ``registry=`` argument: an open Registry, a folder, or None for the process-wide one.
RegistryArg = Registry | str | os.PathLike[str] | None

# -- the process-wide registry ---------------------------------------------------------

_current: Registry | None = None

_current_lock = threading.Lock()


def get_registry(home: RegistryArg = None) -> Registry:
    """The registry in use by this process (opened on first use), the one at ``home``, or
    ``home`` itself when it is an open Registry (how every ``registry=`` argument resolves)."""
    global _current
    if isinstance(home, Registry):
        return home
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
    """The registry this process has opened, or None (never opens one)."""
    return _current


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
