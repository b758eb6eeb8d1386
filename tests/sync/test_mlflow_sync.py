"""`mlnb sync --to-mlflow` against a real `mlflow server` (SQLite backend) from the peers venv."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

import mlnb
from mlnb.cli import main
from mlnb.errors import RegistryError, ValidationError
from mlnb.sync import MlflowClient, sync_to_mlflow
from tests.sync.mlflow_server import free_port, load_in_mlflow, mlflow_server


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


def train_run(registry, name: str, c: float, frame) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = frame[["tenure", "charges"]], frame["churned"]
    with mlnb.track(name, registry=registry):
        mlnb.log_param("C", c)
        mlnb.log_data(frame, name="train")
        model = LogisticRegression(C=c).fit(X, y)
        for step in range(3):
            mlnb.log_metric("loss", 1.0 / (step + 1), step=step)
        mlnb.log_metric("accuracy", float(model.score(X, y)))
        mlnb.set_tag("team", "churn")
        mlnb.register_model(model, "churn", X=X)


@pytest.fixture
def churn_frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    tenure = rng.integers(1, 72, 200)
    charges = rng.normal(60, 20, 200)
    return pd.DataFrame(
        {"tenure": tenure, "charges": charges, "churned": (tenure < 20).astype(int)}
    )


def mlflow_counts(client: MlflowClient) -> dict[str, int]:
    exps = client.call("GET", "experiments/search", {"max_results": 1000})["experiments"]
    runs = client.search_all(
        "runs/search", {"experiment_ids": [e["experiment_id"] for e in exps]}, "runs"
    )
    versions = client.search_all("model-versions/search", {}, "model_versions")
    return {"experiments": len(exps), "runs": len(runs), "versions": len(versions)}


@pytest.mark.slow  # starting mlflow server takes ~30 s on 2 cores
@pytest.mark.timeout(1200)  # three syncs with model uploads and a load back in MLflow
def test_sync_copies_runs_and_models_and_a_second_sync_copies_nothing(
    registry, mlflow_uri, churn_frame, capsys
):
    mlnb.set_experiment("churn-sync")
    train_run(registry, "first", 1.0, churn_frame)
    train_run(registry, "second", 0.1, churn_frame)
    mlnb.promote("churn", 1, to="production", registry=registry)
    mlnb.set_alias("churn", "champion", 1, registry=registry)
    mlnb.set_alias("churn", "challenger", 2, registry=registry)

    first = sync_to_mlflow(mlflow_uri, registry=registry)
    assert first.created["runs"] == 2 and first.created["model_versions"] == 2
    assert first.created["experiments"] == 1 and first.created["registered_models"] == 1

    client = MlflowClient(mlflow_uri)
    local = registry.runs.find(experiment="churn-sync")[0]  # "second"
    mlflow_run = client.call("GET", "runs/get", {"run_id": first.run_ids[local["uuid"]]})["run"]
    data = mlflow_run["data"]
    assert {p["key"]: p["value"] for p in data["params"]} == {"C": "0.1"}
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["mlnb.run_uuid"] == local["uuid"] and tags["team"] == "churn"
    assert tags["mlnb.status"] == "finished"  # tag keys are a contract with MLflow users
    assert mlflow_run["info"]["status"] == "FINISHED"
    history = client.call(
        "GET", "metrics/get-history", {"run_id": mlflow_run["info"]["run_id"], "metric_key": "loss"}
    )["metrics"]
    assert sorted((m["step"], m["value"]) for m in history) == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    digest = registry.runs.get(local["id"])["data"][0]["id"]
    dataset = mlflow_run["inputs"]["dataset_inputs"][0]["dataset"]
    assert dataset["name"] == "train" and dataset["digest"] == digest[:36]

    model = client.call("GET", "registered-models/get", {"name": "churn"})["registered_model"]
    versions = client.search_all(
        "model-versions/search", {"filter": "name='churn'"}, "model_versions"
    )
    stages = {v["version"]: v["current_stage"] for v in versions}
    assert stages == {"1": "Production", "2": "None"}
    assert {a["alias"]: a["version"] for a in model["aliases"]} == {
        "champion": "1",
        "challenger": "2",
    }
    v2 = next(v for v in versions if v["version"] == "2")
    assert v2["run_id"] == mlflow_run["info"]["run_id"]  # linked to the synced run
    # The model file went too: MLflow itself (another venv, pandas < 3) loads and predicts.
    loaded = load_in_mlflow(mlflow_uri, "models:/churn/2", ["tenure", "charges"])
    rows = pd.DataFrame([[5, 70.0], [60, 40.0]], columns=["tenure", "charges"])
    expected = mlnb.load_model("churn/2", registry=registry).predict(rows)
    assert loaded == f"LogisticRegression {list(expected)}"

    before = mlflow_counts(client)
    assert (
        main(["--registry", str(registry.home), "--json", "sync", "--to-mlflow", mlflow_uri]) == 0
    )
    again = json.loads(capsys.readouterr().out)
    assert again["created"] == {} and again["updated"] == {}
    assert again["unchanged"]["runs"] == 2 and again["unchanged"]["model_versions"] == 2
    assert mlflow_counts(client) == before

    # One more run, a promotion and a moved alias: exactly that is copied.
    train_run(registry, "third", 0.5, churn_frame)
    mlnb.promote("churn", 3, to="production", registry=registry)
    mlnb.set_alias("churn", "champion", 3, registry=registry)
    third = sync_to_mlflow(mlflow_uri, registry=registry)
    assert third.created == {"runs": 1, "model_versions": 1, "model_files": 1}
    assert third.updated == {"model_versions": 1, "aliases": 1}  # v1 archived, alias moved
    after = mlflow_counts(client)
    assert after["runs"] == before["runs"] + 1 and after["versions"] == before["versions"] + 1
    versions = client.search_all(
        "model-versions/search", {"filter": "name='churn'"}, "model_versions"
    )
    assert {v["version"]: v["current_stage"] for v in versions} == {
        "1": "Archived", "2": "None", "3": "Production"}  # fmt: skip
    model = client.call("GET", "registered-models/get", {"name": "churn"})["registered_model"]
    assert {a["alias"]: a["version"] for a in model["aliases"]}["champion"] == "3"


@pytest.mark.slow
def test_a_run_that_changed_after_its_sync_is_topped_up(registry, mlflow_uri):
    mlnb.set_experiment("churn-topup")
    run = mlnb.track("long", registry=registry)
    run.log_metric("loss", 0.9, step=0)
    first = sync_to_mlflow(mlflow_uri, registry=registry, experiments=["churn-topup"])
    assert first.created["runs"] == 1
    run.log_metric("loss", 0.4, step=1)
    run.end()
    second = sync_to_mlflow(mlflow_uri, registry=registry, experiments=["churn-topup"])
    assert second.updated["runs"] == 1 and "runs" not in second.created
    client = MlflowClient(mlflow_uri)
    run_id = second.run_ids[registry.runs.get(run.id)["uuid"]]
    info = client.call("GET", "runs/get", {"run_id": run_id})["run"]["info"]
    history = client.call("GET", "metrics/get-history", {"run_id": run_id, "metric_key": "loss"})
    assert info["status"] == "FINISHED"
    assert sorted(m["step"] for m in history["metrics"]) == [0, 1]
    third = sync_to_mlflow(mlflow_uri, registry=registry, experiments=["churn-topup"])
    assert third.unchanged["runs"] == 1 and not third.created and not third.updated


def test_bad_addresses_say_what_to_do(registry):
    with pytest.raises(ValidationError, match="http"):
        sync_to_mlflow("sqlite:///mlflow.db", registry=registry)
    mlnb.set_experiment("x")
    with mlnb.track("r", registry=registry):
        mlnb.log_param("a", 1)
    with pytest.raises(RegistryError, match="cannot reach the MLflow server"):
        sync_to_mlflow(f"http://127.0.0.1:{free_port()}", registry=registry)
    with pytest.raises(ValidationError, match="no experiment named nope"):
        sync_to_mlflow("http://127.0.0.1:1", registry=registry, experiments=["nope"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
