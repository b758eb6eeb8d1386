"""The `mlnb` command line and the Python API for scripts."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.cli import main
from mlnb.errors import MlnbError, NotFoundError, UnsafeModelError
from mlnb.tracking.artifacts import load_artifact, save_model


def cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def populated(registry):
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    y = (X.a > 9).astype(int)
    with mlnb.track("first", experiment="churn", params={"C": 1.0}) as run:
        mlnb.log_metric("acc", 0.81)
        mlnb.log_data(X, name="X")
        mlnb.log_model(LogisticRegression().fit(X, y), name="model", X=X)
    with mlnb.track("second", experiment="churn", params={"C": 2.0}):
        mlnb.log_metric("acc", 0.86)
        mlnb.log_data(X * 2, name="X")
    return registry, run


def test_runs_show_compare_and_json(populated, capsys):
    reg, run = populated
    code, out, _ = cli("runs", capsys=capsys)
    assert code == 0 and "first" in out and "second" in out and "acc" in out
    code, out, _ = cli("--json", "runs", "--sort", "acc", capsys=capsys)
    assert [r["name"] for r in json.loads(out)] == ["second", "first"]
    code, out, _ = cli("show", str(run.id), capsys=capsys)
    assert "C = 1" in out and "acc = 0.81" in out and "LogisticRegression" in out and "input" in out
    code, out, _ = cli("compare", "1", "2", capsys=capsys)
    assert "*param C" in out and "*data input:X" in out
    code, out, _ = cli("experiments", capsys=capsys)
    assert "churn" in out
    code, out, _ = cli("--json", "status", capsys=capsys)
    assert json.loads(out)["runs"] == 2


def test_data_list_show_and_restore(populated, capsys, tmp_path):
    reg, _ = populated
    X = pd.DataFrame({"k": [1, 2, 3]})
    with mlnb.track("snap"):
        version = mlnb.log_data(X, name="k", snapshot=True)
    code, out, _ = cli("data", capsys=capsys)
    assert code == 0 and version[:12] in out
    code, out, _ = cli("data", "show", version[:10], capsys=capsys)
    assert "used by" in out and "snap" not in out or "#3" in out
    target = tmp_path / "restored.parquet"
    code, out, _ = cli("data", "restore", version, str(target), capsys=capsys)
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(target), X)


def test_cli_bad_input(populated, capsys, tmp_path):
    code, _, err = cli("show", "999", capsys=capsys)
    assert code == 1 and "no run with id 999" in err
    code, _, err = cli("data", "restore", "dv-nope", str(tmp_path / "x.csv"), capsys=capsys)
    assert code == 1 and "no data version" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "--limit", "zero"])
    assert exit_info.value.code == 2
    assert "expected a whole number" in capsys.readouterr().err
    code, _, err = cli("--registry", str(tmp_path / "missing"), "runs", capsys=capsys)
    assert code == 1 and "no mlnb registry" in err


def test_cli_entry_point_runs_as_a_program(populated):
    proc = subprocess.run(
        [sys.executable, "-m", "mlnb", "--registry", str(populated[0].home), "runs"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "second" in proc.stdout


def test_log_outside_a_run_says_how_to_start_one(registry):
    with pytest.raises(MlnbError, match="needs an active run"):
        mlnb.log_metric("acc", 1.0)


def test_track_context_marks_failures(registry):
    with pytest.raises(KeyError), mlnb.track("broken"):
        raise KeyError("missing column")
    run = registry.runs.find()[0]
    assert run["status"] == "failed"
    assert "missing column" in registry.runs.get(run["id"])["error"]


def test_load_model_verifies_and_refuses_pickle_without_opt_in(registry):
    from sklearn.linear_model import LinearRegression

    X = np.arange(10.0).reshape(-1, 1)
    model = LinearRegression().fit(X, X.ravel() * 2)
    with mlnb.track() as run:
        art = run.log_model(model, name="lr")
        pickled = save_model(run.registry, model, name="raw", run_id=run.id, allow_pickle=True)
    assert mlnb.load_model(f"runs:/{run.id}/lr").predict([[3.0]])[0] == pytest.approx(6.0)
    assert mlnb.load_model(f"artifact:{art['id']}").coef_[0] == pytest.approx(2.0)
    registry.db.write("UPDATE model_artifacts SET format = 'pickle' WHERE id = ?", (pickled["id"],))
    with pytest.raises(UnsafeModelError, match="pickle"):
        mlnb.load_model(f"artifact:{pickled['id']}")
    with pytest.raises(NotFoundError):
        load_artifact(registry, 999)
