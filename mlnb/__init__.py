"""mlnb: MLOps inside Jupyter.

``%load_ext mlnb`` in a notebook; ``import mlnb`` in scripts and pipelines. Attributes are
imported lazily so that loading the extension stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"; each area adds its own lines.
_LAZY: dict[str, str] = {
    # tracking
    "track": "mlnb.capture.run:track",
    "start_run": "mlnb.capture.run:start_run",
    "active_run": "mlnb.capture.run:active_run",
    "set_experiment": "mlnb.capture.run:set_experiment",
    "log_param": "mlnb.capture.run:log_param",
    "log_params": "mlnb.capture.run:log_params",
    "log_metric": "mlnb.capture.run:log_metric",
    "log_metrics": "mlnb.capture.run:log_metrics",
    "set_tag": "mlnb.capture.run:set_tag",
    "log_data": "mlnb.capture.run:log_data",
    "log_model": "mlnb.capture.run:log_model",
    "fingerprint": "mlnb.api:fingerprint",
    "load_model": "mlnb.api:load_model",
    "load_data": "mlnb.api:load_data",
    "Registry": "mlnb.registry:Registry",
    "get_registry": "mlnb.registry:get_registry",
    "set_registry": "mlnb.registry:set_registry",
    # model registry and gates
    "register_model": "mlnb.registry.models:register_model",
    "get_model_version": "mlnb.registry.models:get_model_version",
    "set_alias": "mlnb.registry.models:set_alias",
    "delete_alias": "mlnb.registry.models:delete_alias",
    "rollback": "mlnb.registry.models:rollback",
    "lineage": "mlnb.registry.models:lineage",
    "models": "mlnb.registry.models:models",
    "ModelVersion": "mlnb.registry.models:ModelVersion",
    "promote": "mlnb.gates.promotion:promote",
    "run_gate": "mlnb.gates.promotion:run_gate",
    "PromotionResult": "mlnb.gates.promotion:PromotionResult",
    "Gate": "mlnb.gates.gate:Gate",
    "GateResult": "mlnb.gates.gate:GateResult",
    "gates": "mlnb.gates",
    "checks": "mlnb.checks",
    # monitoring and drift
    "Monitor": "mlnb.monitoring.monitor:Monitor",
    "drift": "mlnb.drift",
    "alerts": "mlnb.alerts",
    # pipelines
    "create_pipeline": "mlnb.pipelines:create_pipeline",
    "run_pipeline": "mlnb.pipelines:run_pipeline",
    "list_pipelines": "mlnb.pipelines:list_pipelines",
    "pipeline_history": "mlnb.pipelines:pipeline_history",
    "Scheduler": "mlnb.pipelines:Scheduler",
}

__all__ = sorted(_LAZY) + ["load_ipython_extension", "unload_ipython_extension", "__version__"]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mlnb' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = importlib.import_module(module)
    if attr:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext mlnb``: register the magics and say which registry is in use."""
    from mlnb.magics import register_all
    from mlnb.registry import get_registry

    register_all(ip)
    try:
        reg = get_registry()
        print(
            f"mlnb {__version__}: registry {reg.home} ({reg.db.count_runs()} runs). Try %mlnb help."
        )
    except Exception as exc:  # a broken registry must not stop the notebook from loading
        print(f"mlnb {__version__}: the registry could not be opened: {exc}")


def unload_ipython_extension(ip: Any) -> None:
    magics = ip.magics_manager.registry.get("CoreMagics")
    if magics is not None and magics._auto_options is not None:
        magics._track_line("off")
