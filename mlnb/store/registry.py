"""The registry handle: one folder holding ``registry.db`` and the object store, opened and
migrated, with one store per feature (``reg.runs``, ``reg.data``, ``reg.models``,
``reg.monitors``, ``reg.alerts``, ``reg.pipelines``, ``reg.deployments``) the way sqlite-utils hands out
``db["table"]``. The handle itself holds no domain logic.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

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

    Opening it never writes (beyond creating or migrating the schema); a read-only file or
    folder is opened read-only. ``Registry()`` uses ``$MLNB_HOME`` or ``./.mlnb``.
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
        self.read_only = not _writable(self.home) or (
            self.db_path.exists() and not _writable(self.db_path)
        )
        self.db = Database(self.db_path, read_only=self.read_only)
        self.objects = ObjectStore(self.home / OBJECTS_DIRNAME)
        self.runs = RunStore(self)
        self.data = DataStore(self)
        self.models = ModelStore(self)
        self.monitors = MonitorStore(self)
        self.alerts = AlertStore(self)
        self.pipelines = PipelineStore(self)
        # Opening only reads: runs whose process died are marked crashed just before this
        # handle's first write, so a read-only file or a full disk can still be read.
        self.db.before_first_write(self.runs.recover_crashed)
        self.deployments = DeploymentStore(self)

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

    def change_counters(self) -> dict[str, int]:
        """One counter per feature (runs, data, models, monitors, alerts, pipelines) that
        triggers bump on every change the sidebar shows, plus the largest rowid of params,
        metrics and tags (appended too often for a trigger): a few index reads, whatever the
        registry's size. Heartbeats do not count, so a running kernel causes no refetch."""
        counters = {
            str(feature): int(n)
            for feature, n in self.db.query_tuples("SELECT feature, n FROM changes")
        }
        (params, metrics, tags), *_ = self.db.query_tuples(
            "SELECT (SELECT MAX(rowid) FROM params), (SELECT MAX(id) FROM metrics), "
            "(SELECT MAX(rowid) FROM tags)"
        )
        counters["runs.params"] = int(params or 0)
        counters["runs.metrics"] = int(metrics or 0)
        counters["runs.tags"] = int(tags or 0)
        return counters


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


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` (False on a read-only mount, too)."""
    if not os.access(path, os.W_OK):
        return False
    try:
        return not os.statvfs(path).f_flag & os.ST_RDONLY
    except OSError:
        return True
