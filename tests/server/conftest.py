"""Fixtures for the sidebar's server tests: pytest-jupyter's server fixtures, scoped to this
folder (its autouse fixtures would otherwise run around every test of the suite), and a
registry with a few runs that the server is pointed at."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def registry_home(tmp_path: Path) -> Path:
    """A registry folder outside the server root (set through MlnbServer.registry)."""
    return tmp_path / "registry"


@pytest.fixture
def jp_server_config(registry_home: Path) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"mlnb.server": True}},
        "MlnbServer": {"registry": str(registry_home)},
    }
