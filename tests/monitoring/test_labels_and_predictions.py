"""Prediction drift is measured against the reference's predictions; partly labelled batches
count every row for drift and the labelled ones for metrics; label drift is reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

import mlnb
from mlnb.monitoring.monitor import compute_metrics


def _regression(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """y = x + noise with R^2 of about 0.69 (noise variance 0.45 against var(x) = 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    return pd.DataFrame({"x": x, "y": x + rng.normal(0, np.sqrt(0.45), n)})


def test_unshifted_predictions_do_not_drift_against_the_reference_predictions(registry):
    reference = _regression(3000, 0)
    model = LinearRegression().fit(reference[["x"]], reference["y"])
    monitor = mlnb.Monitor(name="price", reference=reference, target="y", predictor=model)
    batch = _regression(3000, 1)
    result = monitor.log_batch(batch)  # predictions from the predictor
    assert result.prediction_drift is not None and not result.prediction_drift["drifted"]
    # the labels are wider than the predictions: comparing with them would have "drifted"
    labels_report = mlnb.drift(reference[["y"]], pd.DataFrame({"y": model.predict(batch[["x"]])}))
    assert labels_report.dataset_drift
    shifted = monitor.log_batch(_regression(3000, 2, shift=1.0))
    assert shifted.prediction_drift["drifted"]


def test_without_reference_predictions_prediction_drift_is_not_guessed(registry):
    reference = _regression(500, 0)
    monitor = mlnb.Monitor(name="price", reference=reference, target="y")
    result = monitor.log_batch(_regression(500, 1).drop(columns="y"), predictions=np.zeros(500))
    assert result.prediction_drift is None


def _classification(n: int, seed: int, positive_rate: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_rate).astype(float)
    return pd.DataFrame({"x": rng.normal(0, 1, n) + y, "y": y})


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(20, 300),
    missing=st.floats(0.0, 0.95),
    seed=st.integers(0, 10_000),
)
def test_partly_labelled_batches_measure_the_labelled_rows_only(registry, n, missing, seed):
    monitor = mlnb.Monitor(name=f"m{seed}", reference=_classification(500, 0), target="y")
    batch = _classification(n, seed)
    rng = np.random.default_rng(seed)
    preds = (batch["x"] > 0.5).astype(float).to_numpy()
    hidden = rng.random(n) < missing
    hidden[0] = False  # at least one label
    batch.loc[hidden, "y"] = np.nan
    result = monitor.log_batch(batch, predictions=preds)
    known = ~hidden
    want = compute_metrics(batch["y"][known], preds[known], ["accuracy", "f1"], "classification")
    assert result.metrics == want
    assert result.labels["n_labelled"] == int(known.sum())
    assert result.labels["coverage"] == known.sum() / n
    assert result.report.n_rows_cur == n  # every row counted for drift


def test_a_single_nan_label_does_not_fail_the_batch_and_late_labels_may_be_partial(registry):
    monitor = mlnb.Monitor(name="m", reference=_classification(500, 0), target="y")
    batch = _classification(200, 1)
    batch.loc[5, "y"] = np.nan
    preds = (batch["x"] > 0.5).astype(float).to_numpy()
    result = monitor.log_batch(batch, predictions=preds)
    assert result.labels["n_labelled"] == 199 and "accuracy" in result.metrics
    unlabelled = monitor.log_batch(batch.drop(columns="y"), predictions=preds)
    labels = batch["y"].to_numpy().copy()
    labels[:100] = np.nan
    metrics = monitor.log_labels(unlabelled.batch_id, labels, preds)
    assert (
        metrics["accuracy"]
        == compute_metrics(labels[100:], preds[100:], ["accuracy"], None)["accuracy"]
    )
    stored = registry.monitors.batch(unlabelled.batch_id)
    assert stored["labels"]["n_labelled"] == 100
    all_missing = monitor.log_batch(batch.assign(y=np.nan), predictions=preds)
    assert all_missing.metrics == {} and all_missing.labels["coverage"] == 0.0


def test_label_drift_is_reported_when_the_positive_rate_moves(registry):
    monitor = mlnb.Monitor(
        name="m", reference=_classification(3000, 0, positive_rate=0.67), target="y"
    )
    preds_for = lambda b: (b["x"] > 0.5).astype(float).to_numpy()  # noqa: E731
    same = _classification(2000, 1, positive_rate=0.67)
    moved = _classification(2000, 2, positive_rate=0.53)
    assert not monitor.log_batch(same, predictions=preds_for(same)).labels["drift"]["drifted"]
    result = monitor.log_batch(moved, predictions=preds_for(moved))
    assert result.labels["drift"]["drifted"]
    assert "label drift" in repr(result)


def test_a_one_row_batch_is_too_little_for_a_verdict_on_its_metrics(registry):
    """One labelled row gives accuracy 0 or 1: recorded, said to be too few, never an alert."""
    reference = _classification(500, 0)
    monitor = mlnb.Monitor(
        name="tiny", reference=reference, target="y", thresholds={"accuracy": 0.8}
    )
    row = _classification(1, 3)
    result = monitor.log_batch(row, predictions=1.0 - row["y"].to_numpy())  # wrong: accuracy 0
    assert result.metrics["accuracy"] == 0.0
    assert result.labels["too_few"] and result.alerts == []
    assert not result.dataset_drift
    assert "too few for a verdict" in repr(result)
    assert registry.alerts.find(status="open") == []
    # a batch with enough labelled rows is judged as before
    big = _classification(200, 4)
    judged = monitor.log_batch(big, predictions=1.0 - big["y"].to_numpy())
    assert not judged.labels["too_few"]
    assert [a["kind"] for a in judged.alerts] == ["accuracy_below_threshold"]
