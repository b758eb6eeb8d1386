"""The user story, end to end, all in the registry: production accuracy falls below 0.82, the
monitor raises an alert, the scheduler retrains with the pipeline's notebook in a fresh
kernel, the new candidate passes its gate and production moves to it. A stricter gate
rejects the next candidate: production stays, and an alert says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.cli import main
from mlnb.errors import ValidationError
from mlnb.monitoring.alerts import raise_alert
from mlnb.pipelines.scheduler import Scheduler
from tests.pipelines.conftest import write_notebook

TRAIN_CELLS = [
    "data_path = 'data/month0.csv'",
    "import pandas as pd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "import mlnb\n"
    "df = pd.read_csv(data_path)\n"
    "X, y = df[['usage', 'price']], df['churned']",
    "with mlnb.track('train churn'):\n"
    "    model = LogisticRegression().fit(X, y)\n"
    "    mlnb.log_param('data_path', data_path)\n"
    "    mlnb.log_metric('train_accuracy', model.score(X, y))\n"
    "    mlnb.register_model(model, 'churn', X=X)",
]

GATES = """
gates:
  churn_gate:
    holdout: data/holdout.csv
    target: churned
    checks:
      - min_metric: {metric: accuracy, threshold: 0.82}
      - no_regression: {metric: accuracy, tolerance: 0.0}
  strict_gate:
    holdout: data/holdout.csv
    target: churned
    checks:
      - min_metric: {metric: accuracy, threshold: 0.999}
"""


def churn_data(n: int, shifted: bool, seed: int) -> pd.DataFrame:
    """Before the shift, low usage predicts churn; after it, a high price does."""
    rng = np.random.default_rng(seed)
    usage = rng.normal(size=n)
    price = rng.normal(size=n)
    signal = price if shifted else -usage
    churned = (signal + rng.normal(scale=0.3, size=n) > 0).astype(int)
    return pd.DataFrame({"usage": usage, "price": price, "churned": churned})


@pytest.fixture
def project(tmp_path):
    (tmp_path / "data").mkdir()
    churn_data(600, shifted=False, seed=0).to_csv(tmp_path / "data" / "month0.csv", index=False)
    churn_data(600, shifted=True, seed=1).to_csv(tmp_path / "data" / "fresh.csv", index=False)
    churn_data(400, shifted=True, seed=2).to_csv(tmp_path / "data" / "holdout.csv", index=False)
    (tmp_path / "gates.yaml").write_text(GATES)
    write_notebook(tmp_path / "train_churn.ipynb", TRAIN_CELLS)
    return tmp_path


def test_alert_retrains_gate_passes_and_production_moves(registry, project, capsys):
    month0 = pd.read_csv(project / "data" / "month0.csv")
    features = month0[["usage", "price"]]
    from sklearn.linear_model import LogisticRegression

    v1 = mlnb.register_model(
        LogisticRegression().fit(features, month0["churned"]), "churn", X=features
    )
    assert mlnb.promote("churn", version=v1.version, to="production").promoted

    mlnb.create_pipeline(
        "churn-train",
        project / "train_churn.ipynb",
        params={"data_path": "data/fresh.csv"},
        on_alert="churn:accuracy_below_threshold",
        gate="churn_gate",
        promote_to="production",
    )
    monitor = mlnb.Monitor(
        name="churn",
        model="churn",
        reference=month0,
        target="churned",
        thresholds={"accuracy": 0.82},
    )
    live = churn_data(300, shifted=True, seed=3)
    production = mlnb.load_model("churn@production")
    batch = monitor.log_batch(live, predictions=production.predict(live[["usage", "price"]]))
    (alert,) = [a for a in batch.alerts if a["kind"] == "accuracy_below_threshold"]

    result = Scheduler(registry).run_once()

    (run,) = mlnb.pipeline_history("churn-train")
    assert result["started"] == [run["id"]]
    assert run["status"] == "finished", run["error"]
    assert run["trigger"] == "alert" and run["due_key"] == f"alert:{alert['id']}"
    assert run["reason"].startswith(f"alert #{alert['id']} from monitor churn")
    handled = registry.alerts.get(alert["id"])
    assert handled["status"] == "acknowledged" and handled["handled_by"] == "pipeline:churn-train"

    promotion = run["details"]["promotion"]
    assert promotion["decision"] == "promoted"
    (candidate,) = promotion["candidates"]
    assert candidate["model"] == "churn" and candidate["version"] == 2
    assert candidate["gate_passed"] is True and candidate["gate_result_id"]
    assert candidate["previous_production"] == 1 and candidate["production_version"] == 2

    assert mlnb.get_model_version("churn@production").version == 2
    (tracked,) = registry.runs.find(pipeline_run_id=run["id"])
    assert tracked["params"] == {"data_path": "data/fresh.csv"}
    lineage = mlnb.lineage("churn/2")
    assert lineage["run"]["id"] == tracked["id"]
    assert lineage["pipeline_run"]["id"] == run["id"]
    (moved,) = [t for t in lineage["transitions"] if t["to_stage"] == "production"]
    assert moved["gate_result_id"] == candidate["gate_result_id"]
    assert "pipeline churn-train run #" in moved["reason"]

    assert main(["pipeline", "show", "churn-train", str(run["id"])]) == 0
    shown = capsys.readouterr().out
    assert "promoted: churn v2 -> production" in shown and "alert #" in shown


def test_a_gate_rejection_keeps_production_and_raises_an_alert(registry, project):
    month0 = pd.read_csv(project / "data" / "month0.csv")
    from sklearn.linear_model import LogisticRegression

    v1 = mlnb.register_model(
        LogisticRegression().fit(month0[["usage", "price"]], month0["churned"]), "churn"
    )
    mlnb.promote("churn", version=v1.version, to="production")
    mlnb.create_pipeline(
        "churn-strict",
        project / "train_churn.ipynb",
        params={"data_path": "data/fresh.csv"},
        gate="strict_gate",
        promote_to="production",
    )
    run = mlnb.run_pipeline("churn-strict")
    assert run["status"] == "finished"
    promotion = run["details"]["promotion"]
    assert promotion["decision"] == "rejected"
    assert promotion["candidates"][0]["promoted"] is False
    assert mlnb.get_model_version("churn@production").version == 1
    (alert,) = registry.alerts.find(pipeline="churn-strict")
    assert alert["kind"] == "gate_rejected" and "strict_gate" in alert["message"]
    assert "production stays as it was" in alert["message"]


def test_the_gate_is_checked_where_the_worker_will_look_for_it(registry, project, monkeypatch):
    nb = project / "train_churn.ipynb"
    with pytest.raises(ValidationError, match="no gates.yaml or gates.toml next to"):
        mlnb.create_pipeline("p", nb, gate="no_such_gate", promote_to="production")
    with pytest.raises(ValidationError, match="defines no gate named 'nope' .*churn_gate"):
        mlnb.create_pipeline(
            "p", nb, gate=f"{project / 'gates.yaml'}:nope", promote_to="production"
        )
    monkeypatch.chdir(project)
    p = mlnb.create_pipeline("p", nb, gate="gates.yaml:churn_gate", promote_to="production")
    assert p["config"]["gate"] == f"{project / 'gates.yaml'}:churn_gate"


def test_a_failed_retrain_keeps_the_alert_open_and_says_why(registry, project, capsys):
    month0 = pd.read_csv(project / "data" / "month0.csv")
    from sklearn.linear_model import LogisticRegression

    v1 = mlnb.register_model(
        LogisticRegression().fit(month0[["usage", "price"]], month0["churned"]), "churn"
    )
    mlnb.promote("churn", version=v1.version, to="production")
    mlnb.create_pipeline(
        "churn-train",
        project / "train_churn.ipynb",
        params={"data_path": "data/june.csv"},  # not there yet
        on_alert="churn",
        gate="churn_gate",
        promote_to="production",
    )
    monitor = mlnb.Monitor(name="churn", model="churn", reference=month0, target="churned")
    trigger = raise_alert(
        registry,
        "monitor",
        "accuracy_below_threshold",
        "accuracy 0.71",
        monitor_id=monitor.monitor_id,
    )
    assert main(["scheduler", "--once"]) == 1
    (run,) = mlnb.pipeline_history("churn-train")
    assert run["status"] == "failed"
    assert run["error"].startswith("FileNotFoundError: ") and "data/june.csv" in run["error"]
    assert "(cell 2: 'import pandas as pd')" in run["error"]
    assert registry.alerts.get(trigger["id"])["status"] == "open"  # the degradation still shows
    (failure,) = registry.alerts.find(pipeline="churn-train")
    assert run["error"] in failure["message"]
    assert f"#{trigger['id']} that triggered it stay open" in failure["message"]
    capsys.readouterr()
    assert main(["pipeline", "show", "churn-train"]) == 0
    assert f"last run:     #{run['id']} failed: FileNotFoundError" in capsys.readouterr().out
    assert main(["pipeline", "show", "churn-train", str(run["id"])]) == 0
    assert "reason:       FileNotFoundError" in capsys.readouterr().out

    fixed = mlnb.run_pipeline("churn-train", params={"data_path": "data/fresh.csv"})
    assert fixed["details"]["promotion"]["decision"] == "promoted"
    handled = registry.alerts.get(trigger["id"])
    assert handled["status"] == "acknowledged" and handled["handled_by"] == "pipeline:churn-train"


SELF_PROMOTING_CELLS = [
    *TRAIN_CELLS,
    "result = mlnb.promote('churn', to='production', gate='churn_gate', reason='trained here')\n"
    "print(result)",
]


def test_a_notebook_that_promotes_itself_runs_unchanged_as_a_gated_pipeline(
    registry, project, capsys
):
    """The tour's training notebook calls mlnb.promote itself; as a pipeline with its own
    gate and --promote-to, each run promotes once, through the pipeline's gate."""
    month0 = pd.read_csv(project / "data" / "month0.csv")
    from sklearn.linear_model import LogisticRegression

    features = month0[["usage", "price"]]
    v1 = mlnb.register_model(
        LogisticRegression().fit(features, month0["churned"]), "churn", X=features
    )
    mlnb.promote("churn", version=v1.version, to="production")
    nb = write_notebook(project / "train_and_promote.ipynb", SELF_PROMOTING_CELLS)
    mlnb.create_pipeline(
        "churn-train",
        nb,
        params={"data_path": "data/fresh.csv"},
        gate="churn_gate",
        promote_to="production",
    )
    run = mlnb.run_pipeline("churn-train")
    assert run["status"] == "finished", run["error"]
    assert run["details"]["promotion"]["decision"] == "promoted"
    assert run["details"]["notebook_promotions"] == [
        {"model": "churn", "version": 2, "to": "production", "gate": "churn_gate"}
    ]
    assert mlnb.get_model_version("churn@production").version == 2
    model_id = registry.models.model_id("churn")
    moves = [t for t in registry.models.transitions(model_id) if t["to_stage"] == "production"]
    assert [t["version"] for t in moves] == [1, 2]  # one promotion for the run
    gated = [g for g in registry.models.gate_results(model_id) if g["version"] == 2]
    assert len(gated) == 1 and gated[0]["passed"]  # through the gate, recorded once
    assert registry.alerts.find(pipeline="churn-train") == []
    out = Path(run["output_path"]).read_text()
    assert "LEFT TO THE PIPELINE" in out and "churn_gate" in out
