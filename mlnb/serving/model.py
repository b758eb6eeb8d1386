"""The served model and its hot swap: the version an alias names, loaded with the same
sha256 and trusted-types checks as ``load_model``, replaced in one assignment when the
alias moves. A version that fails to load leaves the old one serving and raises an alert.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlnb.lifecycle.versions import ModelVersion
from mlnb.monitoring.alerts import raise_alert
from mlnb.serving.payloads import Column, schema_of
from mlnb.store.registry import Registry
from mlnb.tracking.artifacts import load_artifact

log = logging.getLogger("mlnb.serving")
WATCH_SECONDS = 0.5
# Imported by scikit-learn's estimator discovery, which skops runs when it is imported (to
# list the types it trusts), but never needed to load or run a model.
NOT_NEEDED_TO_SERVE = ("pytest", "dask")


def preload_skops() -> None:
    """Import skops in a server process without the test and dask packages it drags in.

    skops lists every scikit-learn estimator at import (``all_estimators`` walks all of
    scikit-learn), which imports pytest and dask when they are installed: a quarter of a
    second before the first /ping. While skops imports they read as absent (the walk skips
    what it cannot import); afterwards they import normally again, so a model that needs
    dask still loads. Only the serving process does this: a notebook keeps the usual
    import order.
    """
    if "skops.io" in sys.modules:
        return
    hidden = [name for name in NOT_NEEDED_TO_SERVE if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        importlib.import_module("skops.io")
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


@dataclass(frozen=True)
class Loaded:
    """One loaded version: the model, what it expects and what it can answer."""

    model: Any
    version: int
    sha256: str
    schema: list[Column]
    classes: list[Any] | None
    has_proba: bool
    name: str
    ref: str = field(default="")


def load_version(reg: Registry, ref: str) -> Loaded:
    """Resolve ``ref`` and load that version (sha256 verified, only trusted types)."""
    mv = ModelVersion.from_row(reg.models.resolve(ref), reg)
    model = load_artifact(reg, mv.artifact_id)
    classes = getattr(model, "classes_", None)
    return Loaded(
        model=model,
        version=mv.version,
        sha256=mv.object_hash,
        schema=schema_of(mv.signature),
        classes=[c.item() if hasattr(c, "item") else c for c in classes]
        if classes is not None
        else None,
        has_proba=hasattr(model, "predict_proba"),
        name=mv.name,
        ref=ref,
    )


class ServedModel:
    """The model behind a deployment; ``current`` is swapped atomically by the watcher."""

    def __init__(
        self,
        reg: Registry,
        ref: str,
        on_swap: Callable[[Loaded], None] | None = None,
        monitor_id: Callable[[], int | None] | None = None,
    ) -> None:
        self.reg = reg
        self.ref = ref
        self.current = load_version(reg, ref)
        self.on_swap = on_swap
        self.monitor_id = monitor_id or (lambda: None)
        self.swaps = 0
        self.failed_versions: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_watching(self, every: float = WATCH_SECONDS) -> None:
        self._thread = threading.Thread(
            target=self._watch, args=(every,), name="mlnb-model-watch", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.check()
            except Exception as exc:  # a locked registry: try again next time
                log.warning("hot swap check failed: %s", exc)

    def check(self) -> bool:
        """Swap to the version the alias names now, if it moved; True when swapped."""
        row = self.reg.models.resolve(self.ref)
        version = int(row["version"])
        if version == self.current.version or version in self.failed_versions:
            return False
        try:
            loaded = load_version(self.reg, f"{self.current.name}/{version}")
        except Exception as exc:
            self.failed_versions.add(version)
            self._alert_failed(version, exc)
            return False
        old = self.current.version
        self.current = loaded  # one assignment: requests already batched keep the old one
        self.swaps += 1
        log.info("%s: now serving v%d (was v%d)", self.ref, version, old)
        if self.on_swap is not None:
            self.on_swap(loaded)
        return True

    def _alert_failed(self, version: int, exc: Exception) -> None:
        message = (
            f"{self.ref} moved to v{version} but it failed to load "
            f"({type(exc).__name__}: {exc}); v{self.current.version} keeps serving."
        )
        log.error("%s", message)
        raise_alert(
            self.reg,
            "deployment",
            "deployment_swap_failed",
            message,
            {
                "model": self.current.name,
                "ref": self.ref,
                "version": version,
                "serving": self.current.version,
            },
            severity="critical",
            monitor_id=self.monitor_id(),
        )
