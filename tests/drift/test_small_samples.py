"""Small samples get honest verdicts: the two-sample chi-square holds its nominal false-alarm
rate, constant reference columns apply the new-values rule with an exact test, and a batch
too small for a verdict says so instead of reporting drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnb.monitoring.drift import drift, fit_profile, score
from mlnb.monitoring.drift._stats import all_in_current_p
from tests.drift.frames import reference_frame, shifted_frame


def _stable_pair(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    k = int(rng.integers(2, 51))
    shares = rng.dirichlet(np.ones(k))
    names = np.array([f"c{i}" for i in range(k)])
    ref = names[rng.choice(k, int(rng.integers(300, 1001)), p=shares)]
    cur = names[rng.choice(k, int(rng.integers(300, 1001)), p=shares)]
    return pd.DataFrame({"c": ref}), pd.DataFrame({"c": cur})


def test_stable_small_category_columns_rarely_false_alarm():
    rng = np.random.default_rng(2026)
    alarms = sum(drift(*_stable_pair(rng)).column("c").drifted for _ in range(120))
    # nominal 5%: 6 of 120 expected; the old goodness-of-fit test raised ~84 here
    assert alarms <= 13


def test_twenty_stable_categories_with_a_few_hundred_rows_do_not_drift():
    rng = np.random.default_rng(3)
    shares = rng.dirichlet(np.ones(20) * 2)
    keys = np.array([f"k{i}" for i in range(20)])
    verdicts = [
        drift(
            pd.DataFrame({"c": keys[rng.choice(20, 400, p=shares)]}),
            pd.DataFrame({"c": keys[rng.choice(20, 400, p=shares)]}),
        )
        .column("c")
        .drifted
        for _ in range(40)
    ]
    assert sum(verdicts) <= 6


def test_a_real_category_shift_on_a_small_reference_is_caught():
    rng = np.random.default_rng(4)
    keys = np.array(list("abcdefghij"))
    ref = pd.DataFrame({"c": keys[rng.choice(10, 500)]})
    cur = pd.DataFrame({"c": keys[rng.choice(10, 500, p=np.r_[[0.3], np.full(9, 0.7 / 9)])]})
    res = drift(ref, cur).column("c")
    assert res.test == "chisquare" and res.drifted and res.p_value < 1e-6


@pytest.mark.parametrize("n_ref", [300, 5000, 200_000])
def test_constant_reference_flags_new_values_above_one_percent(n_ref):
    ref = pd.DataFrame({"c": np.zeros(n_ref), "s": ["same"] * n_ref})
    n_new = 50  # 5% of the batch: the old 10% threshold missed it at any size
    cur = pd.DataFrame(
        {"c": np.r_[np.zeros(1000 - n_new), np.ones(n_new)], "s": ["same"] * 950 + ["new"] * 50}
    )
    report = drift(ref, cur)
    for name in ("c", "s"):
        res = report.column(name)
        assert res.kind == "constant" and res.score == pytest.approx(0.05)
        assert res.drifted
    assert report.column("s").unseen_categories == ["new"]


def test_constant_reference_tolerates_what_a_small_reference_cannot_rule_out():
    ref = pd.DataFrame({"c": np.zeros(40)})
    cur = pd.DataFrame({"c": np.r_[np.zeros(195), np.ones(5)]})  # 2.5% new values
    res = drift(ref, cur).column("c")
    assert not res.drifted and "could be chance" in res.note
    big = drift(pd.DataFrame({"c": np.zeros(50_000)}), cur).column("c")
    assert big.drifted


@settings(max_examples=50, deadline=None)
@given(n_ref=st.integers(1, 500), n_cur=st.integers(1, 500), k=st.integers(0, 30))
def test_all_in_current_p_is_the_hypergeometric_tail(n_ref, n_cur, k):
    from scipy.stats import hypergeom

    expected = hypergeom(n_ref + n_cur, k, n_cur).pmf(k) if k <= n_cur else 0.0
    assert all_in_current_p(n_ref, n_cur, k) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_a_one_row_batch_has_too_little_data_for_a_verdict():
    ref = reference_frame(3000)
    cur = shifted_frame(1)
    report = drift(ref, cur)
    assert report.too_little_data and not report.dataset_drift and report.n_drifted == 0
    assert {c.status for c in report.columns} == {"too_few"}
    assert "too little data" in report.verdict_text()
    assert "TOO LITTLE DATA" in report._repr_html_()
    assert report.to_dict()["too_little_data"] is True


def test_min_rows_is_a_setting_and_large_enough_batches_get_verdicts():
    ref, cur = reference_frame(3000), shifted_frame(40)
    assert not drift(ref, cur).too_little_data
    assert drift(ref, cur, min_rows=50).too_little_data
    profile = fit_profile(ref)
    big = score(profile, shifted_frame(2000))
    assert big.n_columns == 8 and big.dataset_drift is False and big.n_drifted == 3


def test_a_mostly_missing_column_in_a_big_batch_is_too_few_not_counted():
    ref = reference_frame(3000)
    cur = reference_frame(1000, seed=5)
    cur.loc[10:, "x2"] = np.nan  # 10 values left
    report = drift(ref, cur)
    res = report.column("x2")
    assert res.status == "too_few" and not res.counted and "10 values" in res.note
