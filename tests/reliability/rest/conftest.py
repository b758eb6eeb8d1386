"""pytest-jupyter server fixtures scoped to the REST reliability tests, with the server
pointed at the test's registry folder (same setup as tests/server)."""

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
