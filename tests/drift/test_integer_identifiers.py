"""Integer identifier columns (customer ids, row numbers) are excluded from drift with a note,
while genuine integer features (ages, counts, income in dollars) are still scored."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnb.monitoring.drift import Profile, drift, fit_profile, score


def _customers(rng: np.random.Generator, ids: np.ndarray, income_shift: float = 0.0):
    n = len(ids)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "age": rng.integers(18, 90, n),
            "n_orders": rng.poisson(3, n),
            "income": np.round(rng.lognormal(10.8 + income_shift, 0.5, n)).astype(np.int64),
            "flat_income": rng.integers(20_000, 200_000, n),
            "x": rng.normal(size=n),
        }
    )


def test_new_customer_ids_do_not_drift_and_leave_the_dataset_share():
    rng = np.random.default_rng(0)
    ref = _customers(rng, np.arange(100_000, 110_000))  # monotone ids
    cur = _customers(rng, np.arange(110_000, 112_000))  # next customers: every id is new
    report = drift(ref, cur)
    ids = report.column("customer_id")
    assert (ids.kind, ids.status, ids.drifted) == ("identifier", "excluded", False)
    assert "10,000 distinct of 10,000" in ids.note and "excluded from drift" in ids.note
    assert report.n_columns == 5 and report.n_drifted == 0 and not report.dataset_drift
    assert report.multivariate is not None  # the features together, without the ids
    assert "customer_id" not in report.multivariate["columns"]
    for name in ("age", "n_orders", "income", "flat_income"):
        assert report.column(name).status == "ok", name


def test_genuine_integer_features_are_scored_and_a_real_shift_is_caught():
    rng = np.random.default_rng(1)
    ref = _customers(rng, rng.permutation(np.arange(100_000, 200_000))[:10_000])  # random ids
    cur = _customers(rng, rng.integers(200_000, 300_000, 3000), income_shift=0.4)
    profile = fit_profile(ref)
    kinds = {name: col.kind for name, col in profile.columns.items()}
    assert kinds["customer_id"] == "identifier"  # sparse random ids: told by the name
    assert kinds["income"] == kinds["flat_income"] == "numeric"  # >= 90% distinct, yet scored
    assert kinds["age"] == kinds["n_orders"] == "numeric"
    report = score(profile, cur)
    assert report.column("income").drifted and report.column("customer_id").status == "excluded"
    assert not report.column("age").drifted


def test_an_unnamed_row_number_is_an_identifier_by_its_density():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"Unnamed: 0": rng.permutation(5000), "x": rng.normal(size=5000)})
    cur = pd.DataFrame({"Unnamed: 0": np.arange(5000, 6000), "x": rng.normal(size=1000)})
    report = drift(ref, cur)
    assert report.column("Unnamed: 0").status == "excluded"
    assert report.n_columns == 1 and not report.dataset_drift


def test_per_column_scores_a_detected_identifier_anyway():
    rng = np.random.default_rng(3)
    ref = _customers(rng, np.arange(100_000, 110_000))
    cur = _customers(rng, np.arange(110_000, 112_000))
    res = drift(ref, cur, per_column={"customer_id": "wasserstein"}).column("customer_id")
    assert (res.kind, res.test, res.drifted) == ("numeric", "wasserstein", True)


def test_identifier_survives_chunks_json_and_nullable_dtype():
    rng = np.random.default_rng(4)
    ids = pd.array(np.arange(1, 20_001), dtype="Int64")
    ids[::50] = pd.NA
    ref = pd.DataFrame({"order_id": ids, "x": rng.normal(size=20_000)})
    chunked = fit_profile(ref.iloc[i : i + 5000] for i in range(0, 20_000, 5000))
    again = Profile.from_dict(json.loads(json.dumps(chunked.to_dict())))
    for p in (fit_profile(ref), chunked, again):
        col = p.columns["order_id"]
        assert col.kind == "identifier" and col.n_distinct == 19_600


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(100, 3000),
    width=st.integers(2, 10_000_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_independent_integer_draws_are_never_taken_for_identifiers(n, width, seed):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"amount": rng.integers(0, width, n) + 1000})
    assert fit_profile(ref).columns["amount"].kind != "identifier"


def test_per_column_scores_a_text_identifier_with_an_honest_note():
    ref = pd.DataFrame({"customer": [f"C{i:07d}" for i in range(2000)]})
    cur = pd.DataFrame({"customer": [f"C{i:07d}" for i in range(2000, 2500)]})
    assert drift(ref, cur).column("customer").status == "excluded"
    res = drift(ref, cur, per_column={"customer": "chisquare"}).column("customer")
    assert (res.kind, res.test) == ("categorical", "chisquare") and res.status in ("ok", "drift")
    assert "fitted as an identifier" in res.note  # hashes past the table are not kept for ids
