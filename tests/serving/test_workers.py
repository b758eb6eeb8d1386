"""``--workers 2``: one deployment behind two uvicorn processes, whose /metrics add up."""

from __future__ import annotations

import re

import httpx

import mlnb

from .conftest import cd, records, start_server, stop_server


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    assert found, f"{name} not in /metrics:\n{text}"
    return float(found.group(1))


def test_metrics_add_up_across_two_workers(churn_registry):
    served = start_server(churn_registry, "--workers", "2")
    metrics_dir = churn_registry / "deployments" / "metrics-1"
    try:
        assert metrics_dir.is_dir()
        rows = records(cd.make_customers(3, month=1, seed=4))
        pids: dict[int, int] = {}
        sent = 0
        for _ in range(60):  # a new connection each time: the kernel spreads them
            answer = httpx.post(served.url + "/invocations", json={"dataframe_records": rows})
            assert answer.status_code == 200
            sent += 1
            pid = httpx.get(served.url + "/health").json()["pid"]
            pids[pid] = pids.get(pid, 0) + 1
            if len(pids) == 2 and sent >= 20:
                break
        assert len(pids) == 2, f"every request went to one worker: {pids}"
        bad = httpx.post(served.url + "/invocations", json={"dataframe_records": [{"x": 1}]})
        assert bad.status_code == 400
        for _ in range(6):  # whichever worker answers, the totals are the deployment's
            text = httpx.get(served.url + "/metrics").text
            assert _metric(text, 'mlnb_requests_total{status="ok"}') == sent
            assert _metric(text, 'mlnb_requests_total{status="error"}') == 1
            assert _metric(text, "mlnb_request_latency_seconds_count") == sent + 1
            assert _metric(text, "mlnb_model_version") == 1
    finally:
        stop_server(served)
    assert not metrics_dir.exists()  # removed with the deployment
    reg = mlnb.Registry(churn_registry, create=False)
    assert reg.deployments.count_rows(1) == 3 * sent + 1  # both workers logged
    reg.close()
