"""Multivariate drift: a correlation that flips while every marginal stays put is caught by
the PCA reconstruction test; shifts of single columns and stable batches are not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnb.monitoring.drift import DriftReport, Profile, drift, fit_profile, score
from mlnb.monitoring.drift.multivariate import Moments


def _frame(n: int, rho: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    data = {"a": a, "b": rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n)}
    data.update({f"x{i}": rng.normal(size=n) for i in range(6)})
    data["plan"] = rng.choice(["basic", "pro"], n)
    return pd.DataFrame(data)


def test_a_flipped_correlation_is_caught_while_no_column_drifts():
    ref = _frame(20_000, 0.8, 1)
    report = drift(ref, _frame(5000, -0.8, 2))
    assert report.n_drifted == 0  # every marginal is the same
    assert report.multivariate is not None and report.multivariate["drifted"]
    assert report.multivariate_drift and report.dataset_drift
    assert "relation between columns changed" in report.multivariate["note"]
    assert "features together" in report.summary_text()
    assert "features together" in report._repr_html_()


@pytest.mark.parametrize("seed", range(5))
def test_stable_batches_and_single_column_shifts_are_not_multivariate_drift(seed):
    ref = _frame(20_000, 0.8, 100)
    same = drift(ref, _frame(5000, 0.8, seed))
    assert not same.multivariate_drift and not same.dataset_drift
    shifted = _frame(5000, 0.8, seed + 50)
    shifted["x0"] = shifted["x0"] * 3 + 2  # a per-column change: the KS/Wasserstein job
    report = drift(ref, shifted)
    assert report.column("x0").drifted and not report.multivariate_drift


def test_multivariate_verdict_is_the_same_chunked_and_survives_json():
    ref = _frame(20_000, 0.6, 3)  # up to 20,000 rows a frame: every row feeds the moments
    cur = _frame(8000, -0.6, 4)
    whole = fit_profile(ref)
    chunked = fit_profile(ref.iloc[i : i + 7000] for i in range(0, 20_000, 7000))
    stored = Profile.from_dict(json.loads(json.dumps(chunked.to_dict())))
    assert stored.to_dict()["moments"] == chunked.to_dict()["moments"]
    a = score(whole, cur).multivariate
    b = score(stored, (cur.iloc[i : i + 3000] for i in range(0, 8000, 3000))).multivariate
    assert a is not None and b is not None and a["drifted"] and b["drifted"]
    # later chunks are sampled (every 2nd row here), so the estimates are close, not equal
    assert b["error_ref"] == pytest.approx(a["error_ref"], rel=0.01)
    assert b["error_cur"] == pytest.approx(a["error_cur"], rel=0.02)
    refit = fit_profile(ref.iloc[i : i + 7000] for i in range(0, 20_000, 7000))
    assert refit.to_dict()["moments"] == chunked.to_dict()["moments"]  # and deterministic
    again = DriftReport.from_dict(json.loads(json.dumps(score(whole, cur).to_dict())))
    assert again.multivariate == a and again.multivariate_drift


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(3, 400),
    cut=st.integers(1, 399),
    d=st.integers(2, 6),
    seed=st.integers(0, 2**31),
)
def test_merged_moments_equal_the_moments_of_all_rows(n, cut, d, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        rng.normal(size=(n, d)) * rng.uniform(0.1, 100, d), columns=list("abcdef")[:d]
    )
    cols = list(df.columns)
    cut = min(cut, n - 1)
    merged = Moments.of_frame(df.iloc[:cut], cols).merge(Moments.of_frame(df.iloc[cut:], cols))
    whole = Moments.of_frame(df, cols)
    assert merged.n == whole.n
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-7, atol=1e-6)


def test_multivariate_can_be_turned_off_and_needs_enough_rows():
    ref, cur = _frame(5000, 0.8, 5), _frame(5000, -0.8, 6)
    assert drift(ref, cur, multivariate=False).multivariate is None
    tiny = drift(ref, cur.iloc[:10])
    assert tiny.multivariate is not None and tiny.multivariate["score"] is None
    assert not tiny.dataset_drift


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300), min_size=2, max_size=5),
    steps=st.lists(st.integers(1, 7), min_size=5, max_size=5),
    seed=st.integers(0, 2**31),
)
def test_moments_of_differently_strided_parts_are_the_weighted_moments(sizes, steps, seed):
    """Each sampled row stands for ``len(part) / rows sampled`` rows: the merged moments are
    exactly the weighted mean and covariance of the sampled rows."""
    rng = np.random.default_rng(seed)
    parts = [
        pd.DataFrame(
            rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0], columns=list("abc")
        )
        for n in sizes
    ]
    merged = Moments.empty(list("abc"))
    rows, weights = [], []
    for part, step in zip(parts, steps, strict=False):
        merged = merged.merge(Moments.of_frame(part, list("abc"), step))
        sampled = part.to_numpy()[::step]
        rows.append(sampled)
        weights.append(np.full(len(sampled), len(part) / len(sampled)))
    x, w = np.concatenate(rows), np.concatenate(weights)
    assert merged.n == len(x)
    assert merged.weight == pytest.approx(sum(sizes))  # every row of every part is stood for
    np.testing.assert_allclose(merged.mean, np.average(x, axis=0, weights=w), rtol=1e-9, atol=1e-9)
    expected = np.cov(x.T, aweights=w, bias=True) if len(x) > 1 else np.zeros((3, 3))
    np.testing.assert_allclose(merged.covariance, expected, rtol=1e-7, atol=1e-9)
    assert merged.effective_n == pytest.approx(w.sum() ** 2 / (w**2).sum())


def test_a_long_stream_samples_fewer_rows_per_chunk_and_keeps_its_verdict():
    """Later chunks of a stream are sampled more thinly: 40 chunks of 5,000 rows feed about
    SAMPLE_ROWS x (1 + ln(40) / 2) rows, not all 200,000, weighted to the precision of
    SAMPLE_ROWS rows, and the verdict and reference error stay those of the whole frame."""
    from mlnb.monitoring.drift.multivariate import SAMPLE_ROWS

    ref = _frame(200_000, 0.6, 7)
    cur = _frame(50_000, -0.6, 8)
    chunked = fit_profile(ref.iloc[i : i + 5000] for i in range(0, 200_000, 5000))
    whole = fit_profile(ref)
    assert chunked.moments is not None and whole.moments is not None
    assert chunked.moments.n < SAMPLE_ROWS * (1 + np.log(40) / 2) < len(ref) / 2
    assert chunked.moments.weight == pytest.approx(len(ref))
    assert 0.9 * SAMPLE_ROWS < chunked.moments.effective_n < 1.1 * SAMPLE_ROWS
    a = score(whole, cur).multivariate
    b = score(chunked, (cur.iloc[i : i + 5000] for i in range(0, 50_000, 5000))).multivariate
    assert a is not None and b is not None and a["drifted"] and b["drifted"]
    assert b["error_ref"] == pytest.approx(a["error_ref"], rel=0.02)
    stable = score(
        chunked, (_frame(50_000, 0.6, 9).iloc[i : i + 5000] for i in range(0, 50_000, 5000))
    )
    assert stable.multivariate is not None and not stable.multivariate["drifted"]


def test_moments_saved_before_weights_load_as_unit_weights():
    """Profiles stored before sampled rows carried weights hold plain sums: they read back as
    unit weights, so their covariance and row count are what they were."""
    m = Moments.of_frame(_frame(500, 0.5, 1), list("ab"))
    old = {k: v for k, v in m.to_dict().items() if k not in ("weight", "weight_sq")}
    back = Moments.from_dict(json.loads(json.dumps(old)))
    assert back.weight == back.weight_sq == back.effective_n == 500
    np.testing.assert_allclose(back.covariance, m.m2 / 500)
