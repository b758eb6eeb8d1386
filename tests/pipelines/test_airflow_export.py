"""`mlnb pipeline export NAME --airflow`: the DAG text, the split run / gate-and-promote steps
it calls, and (slow, with Apache Airflow in its own venv) the DAG loaded in a DagBag and run
end to end with `airflow dags test` against a local registry."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mlnb
from mlnb.cli import main
from mlnb.lifecycle.versions import lineage_record
from mlnb.pipelines.airflow import dag_id_for, export_airflow_dag
from mlnb.pipelines.api import get_pipeline_run, pipeline_history
from tests.pipelines.test_end_to_end import churn_data, project  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = next(
    (
        p
        for p in (
            os.environ.get("MLNB_AIRFLOW_PYTHON", ""),
            str(ROOT / ".venv-airflow" / "bin" / "python"),
        )
        if p and Path(p).exists()
    ),
    None,
)


def make_pipeline(project, **overrides):  # noqa: F811
    options = {
        "params": {"data_path": "data/fresh.csv"},
        "gate": "churn_gate",
        "promote_to": "production",
        "schedule": "30 4 * * 1",
        "timezone": "Europe/Paris",
        "retries": 2,
        "retry_delay": 45.0,
        "timeout": 600.0,
    } | overrides
    return mlnb.create_pipeline("churn-train", project / "train_churn.ipynb", **options)


def production_v1(project):  # noqa: F811
    from sklearn.linear_model import LogisticRegression

    month0 = pd.read_csv(project / "data" / "month0.csv")
    X = month0[["usage", "price"]]
    v1 = mlnb.register_model(LogisticRegression().fit(X, month0["churned"]), "churn", X=X)
    assert mlnb.promote("churn", version=v1.version, to="production").promoted


def test_dag_text_has_the_pipelines_schedule_params_retries_and_timeout(
    registry,
    project,  # noqa: F811
    capsys,
):
    make_pipeline(project)
    text = export_airflow_dag(registry, "churn-train", python="/opt/mlnb/bin/python")
    tree = ast.parse(text)
    assert not any(
        isinstance(n, (ast.Import, ast.ImportFrom))
        and any("mlnb" in (a.name or "") for a in n.names)
        for n in ast.walk(tree)
    ), "the DAG must not import mlnb"
    assert "dag_id='mlnb_churn-train'" in text
    assert "schedule='30 4 * * 1'" in text and "tz='Europe/Paris'" in text
    assert "'data_path': Param('data/fresh.csv')" in text
    assert '"retries": 2' in text and "timedelta(seconds=45.0)" in text
    assert "execution_timeout=datetime.timedelta(seconds=660.0)" in text  # + 60 s grace
    assert "/opt/mlnb/bin/python -m mlnb --registry" in text
    assert "pipeline promote" in text and "run_notebook >> gate_and_promote" in text

    assert main(["pipeline", "export", "churn-train", "--airflow"]) == 0
    printed = capsys.readouterr().out
    ast.parse(printed)
    assert sys.executable in printed and dag_id_for("churn-train") in printed


def test_a_manual_only_pipeline_gets_no_schedule(registry, project):  # noqa: F811
    make_pipeline(project, schedule=None, params={})
    text = export_airflow_dag(registry, "churn-train")
    ast.parse(text)
    assert "schedule=None" in text


def test_run_without_promotion_then_promote_as_its_own_step(
    registry,
    project,  # noqa: F811
    capsys,
):
    production_v1(project)
    make_pipeline(project)
    args = ["pipeline", "run", "churn-train", "--trigger", "airflow", "--no-promote"]
    assert (
        main(
            [*args, "--no-retry", "--print-id", "--params-json", '{"data_path": "data/fresh.csv"}']
        )
        == 0
    )
    run_id = int(capsys.readouterr().out.strip().splitlines()[-1])
    run = get_pipeline_run(run_id, registry=registry)
    assert run["trigger"] == "airflow" and run["status"] == "finished"
    assert "promotion" not in run["details"]
    assert registry.models.get("churn")["production_version"] == 1  # not promoted yet

    assert main(["--json", "pipeline", "promote", "churn-train", str(run_id)]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["decision"] == "promoted"
    assert registry.models.get("churn")["production_version"] == 2
    transitions = len(registry.models.get("churn")["transitions"])
    # A retried promote task sees the decision already made and promotes nothing again.
    assert main(["--json", "pipeline", "promote", "churn-train", str(run_id)]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "promoted"
    assert len(registry.models.get("churn")["transitions"]) == transitions
    tracked = registry.runs.find(pipeline_run_id=run_id)
    assert [r["status"] for r in tracked] == ["finished"]


def airflow_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONPATH": str(ROOT),  # the DAG's tasks run this checkout's mlnb
        }
    )
    env.pop("MLNB_PIPELINE_RUN_ID", None)
    return env


@pytest.mark.slow  # `airflow db migrate` + `dags test`: ~25 s here on 2 cores
@pytest.mark.skipif(
    AIRFLOW_PYTHON is None,
    reason="no Apache Airflow venv: create one with `python3 -m venv .venv-airflow && "
    ".venv-airflow/bin/pip install 'apache-airflow>=2.9,<4'` or set MLNB_AIRFLOW_PYTHON",
)
def test_airflow_runs_the_exported_dag_end_to_end(registry, project, tmp_path):  # noqa: F811
    production_v1(project)
    make_pipeline(project)
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    dag_file = home / "dags" / "mlnb_churn_train.py"
    dag_file.write_text(export_airflow_dag(registry, "churn-train"))
    env = airflow_env(home)
    airflow = [AIRFLOW_PYTHON, "-m", "airflow"]

    def check(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return done

    check([*airflow, "db", "migrate"], timeout=600)
    load = (
        "import sys\nfrom airflow.models import DagBag\n"
        f"bag = DagBag(dag_folder={str(dag_file)!r})\n"
        "print(bag.import_errors, bag.dag_ids)\n"
        f"sys.exit(1 if bag.import_errors or {dag_id_for('churn-train')!r} not in bag.dag_ids "
        "else 0)\n"
    )
    check([AIRFLOW_PYTHON, "-c", load], timeout=300)
    check([*airflow, "dags", "test", dag_id_for("churn-train")], timeout=900)

    runs = pipeline_history("churn-train", registry=registry)
    assert len(runs) == 1
    run = get_pipeline_run(runs[0]["id"], registry=registry)
    assert run["trigger"] == "airflow" and run["status"] == "finished"
    assert run["reason"].startswith("airflow ") and len(run["reason"]) > 12  # Airflow run id
    assert run["details"]["params"] == {"data_path": "data/fresh.csv"}  # the DAG's params
    assert run["details"]["promotion"]["decision"] == "promoted"
    tracked = registry.runs.find(pipeline_run_id=run["id"])
    assert [r["status"] for r in tracked] == ["finished"]
    assert registry.models.get("churn")["production_version"] == 2
    lineage = lineage_record(registry, "churn@production")
    assert lineage["pipeline_run"]["id"] == run["id"]  # linked like a local run
