"""The demo's churn data tells the story the design promises: ~92% in development, drift on
exactly the shifted features, accuracy sliding towards ~60% with the month-0 model's
confidence (so label-free estimation sees it), and recovery after retraining."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import accuracy_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demo_notebooks"))
import churn_data as cd  # noqa: E402

SEED = 7
LAST_MONTH = 6


def accuracy(model, frame: pd.DataFrame) -> float:
    features, label = cd.split_features(frame)
    return accuracy_score(label, model.predict(features))


@pytest.fixture(scope="module")
def batches() -> dict[int, pd.DataFrame]:
    return cd.make_monthly_batches(n_months=LAST_MONTH + 1, rows=2000, seed=SEED)


@pytest.fixture(scope="module")
def development_model():
    train = cd.make_customers(6000, month=0, seed=SEED)
    return cd.build_model().fit(*cd.split_features(train))


@pytest.fixture(scope="module")
def accuracy_by_month(development_model, batches) -> dict[int, float]:
    holdout = cd.make_customers(2000, month=0, seed=SEED + 1)
    scores = {0: accuracy(development_model, holdout)}
    scores.update(
        {month: accuracy(development_model, batches[month]) for month in range(1, LAST_MONTH + 1)}
    )
    return scores


def test_frame_has_the_documented_columns_and_types():
    frame = cd.make_customers(500, month=0, seed=1)
    assert list(frame.columns) == cd.COLUMNS
    assert set(cd.FEATURES) | {cd.ID_COLUMN, cd.TARGET} == set(frame.columns)
    assert frame[cd.ID_COLUMN].is_unique
    assert set(frame["plan"].unique()) == set(cd.PLANS)
    assert set(frame["contract"].unique()) == set(cd.CONTRACTS)
    assert set(frame["region"].unique()) == set(cd.REGIONS)
    assert set(frame["churned"].unique()) == {0, 1}
    assert frame["has_streaming"].dtype == bool
    for column in ["tenure_months", "support_calls", "age"]:
        assert pd.api.types.is_integer_dtype(frame[column]), column
    assert frame["tenure_months"].between(1, 72).all()
    assert frame["age"].between(18, 90).all()


def test_total_charges_has_a_few_percent_missing_and_other_columns_none():
    frame = cd.make_customers(5000, month=0, seed=2)
    assert 0.01 < frame["total_charges"].isna().mean() < 0.06
    assert frame.drop(columns="total_charges").notna().all().all()
    complete = frame.dropna()
    # total charges roughly equal tenure x monthly charges for customers who never moved plan
    ratio = complete["total_charges"] / (complete["tenure_months"] * complete["monthly_charges"])
    assert 0.9 < ratio.median() < 1.1


def test_same_seed_same_frame_and_different_months_differ():
    first = cd.make_customers(300, month=2, seed=11)
    pd.testing.assert_frame_equal(first, cd.make_customers(300, month=2, seed=11))
    assert not first.equals(cd.make_customers(300, month=3, seed=11))
    assert not first.equals(cd.make_customers(300, month=2, seed=12))


def test_month_zero_model_reaches_about_92_percent(accuracy_by_month):
    assert 0.89 <= accuracy_by_month[0] <= 0.95


def test_accuracy_slides_below_the_alert_threshold_by_month_four(accuracy_by_month):
    assert accuracy_by_month[4] < 0.82
    assert accuracy_by_month[LAST_MONTH] <= 0.75
    assert accuracy_by_month[0] > accuracy_by_month[2] > accuracy_by_month[4] > accuracy_by_month[6]


def test_model_retrained_on_the_last_two_months_recovers(batches):
    recent = pd.concat([batches[LAST_MONTH - 1], batches[LAST_MONTH]], ignore_index=True)
    retrained = cd.build_model().fit(*cd.split_features(recent))
    assert accuracy(retrained, batches[LAST_MONTH + 1]) >= 0.84


def test_model_retrained_when_the_alert_fires_beats_the_old_one_next_month(
    development_model, batches
):
    recent = pd.concat([batches[3], batches[4]], ignore_index=True)
    retrained = cd.build_model().fit(*cd.split_features(recent))
    assert accuracy(retrained, batches[5]) >= 0.84
    assert accuracy(retrained, batches[5]) > accuracy(development_model, batches[5]) + 0.05


def drift_p_value(reference: pd.Series, current: pd.Series) -> float:
    """KS for numeric columns, chi-square on the category table for the others."""
    if reference.name in cd.NUMERIC_FEATURES:
        return stats.ks_2samp(reference.dropna(), current.dropna(), method="asymp").pvalue
    table = pd.crosstab(
        np.r_[np.zeros(len(reference)), np.ones(len(current))],
        np.r_[reference.astype(str), current.astype(str)],
    )
    return stats.chi2_contingency(table)[1]


def drift_distance(reference: pd.Series, current: pd.Series) -> float:
    """Wasserstein distance normed by the reference std, or Jensen-Shannon distance."""
    if reference.name in cd.NUMERIC_FEATURES:
        reference, current = reference.dropna(), current.dropna()
        return stats.wasserstein_distance(reference, current) / reference.std()
    categories = sorted(set(reference.astype(str)) | set(current.astype(str)))
    shares = [
        s.astype(str).value_counts(normalize=True).reindex(categories, fill_value=0)
        for s in (reference, current)
    ]
    return float(jensenshannon(shares[0], shares[1], base=2))


@pytest.mark.parametrize("month", [3, LAST_MONTH])
def test_p_value_tests_flag_exactly_the_shifted_features(month):
    reference = cd.make_customers(800, month=0, seed=SEED + 2)
    current = cd.make_customers(800, month=month, seed=SEED + 2)
    flagged = {f for f in cd.FEATURES if drift_p_value(reference[f], current[f]) < 0.05}
    assert flagged == set(cd.SHIFTED_FEATURES)


def test_distance_tests_flag_exactly_the_shifted_features_at_the_last_month(batches):
    reference = cd.make_customers(5000, month=0, seed=SEED + 3)
    current = batches[LAST_MONTH]
    distances = {f: drift_distance(reference[f], current[f]) for f in cd.FEATURES}
    flagged = {f for f, distance in distances.items() if distance > 0.1}
    assert flagged == set(cd.SHIFTED_FEATURES), distances
    assert max(distances[f] for f in cd.FEATURES if f not in cd.SHIFTED_FEATURES) < 0.05


def test_drift_grows_month_by_month(batches):
    reference = cd.make_customers(5000, month=0, seed=SEED + 3)
    for feature in cd.SHIFTED_FEATURES:
        by_month = [drift_distance(reference[feature], batches[m][feature]) for m in range(1, 7)]
        assert by_month == sorted(by_month), (feature, by_month)


def test_write_month_csv_names_files_by_calendar_month_and_reads_back(tmp_path):
    path = cd.write_month_csv(tmp_path / "data", month=3, n=200, seed=4)
    assert path.name == "customers_2026_04.csv"
    assert [p.name for p in path.parent.iterdir()] == ["customers_2026_04.csv"]
    assert cd.month_from_csv_name(path) == 3
    pd.testing.assert_frame_equal(cd.read_month_csv(path), cd.make_customers(200, month=3, seed=4))


def test_month_13_rolls_over_to_the_next_year():
    assert cd.month_csv_name(0) == "customers_2026_01.csv"
    assert cd.month_csv_name(12) == "customers_2027_01.csv"


@given(st.integers(min_value=0, max_value=1200))
def test_csv_name_round_trips(month):
    assert cd.month_from_csv_name(cd.month_csv_name(month)) == month


@pytest.mark.parametrize(
    "name",
    ["sales_2026_01.csv", "customers_2026_13.csv", "customers_2025_12.csv", "customers_x_01.csv"],
)
def test_month_from_csv_name_rejects_other_files(name):
    with pytest.raises(ValueError, match="customers_"):
        cd.month_from_csv_name(name)


def test_invalid_arguments_say_what_to_pass():
    with pytest.raises(ValueError, match="month must be >= 0"):
        cd.make_customers(10, month=-1)
    with pytest.raises(ValueError, match="n must be a positive"):
        cd.make_customers(0)
    with pytest.raises(ValueError, match="live batches start at month 1"):
        cd.make_batch(0)


def test_model_has_a_column_signature():
    model = cd.build_model().fit(*cd.split_features(cd.make_customers(400, seed=5)))
    assert list(model.feature_names_in_) == cd.FEATURES


def _served_story(seed: int) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """As `make demo` serves it: v1 trained on month 0 (a 75% split) and calibrated for
    label-free estimation on all of month 0; per month 1-8 its estimated (CBPE) and realized
    accuracy, and a model retrained on months 3-4 (calibrated on its holdout) from month 5."""
    from sklearn.model_selection import train_test_split

    from mlnb.monitoring.estimation import estimate_classification, fit_cbpe

    def fit(frame: pd.DataFrame):
        train, holdout = train_test_split(
            frame, test_size=0.25, random_state=0, stratify=frame[cd.TARGET]
        )
        return cd.build_model().fit(*cd.split_features(train)), holdout

    def estimated(model, state, frame: pd.DataFrame) -> float:
        scores = model.predict_proba(frame[cd.FEATURES])
        return estimate_classification(state, scores)["accuracy"]["value"]

    month0 = cd.make_customers(8000, month=0, seed=seed)
    v1, _ = fit(month0)
    v1_state = fit_cbpe(v1.predict_proba(month0[cd.FEATURES]), month0[cd.TARGET], [0, 1])
    months = cd.make_monthly_batches(n_months=8, rows=2000, seed=seed)
    v2, v2_holdout = fit(pd.concat([months[3], months[4]], ignore_index=True))
    v2_state = fit_cbpe(v2.predict_proba(v2_holdout[cd.FEATURES]), v2_holdout[cd.TARGET], [0, 1])
    est = {m: estimated(v1, v1_state, b) for m, b in months.items()}
    real = {m: accuracy(v1, b) for m, b in months.items()}
    after = {m: min(accuracy(v2, b), estimated(v2, v2_state, b)) for m, b in months.items()}
    return est, real, after


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimated_and_realized_accuracy_cross_the_served_bar_in_the_same_month(seed):
    """The covariate shift (the outage's two calls) is what label-free estimation reads: the
    estimate falls below the served story's 80% bar in the month the realized accuracy does
    (month 4), so its alert comes at traffic time, a month before the labels confirm it; the
    model retrained on months 3-4 then holds above the bar, estimated and realized."""
    est, real, after = _served_story(seed)
    assert min(est[3], real[3]) >= 0.80 > max(est[4], real[4]), (est, real)
    assert all(abs(est[m] - real[m]) < 0.06 for m in (1, 2, 3, 4)), (est, real)
    assert min(after[m] for m in range(5, 9)) > 0.82, after
