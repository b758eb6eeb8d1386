"""Monitors: stored reference profiles, batches, delayed labels, thresholds and alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.cli import main
from mlnb.errors import NotFoundError, ValidationError
from mlnb.monitoring.monitor import Monitor
from tests.conftest import run_cell


def frame(n: int, shift: float = 0.0, seed: int = 0, plan_shift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plans = rng.choice(["basic", "pro"], size=n, p=[0.2, 0.8] if plan_shift else [0.7, 0.3])
    df = pd.DataFrame(
        {
            "tenure": rng.normal(24 + shift * 10, 10, n),
            "charges": rng.normal(50 + shift * 15, 15, n),
            "calls": rng.normal(2, 1, n),
            "plan": plans,
        }
    )
    df["churned"] = ((df.charges - 50) / 15 + rng.normal(0, 0.5, n) > 0).astype(int)
    return df


def predict(df: pd.DataFrame) -> np.ndarray:
    return (df.charges > 50).astype(int).to_numpy().copy()


@pytest.fixture
def monitor(registry):
    ref = frame(3000)
    return Monitor(
        name="churn", model="churn", reference=ref, target="churned", thresholds={"accuracy": 0.8}
    )


def test_profile_is_stored_and_a_reopened_monitor_scores_without_the_reference(monitor, registry):
    batch = frame(1000, seed=1)
    first = monitor.score(batch)
    again = Monitor.load("churn", registry=registry)
    second = again.score(batch)
    assert [c.score for c in first.columns] == [c.score for c in second.columns]
    assert again.config["features"] == ["tenure", "charges", "calls", "plan"]
    assert registry.monitors.get("churn")["profile"].startswith("obj:")


def test_shift_is_flagged_on_exactly_the_shifted_columns_and_accuracy_alerts(monitor, registry):
    seen = []
    monitor.sinks.append(seen.append)
    calm = monitor.log_batch(frame(1000, seed=4), predictions=predict(frame(1000, seed=4)))
    assert calm.drifted_columns == [] and calm.alerts == []
    shifted = frame(1000, shift=1.0, seed=3)
    noisy = predict(shifted)
    noisy[:300] = 1 - noisy[:300]
    result = monitor.log_batch(shifted, predictions=noisy)
    assert set(result.drifted_columns) == {"tenure", "charges"}
    assert result.metrics["accuracy"] < 0.8
    [alert] = [a for a in result.alerts if a["kind"].startswith("accuracy")]
    assert (
        alert["evidence"]["threshold"] == 0.8 and alert["evidence"]["batch_id"] == result.batch_id
    )
    assert set(alert["evidence"]["drifted_columns"]) == {"tenure", "charges"}
    assert seen and seen[0]["id"] == alert["id"]
    stored = registry.alerts.find(monitor="churn", status="open")
    assert sorted(a["kind"] for a in stored) == [
        "accuracy_below_threshold",
        "dataset_drift",
    ]  # 2 of 4 drifted


def test_labels_can_arrive_later(monitor, registry):
    batch = frame(500, seed=4)
    result = monitor.log_batch(batch.drop(columns="churned"))
    assert result.metrics == {}
    wrong = 1 - predict(batch)
    metrics = monitor.log_labels(result.batch_id, batch.churned, wrong)
    assert metrics["accuracy"] < 0.2
    assert registry.monitors.batch(result.batch_id)["metrics"]["accuracy"] == metrics["accuracy"]
    assert registry.alerts.find(monitor="churn")[0]["evidence"]["batch_id"] == result.batch_id


def test_dataset_drift_alert_when_half_the_columns_drift(registry):
    mon = Monitor("drifty", reference=frame(3000), target="churned")
    result = mon.log_batch(frame(1000, shift=1.5, seed=5, plan_shift=True))
    assert result.dataset_drift
    assert [a["kind"] for a in result.alerts] == ["dataset_drift"]


def test_relative_and_learned_thresholds(registry):
    ref = frame(4000)
    mon = Monitor(
        "rel",
        reference=ref,
        target="churned",
        thresholds={"accuracy": {"relative": 0.05}, "drift_share": "learned"},
        reference_metrics={"accuracy": 0.9},
    )
    lines = mon.threshold_lines()
    assert lines["accuracy"] == pytest.approx(0.855)
    assert 0 <= lines["drift_share"] < 0.5
    batch = frame(1000, seed=6)
    result = mon.log_batch(batch, predictions=predict(batch))
    assert ("accuracy_below_threshold" in [a["kind"] for a in result.alerts]) == (
        result.metrics["accuracy"] < 0.855
    )


def test_history_status_panel_and_cli(monitor, registry, capsys):
    for i, shift in enumerate([0.0, 0.5, 1.0]):
        b = frame(800, shift=shift, seed=10 + i)
        monitor.log_batch(b, predictions=predict(b), when=f"2026-0{i + 2}-01")
    hist = monitor.history()
    assert [round(pd.Timestamp(h["batch_at"], unit="s").month) for h in hist] == [2, 3, 4]
    html = monitor.panel()._repr_html_()
    assert html.count("data:image/svg+xml;base64,") >= 2  # distributions and the timeline
    assert main(["--registry", str(registry.home), "monitor", "status", "churn"]) == 0
    out = capsys.readouterr().out
    assert "latest batch" in out and "accuracy" in out
    assert main(["--registry", str(registry.home), "monitor", "history", "churn"]) == 0
    assert len([ln for ln in capsys.readouterr().out.splitlines() if ln[:1].isdigit()]) == 3
    assert main(["--registry", str(registry.home), "monitor", "status", "nope"]) == 1
    assert "no monitor named 'nope'" in capsys.readouterr().err


def test_panel_never_embeds_raw_rows(monitor):
    batch = frame(500, seed=7)
    batch.loc[123, "tenure"] = 987654.321
    html = monitor.log_batch(batch)._repr_html_()
    assert "987654" not in html


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda m: m.log_batch(frame(0)), "batch is empty"),
        (lambda m: m.log_batch([1, 2]), "must be a pandas DataFrame"),
        (
            lambda m: m.log_batch(frame(10), predictions=[1, 0]),
            "predictions has 2 values but the batch has 10",
        ),
        (
            lambda m: m.log_batch(frame(10).drop(columns="churned"), labels=[0] * 10),
            "labels were given without predictions",
        ),
        (lambda m: m.log_labels(999, [1], [1]), "no monitor batch with id 999"),
        (lambda m: m.set_thresholds({"accuracy": {"minimum": 1}}), "unknown keys"),
        (lambda m: m.set_thresholds({"accuracy": float("nan")}), "finite"),
        (lambda m: m.set_thresholds(["accuracy"]), "must be a dict"),
    ],
)
def test_bad_input_is_refused_clearly(monitor, make, message):
    with pytest.raises((ValidationError, NotFoundError), match=message):
        make(monitor)


def test_missing_and_extra_columns_are_structured_results(monitor):
    batch = frame(300, seed=8).drop(columns="calls")
    batch["surprise"] = 1.0
    report = monitor.log_batch(batch).report
    statuses = {c.column: c.status for c in report.columns}
    assert statuses["calls"] == "missing_column"
    assert "surprise" not in statuses or statuses["surprise"] == "extra_column"


def test_creating_monitors_needs_sane_arguments(registry):
    with pytest.raises(ValidationError, match="target column 'label'"):
        Monitor("x", reference=frame(100), target="label")
    with pytest.raises(ValidationError, match="reference must be a pandas DataFrame"):
        Monitor("x", reference=np.zeros((3, 3)))
    with pytest.raises(NotFoundError, match="no monitor named 'ghost'"):
        Monitor.load("ghost")
    with pytest.raises(ValidationError, match="needs target= and reference_predictions="):
        Monitor("x", reference=frame(100), thresholds={"accuracy": "learned"})


def test_drift_and_monitor_magics(ip, registry):
    ip.user_ns["ref"] = frame(2000)
    ip.user_ns["cur"] = frame(500, shift=1.0, seed=9)
    panel = run_cell(ip, "%drift cur --reference ref").result
    assert "charges" in panel._repr_html_()
    run_cell(ip, "%monitor create churn --reference ref --target churned --threshold accuracy=0.8")
    result = run_cell(ip, "%monitor log churn cur").result
    assert result.batch_id == 1
    assert "monitor churn" in repr(run_cell(ip, "%monitor status churn").result)
    assert "<img" in run_cell(ip, "%drift cur --monitor churn").result._repr_html_()
    bad = run_cell(ip, "%monitor create x --reference ref --threshold accuracy")
    assert "METRIC=VALUE" in str(bad.error_in_exec)
    bad = run_cell(ip, "%drift cur")
    assert bad.error_in_exec is not None


def test_drift_widgets_are_built_by_the_notebook_surface(ip, registry):
    ip.user_ns["ref"] = frame(2000)
    ip.user_ns["cur"] = frame(500, shift=1.0, seed=9)
    box = run_cell(ip, "%drift cur --reference ref --widget").result
    assert type(box).__name__ == "VBox" and box.batch_slider is None
    run_cell(ip, "%monitor create churn --reference ref --target churned")
    run_cell(ip, "%monitor log churn cur")
    logged = run_cell(ip, "%drift cur --monitor churn --log --widget").result
    assert type(logged).__name__ == "VBox" and logged.batch_slider is not None
    scored = run_cell(ip, "%drift cur --monitor churn --widget").result
    assert any("DRIFT" in label for label, _ in scored.picker.options)
    monitor = Monitor.load("churn")
    with pytest.warns(DeprecationWarning, match="mlnb.widgets.monitor_widget"):
        assert type(monitor.widget()).__name__ == "VBox"


def test_plain_drift_function(registry):
    report = mlnb.drift(frame(500), frame(500, shift=1.0, seed=1))
    assert "charges" in [c.column for c in report.columns if c.drifted]


def test_batches_carry_the_monitors_own_numbers_everywhere(registry, capsys):
    first = Monitor(name="first", reference=frame(2000), target="churned")
    second = Monitor(name="second", reference=frame(2000), target="churned")
    results = []
    for i in range(3):  # interleaved: batch ids run across both monitors
        first.log_batch(frame(300, seed=10 + i))
        results.append(second.log_batch(frame(300, seed=20 + i)))
    assert [r.batch_id for r in results] == [2, 4, 6]
    assert [r.number for r in results] == [1, 2, 3]
    assert "batch #3:" in repr(results[-1])
    history = second.history()
    assert [h["number"] for h in history] == [1, 2, 3]
    assert second.status()["latest_number"] == 3
    main(["monitor", "status", "second"])
    assert "latest batch #3 " in capsys.readouterr().out
    main(["monitor", "history", "second"])
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out if line[:1].isdigit()] == ["1", "2", "3"]
    assert "<img" in second.panel(batch=2)._repr_html_()
