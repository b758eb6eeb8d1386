"""Consecutive breaches of one monitor metric make one incident (first/last batch, worst value,
count) that resolves when the metric recovers; a pipeline watching the monitor runs once per
incident."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

import mlnb
from mlnb.pipelines.scheduler import Scheduler
from tests.pipelines.conftest import FakeClock, InstantRuns, write_notebook


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.integers(0, 2, n)})


def _batch_with_accuracy(
    accuracy: float, seed: int, n: int = 400
) -> tuple[pd.DataFrame, np.ndarray]:
    """A stable batch whose predictions are right for exactly ``accuracy`` of the rows."""
    batch = _frame(n, seed)
    preds = batch["y"].to_numpy().copy()
    wrong = int(round(n * (1 - accuracy)))
    preds[:wrong] = 1 - preds[:wrong]
    return batch, preds


def _monitor(registry) -> mlnb.Monitor:
    return mlnb.Monitor(
        name="churn", reference=_frame(2000, 0), target="y", thresholds={"accuracy": 0.82}
    )


def test_seven_breaching_batches_are_one_incident_that_resolves_on_recovery(registry):
    monitor = _monitor(registry)
    accuracies = [0.9, 0.80, 0.75, 0.70, 0.78, 0.79, 0.81, 0.77, 0.9, 0.7]
    results = []
    for i, acc in enumerate(accuracies):
        batch, preds = _batch_with_accuracy(acc, seed=i + 1)
        results.append(monitor.log_batch(batch, predictions=preds))
    incidents = [
        a for a in registry.alerts.find(status=None, limit=None) if a["metric"] == "accuracy"
    ]
    assert len(incidents) == 2  # batches 2-8 are one incident; batch 10 opens the next
    first, second = sorted(incidents, key=lambda a: a["id"])
    assert first["breach_count"] == 7
    assert first["first_batch_id"] == results[1].batch_id
    assert first["last_batch_id"] == results[7].batch_id
    assert abs(first["worst_value"] - 0.70) < 1e-9
    assert first["status"] == "resolved" and first["resolved_at"] is not None
    assert first["handled_by"].startswith("recovered: accuracy 0.9")
    assert first["evidence"]["recovery"] == first["handled_by"]
    assert "breach 7 of this incident" in first["message"]
    assert second["status"] == "open" and second["breach_count"] == 1
    shown = [[a for a in r.alerts if a["metric"] == "accuracy"] for r in results]
    assert [len(a) for a in shown] == [0, 1, 1, 1, 1, 1, 1, 1, 0, 1]
    assert [a["new"] for alerts in shown for a in alerts] == [True] + [False] * 6 + [True]


def test_late_labels_of_an_older_batch_do_not_resolve_a_newer_incident(registry):
    monitor = _monitor(registry)
    ok_batch, ok_preds = _batch_with_accuracy(0.9, seed=1)
    old = monitor.log_batch(ok_batch.drop(columns="y"), predictions=ok_preds)
    bad, bad_preds = _batch_with_accuracy(0.7, seed=2)
    monitor.log_batch(bad, predictions=bad_preds)
    monitor.log_labels(old.batch_id, ok_batch["y"], ok_preds)
    (incident,) = [a for a in registry.alerts.find(status=None) if a["metric"] == "accuracy"]
    assert incident["status"] == "open"


def test_an_alert_pipeline_runs_once_per_incident(registry, tmp_path):
    notebook = write_notebook(tmp_path / "retrain.ipynb", ["n = 1", "x = n + 1"])
    monitor = _monitor(registry)
    clock = FakeClock(dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    mlnb.create_pipeline(
        "retrain", notebook, registry=registry, on_alert="churn:accuracy_below_threshold"
    )
    runs = InstantRuns(registry)
    scheduler = Scheduler(registry, clock=clock, sleep=clock.sleep, execute=runs, threaded=False)
    for i, acc in enumerate([0.7, 0.72, 0.71, 0.74, 0.9, 0.7, 0.7]):
        batch, preds = _batch_with_accuracy(acc, seed=i + 1)
        monitor.log_batch(batch, predictions=preds)
        scheduler.tick()
        scheduler.tick()
    history = mlnb.pipeline_history("retrain", limit=None, registry=registry)
    assert [r["trigger"] for r in history] == ["alert", "alert"]  # two incidents, two runs


def test_the_cli_shows_an_incident_once_with_its_batch_count_and_the_label_coverage(
    registry, capsys
):
    from mlnb.cli import main

    monitor = _monitor(registry)
    for i in range(3):
        batch, preds = _batch_with_accuracy(0.7, seed=i + 1)
        batch.loc[batch.index[-100:], "y"] = np.nan  # the wrong predictions stay labelled
        monitor.log_batch(batch, predictions=preds)
    capsys.readouterr()
    assert main(["--registry", str(registry.home), "alerts"]) == 0
    out = capsys.readouterr().out
    accuracy_lines = [line for line in out.splitlines() if "accuracy_below_threshold" in line]
    assert len(accuracy_lines) == 1 and " 3 " in accuracy_lines[0]
    assert main(["--registry", str(registry.home), "monitor", "status", "churn"]) == 0
    assert "labels: 300/400 rows (75%)" in capsys.readouterr().out
