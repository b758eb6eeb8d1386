"""%%track, %track on|off and friends in a real IPython shell against a real registry."""

from __future__ import annotations

import pandas as pd
import pytest

from mlnb.tracking.data import load_snapshot, restore_data
from tests.conftest import run_cell

SETUP = """
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
import mlnb
rng = np.random.default_rng(0)
df = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
y = (df.a + df.b > 0).astype(int)
"""

FIT = """%%track --name fit-logreg
# fit the churn model
C = 0.3
max_iter = 300
model = LogisticRegression(C=C, max_iter=max_iter)
model.fit(df, y)
pred = model.predict(df)
acc = accuracy_score(y, pred)
f1 = f1_score(y, pred)
train_score = model.score(df, y)
mlnb.log_metric("custom", 42)
acc
"""


def test_track_records_params_data_models_and_metrics(ip, registry):
    run_cell(ip, SETUP)
    result = run_cell(ip, FIT)
    assert result.error_in_exec is None
    assert result.result == pytest.approx(ip.user_ns["acc"])  # the cell's own result is untouched
    run = registry.runs.get(registry.runs.find()[0]["id"])
    assert run["name"] == "fit-logreg" and run["status"] == "finished" and run["source"] == "cell"
    assert run["params"]["C"] == 0.3 and run["params"]["max_iter"] == 300
    # estimator params by scikit-learn's get_params() names, as MLflow autolog names them;
    # C=0.3 is the cell's literal and the model's value: recorded once, unprefixed
    assert run["params"]["solver"] == "lbfgs" and run["params"]["tol"] == 0.0001
    assert not [k for k in run["params"] if k.startswith("model.")]
    assert set(run["metrics"]) >= {"acc", "f1", "train_score", "custom"}
    assert run["metrics"]["acc"] == pytest.approx(ip.user_ns["acc"])
    inputs = {d["name"]: d for d in run["data"] if d["role"] == "input"}
    assert set(inputs) >= {"df", "y"}
    assert inputs["df"]["id"] == __import__("mlnb").fingerprint(ip.user_ns["df"])
    outputs = {d["name"] for d in run["data"] if d["role"] == "output"}
    assert "pred" in outputs
    [model] = run["models"]
    assert model["name"] == "model" and model["format"] == "skops"
    assert [i["name"] for i in model["signature"]["inputs"]] == ["a", "b", "c", "d"]
    assert model["signature"]["inputs"][0]["dtype"] == "float64"
    assert "fit the churn model" in run["cell_source"]
    loaded = __import__("mlnb").load_model(f"runs:/{run['id']}/model")
    assert (loaded.predict(ip.user_ns["df"]) == ip.user_ns["pred"]).all()


def test_track_shows_a_summary(ip, registry, capsys):
    run_cell(ip, SETUP)
    run_cell(ip, FIT)
    out = capsys.readouterr().out
    assert "mlnb run #" in out and "acc=" in out and "model (LogisticRegression" in out


def test_track_options_restrict_what_is_recorded(ip, registry):
    run_cell(ip, SETUP)
    run_cell(
        ip,
        "%%track --params C --metrics special --no-data --no-models\nC = 1.0\nother = 5\nspecial = 0.5\nm = LogisticRegression().fit(df, y)",
    )
    run = registry.runs.get(registry.runs.find()[0]["id"])
    assert run["params"] == {"C": 1.0}
    assert run["metrics"] == {"special": 0.5}
    assert run["data"] == [] and run["models"] == []


def test_files_read_with_pandas_are_versioned(ip, registry, tmp_path):
    path = tmp_path / "customers.csv"
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(path, index=False)
    run_cell(ip, "import pandas as pd")
    run_cell(ip, f"%%track\nraw = pd.read_csv({str(path)!r})")
    run = registry.runs.get(registry.runs.find()[0]["id"])
    files = [d for d in run["data"] if d["kind"] == "file"]
    assert files and files[0]["source_path"] == str(path)
    path.write_text("x\n1\n2\n4\n")
    run_cell(ip, f"%%track\nraw = pd.read_csv({str(path)!r})")
    run2 = registry.runs.get(registry.runs.find()[0]["id"])
    assert [d for d in run2["data"] if d["kind"] == "file"][0]["id"] != files[0]["id"]


def test_failing_cell_fails_the_run_and_raises_the_users_error(ip, registry):
    result = run_cell(ip, "%%track\nx = 1\nraise ValueError('boom')")
    assert isinstance(result.error_in_exec, ValueError)
    run = registry.runs.find()[0]
    assert run["status"] == "failed"
    assert "boom" in registry.runs.get(run["id"])["error"]
    assert run_cell(ip, "1 + 1").result == 2


def test_capture_problem_is_one_warning_and_the_cell_still_returns(
    ip, registry, monkeypatch, capsys
):
    from mlnb.tracking import cell

    def broken(self, error=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cell.CellCapture, "after", broken)
    result = run_cell(ip, "%%track\nvalue = 7\nvalue * 6")
    assert result.error_in_exec is None and result.result == 42
    err = capsys.readouterr().err
    assert "mlnb: capture problem" in err and "disk on fire" in err
    assert err.count("\n") == 1


def test_capture_that_cannot_start_runs_the_cell_untracked(ip, registry, monkeypatch, capsys):
    from mlnb.tracking import cell

    monkeypatch.setattr(
        cell.CellCapture, "before", lambda self: (_ for _ in ()).throw(OSError("read-only"))
    )
    result = run_cell(ip, "%%track\n'still runs'")
    assert result.result == "still runs"
    assert "runs untracked" in capsys.readouterr().err


def test_models_skops_cannot_store_are_skipped_with_a_note(ip, registry, capsys):
    run_cell(ip, SETUP)
    run_cell(
        ip,
        "from sklearn.base import BaseEstimator\n"
        "class Streamer(BaseEstimator):\n"
        "    def fit(self, X, y=None):\n"
        "        self.source_ = (row for row in range(3))\n"
        "        return self\n",
    )
    run_cell(ip, "%%track\nft = Streamer().fit(df)")
    run = registry.runs.get(registry.runs.find()[0]["id"])
    assert run["status"] == "finished" and run["models"] == []
    assert "model ft not saved" in capsys.readouterr().out


def test_track_on_records_every_cell_until_off(ip, registry):
    run_cell(ip, SETUP)
    run_cell(ip, "%track on --name auto")
    run_cell(ip, "z = df * 2")
    run_cell(ip, "# just a comment")
    run_cell(ip, "%runs")
    run_cell(ip, "w = z + 1")
    run_cell(ip, "%track off")
    run_cell(ip, "q = 1")
    runs = registry.runs.find()
    assert len(runs) == 2 and all(r["name"] == "auto" for r in runs)


def test_experiment_and_registry_switching(ip, registry, tmp_path, capsys):
    run_cell(ip, "%mlnb experiment churn")
    run_cell(ip, "%%track\na = 1")
    assert registry.runs.find()[0]["experiment"] == "churn"
    other = tmp_path / "other"
    run_cell(ip, f"%mlnb registry {other}")
    run_cell(ip, "%%track\nb = 2")
    from mlnb.store.registry import Registry

    assert len(Registry(other).runs.find()) == 1
    assert "registry" in capsys.readouterr().out


def test_status_runs_and_compare_render(ip, registry):
    run_cell(ip, SETUP)
    run_cell(ip, "%%track\nC = 1\nacc = 0.8")
    run_cell(ip, "%%track\nC = 2\nacc = 0.9")
    status = run_cell(ip, "%mlnb status").result
    assert "runs: 2" in repr(status)
    table = run_cell(ip, "%runs --sort acc").result
    assert repr(table).splitlines()[2].split()[0] == "2"
    assert "<table" in table._repr_html_()
    cmp = run_cell(ip, "%runs --compare 1 2").result
    assert "*param C" in repr(cmp) and "differs" in cmp._repr_html_()


def test_dataversion_snapshot_and_restore(ip, registry, tmp_path):
    run_cell(ip, SETUP)
    out = run_cell(ip, "%dataversion df --name features --snapshot").result
    version = repr(out).split()[2]
    restored = load_snapshot(registry, version)
    pd.testing.assert_frame_equal(restored, ip.user_ns["df"])
    target = tmp_path / "back.csv"
    restore_data(registry, version, target)
    assert pd.read_csv(target).shape == (300, 4)


@pytest.mark.parametrize(
    "cell, message",
    [
        ("%%track --bogus\nx = 1", "unrecognized arguments: --bogus"),
        ("%track sideways", "usage: %track on"),
        ("%dataversion nothing_here", "neither a variable"),
        ("%dataversion SETUP_INT", "versions DataFrames"),
        ("%runs --compare 1", "at least two runs"),
        ("%runs --status weird", "unknown run status"),
        ("%runs --limit 0", "positive"),
        ("%mlnb frobnicate", "unknown %mlnb command"),
        ("%runs --compare 1 999", "no run with id 999"),
    ],
)
def test_bad_magic_input_gives_clear_errors(ip, registry, cell, message, capsys):
    ip.user_ns["SETUP_INT"] = 5
    run_cell(ip, "%%track\nx = 1")
    result = run_cell(ip, cell)
    shown = capsys.readouterr()
    assert message in shown.out + shown.err + str(
        result.error_in_exec or result.error_before_exec or ""
    )
    assert len(registry.runs.find()) == 1 or cell.startswith("%%track")


def test_html_in_names_renders_as_text(ip, registry):
    run_cell(ip, "%%track --name '<script>alert(1)</script>'\nx = 1")
    table = run_cell(ip, "%runs").result._repr_html_()
    assert "<script>alert(1)" not in table and "&lt;script&gt;" in table


def test_metric_named_literals_are_metrics_not_params(ip, registry):
    run_cell(ip, "%%track\nC = 1\nacc = 0.8\nnotes = 'baseline'")
    run = registry.runs.get(registry.runs.find()[0]["id"])
    assert run["params"] == {"C": 1, "notes": "baseline"}
    assert run["metrics"] == {"acc": 0.8}


def test_estimator_params_are_prefixed_only_on_a_real_collision(ip, registry):
    """Runs line up whatever the model variables are called; two models that disagree on a
    param keep both values under their variable names."""
    run_cell(ip, SETUP)
    run_cell(ip, "from sklearn.tree import DecisionTreeClassifier")
    run_cell(
        ip,
        "%%track --name two-trees\nmax_depth = 4\n"
        "rf = DecisionTreeClassifier(max_depth=max_depth, random_state=0).fit(df, y)\n"
        "deep = DecisionTreeClassifier(max_depth=9, min_samples_leaf=3).fit(df, y)",
    )
    run_cell(ip, "%%track --name other-name\nclf = DecisionTreeClassifier(max_depth=4).fit(df, y)")
    first, second = sorted(registry.runs.find(), key=lambda r: r["id"])
    params = registry.runs.get(first["id"])["params"]
    assert params["max_depth"] == 4  # the literal; rf agrees with it
    assert params["deep.max_depth"] == 9 and "rf.max_depth" not in params
    assert params["rf.random_state"] == 0 and params["deep.random_state"] is None
    assert params["rf.min_samples_leaf"] == 1 and params["deep.min_samples_leaf"] == 3
    assert params["criterion"] == "gini"  # both agree: one unprefixed key
    other = registry.runs.get(second["id"])["params"]
    assert other["max_depth"] == 4 and other["criterion"] == "gini"
