"""Shared fixtures: every test gets its own registry folder (real SQLite file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def registry_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "registry"
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.delenv("MLNB_PIPELINE_RUN_ID", raising=False)
    import mlnb.store.registry as r

    r._current = None
    yield home
    if r._current is not None:
        r._current.close()
    r._current = None


@pytest.fixture
def registry(registry_home):
    from mlnb.store.registry import get_registry

    return get_registry()


@pytest.fixture
def ip(registry_home):
    """A real IPython shell with mlnb loaded, against the test's registry."""
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "mlnb")
    shell.run_line_magic("reload_ext", "mlnb")
    shell.user_ns.pop("__session__", None)
    yield shell
    magics = shell.magics_manager.registry.get("CoreMagics")
    if magics is not None and magics._auto_options is not None:
        magics._track_line("off")
    for name in list(shell.user_ns):
        if not name.startswith("_") and name not in ("In", "Out", "get_ipython", "exit", "quit"):
            shell.user_ns.pop(name, None)
    from mlnb.tracking.run import set_experiment

    set_experiment("Default")


def run_cell(shell, source: str):
    """Run a cell like the notebook does; returns the ExecutionResult."""
    return shell.run_cell(source, store_history=True)


os.environ.setdefault("MPLBACKEND", "Agg")
