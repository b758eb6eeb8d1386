"""Fixtures for the sidebar's server tests: pytest-jupyter's server fixtures, scoped to this
folder (its autouse fixtures would otherwise run around every test of the suite), and the
server pointed at the test's registry folder (outside its root, via MlnbServer.registry)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def jp_server_config(registry_home: Path) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"mlnb.server": True}},
        "MlnbServer": {"registry": str(registry_home)},
    }
