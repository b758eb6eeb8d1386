"""Jensen-Shannon on many sparse categories: sampling noise alone reads a distance above the
default threshold, so the threshold is lifted above the no-shift noise floor; a real shift
still drifts, and few-category columns on large data keep Evidently's threshold."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from mlnb.monitoring.drift import drift
from mlnb.monitoring.drift._stats import js_noise_approx, js_noise_floor

K = 2000
NAMES = np.array([f"k{i:04d}" for i in range(K)])


def _pair(rng: np.random.Generator, mix: float, n_ref: int = 50_000, n_cur: int = 10_000):
    shares = rng.dirichlet(np.ones(K))
    cur_shares = (1 - mix) * shares + mix * rng.dirichlet(np.ones(K))
    ref = pd.DataFrame({"c": NAMES[rng.choice(K, n_ref, p=shares)]})
    cur = pd.DataFrame({"c": NAMES[rng.choice(K, n_cur, p=cur_shares)]})
    return ref, cur, float(jensenshannon(shares, cur_shares))


def test_two_thousand_stable_categories_do_not_false_alarm():
    rng = np.random.default_rng(14)
    for _ in range(8):
        ref, cur, _ = _pair(rng, 0.0)
        res = drift(ref, cur).column("c")
        assert res.test == "jensenshannon" and res.score > 0.1  # the raw distance is noisy
        assert not res.drifted and res.threshold > res.score
        assert "threshold raised from 0.1" in res.note and "sampling noise" in res.note


def test_a_real_shift_across_two_thousand_categories_still_drifts():
    rng = np.random.default_rng(15)
    ref, cur, true_js = _pair(rng, 0.3)
    assert true_js > 0.1  # the population distance passes the threshold
    res = drift(ref, cur).column("c")
    assert res.drifted and res.score >= res.threshold


def test_few_categories_on_large_data_keep_the_set_threshold():
    rng = np.random.default_rng(16)
    shares = rng.dirichlet(np.ones(30))
    keys = np.array([f"c{i}" for i in range(30)])
    ref = pd.DataFrame({"c": keys[rng.choice(30, 200_000, p=shares)]})
    cur = pd.DataFrame({"c": keys[rng.choice(30, 100_000, p=shares)]})
    res = drift(ref, cur).column("c")
    assert (res.test, res.threshold, res.drifted) == ("jensenshannon", 0.1, False)
    assert "raised" not in res.note


@settings(max_examples=20, deadline=None)
@given(
    k=st.integers(2, 400),
    n_ref=st.integers(200, 50_000),
    n_cur=st.integers(200, 20_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_noise_floor_is_the_mean_no_shift_divergence(k, n_ref, n_cur, seed):
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(k) * 2)
    draws = [
        jensenshannon(rng.multinomial(n_ref, shares), rng.multinomial(n_cur, shares)) ** 2
        for _ in range(200)
    ]
    ref, cur = rng.multinomial(n_ref, shares), rng.multinomial(n_cur, shares)
    floor, truth = js_noise_floor(ref, cur), float(np.mean(draws))
    # the floor is drawn from the pooled shares of one pair: within 35% of the truth plus a
    # sliver, and the dense-limit formula stays below it (it is only a gate)
    assert floor == pytest.approx(truth, rel=0.35, abs=2e-4)
    assert js_noise_approx(ref, cur) <= 1.5 * floor + 1e-4
    assert math.isfinite(floor) and floor >= 0
