"""End to end: a notebook run by papermill trains and registers two versions; the test gates
them, promotes the better one, and rolls back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import papermill
import pytest

import mlnb

HERE = Path(__file__).parent
WORKTREE = Path(mlnb.__file__).resolve().parent.parent

GATES = """
gates:
  churn_gate:
    holdout: holdout.csv
    target: churned
    checks:
      - min_metric: {metric: accuracy, threshold: 0.6}
      - min_metric: {metric: roc_auc, threshold: 0.6}
      - max_bias: {sensitive: region, max_selection_rate_gap: 0.15}
      - max_latency: {p95_row_ms: 60000, n: 5}
      - no_regression: {metric: accuracy, tolerance: 0.0}
"""


@pytest.fixture
def executed_notebook(tmp_path, monkeypatch):
    home = tmp_path / "registry"
    work = tmp_path / "project"
    work.mkdir()
    notebook = work / "train_churn.ipynb"
    shutil.copy(HERE / "train_churn.ipynb", notebook)
    (work / "gates.yaml").write_text(GATES)
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("MLNB_NOTEBOOK_PATH", str(notebook))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(WORKTREE), os.environ.get("PYTHONPATH", "")])
    )
    papermill.execute_notebook(
        str(notebook),
        str(work / "out.ipynb"),
        parameters={"n_rows": 2400, "seed": 3},
        kernel_name="python3",
        cwd=str(work),
        progress_bar=False,
    )
    import mlnb.store.registry as r

    r._current = None
    monkeypatch.chdir(work)
    yield work
    if r._current is not None:
        r._current.close()
    r._current = None


def test_notebook_versions_gated_promoted_and_rolled_back(executed_notebook):
    reg = mlnb.get_registry()
    versions = reg.models.get("churn")["versions"]
    assert [(v["version"], v["stage"]) for v in versions] == [(1, "none"), (2, "staging")]

    # gate both candidates on the holdout the notebook wrote, without promoting
    first = mlnb.run_gate("churn_gate", "churn", 1)
    second = mlnb.run_gate("churn_gate", "churn", 2)
    assert first.passed and second.passed
    better = max((first, second), key=lambda g: g.metrics["accuracy"])
    assert better.version == 2  # the forest uses all features

    # the weaker one goes first, then the better one must not regress against it
    assert mlnb.promote("churn", 1, gate="churn_gate", reason="first model").promoted
    result = mlnb.promote("churn", 2, gate="gates.yaml:churn_gate", reason="forest")
    assert result.promoted and result.previous_production == 1, repr(result)
    assert mlnb.get_model_version("churn@production").version == 2
    assert reg.models.version("churn", 1)["stage"] == "archived"
    # and the weaker one can no longer get in through the gate
    retry = mlnb.run_gate("churn_gate", "churn", 1)
    assert not retry.passed
    assert [c.name for c in retry.failed_checks] == ["no regression in accuracy vs production v2"]

    back = mlnb.rollback("churn", reason="forest misbehaves in production")
    assert (back.restored, back.replaced) == (1, 2)
    assert mlnb.get_model_version("churn@production").version == 1
    assert type(mlnb.load_model("churn@production")).__name__ == "LogisticRegression"
    assert type(mlnb.load_model("churn@challenger")).__name__ == "RandomForestClassifier"

    # lineage: version -> artifact -> the tracked notebook cell, its params and its data
    lin = mlnb.lineage("churn@2")
    run = lin["run"]
    assert run["name"] == "forest" and run["source"] == "cell"
    assert run["notebook_path"].endswith("train_churn.ipynb")
    assert "RandomForestClassifier(n_estimators=n_estimators" in run["cell_source"]
    assert run["params"]["n_estimators"] == 60
    inputs = {d["name"]: d["id"] for d in lin["data"] if d["role"] == "input"}
    assert {"X_train", "y_train"} <= set(inputs)
    promoted = [t for t in lin["transitions"] if t["to_stage"] == "production"]
    assert promoted[0]["gate"] == "churn_gate" and promoted[0]["gate_passed"] == 1
    text = repr(lin)
    assert "cell source" in text and "forest" in text
