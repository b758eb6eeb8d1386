"""mlnb: MLOps inside Jupyter.

``%load_ext mlnb`` in a notebook; ``import mlnb`` in scripts and pipelines. Attributes are
imported lazily so that loading the extension stays fast.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from mlnb._runtime import installed_version

__version__ = installed_version()

# The public API: one way to do each thing. public name -> "module:attribute".
_LAZY: dict[str, str] = {
    # tracking
    "track": "mlnb.tracking.run:track",
    "active_run": "mlnb.tracking.run:active_run",
    "set_experiment": "mlnb.tracking.run:set_experiment",
    "log_param": "mlnb.tracking.run:log_param",
    "log_params": "mlnb.tracking.run:log_params",
    "log_metric": "mlnb.tracking.run:log_metric",
    "log_metrics": "mlnb.tracking.run:log_metrics",
    "set_tag": "mlnb.tracking.run:set_tag",
    "log_data": "mlnb.tracking.run:log_data",
    "log_model": "mlnb.tracking.run:log_model",
    "fingerprint": "mlnb.tracking.data:fingerprint",
    "load_data": "mlnb.tracking.data:load_data",
    # the registry folder
    "Registry": "mlnb.store.registry:Registry",
    "get_registry": "mlnb.store.registry:get_registry",
    "set_registry": "mlnb.store.registry:set_registry",
    # model registry and gates
    "register_model": "mlnb.lifecycle.versions:register_model",
    "load_model": "mlnb.lifecycle.versions:load_model",
    "get_model_version": "mlnb.lifecycle.versions:get_model_version",
    "set_alias": "mlnb.lifecycle.versions:set_alias",
    "delete_alias": "mlnb.lifecycle.versions:delete_alias",
    "rollback": "mlnb.lifecycle.versions:rollback",
    "lineage": "mlnb.lifecycle.versions:lineage",
    "models": "mlnb.lifecycle.versions:models",
    "ModelVersion": "mlnb.lifecycle.versions:ModelVersion",
    "promote": "mlnb.lifecycle.promotion:promote",
    "run_gate": "mlnb.lifecycle.promotion:run_gate",
    "Gate": "mlnb.lifecycle.gate:Gate",
    "checks": "mlnb.checks",
    # monitoring and drift
    "Monitor": "mlnb.monitoring.monitor:Monitor",
    "drift": "mlnb.monitoring.drift.scoring:drift",
    # pipelines
    "create_pipeline": "mlnb.pipelines.api:create_pipeline",
    "run_pipeline": "mlnb.pipelines.api:run_pipeline",
    "list_pipelines": "mlnb.pipelines.api:list_pipelines",
    "pipeline_history": "mlnb.pipelines.api:pipeline_history",
    "Scheduler": "mlnb.pipelines.scheduler:Scheduler",
}

# Names that moved: still answered, with a warning that says where they went.
_MOVED: dict[str, tuple[str, str]] = {
    "start_run": ("mlnb.tracking.run:start_run", "use mlnb.track(...)"),
    "gates": ("mlnb.lifecycle.gate", "use mlnb.Gate and mlnb.checks"),
    "alerts": ("mlnb.monitoring.alerts", "import mlnb.monitoring.alerts"),
    "PromotionResult": (
        "mlnb.lifecycle.promotion:PromotionResult",
        "import it from mlnb.lifecycle.promotion",
    ),
    "GateResult": ("mlnb.lifecycle.gate:GateResult", "import it from mlnb.lifecycle.gate"),
}

__all__ = sorted(_LAZY) + ["load_ipython_extension", "unload_ipython_extension", "__version__"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built sidebar lives, for `jupyter labextension develop --overwrite .`."""
    return [{"src": "labextension", "dest": "mlnb"}]


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    value = importlib.import_module(module)
    return getattr(value, attr) if attr else value


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        moved_to, advice = _MOVED[name]
        warnings.warn(f"mlnb.{name} is deprecated: {advice}.", DeprecationWarning, stacklevel=2)
        return _resolve(moved_to)
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mlnb' has no attribute {name!r}")
    value = _resolve(target)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext mlnb``: register the magics and say which registry is in use.

    A folder without a registry is left alone: ``.mlnb/registry.db`` is created by the
    first run or command that writes, not by loading the extension.
    """
    from mlnb.magics import register_all
    from mlnb.store.paths import DB_FILENAME, resolve_home
    from mlnb.store.registry import current_registry, get_registry

    register_all(ip)
    try:
        home = resolve_home()
        if current_registry() is None and not (home / DB_FILENAME).exists():
            print(
                f"mlnb {__version__}: registry {home} (created at the first run). Try %mlnb help."
            )
            return
        reg = get_registry()
        print(f"mlnb {__version__}: registry {reg.home} ({reg.runs.count()} runs). Try %mlnb help.")
    except Exception as exc:  # a broken registry must not stop the notebook from loading
        print(f"mlnb {__version__}: the registry could not be opened: {exc}")


def unload_ipython_extension(ip: Any) -> None:
    magics = ip.magics_manager.registry.get("CoreMagics")
    if magics is not None and magics._auto_options is not None:
        magics._track_line("off")
