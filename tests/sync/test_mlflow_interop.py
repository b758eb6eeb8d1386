"""MLflow both ways against real servers: a sync to a server with basic authentication whose
models MLflow loads back, and `mlnb import --from-mlflow` of runs and registered models that
MLflow's own client logged. Plus the fast paths: credentials sent and refusals explained,
checked against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.cli import main
from mlnb.errors import RegistryError, ValidationError
from mlnb.sync import MlflowClient, import_from_mlflow, sync_to_mlflow
from tests.sync.mlflow_server import ADMIN, PEER_PYTHON, load_in_mlflow, mlflow_server

COLUMNS = ["tenure", "charges"]


def churn(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"tenure": rng.integers(1, 72, n), "charges": rng.normal(60, 20, n)})
    frame["churned"] = (frame["tenure"] < 20).astype(int)
    return frame


# -- fast: credentials and refusals, against a real HTTP server on 127.0.0.1 ---------------


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str | None] = []
    status = 401

    def do_GET(self):  # noqa: N802 (http.server's naming)
        Recorder.seen.append(self.headers.get("Authorization"))
        body = json.dumps({"error_code": "UNAUTHENTICATED", "message": "no"}).encode()
        self.send_response(Recorder.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.seen, Recorder.status = [], 401
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_credentials_go_to_the_server_the_way_mlflow_sends_them(recorder, monkeypatch):
    for var in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RegistryError, match="wants credentials.*MLFLOW_TRACKING_TOKEN"):
        MlflowClient(recorder).call("GET", "experiments/search", {"max_results": 1})
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
    with pytest.raises(RegistryError, match="refused the ones in MLFLOW_TRACKING_TOKEN"):
        MlflowClient(recorder).call("GET", "experiments/search", {"max_results": 1})
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw:1")
    Recorder.status = 403
    with pytest.raises(RegistryError, match="refused this user \\(403\\)"):
        MlflowClient(recorder).call("GET", "experiments/search", {"max_results": 1})
    assert Recorder.seen == [
        None,
        "Bearer tok-123",
        "Basic " + base64.b64encode(b"ana:pw:1").decode(),
    ]
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    with pytest.raises(ValidationError, match="set both MLFLOW_TRACKING_USERNAME"):
        MlflowClient(recorder)


def test_without_the_mlflow_client_nothing_is_copied_and_the_fix_is_named(tmp_path):
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "from mlnb.cli import main\n"
        "sys.exit(main(['sync', '--to-mlflow', 'http://127.0.0.1:9']))\n"
    )
    reg = mlnb.Registry(tmp_path / "reg")
    from sklearn.linear_model import LogisticRegression

    frame = churn(60)
    mlnb.register_model(
        LogisticRegression().fit(frame[COLUMNS], frame["churned"]), "churn", registry=reg
    )
    env = dict(os.environ, MLNB_HOME=str(reg.home))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "pip install 'mlnb[mlflow]'" in out.stderr and "Traceback" not in out.stderr


def test_import_says_what_is_wrong_before_touching_the_registry(tmp_path, recorder, capsys):
    home = tmp_path / "reg"
    assert main(["--registry", str(home), "import", "--from-mlflow", "sqlite:///m.db"]) != 0
    assert "--from-mlflow needs the http(s) address" in capsys.readouterr().err
    assert not home.exists()
    with pytest.raises(RegistryError, match="wants credentials"):
        import_from_mlflow(recorder, registry=mlnb.Registry(home))


# -- slow: real mlflow servers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow-auth"), basic_auth=True) as uri:
        yield uri


@pytest.mark.slow  # an mlflow server with its auth app starts in ~30-60 s on 2 cores
@pytest.mark.timeout(1200)
def test_sync_to_a_server_with_basic_auth_and_load_the_model_back(
    registry, auth_server, monkeypatch
):
    from sklearn.linear_model import LogisticRegression

    frame = churn()
    mlnb.set_experiment("churn-auth")
    for c in (1.0, 0.05):
        with mlnb.track(f"C={c}", registry=registry):
            mlnb.log_param("C", c)
            model = LogisticRegression(C=c).fit(frame[COLUMNS], frame["churned"])
            mlnb.log_metric("accuracy", float(model.score(frame[COLUMNS], frame["churned"])))
            mlnb.register_model(model, "churn", X=frame[COLUMNS], registry=registry)
    mlnb.promote("churn", 2, to="production", registry=registry)

    for var in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RegistryError, match="wants credentials"):
        sync_to_mlflow(auth_server, registry=registry)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    report = sync_to_mlflow(auth_server, registry=registry)
    assert report.created["model_versions"] == 2 and report.created["model_files"] == 2

    creds = {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]}
    rows = pd.DataFrame([[5, 70.0], [60, 40.0]], columns=COLUMNS)
    ours = list(mlnb.load_model("churn/2", registry=registry).predict(rows))
    assert load_in_mlflow(auth_server, "models:/churn/2", COLUMNS, creds) == (
        f"LogisticRegression {ours}"
    )
    # mlnb's own environment (pandas 3) loads it through mlflow-skinny as well.
    import mlflow.sklearn

    mlflow.set_tracking_uri(auth_server)
    mlflow.set_registry_uri(auth_server)
    assert list(mlflow.sklearn.load_model("models:/churn/2").predict(rows)) == ours

    again = sync_to_mlflow(auth_server, registry=registry)
    assert again.unchanged["model_versions"] == 2 and "model_files" not in again.created


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow-plain")) as uri:
        yield uri


MLFLOW_USER_SCRIPT = """
import sys, mlflow, mlflow.sklearn, numpy as np, pandas as pd
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])
mlflow.set_experiment("churn-mlflow")
rng = np.random.default_rng(1)
X = pd.DataFrame({"tenure": rng.integers(1, 72, 300), "charges": rng.normal(60, 20, 300)})
y = (X["tenure"] < 20).astype(int)
for c in (1.0, 0.1):
    with mlflow.start_run(run_name=f"lr-{c}") as run:
        mlflow.log_param("C", c)
        mlflow.set_tag("team", "churn")
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        model = LogisticRegression(C=c).fit(X, y)
        mlflow.log_metric("accuracy", model.score(X, y))
        mlflow.sklearn.log_model(model, name="model", registered_model_name="churn")
client = MlflowClient()
client.transition_model_version_stage("churn", "1", "Production")
client.transition_model_version_stage("churn", "2", "Staging")
client.set_registered_model_alias("churn", "champion", "1")
client.set_registered_model_alias("churn", "challenger", "2")
"""


@pytest.mark.slow  # starting mlflow server takes ~30 s on 2 cores
@pytest.mark.timeout(1200)
def test_import_brings_an_mlflow_users_runs_and_models(registry, plain_server, capsys):
    out = subprocess.run(
        [str(PEER_PYTHON), "-c", MLFLOW_USER_SCRIPT, plain_server],
        capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]

    argv = ["--registry", str(registry.home), "--json", "import", "--from-mlflow", plain_server]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["imported"]["runs"] == 2 and first["imported"]["model_versions"] == 2

    runs = registry.runs.find(experiment="churn-mlflow")
    assert sorted(r["name"] for r in runs) == ["lr-0.1", "lr-1.0"]
    detail = registry.runs.get(next(r["id"] for r in runs if r["name"] == "lr-0.1"))
    assert detail["params"]["C"] == 0.1 and detail["status"] == "finished"
    assert detail["tags"]["team"] == "churn"
    loss = [(p["step"], p["value"]) for p in detail["metric_history"]["loss"]]
    assert loss == [(0, 1.0), (1, 0.5), (2, 1 / 3)]

    model = registry.models.get("churn")
    assert {v["version"]: v["stage"] for v in model["versions"]} == {
        1: "production", 2: "staging"}  # fmt: skip
    assert model["aliases"] == {"champion": 1, "challenger": 2}
    rows = pd.DataFrame([[5, 70.0], [60, 40.0]], columns=COLUMNS)
    ours = mlnb.load_model("churn@champion", registry=registry).predict(rows)
    assert load_in_mlflow(plain_server, "models:/churn/1", COLUMNS) == (
        f"LogisticRegression {list(ours)}"
    )
    v2 = next(v for v in model["versions"] if v["version"] == 2)
    assert registry.runs.get(v2["run_id"])["name"] == "lr-0.1"  # linked to its run

    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["imported"] == {} and again["unchanged"]["runs"] == 2
    assert len(registry.runs.find(experiment="churn-mlflow")) == 2
