"""The sidebar's REST API under /mlnb/api/, served by a real jupyter_server (pytest-jupyter)."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from mlnb.pipelines.api import create_pipeline
from mlnb.store.registry import Registry

API = ("mlnb", "api")


def track_runs(home: Path) -> dict[str, int]:
    """Two finished runs of 'churn' and one of 'other', as a notebook would log them."""
    reg = Registry(home)
    try:
        ids = {}
        for name, experiment, c, acc in [
            ("baseline", "churn", 1.0, 0.81),
            ("<b>tuned</b>", "churn", 0.1, 0.88),
            ("other-run", "other", 5.0, float("nan")),
        ]:
            run = reg.runs.start(experiment, name=name, environment={})
            reg.runs.log_params(run, {"C": c, "penalty": "l2"})
            reg.runs.log_metrics(run, {"accuracy": acc})
            reg.runs.end(run)
            ids[name] = run
        return ids
    finally:
        reg.close()


async def get(jp_fetch, *path: str, **params: Any) -> tuple[int, Any]:
    response = await jp_fetch(*API, *path, params=params, raise_error=False)
    return response.code, json.loads(response.body or b"null")


async def post(jp_fetch, *path: str, body: Any = None, raw: bytes | None = None, **kw):
    data = raw if raw is not None else json.dumps(body or {}).encode()
    response = await jp_fetch(*API, *path, method="POST", body=data, raise_error=False, **kw)
    return response.code, json.loads(response.body or b"null")


@pytest.fixture
def runs(registry_home: Path) -> dict[str, int]:
    return track_runs(registry_home)


async def test_runs_are_listed_with_metrics_and_params(jp_fetch, runs) -> None:
    code, body = await get(jp_fetch, "runs")
    assert code == 200
    names = [r["name"] for r in body["runs"]]
    assert names == ["other-run", "<b>tuned</b>", "baseline"]  # newest first
    assert body["metric_keys"] == ["accuracy"]
    tuned = body["runs"][1]
    assert tuned["params"] == {"C": 0.1, "penalty": "l2"}
    assert tuned["metrics"] == {"accuracy": 0.88}
    # NaN is not JSON: it comes back as null instead of breaking the browser's parser.
    assert body["runs"][0]["metrics"] == {"accuracy": None}


async def test_runs_filter_by_experiment_and_sort_by_metric(jp_fetch, runs) -> None:
    code, body = await get(jp_fetch, "runs", experiment="churn", sort="accuracy", order="asc")
    assert code == 200
    assert [r["name"] for r in body["runs"]] == ["baseline", "<b>tuned</b>"]
    code, body = await get(jp_fetch, "runs", sort="accuracy", order="desc", limit="1")
    assert [r["name"] for r in body["runs"]] == ["<b>tuned</b>"]


async def test_experiments_and_status(jp_fetch, runs, registry_home) -> None:
    code, body = await get(jp_fetch, "experiments")
    assert code == 200
    assert {e["name"]: e["n_runs"] for e in body["experiments"]} == {"churn": 2, "other": 1}
    code, status = await get(jp_fetch, "status")
    assert code == 200
    assert status["registry"] == str(registry_home)
    assert status["counts"]["n_runs"] == 3


async def test_run_detail_and_compare(jp_fetch, runs) -> None:
    code, run = await get(jp_fetch, "runs", str(runs["baseline"]))
    assert code == 200
    assert run["name"] == "baseline" and run["experiment"] == "churn"
    assert run["params"]["C"] == 1.0
    code, body = await get(jp_fetch, "compare", runs=f"{runs['baseline']},{runs['<b>tuned</b>']}")
    assert code == 200
    assert [r["name"] for r in body["runs"]] == ["baseline", "<b>tuned</b>"]
    rows = {r["key"]: r for r in body["params"]}
    assert rows["C"] == {"key": "C", "values": [1.0, 0.1], "differs": True}
    assert rows["penalty"]["differs"] is False
    assert {r["key"] for r in body["metrics"]} == {"accuracy"}


async def test_version_token_changes_only_when_the_registry_does(
    jp_fetch, runs, registry_home
) -> None:
    _, first = await get(jp_fetch, "version")
    _, again = await get(jp_fetch, "version")
    assert first == again
    reg = Registry(registry_home)
    try:
        run = reg.runs.start("churn", name="new", environment={})
        _, started = await get(jp_fetch, "version")
        reg.runs.end(run)
        _, ended = await get(jp_fetch, "version")
    finally:
        reg.close()
    assert len({first["token"], started["token"], ended["token"]}) == 3


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        (("runs",), {"limit": "ten"}, "limit must be an integer"),
        (("runs",), {"limit": "0"}, "limit must be between"),
        (("runs",), {"order": "sideways"}, "order must be one of asc, desc"),
        (("runs",), {"status": "exploded"}, "unknown run status"),
        (("compare",), {}, "runs is required"),
        (("compare",), {"runs": "1"}, "at least two runs"),
        (("runs", "not-a-run"), {}, "is not a run id"),
        (("data",), {"limit": "-3"}, "limit must be between"),
    ],
)
async def test_bad_parameters_get_400_with_a_message(jp_fetch, runs, path, params, fragment):
    code, body = await get(jp_fetch, *path, **params)
    assert code == 400
    assert fragment in body["error"]


async def test_unknown_things_get_404(jp_fetch, runs) -> None:
    code, body = await get(jp_fetch, "runs", "9999")
    assert code == 404 and "no run with id 9999" in body["error"]
    code, body = await get(jp_fetch, "no-such-endpoint")
    assert code == 404 and "no mlnb API endpoint" in body["error"]


GET_ENDPOINTS = [
    "status",
    "version",
    "experiments",
    "runs",
    "runs/1",
    "compare?runs=1,2",
    "data",
    "alerts",
    "monitors",
    "monitors/churn-live",
    "models",
    "models?detail=1",
    "models/churn",
    "models/churn/versions/1/lineage",
    "pipelines",
    "pipelines/retrain",
    "pipelines/retrain/runs/1/output",
    "artifacts/1/download",
    "cron?expr=0 6 * * 1",
    "notebooks",
]
POST_ENDPOINTS = [
    "alerts/1/ack",
    "models/churn/promote",
    "models/churn/rollback",
    "pipelines/retrain/run",
    "pipelines/retrain/pause",
    "data/abc/restore",
    "pipelines",
]


@pytest.mark.parametrize("endpoint", GET_ENDPOINTS)
async def test_requests_without_a_token_get_403(jp_fetch, runs, endpoint) -> None:
    path, _, query = endpoint.partition("?")
    params = dict(urllib.parse.parse_qsl(query))
    response = await jp_fetch(
        *API, *path.split("/"), params=params, headers={"Authorization": ""}, raise_error=False
    )
    assert response.code == 403


def cookies_from(response) -> dict[str, str]:
    jar = {}
    for header in response.headers.get_list("Set-Cookie"):
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


async def browser_login(jp_fetch, jp_serverapp) -> dict[str, str]:
    """Log in the way a browser does (login form + token) and return the cookies it gets."""
    page = await jp_fetch("login", headers={"Authorization": ""}, raise_error=False)
    jar = cookies_from(page)
    form = urllib.parse.urlencode(
        {"password": jp_serverapp.identity_provider.token, "_xsrf": jar["_xsrf"]}
    )
    done = await jp_fetch(
        "login",
        method="POST",
        body=form,
        headers={"Authorization": "", "Cookie": f"_xsrf={jar['_xsrf']}"},
        follow_redirects=False,
        raise_error=False,
    )
    assert done.code == 302, done.code
    jar.update(cookies_from(done))
    return jar


@pytest.fixture
def alert_id(registry_home: Path, runs) -> int:
    from mlnb.monitoring.alerts import raise_alert

    reg = Registry(registry_home)
    try:
        alert = raise_alert(
            reg, "monitor", "accuracy", "accuracy 0.71 fell below 0.82", severity="critical"
        )
        return int(alert["id"])
    finally:
        reg.close()


async def open_alert_ids(jp_fetch) -> list[int]:
    code, body = await get(jp_fetch, "alerts", status="open")
    assert code == 200
    return [a["id"] for a in body["alerts"]]


async def test_alerts_are_listed_and_acknowledged(jp_fetch, alert_id) -> None:
    assert await open_alert_ids(jp_fetch) == [alert_id]
    code, alert = await post(jp_fetch, "alerts", str(alert_id), "ack")
    assert code == 200
    assert alert["status"] == "acknowledged"
    assert await open_alert_ids(jp_fetch) == []
    code, body = await get(jp_fetch, "alerts", status="bogus")
    assert code == 400 and "alert status must be one of" in body["error"]


async def test_write_errors(jp_fetch, alert_id) -> None:
    code, body = await post(jp_fetch, "alerts", str(alert_id), "ack", raw=b"{not json")
    assert code == 400 and "not valid JSON" in body["error"]
    code, body = await post(jp_fetch, "alerts", str(alert_id), "ack", raw=b"[1, 2]")
    assert code == 400 and "must be a JSON object" in body["error"]
    code, body = await post(jp_fetch, "alerts", "abc", "ack")
    assert code == 400 and "alert id must be a number (a whole one" in body["error"]
    code, body = await post(jp_fetch, "alerts", "999", "ack")
    assert code == 404 and "no alert with id 999" in body["error"]
    assert await open_alert_ids(jp_fetch) == [alert_id]


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
async def test_writes_without_a_token_get_403(jp_fetch, alert_id, endpoint) -> None:
    response = await jp_fetch(
        *API,
        *endpoint.split("/"),
        method="POST",
        body=b"{}",
        headers={"Authorization": ""},
        raise_error=False,
    )
    assert response.code == 403
    assert await open_alert_ids(jp_fetch) == [alert_id]


async def test_cookie_writes_need_the_xsrf_token_and_the_same_origin(
    jp_fetch, jp_serverapp, alert_id
) -> None:
    jar = await browser_login(jp_fetch, jp_serverapp)
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    as_browser = {"Authorization": "", "Cookie": cookie}
    ack = (*API, "alerts", str(alert_id), "ack")

    # A logged-in browser can read...
    assert (await jp_fetch(*API, "runs", headers=as_browser, raise_error=False)).code == 200
    # ...but a write without the XSRF token (a cross-site form post) is refused,
    missing = await jp_fetch(*ack, method="POST", body=b"{}", headers=as_browser, raise_error=False)
    assert missing.code == 403
    assert "_xsrf" in json.loads(missing.body)["error"]
    # and so is one from another site's page, even with the XSRF token copied in
    # (jupyter_server answers cross-origin API requests with 404).
    foreign = await jp_fetch(
        *ack,
        method="POST",
        body=b"{}",
        headers={**as_browser, "X-XSRFToken": jar["_xsrf"], "Origin": "http://evil.example"},
        raise_error=False,
    )
    assert foreign.code in (403, 404)
    assert await open_alert_ids(jp_fetch) == [alert_id]
    # The same request from JupyterLab's own origin goes through.
    ok = await jp_fetch(
        *ack,
        method="POST",
        body=b"{}",
        headers={**as_browser, "X-XSRFToken": jar["_xsrf"]},
        raise_error=False,
    )
    assert ok.code == 200
    assert await open_alert_ids(jp_fetch) == []


def make_monitor(home: Path) -> None:
    """A churn monitor with a calm batch and a drifted one whose accuracy fell below 0.82."""
    import numpy as np
    import pandas as pd

    from mlnb.monitoring.monitor import Monitor

    rng = np.random.default_rng(7)

    def frame(n: int, tenure_mean: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "tenure": rng.normal(tenure_mean, 5.0, n),
                "charges": rng.normal(70.0, 10.0, n),
                "churned": rng.integers(0, 2, n),
            }
        )

    def predictions(batch: pd.DataFrame, accuracy: float) -> np.ndarray:
        labels = batch["churned"].to_numpy()
        wrong = rng.random(len(labels)) > accuracy
        return np.where(wrong, 1 - labels, labels)

    reg = Registry(home)
    try:
        monitor = Monitor(
            "churn-live",
            model="churn",
            reference=frame(600, 20.0),
            target="churned",
            thresholds={"accuracy": 0.82},
            registry=reg,
        )
        calm = frame(300, 20.0)
        monitor.log_batch(calm, predictions=predictions(calm, 0.9), when=1_700_000_000)
        shifted = frame(300, 35.0)
        monitor.log_batch(shifted, predictions=predictions(shifted, 0.7), when=1_702_600_000)
    finally:
        reg.close()


async def test_monitors_show_drift_accuracy_threshold_and_alerts(jp_fetch, registry_home) -> None:
    pytest.importorskip("mlnb.monitoring.drift", reason="the drift engine has not been merged yet")
    make_monitor(registry_home)
    code, body = await get(jp_fetch, "monitors")
    assert code == 200
    [monitor] = body["monitors"]
    assert monitor["name"] == "churn-live" and monitor["model_name"] == "churn"
    assert monitor["metric"] == "accuracy" and monitor["threshold"] == 0.82
    values = [p["value"] for p in monitor["accuracy"]]
    assert len(values) == 2 and values[0] > 0.82 > values[1]
    assert monitor["latest"]["dataset_drift"] is True
    assert "tenure" in monitor["latest"]["drifted_columns"]
    kinds = {a["kind"] for a in monitor["open_alerts"]}
    assert "accuracy_below_threshold" in kinds
    assert monitor["alert_when"]["accuracy"] == "below"
    assert monitor["alert_when"]["drift_share"] == "above"

    code, detail = await get(jp_fetch, "monitors", "churn-live")
    assert code == 200
    assert [b["dataset_drift"] for b in detail["batches"]] == [False, True]
    assert detail["alerts"] and all(a["monitor"] == "churn-live" for a in detail["alerts"])

    code, body = await get(jp_fetch, "monitors", "nope")
    assert code == 404 and "no monitor named 'nope'" in body["error"]
    assert detail["serving"] is None  # no deployment feeds this monitor


async def test_a_monitor_fed_by_a_deployment_shows_its_serving_health(
    jp_fetch, registry_home
) -> None:
    """The dashboard's serving panel: request rate, p95 and error rate, per scored window."""
    make_monitor(registry_home)
    reg = Registry(registry_home)
    try:
        config = {"monitor": "churn-live", "max_p95_ms": 50, "max_error_rate": 0.05}
        d = reg.deployments.start(
            {"model_name": "churn", "alias": "production", "version": 1, "config": config,
             "url": "http://127.0.0.1:8080", "bind_host": "127.0.0.1", "port": 8080}
        )  # fmt: skip
        reg.deployments.set_status(d, "running")
        reg.deployments.heartbeat(d, {"requests": 200, "errors": 4, "req_per_min": 310.0,
                                      "p95_ms": 4.2})  # fmt: skip
        for n_errors, p95 in ((0, 3.5), (4, 61.0)):
            reg.deployments.add_window(
                {"deployment_id": d, "first_log_id": 0, "last_log_id": 0, "n_rows": 100,
                 "n_requests": 100, "n_errors": n_errors, "p95_ms": p95}
            )  # fmt: skip
    finally:
        reg.close()
    code, detail = await get(jp_fetch, "monitors", "churn-live")
    assert code == 200
    serving = detail["serving"]
    assert serving["model_name"] == "churn" and serving["deployment"]["version"] == 1
    assert serving["deployment"]["req_per_min"] == 310.0 and serving["error_rate"] == 0.02
    assert (serving["max_p95_ms"], serving["max_error_rate"]) == (50.0, 0.05)
    assert [(w["n_errors"], w["p95_ms"]) for w in serving["windows"]] == [(0, 3.5), (4, 61.0)]


@pytest.fixture
def churn_models(registry_home: Path, tmp_path: Path) -> Path:
    """Three versions of 'churn' (two logistic regressions and a constant model) and a
    holdout CSV for gates; returns the holdout's path."""
    pytest.importorskip("mlnb.lifecycle", reason="the model registry has not been merged yet")
    import numpy as np
    import pandas as pd
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    import mlnb

    def frame(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        tenure = rng.integers(0, 72, n)
        calls = rng.poisson(1.5, n)
        churned = (rng.random(n) < 1 / (1 + np.exp(0.08 * tenure - 0.9 * calls))).astype(int)
        return pd.DataFrame({"tenure": tenure, "support_calls": calls, "churned": churned})

    train, holdout = frame(600, 1), frame(300, 2)
    X, y = train[["tenure", "support_calls"]], train["churned"]
    reg = Registry(registry_home)
    try:
        for model in (
            LogisticRegression(max_iter=300).fit(X, y),
            LogisticRegression(C=0.1, max_iter=300).fit(X, y),
            DummyClassifier(strategy="most_frequent").fit(X, y),
        ):
            mlnb.register_model(model, "churn", X=X, registry=reg)
    finally:
        reg.close()
    path = tmp_path / "holdout.csv"
    holdout.to_csv(path, index=False)
    return path


async def model_stages(jp_fetch) -> dict[int, str]:
    code, body = await get(jp_fetch, "models", "churn")
    assert code == 200
    return {v["version"]: v["stage"] for v in body["versions"]}


async def test_models_promote_and_rollback(jp_fetch, churn_models) -> None:
    code, body = await get(jp_fetch, "models")
    assert code == 200
    assert [(m["name"], m["n_versions"]) for m in body["models"]] == [("churn", 3)]
    assert await model_stages(jp_fetch) == {3: "none", 2: "none", 1: "none"}

    code, result = await post(
        jp_fetch, "models", "churn", "promote", body={"version": 1, "to": "production"}
    )
    assert code == 200 and result["promoted"] is True
    code, result = await post(
        jp_fetch,
        "models",
        "churn",
        "promote",
        body={"version": 2, "to": "production", "reason": "better recall"},
    )
    assert code == 200
    assert await model_stages(jp_fetch) == {3: "none", 2: "production", 1: "archived"}
    _, detail = await get(jp_fetch, "models", "churn")
    assert detail["production_version"] == 2 and detail["rollback_to"] == 1
    assert "better recall" in detail["transitions"][0]["reason"]

    code, result = await post(jp_fetch, "models", "churn", "rollback", body={"reason": "drift"})
    assert code == 200 and (result["restored"], result["replaced"]) == (1, 2)
    assert await model_stages(jp_fetch) == {3: "none", 2: "archived", 1: "production"}

    code, lineage = await get(jp_fetch, "models", "churn", "versions", "1", "lineage")
    assert code == 200
    assert lineage["version"] == 1 and lineage["artifact"]["object_hash"]
    assert lineage["run"]["id"] == lineage["artifact"]["run_id"]


async def test_the_models_panel_gets_every_model_with_versions_in_one_request(
    jp_fetch, churn_models
) -> None:
    code, body = await get(jp_fetch, "models", detail="1")
    assert code == 200
    [churn] = body["models"]
    assert churn["name"] == "churn" and [v["version"] for v in churn["versions"]] == [3, 2, 1]
    assert churn["can_rollback"] is False
    code, body = await get(jp_fetch, "models", detail="yes")
    assert code == 400 and "detail must be one of 0, 1" in body["error"]


async def test_past_a_failed_gate_only_an_explicit_reasoned_force_promotes(
    jp_fetch, churn_models
) -> None:
    import mlnb

    mlnb.Gate(
        "strict",
        [mlnb.checks.MinMetric("accuracy", 0.99)],
        holdout=str(churn_models),
        target="churned",
    )
    try:
        code, _ = await post(
            jp_fetch, "models", "churn", "promote", body={"version": 3, "gate": "strict"}
        )
        assert code == 409
        # The gate field left empty: refused, naming the failed check with value and threshold.
        code, body = await post(jp_fetch, "models", "churn", "promote", body={"version": 3})
        assert code == 409
        assert "failed gate 'strict'" in body["error"] and ">= 0.99" in body["error"]
        assert body["gate"]["checks"][0]["passed"] is False
        code, body = await post(
            jp_fetch, "models", "churn", "promote", body={"version": 3, "force": True}
        )
        assert code == 400 and "needs a reason" in body["error"]
        assert await model_stages(jp_fetch) == {3: "none", 2: "none", 1: "none"}

        code, result = await post(
            jp_fetch,
            "models",
            "churn",
            "promote",
            body={"version": 3, "force": True, "reason": "hotfix, gate data stale"},
        )
        assert code == 200 and result["promoted"] is True
        _, detail = await get(jp_fetch, "models", "churn")
        reason = detail["transitions"][0]["reason"]
        assert "forced past the failed gate 'strict'" in reason and "hotfix" in reason
    finally:
        from mlnb.lifecycle.gate import _registered

        _registered.clear()


async def test_a_run_page_has_history_data_artifacts_and_versions(
    jp_fetch, churn_models, registry_home, jp_root_dir
) -> None:
    reg = Registry(registry_home)
    try:
        version = reg.models.version("churn", 1)
        run_id = int(version["run_id"])
        artifact = reg.models.artifact(int(version["artifact_id"]))
    finally:
        reg.close()
    code, run = await get(jp_fetch, "runs", str(run_id))
    assert code == 200
    assert {"model": "churn", "version": 1, "stage": "none"} in run["model_versions"]
    assert [a["id"] for a in run["models"]] == [artifact["id"]]
    assert isinstance(run["metric_history"], dict) and isinstance(run["packages"], dict)

    response = await jp_fetch(*API, "artifacts", str(artifact["id"]), "download")
    assert response.code == 200 and len(response.body) == artifact["size"]
    assert "attachment" in response.headers["Content-Disposition"]
    code, body = await get(jp_fetch, "artifacts", "999", "download")
    assert code == 404


async def test_a_data_snapshot_is_restored_under_the_root_only(
    jp_fetch, registry_home, jp_root_dir, tmp_path
) -> None:
    import mlnb

    source = tmp_path / "train.csv"
    source.write_text("a,b\n1,2\n")
    reg = Registry(registry_home)
    try:
        with mlnb.track(experiment="data", registry=reg) as run:
            run.log_data(source, name="train", snapshot=True)
        run_id = run.id
    finally:
        reg.close()
    _, detail = await get(jp_fetch, "runs", str(run_id))
    [link] = detail["data"]
    assert link["role"] == "input" and link["snapshot"]
    code, restored = await post(
        jp_fetch, "data", link["id"], "restore", body={"path": "restored/train.csv"}
    )
    assert code == 201 and restored["path"] == "restored/train.csv"
    assert (jp_root_dir / "restored" / "train.csv").read_text() == "a,b\n1,2\n"
    code, body = await post(
        jp_fetch, "data", link["id"], "restore", body={"path": "restored/train.csv"}
    )
    assert code == 409 and "exists already" in body["error"]
    code, body = await post(jp_fetch, "data", link["id"], "restore", body={"path": "../escape.csv"})
    assert code == 400 and "under the Jupyter root" in body["error"]
    code, body = await post(jp_fetch, "data", link["id"], "restore", body={})
    assert code == 400 and "path is required" in body["error"]


async def test_a_failing_gate_refuses_the_promotion_with_409(jp_fetch, churn_models) -> None:
    import mlnb

    holdout = str(churn_models)
    mlnb.Gate(
        "strict", [mlnb.checks.MinMetric("accuracy", 0.99)], holdout=holdout, target="churned"
    )
    mlnb.Gate("sane", [mlnb.checks.MinMetric("accuracy", 0.5)], holdout=holdout, target="churned")
    try:
        code, body = await post(
            jp_fetch,
            "models",
            "churn",
            "promote",
            body={"version": 3, "to": "production", "gate": "strict"},
        )
        assert code == 409
        assert "NOT promoted" in body["error"]
        assert body["gate"]["gate"]["passed"] is False
        assert await model_stages(jp_fetch) == {3: "none", 2: "none", 1: "none"}

        code, result = await post(
            jp_fetch,
            "models",
            "churn",
            "promote",
            body={"version": 1, "to": "production", "gate": "sane"},
        )
        assert code == 200 and result["promoted"] is True
        _, detail = await get(jp_fetch, "models", "churn")
        gates = {v["version"]: v["gate"] for v in detail["versions"]}
        assert gates[1]["gate"] == "sane" and gates[1]["passed"] is True
        assert gates[1]["checks"][0]["metric"] == "accuracy"
        assert gates[3]["gate"] == "strict" and gates[3]["passed"] is False
        assert gates[2] is None
    finally:
        from mlnb.lifecycle.gate import _registered

        _registered.clear()


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        (("churn", "promote"), {"version": "two"}, 400, "version must be a positive integer"),
        (("churn", "promote"), {"version": 1, "to": "heaven"}, 400, "to must be one of"),
        (("churn", "promote"), {"version": 1, "reason": 5}, 400, "must be strings"),
        (("churn", "promote"), {"version": 99}, 404, "has no version 99"),
        (("nope", "promote"), {"version": 1}, 404, "no registered model named 'nope'"),
        (("churn", "rollback"), {}, 400, "no earlier production version"),
        (("churn", "rollback"), {"reason": ["x"]}, 400, "reason must be a string"),
    ],
)
async def test_bad_promotions_get_a_message(jp_fetch, churn_models, path, body, status, fragment):
    code, answer = await post(jp_fetch, "models", *path, body=body)
    assert code == status
    assert fragment in answer["error"]
    assert await model_stages(jp_fetch) == {3: "none", 2: "none", 1: "none"}


@pytest.fixture
def retrain_pipeline(registry_home: Path, jp_root_dir: Path) -> str:
    """A scheduled pipeline over a one-cell notebook saved in the Jupyter root."""
    pytest.importorskip("mlnb.pipelines", reason="pipelines have not been merged yet")
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("alpha = 0.5")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("result = alpha * 2\nprint(result)")]
    path = jp_root_dir / "retrain.ipynb"
    nbformat.write(nb, path)
    reg = Registry(registry_home)
    try:
        create_pipeline("retrain", path, schedule="0 3 * * 1", registry=reg)
    finally:
        reg.close()
    return "retrain"


async def wait_for_pipeline_run(jp_fetch, name: str, timeout: float = 90.0) -> dict:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, detail = await get(jp_fetch, "pipelines", name)
        last = detail["last_run"]
        if last is not None and last["status"] in ("finished", "failed", "crashed", "skipped"):
            return detail
        await asyncio.sleep(0.3)
    raise AssertionError(f"pipeline {name} did not finish within {timeout} s")


async def test_pipelines_pause_resume_run_now_and_open_output(
    jp_fetch, retrain_pipeline, jp_root_dir
) -> None:
    code, body = await get(jp_fetch, "pipelines")
    assert code == 200
    [pipeline] = body["pipelines"]
    assert pipeline["name"] == "retrain" and pipeline["schedule"] == "0 3 * * 1"
    assert pipeline["status"] == "active" and pipeline["next_run"] > 0
    assert pipeline["last_run"] is None

    code, paused = await post(jp_fetch, "pipelines", "retrain", "pause")
    assert code == 200 and paused["status"] == "paused" and paused["next_run"] is None
    code, resumed = await post(jp_fetch, "pipelines", "retrain", "resume")
    assert code == 200 and resumed["status"] == "active" and resumed["next_run"] > 0

    code, started = await post(jp_fetch, "pipelines", "retrain", "run")
    assert code == 202 and started["started"] is True
    detail = await wait_for_pipeline_run(jp_fetch, "retrain")
    last = detail["last_run"]
    assert last["status"] == "finished", last
    assert last["trigger"] == "manual" and "JupyterLab sidebar" in last["reason"]
    assert last["has_output"] is True

    # The output is rendered read-only: static HTML with the executed code and its output,
    # no copy in the root that could be opened with a kernel and re-run.
    code, output = await get(jp_fetch, "pipelines", "retrain", "runs", str(last["id"]), "output")
    assert code == 200 and output["run_id"] == last["id"]
    assert "alpha" in output["html"] and "1.0" in output["html"]
    assert not (jp_root_dir / "mlnb-outputs").exists()


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        (("nope", "run"), 404, "nope"),
        (("nope", "pause"), 404, "nope"),
        (("retrain", "runs", "x", "output"), 400, "pipeline run id must be a number (a whole one"),
        (("retrain", "runs", "999", "output"), 404, "999"),
    ],
)
async def test_bad_pipeline_requests(jp_fetch, retrain_pipeline, path, status, fragment):
    fetch = get if path[-1] == "output" else post
    code, body = await fetch(jp_fetch, "pipelines", *path)
    assert code == status
    assert fragment in body["error"]


async def test_runs_search_with_an_expression_and_page(jp_fetch, runs) -> None:
    code, body = await get(jp_fetch, "runs", q="metrics.accuracy > 0.85 and params.C < 1")
    assert code == 200 and [r["name"] for r in body["runs"]] == ["<b>tuned</b>"]
    assert body["total"] == 1
    code, body = await get(jp_fetch, "runs", limit="1", offset="1")
    assert code == 200 and body["total"] == 3 and body["offset"] == 1
    assert [r["name"] for r in body["runs"]] == ["<b>tuned</b>"]
    code, body = await get(jp_fetch, "runs", q="accuracy > 0.9")
    assert code == 400 and "unknown field 'accuracy'" in body["error"]


async def test_pipelines_are_created_and_edited_from_the_form(
    jp_fetch, retrain_pipeline, jp_root_dir
) -> None:
    code, body = await get(jp_fetch, "notebooks")
    assert code == 200 and body["notebooks"] == ["retrain.ipynb"]
    code, preview = await get(jp_fetch, "cron", expr="0 6 * * 1", tz="Europe/Berlin", n="3")
    assert code == 200 and preview["expression"] == "0 6 * * 1"
    gaps = {b - a for a, b in zip(preview["next_runs"], preview["next_runs"][1:], strict=False)}
    assert gaps == {7 * 24 * 3600}
    code, body = await get(jp_fetch, "cron", expr="0 25 * * *")
    assert code == 400 and "the hour field '25' is not valid" in body["error"]

    form = {
        "name": "weekly",
        "notebook": "retrain.ipynb",
        "schedule": "0 6 * * 1",
        "timezone": "UTC",
        "gate": "",
        "promote_to": "",
    }
    code, created = await post(jp_fetch, "pipelines", body=form)
    assert code == 201, created
    assert created["schedule"] == "0 6 * * 1" and created["notebook_rel"] == "retrain.ipynb"
    code, edited = await post(
        jp_fetch, "pipelines", body={**form, "schedule": "30 2 * * *", "replace": True}
    )
    assert code == 201 and edited["schedule"] == "30 2 * * *"
    code, body = await post(jp_fetch, "pipelines", body={**form, "schedule": "30 2 * *"})
    assert code == 400 and "expected 5 fields" in body["error"]
    code, body = await post(jp_fetch, "pipelines", body={**form, "notebook": "../x.ipynb"})
    assert code == 400 and "under the Jupyter root" in body["error"]
    code, body = await post(jp_fetch, "pipelines", body={**form, "colour": "red"})
    assert code == 400 and "unknown pipeline fields ['colour']" in body["error"]
    code, body = await post(jp_fetch, "pipelines", body={"notebook": "retrain.ipynb"})
    assert code == 400 and "name is required" in body["error"]


async def test_an_error_metric_alerts_above_its_line(jp_fetch, registry_home) -> None:
    """rmse 71 over a threshold of 60 is the alert: the payload says which side alerts."""
    pytest.importorskip("mlnb.monitoring.drift", reason="the drift engine has not been merged yet")
    import numpy as np
    import pandas as pd

    from mlnb.monitoring.monitor import Monitor

    rng = np.random.default_rng(3)

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame({"rooms": rng.normal(4, 1, n), "price": rng.normal(300, 50, n)})

    reg = Registry(registry_home)
    try:
        monitor = Monitor(
            "prices",
            reference=frame(300),
            target="price",
            task="regression",
            thresholds={"rmse": 60},
            registry=reg,
        )
        batch = frame(200)
        monitor.log_batch(batch, predictions=batch["price"] + rng.normal(0, 71, 200))
    finally:
        reg.close()
    code, body = await get(jp_fetch, "monitors", "prices")
    assert code == 200
    assert body["metric"] == "rmse" and body["threshold"] == 60
    assert body["alert_when"]["rmse"] == "above"
    assert body["accuracy"][-1]["value"] > 60
    assert any(a["kind"] == "rmse_above_threshold" for a in body["open_alerts"])
