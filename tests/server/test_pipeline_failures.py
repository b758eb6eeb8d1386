"""What the sidebar reads about a failed retrain: the run's and the pipeline's
``failure_reason`` and the pipeline's alerts (source ``pipeline``) on the alerts route."""

from __future__ import annotations

import json
from pathlib import Path

import mlnb
from mlnb.monitoring.alerts import raise_alert
from mlnb.pipelines.runner import RunExecutor
from mlnb.store.registry import Registry
from tests.pipelines.conftest import write_notebook

API = ("mlnb", "api")


async def _get(jp_fetch, *path: str, **params):
    response = await jp_fetch(*API, *path, params=params, raise_error=False)
    return response.code, json.loads(response.body or b"null")


def _failed_retrain(home: Path, folder: Path) -> None:
    """A pipeline whose run failed on an ``assert`` without a message, with its alert."""
    reg = Registry(home)
    try:
        nb = write_notebook(
            folder / "retrain.ipynb", ["rows = 5", "import math\nassert rows > 10**6"]
        )
        p = mlnb.create_pipeline("retrain", nb, registry=reg)
        run_id = reg.pipelines.enqueue_run(p["id"], "manual", "by hand")
        executor = RunExecutor(reg)
        assert executor.claim(run_id, p)
        executor.execute(run_id)
    finally:
        reg.close()


async def test_a_failed_run_gives_its_reason_and_its_alert_to_the_sidebar(
    jp_fetch, registry_home, tmp_path
):
    _failed_retrain(registry_home, tmp_path)
    reason = (
        "AssertionError: raised without a message at `assert rows > 10**6` (cell 2: 'import math')"
    )
    code, listing = await _get(jp_fetch, "pipelines")
    assert code == 200
    (pipeline,) = listing["pipelines"]
    assert pipeline["failure_reason"] == reason
    assert pipeline["last_run"]["failure_reason"] == reason
    code, detail = await _get(jp_fetch, "pipelines", "retrain")
    assert detail["runs"][0]["status"] == "failed"
    assert detail["runs"][0]["failure_reason"] == reason
    code, alerts = await _get(jp_fetch, "alerts", status="open")
    (alert,) = [a for a in alerts["alerts"] if a["source"] == "pipeline"]
    assert alert["kind"] == "pipeline_run_failed" and reason in alert["message"]
    code, only = await _get(jp_fetch, "alerts", pipeline="retrain")
    assert [a["id"] for a in only["alerts"]] == [alert["id"]]


async def test_finished_runs_have_no_failure_reason(jp_fetch, registry_home, tmp_path):
    reg = Registry(registry_home)
    try:
        nb = write_notebook(tmp_path / "ok.ipynb", ["n = 1"])
        p = mlnb.create_pipeline("ok", nb, registry=reg)
        run_id = reg.pipelines.enqueue_run(p["id"], "manual", "by hand")
        reg.pipelines.update_run(run_id, {"status": "finished"})
        raise_alert(reg, "monitor", "dataset_drift", "drift", severity="warning")
    finally:
        reg.close()
    _, detail = await _get(jp_fetch, "pipelines", "ok")
    assert detail["failure_reason"] is None and detail["runs"][0]["failure_reason"] is None
