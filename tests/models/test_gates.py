"""Gate checks (each passing and failing), metric correctness, gate files, and promotion
through gates on a real registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FEATURES, RegionRule
from hypothesis import given, settings
from hypothesis import strategies as st

import mlnb
from mlnb.checks import MaxBias, MaxLatency, MaxMetric, MinMetric, NoRegression
from mlnb.errors import GateFailed, NotFoundError, ValidationError
from mlnb.lifecycle.gate import load_gate_file, resolve_gate
from mlnb.lifecycle.promotion import Baseline
from mlnb.tracking.data import record_data


def verdicts(result):
    return {c.name: c.passed for c in result.checks}


# -- checks one by one (in-memory models, no registry needed) ---------------------------------


def test_min_metric_passes_and_fails(good_model, holdout_frame):
    acc = float((good_model.predict(holdout_frame[FEATURES]) == holdout_frame["churned"]).mean())
    ok = mlnb.Gate("acc", [MinMetric("accuracy", acc - 0.01)], register=False)
    bad = mlnb.Gate("acc", [MinMetric("accuracy", acc + 0.01)], register=False)
    passed = ok.evaluate(good_model, holdout_frame, "churned")
    failed = bad.evaluate(good_model, holdout_frame, "churned")
    assert passed.passed and not failed.passed
    check = failed.checks[0]
    assert check.value == pytest.approx(acc)
    assert (check.threshold, check.op, check.metric) == (acc + 0.01, ">=", "accuracy")


def test_max_metric_on_a_regressor(holdout_frame, train_frame):
    from sklearn.linear_model import Ridge

    reg = Ridge().fit(train_frame[FEATURES], train_frame["tenure"] * 2.0)
    rmse = float(
        np.sqrt(
            np.mean((reg.predict(holdout_frame[FEATURES]) - holdout_frame["tenure"] * 2.0) ** 2)
        )
    )
    frame = holdout_frame.assign(target=holdout_frame["tenure"] * 2.0)
    good = mlnb.Gate("g", [MaxMetric("rmse", rmse + 0.1), MinMetric("r2", 0.5)], register=False)
    bad = mlnb.Gate("g", [MaxMetric("rmse", rmse / 2)], register=False)
    result = good.evaluate(reg, frame, "target")
    assert result.passed and result.checks[0].value == pytest.approx(rmse)
    assert not bad.evaluate(reg, frame, "target").passed


@pytest.mark.parametrize(
    "metric",
    [
        "accuracy",
        "f1",
        "roc_auc",
        "neg_log_loss",
        "balanced_accuracy",
        "precision",
        "average_precision",
    ],
)
def test_metrics_equal_scikit_learn_scorers(forest_model, good_model, holdout_frame, metric):
    from sklearn.metrics import get_scorer

    from mlnb.lifecycle.evaluation import Evaluation, resolve_metric

    X, y = holdout_frame[FEATURES], holdout_frame["churned"]
    for model in (forest_model, good_model):
        spec = resolve_metric(metric)
        ev = Evaluation(model, X, y)
        ev.plan({ev.pick_method(spec.response_method), "predict"})
        expected = get_scorer(metric)(model, X, y)
        sign = 1 if spec.greater_is_better else -1
        assert ev.metric(spec) == pytest.approx(sign * expected)


def test_multiclass_auc_and_short_names(train_frame, holdout_frame):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import get_scorer

    from mlnb.lifecycle.evaluation import Evaluation, resolve_metric

    y3 = pd.cut(train_frame["tenure"], 3, labels=["new", "mid", "old"]).astype(str)
    model = RandomForestClassifier(20, random_state=0).fit(
        train_frame[["charges", "support_calls", "tenure"]], y3
    )
    X = holdout_frame[["charges", "support_calls", "tenure"]]
    yh = pd.cut(holdout_frame["tenure"], 3, labels=["new", "mid", "old"]).astype(str)
    ev = Evaluation(model, X, yh)
    assert ev.metric(resolve_metric("roc_auc_ovr")) == pytest.approx(
        get_scorer("roc_auc_ovr")(model, X, yh)
    )
    assert ev.metric(resolve_metric("f1_macro")) == pytest.approx(
        get_scorer("f1_macro")(model, X, yh)
    )
    with pytest.raises(ValidationError, match="f1_macro"):
        ev.metric(resolve_metric("f1"))
    assert resolve_metric("rmse").scorer_name == "neg_root_mean_squared_error"
    assert resolve_metric("mean_absolute_error").greater_is_better is False
    with pytest.raises(ValidationError, match="unknown metric 'acuracy'"):
        resolve_metric("acuracy")


def test_labels_come_from_probabilities_in_one_pass(forest_model, holdout_frame):
    from mlnb.lifecycle.evaluation import Evaluation

    X = holdout_frame[FEATURES]
    calls = []

    class Counting:
        classes_ = forest_model.classes_

        def __init__(self):
            self.__class__.__module__ = type(forest_model).__module__
            self.__class__.__qualname__ = "RandomForestClassifier"

        def predict_proba(self, X):
            calls.append("predict_proba")
            return forest_model.predict_proba(X)

        def predict(self, X):
            calls.append("predict")
            return forest_model.predict(X)

    ev = Evaluation(Counting(), X, holdout_frame["churned"])
    ev.plan({"predict", "predict_proba"})
    assert (ev.predictions == forest_model.predict(X)).all()
    ev.raw("predict_proba")
    assert calls == ["predict_proba"]


def test_latency_check_passes_and_fails(good_model, holdout_frame):
    generous = MaxLatency(p95_row_ms=60_000, p95_batch_ms=60_000, batch_size=100, n=5, n_batches=2)
    impossible = MaxLatency(p95_row_ms=0.0, n=5)
    result = mlnb.Gate("lat", [generous], register=False).evaluate(
        good_model, holdout_frame, "churned"
    )
    assert result.passed
    row, batch = result.checks
    assert row.details["n"] == 5 and batch.details["n"] == 2 and batch.details["batch_size"] == 100
    assert row.value > 0
    failed = mlnb.Gate("lat", [impossible], register=False).evaluate(
        good_model, holdout_frame, "churned"
    )
    assert not failed.passed and failed.checks[0].threshold == 0.0


def test_bias_check_catches_a_biased_model(holdout_frame):
    X = holdout_frame[[*FEATURES, "region"]]
    biased = RegionRule(biased=True).fit(X, holdout_frame["churned"])
    fair = RegionRule(biased=False).fit(X, holdout_frame["churned"])
    check = MaxBias("region", max_selection_rate_gap=0.1, max_tpr_gap=0.1)
    gate = mlnb.Gate("fair", [check], register=False)
    bad = gate.evaluate(biased, holdout_frame, "churned")
    good = gate.evaluate(fair, holdout_frame, "churned")
    assert not bad.passed and good.passed
    sel, tpr = bad.checks
    assert sel.name == "selection-rate gap by region"
    assert sel.details["highest"] == "north" and sel.value > 0.3
    groups = {g["group"]: g for g in sel.details["groups"]}
    north = holdout_frame[holdout_frame["region"] == "north"]
    assert groups["north"]["n"] == len(north) and groups["north"]["selection_rate"] == 1.0
    assert tpr.value == pytest.approx(1.0 - min(g["tpr"] for g in groups.values()))


def test_bias_needs_a_classifier_and_the_sensitive_column(good_model, holdout_frame):
    gate = mlnb.Gate("fair", [MaxBias("gender", max_selection_rate_gap=0.1)], register=False)
    with pytest.raises(ValidationError, match="gender"):
        gate.evaluate(good_model, holdout_frame, "churned")


def test_no_regression_against_a_baseline(good_model, weak_model, holdout_frame):
    gate = mlnb.Gate("nr", [NoRegression("accuracy", tolerance=0.0)], register=False)
    better = gate.evaluate(
        good_model, holdout_frame, "churned", baseline=Baseline(weak_model, "v1", 1)
    )
    worse = gate.evaluate(
        weak_model, holdout_frame, "churned", baseline=Baseline(good_model, "v1", 1)
    )
    first = gate.evaluate(weak_model, holdout_frame, "churned")
    assert better.passed and not worse.passed and first.passed
    assert worse.checks[0].details["baseline"] > worse.checks[0].value
    assert "no production version" in first.checks[0].details["note"]


# -- holdout and signature --------------------------------------------------------------------


def test_holdout_missing_signature_columns_is_refused_by_name(
    registry, train_frame, holdout_frame, good_model
):
    mlnb.register_model(good_model, "churn", X=train_frame[FEATURES])
    gate = mlnb.Gate("g", [MinMetric("accuracy", 0.5)])
    with pytest.raises(ValidationError, match="missing column\\(s\\) charges, support_calls"):
        mlnb.promote(
            "churn",
            1,
            gate=gate,
            holdout=holdout_frame.drop(columns=["charges", "support_calls"]),
            target="churned",
        )
    with pytest.raises(ValidationError, match="no target column 'label'"):
        mlnb.promote("churn", 1, gate=gate, holdout=holdout_frame, target="label")
    text = holdout_frame.assign(tenure=holdout_frame["tenure"].astype(str))
    text.loc[3, "tenure"] = "ten"
    with pytest.raises(ValidationError, match="'tenure' is .* cannot be converted"):
        mlnb.promote("churn", 1, gate=gate, holdout=text, target="churned")
    assert registry.models.production_version("churn") is None


def test_castable_dtypes_and_extra_columns_are_handled(
    registry, train_frame, holdout_frame, good_model
):
    mlnb.register_model(good_model, "churn", X=train_frame[FEATURES])
    floats = holdout_frame.assign(tenure=holdout_frame["tenure"].astype(float), extra=1)
    result = mlnb.run_gate(
        mlnb.Gate("g", [MinMetric("accuracy", 0.5)]), "churn", 1, holdout=floats, target="churned"
    )
    assert result.passed
    assert any("dropped: region, extra" in n for n in result.notes)


# -- gate files and names ----------------------------------------------------------------------

GATES_YAML = """
gates:
  churn_gate:
    description: what production must meet
    holdout: data/holdout.csv
    target: churned
    checks:
      - min_metric: {metric: accuracy, threshold: 0.6}
      - type: max_bias
        sensitive: region
        max_selection_rate_gap: 0.5
      - no_regression: {metric: accuracy, tolerance: 0.0}
      - max_latency: {p95_batch_ms: 60000, batch_size: 50, n_batches: 2}
  strict:
    checks:
      - min_metric: {metric: accuracy, threshold: 0.99}
"""

GATES_TOML = """
[gates.churn_gate]
target = "churned"
[[gates.churn_gate.checks]]
type = "min_metric"
metric = "roc_auc"
threshold = 0.6
"""


def test_gate_files_in_yaml_and_toml(tmp_path, monkeypatch):
    (tmp_path / "gates.yaml").write_text(GATES_YAML)
    (tmp_path / "other.toml").write_text(GATES_TOML)
    gates = load_gate_file(tmp_path / "gates.yaml")
    assert set(gates) == {"churn_gate", "strict"}
    g = gates["churn_gate"]
    assert [c.kind for c in g.checks] == ["min_metric", "max_bias", "no_regression", "max_latency"]
    assert g.holdout_path() == tmp_path / "data" / "holdout.csv"
    assert resolve_gate(f"{tmp_path}/other.toml").checks == [MinMetric("roc_auc", 0.6)]
    monkeypatch.chdir(tmp_path)
    assert resolve_gate("strict").checks == [MinMetric("accuracy", 0.99)]
    assert resolve_gate("gates.yaml:churn_gate").target == "churned"
    with pytest.raises(NotFoundError, match="no gate named 'nope'"):
        resolve_gate("nope")
    with pytest.raises(ValidationError, match="several gates"):
        resolve_gate("gates.yaml")


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "gates:\n  g:\n    checks:\n      - min_metrik: {metric: accuracy}\n",
            "unknown check type 'min_metrik'",
        ),
        (
            "gates:\n  g:\n    checks:\n      - min_metric: {metric: accuracy, treshold: 1}\n",
            "unknown option\\(s\\) treshold",
        ),
        ("gates:\n  g:\n    checks: []\n", "non-empty list of checks"),
        ("gates:\n  g:\n    holdot: x.csv\n    checks: []\n", "unknown key\\(s\\) holdot"),
        ("gates: [1, 2\n", "cannot parse"),
        ("gates:\n  g:\n    checks:\n      - max_latency: {n: 5}\n", "p95_row_ms"),
    ],
)
def test_bad_gate_files_say_what_is_wrong(tmp_path, body, message):
    path = tmp_path / "gates.yaml"
    path.write_text(body)
    with pytest.raises(ValidationError, match=message):
        load_gate_file(path)


# -- promotion through gates on the registry ---------------------------------------------------------


@pytest.fixture
def registered(registry, train_frame, good_model, weak_model, forest_model):
    X = train_frame[FEATURES]
    return [mlnb.register_model(m, "churn", X=X) for m in (weak_model, good_model, forest_model)]


def churn_gate(name="churn_gate"):
    return mlnb.Gate(
        name,
        [
            MinMetric("accuracy", 0.6),
            MinMetric("roc_auc", 0.55),
            MaxBias("region", max_selection_rate_gap=0.2),
            NoRegression("accuracy", tolerance=0.005),
        ],
        target="churned",
    )


def test_a_failed_gate_leaves_production_untouched(registry, registered, holdout_frame):
    churn_gate()
    assert mlnb.promote("churn", 2, gate="churn_gate", holdout=holdout_frame).promoted
    gates_before = len(registry.models.get("churn")["gate_results"])
    result = mlnb.promote("churn", 1, gate="churn_gate", holdout=holdout_frame, reason="try dummy")
    assert not result.promoted and not result.passed
    assert result.production_version == 2 and "Production stays at v2" in result.message
    failed = {c.name for c in result.gate.failed_checks}
    assert "no regression in accuracy vs production v2" in failed
    assert registry.models.production_version("churn")["version"] == 2
    assert registry.models.version("churn", 1)["stage"] == "none"
    model = registry.models.get("churn")
    assert len(model["gate_results"]) == gates_before + 1
    stored = model["gate_results"][0]
    assert stored["passed"] is False and stored["baseline_version"] == 2
    assert {c["name"] for c in stored["checks"]} >= failed
    assert all(
        {"value", "threshold", "op", "passed", "details"} <= set(c) for c in stored["checks"]
    )
    html = result._repr_html_()
    assert "not promoted" in html and "FAIL" in html and "pass" in html
    with pytest.raises(GateFailed) as err:
        mlnb.promote("churn", 1, gate="churn_gate", holdout=holdout_frame, raise_on_failure=True)
    assert err.value.result.promoted is False


def test_passing_gate_promotes_and_links_its_result(registry, registered, holdout_frame):
    gate = mlnb.Gate("nr", [NoRegression("accuracy"), MinMetric("f1", 0.0)], target="churned")
    first = mlnb.promote("churn", 1, gate=gate, holdout=holdout_frame)  # the dummy model
    result = mlnb.promote("churn", 2, gate=gate, holdout=holdout_frame)  # logistic regression
    assert first.promoted and result.promoted, repr(result)
    assert result.previous_production == 1 and result.production_version == 2
    transition = registry.models.get("churn")["transitions"][-1]
    assert transition["gate_result_id"] == result.gate.id and transition["gate"] == "nr"
    assert transition["reason"] == "gate nr passed"
    stored = registry.models.gate_result(result.gate.id)
    assert stored["passed"] and stored["baseline_version"] == 1
    assert stored["holdout_data_version"] == mlnb.fingerprint(holdout_frame)
    nr = [c for c in stored["checks"] if c["kind"] == "no_regression"][0]
    # production's accuracy on the same holdout came from its own earlier gate result
    assert nr["details"]["baseline_source"] == f"recorded gate result #{first.gate.id}"
    assert nr["details"]["baseline"] < nr["value"]
    assert "promoted" in result._repr_html_()


def test_baseline_metric_is_computed_when_nothing_was_recorded(registry, registered, holdout_frame):
    mlnb.promote("churn", 2)  # no gate: nothing recorded for v2
    result = mlnb.run_gate(churn_gate(), "churn/3", holdout=holdout_frame)
    nr = [c for c in result.checks if c.kind == "no_regression"][0]
    assert nr.details["baseline_source"] == "computed"
    acc = float(
        (
            mlnb.load_model("churn/2").predict(holdout_frame[FEATURES]) == holdout_frame["churned"]
        ).mean()
    )
    assert nr.details["baseline"] == pytest.approx(acc)


def test_force_promotes_past_a_failed_gate_and_says_so(registry, registered, holdout_frame):
    strict = mlnb.Gate("strict", [MinMetric("accuracy", 0.999)], target="churned")
    result = mlnb.promote(
        "churn", 2, gate=strict, holdout=holdout_frame, force=True, reason="hotfix"
    )
    assert result.promoted and result.forced
    reason = registry.models.get("churn")["transitions"][-1]["reason"]
    assert reason.startswith("hotfix; FORCED past failed gate strict")


def test_gate_holdout_and_target_come_from_the_gate_file(
    registry, registered, holdout_frame, tmp_path, monkeypatch
):
    (tmp_path / "data").mkdir()
    holdout_frame.to_csv(tmp_path / "data" / "holdout.csv", index=False)
    (tmp_path / "gates.yaml").write_text(GATES_YAML)
    monkeypatch.chdir(tmp_path)
    result = mlnb.promote("churn", 2, gate="churn_gate")
    assert result.promoted, repr(result)
    assert result.gate.n_rows == len(holdout_frame)
    data_version = registry.data.get(result.gate.holdout_data_version)
    assert data_version["source_path"] == str(tmp_path / "data" / "holdout.csv")


# -- the fast binary metrics agree with scikit-learn ------------------------------------------

label_pairs = st.sampled_from([(0, 1), (False, True), ("no", "yes"), (0.0, 1.0), (-1, 1)])


@given(
    pair=label_pairs,
    truth=st.lists(st.booleans(), min_size=2, max_size=60),
    guess_seed=st.integers(0, 2**32 - 1),
    ties=st.integers(1, 6),
)
@settings(max_examples=150, deadline=None)
def test_fast_binary_metrics_match_scikit_learn(pair, truth, guess_seed, ties):
    import warnings

    from mlnb.lifecycle.evaluation import fast_binary_metric, resolve_metric

    rng = np.random.default_rng(guess_seed)
    y = np.array([pair[int(t)] for t in truth], dtype=object if isinstance(pair[0], str) else None)
    pred = np.array([pair[int(b)] for b in rng.random(len(truth)) < 0.5], dtype=y.dtype)
    scores = np.round(rng.random(len(truth)) * ties) / ties  # few distinct values: many ties
    for name in ("accuracy", "f1", "precision", "recall", "roc_auc"):
        spec = resolve_metric(name)
        response = scores if name == "roc_auc" else pred
        fast = fast_binary_metric(spec, y, response)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                slow = spec.score_func(y, response, **dict(spec.kwargs))
            except ValueError:
                slow = None  # scikit-learn refuses (e.g. pos_label=1 with "yes"/"no" labels)
        if fast is not None:
            assert slow is not None and fast == pytest.approx(slow, abs=1e-12), (name, y, response)
        if name in ("accuracy", "roc_auc") and len(set(truth)) == 2:
            assert fast is not None  # the common case does take the fast path


def test_holdout_from_a_data_version_snapshot(registry, registered, holdout_frame):
    version = record_data(registry, holdout_frame, name="holdout", snapshot=True)
    gate = mlnb.Gate("g", [MinMetric("accuracy", 0.6)], target="churned")
    result = mlnb.promote("churn", 2, gate=gate, holdout=version["id"])
    assert result.promoted and result.gate.holdout_data_version == version["id"]
    assert result.gate.n_rows == len(holdout_frame)


class ScorerWithoutResponseMethod:
    """A scorer shaped like scikit-learn 1.3's (function and sign, no ``_response_method``)."""

    def __init__(self, scorer):
        self._score_func, self._sign, self._kwargs = scorer._score_func, scorer._sign, {}
        self._whole = scorer

    def __call__(self, model, X, y):
        return self._whole(model, X, y)


@pytest.mark.parametrize("metric", ["roc_auc", "neg_log_loss"])
def test_scorers_that_hide_their_response_are_scored_right(
    good_model, holdout_frame, metric, monkeypatch
):
    """Older scikit-learn scorers do not say which response they need: the gate calls them
    whole instead of scoring hard labels (which gave roc_auc 0.785 for 0.872)."""
    import sklearn.metrics

    from mlnb.lifecycle.evaluation import Evaluation, resolve_metric

    X, y = holdout_frame[FEATURES], holdout_frame["churned"]
    expected = sklearn.metrics.get_scorer(metric)(good_model, X, y)
    real = sklearn.metrics.get_scorer
    monkeypatch.setattr(
        sklearn.metrics, "get_scorer", lambda name: ScorerWithoutResponseMethod(real(name))
    )
    spec = resolve_metric(metric)
    sign = 1 if spec.greater_is_better else -1
    assert Evaluation(good_model, X, y).metric(spec) == pytest.approx(sign * expected)
