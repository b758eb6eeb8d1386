"""The sidebar over a read-only registry (a colleague's copy on a read-only mount): every
read answers 200, a write answers 409 saying the registry is read-only."""

from __future__ import annotations

import json

import pytest

from tests.reliability.rest.test_rest_reliability import _call
from tests.reliability.test_registry_files import _mount, _registry_with_model, _umount


@pytest.fixture
def read_only_view(tmp_path):
    home = tmp_path / "reg"
    _registry_with_model(home)
    view = tmp_path / "ro"
    view.mkdir()
    if not _mount(["--bind", "-o", "ro", str(home)], view):
        pytest.skip("cannot bind-mount read-only here (needs root)")
    yield view
    _umount(view)


@pytest.fixture
def jp_server_config(read_only_view) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"mlnb.server": True}},
        "MlnbServer": {"registry": str(read_only_view)},
    }


async def test_the_sidebar_reads_a_read_only_registry(jp_fetch):
    for path in ("status", "version", "runs", "runs/1", "models", "models/churn", "alerts"):
        response = await _call(jp_fetch, "GET", path)
        assert response.code == 200, (path, response.body[:300])
    runs = json.loads((await _call(jp_fetch, "GET", "runs")).body)["runs"]
    assert {r["name"] for r in runs} == {"fit", "register churn"}
    lineage = await _call(jp_fetch, "GET", "models/churn/versions/1/lineage")
    assert lineage.code == 200
    body = json.dumps({"version": 1, "to": "archived"}).encode()
    response = await _call(jp_fetch, "POST", "models/churn/promote", body=body)
    assert response.code == 409
    assert "read-only" in json.loads(response.body)["error"]
