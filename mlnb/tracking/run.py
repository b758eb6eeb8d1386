"""Runs from Python: ``with mlnb.track():`` and the ``log_*`` functions that write into it.

A tracked notebook cell, a script and a papermill pipeline all go through :class:`Run`.
Inside a pipeline run (``MLNB_PIPELINE_RUN_ID`` set by the scheduler) every run is linked to
that pipeline run so the registry can say which trigger produced which model.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import traceback
from typing import Any

from mlnb.errors import MlnbError, ValidationError
from mlnb.store.refs import is_number
from mlnb.store.registry import Registry, get_registry
from mlnb.tracking.artifacts import save_model
from mlnb.tracking.estimators import signature as model_signature
from mlnb.tracking.parameters import PARAMETERS_TAG, notebook_parameters

_state = threading.local()
_experiment = {"name": os.environ.get("MLNB_EXPERIMENT", "Default")}

PULSE_SECONDS = 1.0  # how often an open run's heartbeat is refreshed (its duration's grain)


class _Pulse:
    """Keeps the heartbeat of this process's open runs fresh every second, so a run whose
    process is killed (SIGKILL, out of memory) is recorded as crashed with its real duration
    up to the last beat; at interpreter exit (kernel shutdown or restart) the runs still
    open end as ``interrupted``."""

    def __init__(self) -> None:
        self._runs: dict[int, Run] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._exit_hook = False

    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[id(run)] = run
            if not self._exit_hook:
                atexit.register(self.interrupt_all)
                self._exit_hook = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mlnb-pulse", daemon=True)
                self._thread.start()

    def remove(self, run: Run) -> None:
        with self._lock:
            self._runs.pop(id(run), None)

    def open_runs(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())

    def _loop(self) -> None:
        while not self._wake.wait(PULSE_SECONDS):
            by_registry: dict[int, list[Run]] = {}
            for run in self.open_runs():
                by_registry.setdefault(id(run.registry), []).append(run)
            for runs in by_registry.values():
                try:
                    runs[0].registry.runs.heartbeat([r.id for r in runs])
                except Exception:  # a missed beat costs precision, never the user's cell
                    pass

    def interrupt_all(self) -> None:
        """The interpreter is exiting with runs still open: they were interrupted."""
        for run in self.open_runs():
            try:
                run.end(
                    "interrupted",
                    "the process exited while the run was open (kernel shut down or restarted)",
                )
            except Exception:
                pass


_pulse = _Pulse()


MAX_EXPERIMENT_NAME = 500  # the registry's limit for names


def set_experiment(name: str) -> str:
    """Make ``name`` the experiment that new runs in this process belong to."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"experiment name must be a non-empty string, got {name!r}.")
    if len(name.strip()) > MAX_EXPERIMENT_NAME:
        # refused now, not at the next tracked cell (where every run would fail to start)
        raise ValidationError(
            f"experiment name is {len(name.strip())} characters long; keep it under "
            f"{MAX_EXPERIMENT_NAME}."
        )
    _experiment["name"] = name.strip()
    return _experiment["name"]


def current_experiment() -> str:
    return _experiment["name"]


def pipeline_run_id_from_env() -> int | None:
    value = os.environ.get("MLNB_PIPELINE_RUN_ID")
    return int(value) if value and is_number(value) else None


def notebook_path_from_env() -> str | None:
    return os.environ.get("MLNB_NOTEBOOK_PATH") or os.environ.get("JPY_SESSION_NAME") or None


class Run:
    """One tracked run. Use as a context manager; it finishes (or fails) on exit."""

    def __init__(
        self,
        registry: Registry,
        run_id: int,
        experiment: str,
        name: str = "",
    ) -> None:
        self.registry = registry
        self.id = run_id
        self.experiment = experiment
        self.name = name
        self.status = "running"
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"<mlnb Run #{self.id} {self.name!r} in {self.experiment!r}: {self.status}>"

    # logging
    def log_param(self, key: str, value: Any) -> None:
        self.registry.runs.log_params(self.id, {key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        self.registry.runs.log_params(self.id, params)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.registry.runs.log_metrics(self.id, {key: value}, step=step)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.registry.runs.log_metrics(self.id, metrics, step=step)

    def set_tag(self, key: str, value: Any) -> None:
        self.registry.runs.set_tags(self.id, {key: value})

    def log_data(
        self, obj: Any, name: str = "", role: str = "input", snapshot: bool = False
    ) -> str:
        """Record a data version as an input (or output) of this run; returns its id."""
        if role not in ("input", "output"):
            raise ValidationError(f"role must be 'input' or 'output', got {role!r}.")
        # the data stack (numpy, pandas) loads with the first data version, not with `track`
        from mlnb.tracking.data import record_data

        return str(
            record_data(
                self.registry, obj, name=name, run_id=self.id, role=role, snapshot=snapshot
            )["id"]
        )

    def log_model(
        self,
        model: Any,
        name: str = "model",
        signature: dict[str, Any] | None = None,
        allow_pickle: bool = False,
        X: Any = None,
    ) -> dict[str, Any]:
        """Store a fitted model as an output of this run; returns the artifact record."""

        sig = signature if signature is not None else model_signature(model, X)
        return save_model(
            self.registry,
            model,
            name=name,
            run_id=self.id,
            signature=sig,
            allow_pickle=allow_pickle,
        )

    def end(self, status: str = "finished", error: str | None = None) -> None:
        if self.status != "running":
            return
        _pulse.remove(self)
        self.registry.runs.end(self.id, status, error)
        self.status = status

    def __enter__(self) -> Run:
        activate(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        deactivate(self)
        if exc_type is None:
            self.end("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("interrupted", "interrupted by the user (KeyboardInterrupt)")
        else:
            self.end("failed", "".join(traceback.format_exception_only(exc_type, exc)).strip())


def start_run(
    name: str = "",
    experiment: str | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    source: str = "script",
    notebook_path: str | None = None,
    cell_source: str | None = None,
    execution_count: int | None = None,
) -> Run:
    """Open a run without entering it (``track`` is the usual way)."""
    reg = get_registry(registry)
    exp = experiment or current_experiment()
    run_id = reg.runs.start(
        experiment=exp,
        name=name,
        source=source,
        notebook_path=notebook_path or notebook_path_from_env(),
        cell_source=cell_source,
        execution_count=execution_count,
        pipeline_run_id=pipeline_run_id_from_env(),
    )
    run = Run(reg, run_id, exp, name)
    _pulse.add(run)
    if source != "cell":  # a cell logs them itself, beside its own literals
        execution = _kernel_parameters()
        if execution:
            run.log_params(execution)
            reg.runs.set_tags(run_id, {PARAMETERS_TAG: ",".join(execution)})
    if params:
        run.log_params(params)
    if tags:
        reg.runs.set_tags(run_id, tags)
    return run


def _kernel_parameters() -> dict[str, Any]:
    """The papermill parameters of the execution this process runs in a kernel, if any."""
    main = sys.modules.get("__main__")
    namespace = getattr(main, "__dict__", {})
    found = notebook_parameters(namespace) if "In" in namespace else {}
    return {k: v for k, v in found.items() if isinstance(v, (bool, int, float, str))}


def track(
    name: str = "",
    experiment: str | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
) -> Run:
    """``with mlnb.track("fit") as run:`` records a run; it ends as finished or failed."""
    return start_run(name=name, experiment=experiment, registry=registry, params=params, tags=tags)


def active_run() -> Run | None:
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else None


def _require_run(what: str) -> Run:
    run = active_run()
    if run is None:
        raise MlnbError(
            f"mlnb.{what} needs an active run: wrap the code in `with mlnb.track():` or run "
            "it in a `%%track` cell (or turn on `%track on`)."
        )
    return run


def activate(run: Run) -> None:
    """Make ``run`` the active run of this thread (what ``mlnb.log_metric`` writes to)."""
    if not hasattr(_state, "stack"):
        _state.stack = []
    _state.stack.append(run)


def deactivate(run: Run) -> None:
    """``run`` is no longer active (the one active before it, if any, is again)."""
    stack = getattr(_state, "stack", [])
    if run in stack:
        stack.remove(run)


def log_param(key: str, value: Any) -> None:
    """Record a parameter on the active run."""
    _require_run("log_param").log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    _require_run("log_params").log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric value on the active run (each call appends a step)."""
    _require_run("log_metric").log_metric(key, value, step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    _require_run("log_metrics").log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _require_run("set_tag").set_tag(key, value)


def log_data(obj: Any, name: str = "", role: str = "input", snapshot: bool = False) -> str:
    """Record a data version used (or produced) by the active run; returns the version id."""
    return _require_run("log_data").log_data(obj, name=name, role=role, snapshot=snapshot)


def log_model(
    model: Any, name: str = "model", allow_pickle: bool = False, X: Any = None
) -> dict[str, Any]:
    """Store a fitted model as an output of the active run."""
    return _require_run("log_model").log_model(model, name=name, allow_pickle=allow_pickle, X=X)
