"""A served model under load: hot swap when the alias moves, a SIGKILL mid-flush, a full log
queue, and its traffic scored by the scheduler until an alert starts a pipeline run."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import httpx

import mlnb
from mlnb.pipelines.scheduler import Scheduler
from tests.serving.conftest import Served, cd, records, start_server, stop_server, write_notebook


def _hammer(served: Served, rows: list[dict], stop: threading.Event, out: list, failures: list):
    """Send single-row requests until told to stop; remember (request id, status, version)."""
    with httpx.Client(timeout=30) as client:
        i = 0
        while not stop.is_set():
            rid = f"{threading.get_ident()}-{i}"
            try:
                r = client.post(
                    served.url + "/invocations",
                    json={"dataframe_records": [rows[i % len(rows)]]},
                    headers={"x-request-id": rid},
                )
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                return
            out.append((rid, r.status_code, r.headers.get("x-model-version"), time.monotonic()))
            i += 1


def _wait_for(predicate, timeout: float = 60.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def test_hot_swap_under_concurrent_load_fails_no_request(churn_registry, fitted_models):
    served = start_server(churn_registry)
    rows = records(cd.make_customers(50, month=3, seed=4))
    stop, answers, failures = threading.Event(), [], []
    clients = [
        threading.Thread(target=_hammer, args=(served, rows, stop, answers, failures))
        for _ in range(4)
    ]
    try:
        for c in clients:
            c.start()
        _wait_for(lambda: len(answers) > 40)
        reg = mlnb.Registry(churn_registry, create=False)
        reg.models.transition("churn", 2, "production", reason="retrained", user="test")
        _wait_for(lambda: served.get("/version").json()["version"] == 2)
        n_at_swap = len(answers)
        _wait_for(lambda: len(answers) > n_at_swap + 40)

        # a version that fails its sha256 check: the old one keeps serving, an alert says why
        v3 = cd.build_model().fit(*cd.split_features(cd.make_customers(400, month=2, seed=9)))
        features, _ = cd.split_features(cd.make_customers(50, seed=1))
        broken = mlnb.register_model(v3, name="churn", X=features, registry=reg)
        reg.objects.path_for(broken.object_hash).write_bytes(b"tampered")
        reg.models.transition("churn", 3, "production", reason="bad file", user="test")
        alert = _wait_for(
            lambda: [
                a for a in reg.alerts.find(status="open") if a["kind"] == "deployment_swap_failed"
            ]
        )[0]
        assert "v3" in alert["message"] and "v2 keeps serving" in alert["message"]
        n_after = len(answers)
        _wait_for(lambda: len(answers) > n_after + 20)
    finally:
        stop.set()
        for c in clients:
            c.join()
        health = served.get("/health").json()
        stop_server(served)
    assert failures == []
    assert {status for _, status, _, _ in answers} == {200}
    versions = [v for _, _, v, _ in answers]
    assert versions[0] == "1" and versions[-1] == "2"
    first_v2 = versions.index("2")
    assert set(versions[first_v2 + 8 :]) == {"2"}  # after the swap only v2 answers
    assert health["swaps"] == 1 and health["version"] == 2
    assert reg.deployments.find()[0]["version"] == 2
    reg.close()


def test_sigkill_mid_flush_keeps_every_committed_row_intact(churn_registry):
    served = start_server(churn_registry)
    rows = records(cd.make_customers(50, month=1, seed=6))
    stop, answers, failures = threading.Event(), [], []
    clients = [
        threading.Thread(target=_hammer, args=(served, rows, stop, answers, failures))
        for _ in range(4)
    ]
    for c in clients:
        c.start()
    _wait_for(lambda: len(answers) > 300, timeout=120)
    os.kill(served.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    stop.set()
    for c in clients:
        c.join()
    served.process.wait()

    con = sqlite3.connect(churn_registry / "registry.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    reg = mlnb.Registry(churn_registry, create=False)
    logged = reg.deployments.rows(1)
    reg.close()
    answered = {rid: at for rid, status, _, at in answers if status == 200}
    logged_ids = {r["request_id"] for r in logged}
    assert logged_ids <= set(answered)  # nothing logged that was not answered
    for r in logged:  # every committed row reads back whole
        assert set(r["features"] or {}) == set(cd.FEATURES)
        assert r["prediction"] in (0, 1)
    lost = set(answered) - logged_ids
    # what a SIGKILL loses: only answers of the last flush window(s) before the kill
    assert all(killed_at - answered[rid] < 3.0 for rid in lost)
    print(f"SIGKILL: {len(answered)} answered, {len(logged_ids)} logged, {len(lost)} lost")


def test_a_full_log_queue_drops_counts_and_alerts_but_answers(churn_registry):
    served = start_server(churn_registry, "--queue-rows", "5")
    try:
        ten = records(cd.make_customers(10, month=1, seed=2))
        r = served.post("/invocations", json={"dataframe_records": ten})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 10
        three = served.post("/invocations", json={"dataframe_records": ten[:3]})
        assert three.status_code == 200
        health = _wait_for(
            lambda: (h := served.get("/health").json())["log"]["rows_logged"] >= 3 and h
        )
        assert health["log"]["rows_dropped"] == 10
        assert "mlnb_rows_dropped 10.0" in served.get("/metrics").text
        reg = mlnb.Registry(churn_registry, create=False)
        alert = _wait_for(
            lambda: [a for a in reg.alerts.find(status="open") if a["kind"] == "inference_log_full"]
        )[0]
        assert "10 row(s) dropped" in alert["message"]
        assert reg.deployments.count_rows(1) == 3
        reg.close()
    finally:
        stop_server(served)


def test_served_traffic_alerts_and_the_alert_starts_a_pipeline_run(
    churn_registry, tmp_path, fitted_models
):
    reg = mlnb.Registry(churn_registry, create=False)
    reference = cd.make_customers(1500, month=0, seed=1)
    mlnb.Monitor(
        "churn-live",
        model="churn",
        predictor=fitted_models[0],  # calibrates the estimated accuracy on v1's scores
        reference=reference[[*cd.FEATURES, cd.TARGET]],
        target=cd.TARGET,
        thresholds={"accuracy": 0.8},
        registry=reg,
    )
    notebook = write_notebook(tmp_path / "retrain.ipynb", ["reason = ''", "x = 1"])
    mlnb.create_pipeline("retrain", notebook, on_alert="churn-live", registry=reg)
    served = start_server(
        churn_registry, "--monitor", "churn-live", "--window-rows", "200", "--max-p95-ms", "0.001"
    )
    try:
        month6 = cd.make_customers(200, month=6, seed=12)
        rows = records(month6)
        for i in range(0, 200, 20):
            served.post(
                "/invocations",
                json={"dataframe_records": rows[i : i + 20]},
                headers={"x-request-id": f"m6-{i}"},
            )
        labels = month6[cd.TARGET].tolist()
        for i in range(0, 200, 20):
            served.post("/feedback", json={"request_id": f"m6-{i}", "labels": labels[i : i + 20]})
        result = Scheduler(reg, pipelines=["retrain"]).run_once()
    finally:
        stop_server(served)
    window = reg.deployments.windows(1)[0]
    assert window["n_rows"] == 200 and window["realized"]
    batch = reg.monitors.batch(window["batch_id"])
    assert "support_calls" in [c["column"] for c in batch["report"]["columns"] if c["drifted"]]
    assert batch["metrics"]["accuracy"] < 0.8  # realized after /feedback
    assert 0 < batch["estimates"]["accuracy"]["value"] < 1  # from the logged probabilities
    kinds = {a["kind"] for a in reg.alerts.find(status=None, limit=50)}
    assert {"accuracy_below_threshold", "latency_p95_above_threshold"} <= kinds
    runs = reg.pipelines.runs(reg.id_of("pipelines", "retrain"))
    assert result["started"] and runs[0]["trigger"] == "alert"
    assert runs[0]["status"] == "finished"
    reg.close()


def test_logged_probabilities_become_the_scores_of_a_binary_estimator():
    from mlnb.serving.live import binary_scores

    cbpe = {"kind": "cbpe", "classes": [0, 1]}
    assert binary_scores(cbpe, [1, 0], [0.9, 0.2]) == [0.9, 0.2]
    # a model whose second class is the estimator's negative one: the complement
    flipped = {"kind": "cbpe", "classes": ["stays", "churns"]}
    assert binary_scores(flipped, ["stays", "churns"], [0.75, 0.25]) == [0.25, 0.75]
    # every row predicted the model's first class: its second is the other one
    assert binary_scores(flipped, ["churns", "churns"], [0.25, 0.5]) == [0.75, 0.5]
    assert binary_scores(cbpe, [1, 0], [0.9, None]) is None  # a probability missing
    assert binary_scores({"kind": "cbpe", "classes": [0, 1, 2]}, [1], [0.9]) is None
    assert binary_scores(None, [1], [0.9]) is None
    assert binary_scores({"kind": "dle"}, [1.5], [None]) is None


def test_a_multiclass_models_logged_class_rows_become_its_estimators_scores():
    from mlnb.serving.live import class_scores

    cbpe = {"kind": "cbpe", "classes": ["high", "low", "mid"]}
    rows = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    assert class_scores(cbpe, ["high", "mid"], rows).tolist() == rows
    assert class_scores(cbpe, ["low", "mid"], rows) is None  # columns in another order
    assert class_scores(cbpe, ["high", "mid"], [[0.7, 0.3], [0.4, 0.6]]) is None  # width
    assert class_scores(cbpe, ["high"], rows) is None  # a row missing
    tie = [[0.4, 0.4, 0.2]]  # a tie for the top: either class may have been predicted
    assert class_scores(cbpe, ["low"], tie).tolist() == tie
    assert class_scores({"kind": "cbpe", "classes": [0, 1]}, [1], [[0.2, 0.8]]) is None
    assert class_scores({"kind": "dle"}, [1.0], [[0.2, 0.8, 0.0]]) is None


def _tiers(rng, n: int, shift: float = 0.0):
    """Three-class data: a customer tier from two features."""
    import numpy as np
    import pandas as pd

    X = pd.DataFrame({"usage": rng.normal(shift, 1.0, n), "tenure": rng.normal(0.0, 1.0, n)})
    level = np.digitize(X["usage"] + 0.5 * X["tenure"] + rng.normal(0, 0.6, n), [-0.6, 0.6])
    return X, pd.Series(np.array(["low", "mid", "high"])[level], name="tier")


def test_a_served_multiclass_model_is_estimated_from_every_class_probability(registry):
    """A three-class model's server logs each row's probability of every class, and the
    scheduler's window gets an estimated accuracy from them before any label arrives, near
    the accuracy the labels later show."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mlnb.serving.live import score_deployment_windows

    rng = np.random.default_rng(5)
    X, y = _tiers(rng, 3000)
    model = LogisticRegression(max_iter=500).fit(X, y)
    mlnb.register_model(model, name="churn", X=X, registry=registry)
    registry.models.transition("churn", 1, "production", reason="first", user="test")
    mlnb.Monitor(
        "tiers",
        model="churn",
        predictor=model,
        reference=X.assign(tier=y),
        target="tier",
        registry=registry,
    )
    served = start_server(registry.home, "--monitor", "tiers", "--window-rows", "400")
    batch_X, batch_y = _tiers(rng, 400, shift=0.8)
    try:
        rows = batch_X.to_dict(orient="records")
        for i in range(0, 400, 50):
            served.post(
                "/invocations",
                json={"dataframe_records": rows[i : i + 50]},
                headers={"x-request-id": f"t-{i}"},
            ).raise_for_status()
        _logged(served)
        score_deployment_windows(registry)
    finally:
        stop_server(served)
    logged = registry.deployments.requests(1)
    class_rows = [p for r in logged for p in r["class_probabilities"]]
    np.testing.assert_allclose(class_rows, model.predict_proba(batch_X), rtol=1e-12)
    tops = [p for r in logged for p in r["probabilities"]]
    np.testing.assert_allclose(tops, model.predict_proba(batch_X).max(axis=1), rtol=1e-12)
    window = registry.deployments.windows(1)[-1]
    estimated = registry.monitors.batch(window["batch_id"])["estimates"]["accuracy"]["value"]
    realized = float(np.mean(model.predict(batch_X) == batch_y))
    assert abs(estimated - realized) < 0.08


GATE_YAML = """gates:
  served_gate:
    holdout: holdout.parquet
    target: churned
    checks:
      - min_metric: {metric: accuracy, threshold: 0.5}
"""


def _serve_window(served: Served, frame, tag: str) -> None:
    rows = records(frame)
    for i in range(0, len(rows), 50):
        served.post(
            "/invocations",
            json={"dataframe_records": rows[i : i + 50]},
            headers={"x-request-id": f"{tag}-{i}"},
        ).raise_for_status()


def _logged(served: Served) -> None:
    _wait_for(lambda: served.get("/health").json()["log"]["queued_rows"] == 0)


def test_a_promoted_version_is_estimated_with_its_own_calibration(
    churn_registry, tmp_path, fitted_models
):
    """The monitor was calibrated on v1's scores; once v2 answers, its estimate is re-fitted
    on the holdout v2 passed its gate on, and a version with no such holdout is not estimated
    with another version's calibration."""
    from mlnb.monitoring.estimation import fit_cbpe
    from mlnb.serving.live import score_deployment_windows

    reg = mlnb.Registry(churn_registry, create=False)
    reference = cd.make_customers(1500, month=0, seed=1)
    mlnb.Monitor(
        "churn-live",
        model="churn",
        predictor=fitted_models[0],
        reference=reference[[*cd.FEATURES, cd.TARGET]],
        target=cd.TARGET,
        registry=reg,
    )
    (tmp_path / "gates.yaml").write_text(GATE_YAML)
    holdout = cd.make_customers(800, month=6, seed=21)
    holdout.to_parquet(tmp_path / "holdout.parquet")
    served = start_server(churn_registry, "--monitor", "churn-live", "--window-rows", "200")
    try:
        _serve_window(served, cd.make_customers(200, month=0, seed=22), "v1")
        _logged(served)
        score_deployment_windows(reg)
        assert mlnb.Monitor.load("churn-live", registry=reg).estimator_version == 1

        promoted = mlnb.promote(
            "churn", 2, gate=str(tmp_path / "gates.yaml") + ":served_gate", registry=reg
        )
        assert promoted.promoted
        _wait_for(lambda: served.get("/version").json()["version"] == 2)
        _serve_window(served, cd.make_customers(200, month=6, seed=23), "v2")
        _logged(served)
        [line] = score_deployment_windows(reg)
        monitor = mlnb.Monitor.load("churn-live", registry=reg)
        assert monitor.estimator_version == 2
        assert "re-fitted for churn v2 on its gate holdout" in line and "800 rows" in line
        v2 = fitted_models[1]
        X = holdout[cd.FEATURES]
        expected = fit_cbpe(v2.predict_proba(X), holdout[cd.TARGET], list(v2.classes_))
        assert monitor.config["estimator"]["knots"] == expected["knots"]
        window = reg.deployments.windows(1)[-1]
        assert reg.monitors.batch(window["batch_id"])["estimates"]["accuracy"]["value"] > 0

        # v1 again, by a rollback: v1 never passed a gate, no holdout to calibrate it on
        mlnb.rollback("churn", registry=reg)
        _wait_for(lambda: served.get("/version").json()["version"] == 1)
        _serve_window(served, cd.make_customers(200, month=6, seed=24), "back")
        _logged(served)
        [line] = score_deployment_windows(reg)
    finally:
        stop_server(served)
    assert "no label-free estimate for v1" in line and "passed no gate with a holdout" in line
    window = reg.deployments.windows(1)[-1]
    assert reg.monitors.batch(window["batch_id"])["estimates"] is None
    assert mlnb.Monitor.load("churn-live", registry=reg).estimator_version == 2
    reg.close()
