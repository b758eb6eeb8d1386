"""``mlnb serve`` as a client meets it: a real uvicorn server on 127.0.0.1 answering real
HTTP requests in MLflow's formats, refusing bad ones clearly, and logging what it served."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mlnb
from mlnb.errors import ValidationError
from mlnb.serving.payloads import Column, PayloadError, parse_body
from mlnb.serving.server import ServeOptions, check_options
from tests.serving.conftest import Served, cd, records, start_server, stop_server


@pytest.fixture(scope="module")
def batch() -> pd.DataFrame:
    return cd.make_customers(6, month=1, seed=11)


@pytest.fixture(scope="module")
def expected(batch, fitted_models) -> list[int]:
    features, _ = cd.split_features(batch)
    return [int(p) for p in fitted_models[0].predict(features)]


def _bodies(batch: pd.DataFrame) -> dict[str, tuple[str, bytes]]:
    """The same rows in every format MLflow's scoring server documents."""
    features, _ = cd.split_features(batch)
    recs = records(batch)
    cols = list(features.columns)
    rows = [[r[c] for c in cols] for r in recs]
    columnar = {c: [r[c] for r in recs] for c in cols}
    csv = io.StringIO()
    features.to_csv(csv, index=False)

    def js(doc: dict) -> tuple[str, bytes]:
        return "application/json", json.dumps(doc).encode()

    return {
        "dataframe_split": js({"dataframe_split": {"columns": cols, "data": rows}}),
        "dataframe_split with index": js(
            {"dataframe_split": {"index": list(range(len(rows))), "columns": cols, "data": rows}}
        ),
        "dataframe_records": js({"dataframe_records": recs}),
        "instances (records)": js({"instances": recs}),
        "instances (lists)": js({"instances": rows}),
        "inputs (columns)": js({"inputs": columnar}),
        "inputs (records)": js({"inputs": recs}),
        "csv": ("text/csv", csv.getvalue().encode()),
    }


FORMATS = [
    "dataframe_split",
    "dataframe_split with index",
    "dataframe_records",
    "instances (records)",
    "instances (lists)",
    "inputs (columns)",
    "inputs (records)",
    "csv",
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_mlflow_payload_format_is_answered_like_mlflow(
    shared_server: Served, batch, expected, fmt
):
    content_type, body = _bodies(batch)[fmt]
    r = shared_server.post("/invocations", content=body, headers={"content-type": content_type})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": expected}
    assert r.headers["x-model-version"] == "1"


def test_probabilities_on_request(shared_server: Served, batch, fitted_models):
    features, _ = cd.split_features(batch)
    want = fitted_models[0].predict_proba(features)
    for url, doc in [
        ("/invocations?probabilities=true", {"dataframe_records": records(batch)}),
        ("/invocations", {"dataframe_records": records(batch), "params": {"probabilities": True}}),
    ]:
        answer = shared_server.post(url, json=doc).json()
        assert answer["classes"] == [0, 1]
        got = [p for row in answer["probabilities"] for p in row]
        assert got == pytest.approx(want.ravel().tolist())


def _post_raw(served: Served, doc) -> tuple[int, str]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    r = served.post("/invocations", content=body, headers={"content-type": "application/json"})
    return r.status_code, r.json().get("message", "") if r.status_code != 200 else ""


def test_bad_payloads_get_a_clear_4xx_and_the_server_keeps_serving(shared_server: Served, batch):
    rec = records(batch)[:2]
    no_tenure = [{k: v for k, v in r.items() if k != "tenure_months"} for r in rec]
    bad_value = [dict(rec[0]), {**rec[1], "monthly_charges": "a lot"}]
    huge = {"dataframe_records": rec * 400}
    table = [
        ({"dataframe_records": no_tenure}, 400, ["missing column 'tenure_months'"]),
        ({"dataframe_records": bad_value}, 400, ["'monthly_charges'", "row 1", "'a lot'"]),
        (b"{not json", 400, ["not valid JSON"]),
        ({"rows": rec}, 400, ["dataframe_split", "has: rows"]),
        ({"dataframe_records": []}, 400, ["no rows"]),
        (
            {"dataframe_split": {"columns": ["tenure_months"], "data": [[1, 2]]}},
            400,
            ["row 0 has 2"],
        ),
        (huge, 413, ["over the limit"]),
    ]
    for doc, status, words in table:
        got, message = _post_raw(shared_server, doc)
        assert got == status, (doc if isinstance(doc, bytes) else list(doc), message)
        for word in words:
            assert word in message, message
    r = shared_server.post("/invocations", content=b"a;b", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "text/csv" in r.json()["message"]
    assert shared_server.get("/ping").status_code == 200
    assert shared_server.post("/invocations", json={"dataframe_records": rec}).status_code == 200


def test_extra_columns_are_dropped_and_counted(shared_server: Served, batch):
    doc = {"dataframe_records": [{**r, "customer_note": "vip", "score": 3} for r in records(batch)]}
    r = shared_server.post("/invocations", json=doc)
    assert r.status_code == 200
    assert r.headers["x-dropped-columns"] == "customer_note,score"
    metrics = shared_server.get("/metrics").text
    assert "mlnb_extra_columns_dropped_total" in metrics
    value = [ln for ln in metrics.splitlines() if ln.startswith("mlnb_extra_columns_dropped_total")]
    assert float(value[0].split()[-1]) >= 2


def test_health_version_metrics_and_docs(shared_server: Served):
    reg = mlnb.Registry(shared_server.home, create=False)
    version = shared_server.get("/version").json()
    assert version["model"] == "churn" and version["version"] == 1
    assert version["sha256"] == reg.models.resolve("churn@production")["object_hash"]
    health = shared_server.get("/health").json()
    assert health["status"] == "ok" and health["log"]["flush_seconds"] <= 1
    metrics = shared_server.get("/metrics").text
    for series in (
        "mlnb_requests_total",
        "mlnb_errors_total",
        "mlnb_request_latency_seconds_bucket",
        "mlnb_rows_logged",
        "mlnb_rows_dropped",
        "mlnb_model_version 1.0",
    ):
        assert series in metrics
    spec = shared_server.get("/openapi.json").json()
    assert {"/invocations", "/feedback", "/metrics"} <= set(spec["paths"])
    assert "/invocations" in shared_server.get("/docs").text
    reg.close()


def test_answered_rows_are_logged_with_features_prediction_and_version(shared_server: Served):
    rec = records(cd.make_customers(3, month=2, seed=5))
    r = shared_server.post(
        "/invocations", json={"dataframe_records": rec}, headers={"x-request-id": "log-check"}
    )
    preds = r.json()["predictions"]
    shared_server.post("/feedback", json={"request_id": "nobody", "labels": [0]})  # flushes
    reg = mlnb.Registry(shared_server.home, create=False)
    rows = [x for x in reg.deployments.rows(1) if x["request_id"] == "log-check"]
    assert [x["prediction"] for x in rows] == preds
    assert [x["row_index"] for x in rows] == [0, 1, 2]
    assert rows[0]["features"]["plan"] == rec[0]["plan"]
    assert rows[0]["version"] == 1 and 0 <= rows[0]["probability"] <= 1
    reg.close()


def test_feedback_joins_labels_by_request_id(shared_server: Served):
    rec = records(cd.make_customers(2, month=1, seed=8))
    for i, row in enumerate(rec):
        shared_server.post(
            "/invocations", json={"dataframe_records": [row]}, headers={"x-request-id": f"cust-{i}"}
        )
    answer = shared_server.post(
        "/feedback",
        json={
            "labels": [
                {"request_id": "cust-0", "label": 1},
                {"request_id": "cust-1", "label": 0, "row": 0},
                {"request_id": "never-served", "label": 1},
            ]
        },
    ).json()
    assert answer == {"joined": 2, "unknown_request_ids": ["never-served"]}
    reg = mlnb.Registry(shared_server.home, create=False)
    labels = {
        x["request_id"]: x["label"] for x in reg.deployments.rows(1) if x["label"] is not None
    }
    assert labels["cust-0"] == 1 and labels["cust-1"] == 0
    reg.close()
    bad = shared_server.post("/feedback", json={"labels": [{"label": 1}]})
    assert bad.status_code == 400 and "request_id" in bad.json()["message"]


def test_a_token_is_checked_on_every_request(churn_registry):
    served = start_server(churn_registry, token="s3cret")
    try:
        no_token = Served(served.url, served.process, served.home)
        wrong = Served(served.url, served.process, served.home, "guess")
        for path in ("/ping", "/health", "/metrics", "/version"):
            assert no_token.get(path).status_code == 401
            assert wrong.get(path).status_code == 401
            assert served.get(path).status_code == 200
        r = no_token.post("/invocations", json={"dataframe_records": records(cd.make_customers(1))})
        assert r.status_code == 401 and "Bearer" in r.json()["message"]
        assert (
            served.post(
                "/invocations", json={"dataframe_records": records(cd.make_customers(1))}
            ).status_code
            == 200
        )
    finally:
        stop_server(served)


def test_other_addresses_need_a_token(monkeypatch):
    monkeypatch.delenv("MLNB_SERVE_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="--token"):
        check_options(ServeOptions("churn@production", host="0.0.0.0"))
    monkeypatch.setenv("MLNB_SERVE_TOKEN", "x")
    assert check_options(ServeOptions("churn@production", host="0.0.0.0")).token == "x"
    with pytest.raises(ValidationError, match="NAME@ALIAS"):
        check_options(ServeOptions("churn"))


def test_deployment_status_is_in_the_registry_and_the_model_views(churn_registry):
    served = start_server(churn_registry)
    try:
        served.post("/invocations", json={"dataframe_records": records(cd.make_customers(3))})
        reg = mlnb.Registry(churn_registry, create=False)
        import time

        time.sleep(2.5)  # one heartbeat
        d = reg.deployments.serving()["churn"]
        assert d["url"] == served.url and d["version"] == 1 and d["status"] == "running"
        assert d["requests"] >= 1 and d["pid"] == served.process.pid
        assert "serving v1 at " + served.url in repr(mlnb.models(registry=reg))
        assert "serving v1 at" in repr(mlnb.lineage("churn@production", registry=reg))
        reg.close()
    finally:
        stop_server(served)
    reg = mlnb.Registry(churn_registry, create=False)
    assert reg.deployments.find()[0]["status"] == "stopped"
    assert "churn" not in reg.deployments.serving()
    reg.close()


def test_a_killed_server_reads_as_crashed(churn_registry):
    from mlnb.serving.server import deployments

    served = start_server(churn_registry)
    served.process.kill()
    served.process.wait()
    reg = mlnb.Registry(churn_registry, create=False)
    assert deployments(reg)[0]["status"] == "crashed"
    reg.close()


def test_parse_body_rejects_what_it_cannot_read():
    schema = [Column("a", "integer"), Column("b", "text"), Column("c", "bool")]
    parsed = parse_body(
        b'{"inputs": {"a": ["3"], "b": [1], "c": ["true"]}}', "application/json", schema
    )
    assert parsed.rows == [[3, "1", True]]
    with pytest.raises(PayloadError, match="'c', row 0"):
        parse_body(b'{"inputs": {"a": [1], "b": ["x"], "c": ["maybe"]}}', "", schema)
    with pytest.raises(PayloadError, match="different lengths"):
        parse_body(b'{"inputs": {"a": [1, 2], "b": ["x"], "c": [true]}}', "", schema)


def test_sqlite_log_is_intact_after_use(shared_server: Served):
    con = sqlite3.connect(shared_server.home / "registry.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_deployments_lists_without_a_subcommand_and_takes_its_flags(churn_registry, capsys):
    from mlnb.cli import main

    reg = mlnb.Registry(churn_registry, create=False)
    for port in (9101, 9102):
        d = reg.deployments.start(
            {
                "model_name": "churn",
                "alias": "production",
                "version": 1,
                "bind_host": "127.0.0.1",
                "url": f"http://127.0.0.1:{port}",
                "port": port,
            }
        )
        reg.deployments.set_status(d, "stopped")
    reg.close()
    home = str(churn_registry)
    assert main(["--registry", home, "deployments", "--all", "--model", "churn"]) == 0
    listed = capsys.readouterr().out
    assert ":9101" in listed and ":9102" in listed and "stopped" in listed
    assert main(["--registry", home, "--json", "deployments", "--all"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(["--registry", home, "deployments", "--model", "nobody"]) == 0
    assert "no deployments" in capsys.readouterr().out
    assert main(["--registry", home, "deployments", "list", "--all"]) == 0
    assert ":9101" in capsys.readouterr().out


def test_the_server_imports_skops_without_pytest_and_dask_yet_both_import_later():
    script = (
        "import sys\n"
        "from mlnb.serving.model import preload_skops\n"
        "preload_skops()\n"
        "print('skops.io' in sys.modules, 'pytest' in sys.modules, 'dask' in sys.modules)\n"
        "import dask, pytest\n"
        "print(dask.__name__, pytest.__name__)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["True False False", "dask pytest"]
