"""Label-free performance estimation: CBPE for classifiers and direct loss estimation for
regressors, on generated data whose true probabilities (and so accuracy) are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression

import mlnb
from mlnb.errors import ValidationError
from mlnb.monitoring.estimation import estimate_classification, fit_cbpe


def _churn_like(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """P(y=1 | x) is fixed (no concept drift); ``shift`` moves x (covariate shift)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1, n)
    x2 = rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-(1.5 * x1 - x2)))
    return pd.DataFrame({"x1": x1, "x2": x2, "y": (rng.random(n) < p).astype(int)})


@settings(max_examples=25, deadline=None)
@given(p=st.lists(st.floats(0.01, 0.99), min_size=50, max_size=400), seed=st.integers(0, 99))
def test_perfectly_calibrated_scores_estimate_the_expected_accuracy(p, seed):
    """With scores equal to the true probabilities the estimate is E[accuracy] exactly."""
    scores = np.asarray(p)
    rng = np.random.default_rng(seed)
    reference = rng.random(20_000)
    labels = (rng.random(20_000) < reference).astype(int)
    state = fit_cbpe(reference, labels)
    est = estimate_classification(state, scores)
    expected = float(np.mean(np.maximum(scores, 1 - scores)))
    assert abs(est["accuracy"]["value"] - expected) < 0.03  # isotonic fit on 20k rows
    assert est["accuracy"]["low"] <= est["accuracy"]["value"] <= est["accuracy"]["high"]


def test_estimated_accuracy_follows_realized_accuracy_under_covariate_shift(registry):
    reference = _churn_like(5000, 0)
    model = LogisticRegression().fit(reference[["x1", "x2"]], reference["y"])
    monitor = mlnb.Monitor(name="churn", reference=reference, target="y", predictor=model)
    gaps, covered = [], 0
    shifts = np.linspace(-1.5, 1.5, 20)
    for i, shift in enumerate(shifts):
        batch = _churn_like(2000, i + 1, shift)
        result = monitor.log_batch(batch)
        est, realized = result.estimates["accuracy"], result.metrics["accuracy"]
        gaps.append(abs(est["value"] - realized))
        covered += est["low"] <= realized <= est["high"]
        for name in ("precision", "recall", "f1", "roc_auc"):
            assert name in result.estimates
    assert np.mean(gaps) < 0.015
    assert covered >= 16  # a 95% band: most batches fall inside


def test_estimated_accuracy_raises_an_alert_before_labels_exist(registry):
    reference = _churn_like(5000, 0)
    model = LogisticRegression().fit(reference[["x1", "x2"]], reference["y"])
    scores = model.predict_proba(reference[["x1", "x2"]])
    mlnb.Monitor(
        name="churn",
        reference=reference,
        target="y",
        reference_predictions=model.predict(reference[["x1", "x2"]]),
        reference_scores=scores,
        thresholds={"estimated_accuracy": 0.85},
    )
    monitor = mlnb.Monitor.load("churn")  # another process: no model, only stored state
    hard = _churn_like(2000, 7, shift=0.0).drop(columns="y")
    hard["x1"] = hard["x1"] * 0.2  # rows near the boundary: the model is unsure
    result = monitor.log_batch(
        hard,
        predictions=model.predict(hard[["x1", "x2"]]),
        scores=model.predict_proba(hard[["x1", "x2"]]),
    )
    assert result.metrics == {}
    assert result.estimates["accuracy"]["value"] < 0.8
    (alert,) = [a for a in result.alerts if a["metric"] != "dataset_drift"]
    assert alert["kind"] == "estimated_accuracy_below_threshold"
    assert alert["metric"] == "estimated_accuracy" and alert["severity"] == "critical"
    history = monitor.history()
    assert history[-1]["metrics"]["estimated_accuracy"] == result.estimates["accuracy"]["value"]
    assert history[-1]["bands"]["estimated_accuracy"][0] < result.estimates["accuracy"]["value"]
    assert "<img" in monitor.panel()._repr_html_()


def test_concept_drift_is_invisible_to_the_estimate(registry):
    """The documented limit: when P(y | x) changes, the estimate keeps the old world's."""
    reference = _churn_like(5000, 0)
    model = LogisticRegression().fit(reference[["x1", "x2"]], reference["y"])
    monitor = mlnb.Monitor(name="churn", reference=reference, target="y", predictor=model)
    flipped = _churn_like(2000, 3)
    flipped["y"] = 1 - flipped["y"]  # the same inputs now mean the opposite
    result = monitor.log_batch(flipped)
    assert result.estimates["accuracy"]["value"] > 0.7
    assert result.metrics["accuracy"] < 0.3


def _heteroscedastic(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """y = 2x + noise whose size grows with |x|: moving x moves the error, not the relation."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    return pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 1, n) * (0.2 + np.abs(x))})


def test_direct_loss_estimation_tracks_mae_and_rmse_of_a_regressor(registry):
    reference = _heteroscedastic(5000, 0)
    model = LinearRegression().fit(reference[["x"]], reference["y"])
    monitor = mlnb.Monitor(name="price", reference=reference, target="y", predictor=model)
    for seed, shift in ((1, 0.0), (2, 1.5), (3, 3.0)):
        result = monitor.log_batch(_heteroscedastic(3000, seed, shift))
        for name in ("mae", "rmse"):
            est, realized = result.estimates[name]["value"], result.metrics[name]
            assert abs(est - realized) / realized < 0.12, (shift, name, est, realized)
    assert (
        result.estimates["mae"]["value"]
        > 2 * monitor.log_batch(_heteroscedastic(3000, 9)).estimates["mae"]["value"]
    )


def test_multiclass_estimates_follow_realized_accuracy(registry):
    rng = np.random.default_rng(0)

    def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        x = r.normal(shift, 1.5, (n, 2))
        logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array(["a", "b", "c"])[(r.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)]
        return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y": y})

    reference = frame(6000, int(rng.integers(1000)))
    model = LogisticRegression(max_iter=500).fit(reference[["x0", "x1"]], reference["y"])
    monitor = mlnb.Monitor(name="three", reference=reference, target="y", predictor=model)
    for seed, shift in ((1, 0.0), (2, 1.0), (3, -1.0)):
        result = monitor.log_batch(frame(3000, seed, shift))
        assert abs(result.estimates["accuracy"]["value"] - result.metrics["accuracy"]) < 0.03
        assert {"precision", "recall", "f1"} <= set(result.estimates)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 3000), binned=st.booleans())
def test_binned_binary_estimates_equal_the_row_by_row_computation(seed, n, binned):
    from mlnb.monitoring import estimation

    exact_rows = estimation.EXACT_ROWS
    estimation.EXACT_ROWS = 0 if binned else exact_rows  # force the large-batch path
    try:
        _check_binary_estimate(seed, n)
    finally:
        estimation.EXACT_ROWS = exact_rows


def _check_binary_estimate(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.beta(2, 2, 5000)
    state = fit_cbpe(ref, (rng.random(5000) < ref**1.5).astype(int), classes=[0, 1])
    scores = rng.beta(2, 3, n)
    preds = (scores > 0.5).astype(int)
    knot = state["knots"][1]
    p = np.interp(scores, knot["x"], knot["y"])
    exact = float(np.mean(np.where(preds == 1, p, 1 - p)))
    got = estimate_classification(state, scores, preds)
    # the grid reads each score at its bin (width 1/4096): within 1e-3 of row by row
    assert abs(got["accuracy"]["value"] - exact) < 1e-3
    if preds.any():
        exact_precision = float(p[preds == 1].mean())
        assert abs(got["precision"]["value"] - exact_precision) < 1e-3


# scores as models emit them: continuous, rounded (ties), clumped at a few values, and
# sub-resolution steps that sklearn merges into one value
score_values = st.one_of(
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 0.25, 0.5, 0.5 + 2e-16, 0.5 + 6e-16, 0.5 + 1.1e-15, 1.0]),
    st.integers(0, 20).map(lambda k: k / 20),
)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.tuples(score_values, st.booleans()), min_size=1, max_size=300),
)
def test_isotonic_knots_equal_sklearn_isotonic_regression(rows):
    """The direct calibration fit gives sklearn's IsotonicRegression knots and predictions."""
    from sklearn.isotonic import IsotonicRegression

    from mlnb.monitoring.estimation import isotonic_knots

    x = np.array([r[0] for r in rows])
    y = np.array([float(r[1]) for r in rows])
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y)
    knots_x, knots_y = isotonic_knots(x, y)
    np.testing.assert_array_equal(knots_x, iso.X_thresholds_)
    np.testing.assert_allclose(knots_y, iso.y_thresholds_, rtol=0, atol=1e-12)
    probe = np.r_[x, np.linspace(-0.1, 1.1, 57)]
    np.testing.assert_allclose(np.interp(probe, knots_x, knots_y), iso.predict(probe), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    p=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=200),
    steps=st.lists(st.sampled_from([0.0, 0.0, 0.1, 0.25]), min_size=1, max_size=12),
    on_knots=st.integers(0, 30),
)
def test_estimated_roc_auc_is_the_auc_of_rows_weighted_by_their_probability(p, steps, on_knots):
    """Each row counts p as a positive and 1 - p as a negative: the estimated AUC equals
    sklearn's roc_auc_score on those weighted rows, for calibrations with flat steps and
    sloped segments and rows sitting exactly on knots."""
    from sklearn.metrics import roc_auc_score

    kx = np.linspace(0.05, 0.95, len(steps) + 1)
    ky = np.minimum(np.r_[0.05, 0.05 + np.cumsum(steps)], 1.0)
    state = {"kind": "cbpe", "classes": [0, 1], "knots": [{}, {"x": kx.tolist(), "y": ky.tolist()}]}
    scores = np.r_[p, kx[np.arange(on_knots) % len(kx)]]
    est = estimate_classification(state, scores)
    calibrated = np.interp(scores, kx, ky)
    expected = roc_auc_score(
        np.r_[np.ones(len(scores)), np.zeros(len(scores))],
        np.r_[scores, scores],
        sample_weight=np.r_[calibrated, 1 - calibrated],
    )
    assert est["roc_auc"]["value"] == pytest.approx(expected, abs=1e-9)


def _boundary_batch(seed: int) -> pd.DataFrame:
    """Rows near the model's boundary: it is unsure about them, and right about half the time."""
    batch = _churn_like(2000, seed)
    batch["x1"] = batch["x1"] * 0.2
    return batch


def _monitor_with_both_bars(reference: pd.DataFrame, model) -> mlnb.Monitor:
    return mlnb.Monitor(
        name="churn",
        reference=reference,
        target="y",
        predictor=model,
        thresholds={"accuracy": 0.8, "estimated_accuracy": 0.8},
    )


def test_realized_breach_confirms_the_estimated_incident_a_pipeline_handled(registry):
    """Estimated first, realized after: the labels confirm an incident already handled, so
    no pipeline that retrained on the estimate is asked to retrain again."""
    reference = _churn_like(5000, 0)
    model = LogisticRegression().fit(reference[["x1", "x2"]], reference["y"])
    monitor = _monitor_with_both_bars(reference, model)
    batch = _boundary_batch(7)
    first = monitor.log_batch(batch.drop(columns="y"))  # traffic time: no labels yet
    (estimated,) = [a for a in first.alerts if a["metric"] == "estimated_accuracy"]
    assert estimated["status"] == "open"
    registry.alerts.acknowledge(estimated["id"], by="pipeline:churn-train")  # it retrained

    monitor.log_labels(first.batch_id, batch["y"], model.predict(batch[["x1", "x2"]]))
    (realized,) = [a for a in registry.alerts.find(status=None) if a["metric"] == "accuracy"]
    assert realized["kind"] == "accuracy_below_threshold" and realized["id"] > estimated["id"]
    assert realized["status"] == "acknowledged"
    assert realized["handled_by"] == "pipeline:churn-train"
    assert realized["evidence"]["confirms"] == estimated["id"]
    assert f"confirms incident #{estimated['id']}" in realized["message"]
    kinds = ["accuracy_below_threshold", "estimated_accuracy_below_threshold"]
    assert registry.alerts.open_of_monitor(monitor.monitor_id, 0, kinds) == []


def test_realized_breach_after_an_estimate_nobody_acted_on_is_a_new_open_incident(registry):
    reference = _churn_like(5000, 0)
    model = LogisticRegression().fit(reference[["x1", "x2"]], reference["y"])
    monitor = _monitor_with_both_bars(reference, model)
    batch = _boundary_batch(8)
    first = monitor.log_batch(batch.drop(columns="y"))
    assert any(a["metric"] == "estimated_accuracy" for a in first.alerts)  # left open
    monitor.log_labels(first.batch_id, batch["y"], model.predict(batch[["x1", "x2"]]))
    (realized,) = [a for a in registry.alerts.find(status=None) if a["metric"] == "accuracy"]
    assert realized["status"] == "open" and "confirms" not in realized["evidence"]


def test_a_new_model_version_gets_its_own_calibration(registry):
    """A calibration reads one model's scores: re-fitted for another model on labelled rows,
    the estimate follows that model's accuracy, and the monitor records whose it is."""
    reference = _churn_like(5000, 0)
    old = LogisticRegression().fit(reference[["x1", "x2"]], reference["y"])
    monitor = mlnb.Monitor(name="churn", reference=reference, target="y", predictor=old)
    assert monitor.estimator_version is None
    monitor.set_estimator_version(1)
    # the new model's scores are squashed towards 0.5: read with the old calibration, they
    # look far less sure than the model is
    shrunk = LogisticRegression(C=1e-3).fit(reference[["x1", "x2"]], reference["y"])
    batch = _churn_like(3000, 9)
    X = batch[["x1", "x2"]]
    realized = float((shrunk.predict(X) == batch["y"]).mean())

    def estimated() -> float:
        return monitor.log_batch(
            X, predictions=shrunk.predict(X), scores=shrunk.predict_proba(X)
        ).estimates["accuracy"]["value"]

    stale = estimated()
    holdout = _churn_like(3000, 10)
    monitor.calibrate_estimator(
        holdout[["x1", "x2"]],
        holdout["y"],
        scores=shrunk.predict_proba(holdout[["x1", "x2"]]),
        classes=list(shrunk.classes_),
        version=2,
    )
    assert mlnb.Monitor.load("churn").estimator_version == 2  # stored with the monitor
    assert abs(estimated() - realized) < 0.02 < abs(stale - realized)
    with pytest.raises(ValidationError, match="scores="):
        monitor.calibrate_estimator(holdout[["x1", "x2"]], holdout["y"])
