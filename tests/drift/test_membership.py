"""Category membership is known at any cardinality (hashed past the count table), identifier
and free-text columns are excluded with a note, and /1 profiles keep loading and scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnb.monitoring.drift import Profile, drift, fit_profile, score
from mlnb.monitoring.drift._frames import category_hashes


def _codes(rng: np.random.Generator, n: int, k: int, prefix: str = "v") -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in rng.integers(0, k, n)])


def test_new_values_past_max_categories_are_counted_and_flagged():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"c": _codes(rng, 60_000, 2000)})  # 2,000 categories, table keeps 1,000
    seen = _codes(rng, 9500, 2000)
    new = _codes(rng, 500, 300, prefix="new")  # 5% never-seen values
    cur = pd.DataFrame({"c": np.r_[seen, new]})
    profile = fit_profile(ref)
    assert profile.columns["c"].n_distinct == 2000 and len(profile.columns["c"].categories) == 1000
    res = score(profile, cur).column("c")
    assert res.unseen_share == pytest.approx(0.05)
    assert res.drifted and "never seen" in res.note and "64-bit hash" in res.note
    quiet = score(profile, pd.DataFrame({"c": _codes(rng, 10_000, 2000)})).column("c")
    assert quiet.unseen_share == 0 and "never seen" not in quiet.note


def test_membership_survives_chunks_json_and_merges():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"c": _codes(rng, 40_000, 1500)})
    whole = fit_profile(ref, max_categories=100)
    chunked = fit_profile(
        (ref.iloc[i : i + 10_000] for i in range(0, 40_000, 10_000)), max_categories=100
    )
    again = Profile.from_dict(json.loads(json.dumps(chunked.to_dict())))
    cur = pd.DataFrame({"c": np.r_[_codes(rng, 3000, 1500), ["brand-new"] * 60]})
    for p in (whole, chunked, again):
        assert p.columns["c"].n_distinct == 1500
        res = score(p, cur).column("c")
        assert res.unseen_categories == ["brand-new"] and res.unseen_share == pytest.approx(
            60 / 3060
        )


@settings(max_examples=25, deadline=None)
@given(keys=st.lists(st.one_of(st.text(max_size=8), st.integers(-5, 5)), min_size=1, max_size=40))
def test_hashes_tell_equal_keys_equal_and_types_apart(keys):
    a, b = category_hashes(keys), category_hashes(list(keys))
    assert (a == b).all()
    assert category_hashes([1])[0] != category_hashes(["1"])[0]
    distinct = {(type(k), k) for k in keys}
    assert len(np.unique(a)) == len(distinct)


def test_identifier_and_free_text_columns_are_excluded_with_a_note():
    rng = np.random.default_rng(2)
    n = 2000
    words = np.array(["late", "delivery", "great", "service", "refund", "please", "broken"])

    def comments(m: int) -> list[str]:
        return [" ".join(rng.choice(words, 6)) + f" order {rng.integers(1e6)}" for _ in range(m)]

    ref = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "comment": comments(n),
            "plan": rng.choice(["basic", "pro"], n),
            "x": rng.normal(size=n),
        }
    )
    cur = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n, n + 500)],
            "comment": comments(500),
            "plan": rng.choice(["basic", "pro"], 500),
            "x": rng.normal(size=500),
        }
    )
    report = drift(ref, cur)
    ids, text = report.column("customer_id"), report.column("comment")
    assert (ids.kind, ids.status, ids.drifted) == ("identifier", "excluded", False)
    assert (text.kind, text.status) == ("text", "excluded")
    assert "excluded from drift" in ids.note and "2,000 distinct" in ids.note
    assert report.n_columns == 2 and report.n_drifted == 0 and not report.dataset_drift
    profile = fit_profile(ref)
    assert profile.columns["customer_id"].members is None  # no hashes stored for ids
    assert len(json.dumps(profile.to_dict())) < 200_000


def test_a_repeated_code_column_is_not_an_identifier():
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"zip": [f"{z:05d}" for z in rng.integers(0, 400, 2000)]})
    assert fit_profile(ref).columns["zip"].kind == "categorical"


def test_a_version_1_profile_still_loads_and_scores():
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"c": _codes(rng, 20_000, 1500), "x": rng.normal(size=20_000)})
    stored = fit_profile(ref, max_categories=100).to_dict()
    assert stored["format"] == "mlnb.drift.profile/2"
    stored["format"] = "mlnb.drift.profile/1"
    for col in stored["columns"]:  # what /1 wrote: no hashes, no identifier flag
        col.pop("members")
        col.pop("looks_like")
    old = Profile.from_dict(stored)
    cur = pd.DataFrame({"c": _codes(rng, 3000, 1500), "x": rng.normal(size=3000)})
    report = score(old, cur)
    assert report.column("x").status == "ok"
    assert "refit" in report.column("c").note  # membership past the table is unknown in /1
