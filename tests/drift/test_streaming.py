"""Chunked fitting: later chunks counted on the bins of the part before them."""

from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnb.monitoring.drift import fit_profile, score
from mlnb.monitoring.drift import profile as profile_module

ROWS = 25_000  # per chunk: more than the 20,000-value edge sample, so chunks are counted


def _chunks(frame: pd.DataFrame, rows: int = ROWS) -> list[pd.DataFrame]:
    return [frame.iloc[i : i + rows] for i in range(0, len(frame), rows)]


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    x[rng.random(n) < 0.01] = np.nan
    x[:3] = [np.inf, -np.inf, np.inf]
    return pd.DataFrame({"x": x, "g": rng.gamma(2.0, size=n), "z": np.round(rng.normal(size=n))})


def test_chunked_fit_counts_every_value_once_with_the_in_memory_moments():
    rng = np.random.default_rng(3)
    frame = _frame(rng, 4 * ROWS)
    frame.loc[3 * ROWS + 5, "x"] = 40.0  # beyond the first chunk's range: held apart
    whole, chunked = fit_profile(frame), fit_profile(_chunks(frame))
    for name in ("x", "g"):
        a, b = whole.columns[name], chunked.columns[name]
        assert (b.n_rows, b.n_missing, b.n_posinf, b.n_neginf) == (
            a.n_rows,
            a.n_missing,
            a.n_posinf,
            a.n_neginf,
        )
        assert b.numeric.n == a.numeric.n == int(b.numeric.counts.sum())
        assert (b.numeric.min, b.numeric.max) == (a.numeric.min, a.numeric.max)
        assert b.numeric.mean == pytest.approx(a.numeric.mean, rel=1e-12, abs=1e-12)
        assert b.numeric.std == pytest.approx(a.numeric.std, rel=1e-12)
    assert chunked.columns["z"].kind == whole.columns["z"].kind
    batch = _frame(np.random.default_rng(4), 50_000)
    for name in ("x", "g"):
        near = score(whole, batch).column(name).score
        assert score(chunked, batch).column(name).score == pytest.approx(near, abs=2e-3)


def test_a_huge_value_beyond_the_range_keeps_the_moments_exact():
    """A chunk's spread is taken off its sums without the values past the part's range, even
    when one of them holds nearly all the spread (1e9 among values near 1): the moments of the
    whole column come out as exact as the in-memory fit's."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=3 * ROWS)
    x[ROWS + 17] = 1e9
    frame = pd.DataFrame({"x": x})
    whole = fit_profile(frame).columns["x"].numeric
    chunked = fit_profile(_chunks(frame)).columns["x"].numeric
    assert chunked.n == whole.n == len(x)
    assert chunked.mean == pytest.approx(x.mean(), rel=1e-12)
    assert chunked.std == pytest.approx(x.std(), rel=1e-9)
    assert chunked.std == pytest.approx(whole.std, rel=1e-9)


def test_a_chunk_from_another_distribution_is_fitted_anew_so_no_bin_is_crowded():
    rng = np.random.default_rng(5)
    first = pd.DataFrame({"x": rng.normal(0.0, 1.0, ROWS)})
    moved = pd.DataFrame({"x": rng.normal(0.5, 0.2, ROWS)})  # inside the range, crowded
    chunked = fit_profile([first, moved])
    whole = fit_profile(pd.concat([first, moved], ignore_index=True))
    counts = chunked.columns["x"].numeric.counts
    assert counts.max() <= 3 * whole.columns["x"].numeric.counts.max()
    batch = pd.DataFrame({"x": rng.normal(0.3, 1.0, 40_000)})
    near = score(whole, batch).column("x").score
    assert score(chunked, batch).column("x").score == pytest.approx(near, abs=5e-3)


def test_values_held_apart_are_fitted_once_past_the_cap(monkeypatch):
    monkeypatch.setattr(profile_module, "SPILL_MAX_VALUES", 1000)
    rng = np.random.default_rng(6)
    base = rng.uniform(0.0, 1.0, 4 * ROWS)
    base[ROWS:] += np.repeat(np.arange(1, 4), ROWS) * 0.001  # each chunk reaches past
    frame = pd.DataFrame({"x": base})
    whole, chunked = fit_profile(frame), fit_profile(_chunks(frame))
    a, b = whole.columns["x"].numeric, chunked.columns["x"].numeric
    assert b.n == a.n == int(b.counts.sum())
    assert (b.min, b.max) == (a.min, a.max)
    assert np.all(np.diff(b.edges) > 0)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    below=st.lists(st.floats(1.0, 50.0), max_size=6),
    above=st.lists(st.floats(1.0, 50.0), max_size=6),
    repeat_max=st.booleans(),
)
def test_values_beyond_the_first_chunk_are_counted_exactly_on_edges_of_their_own(
    seed, below, above, repeat_max
):
    """A few values past the first chunk's range become edges of their own at the end: the
    mass below every edge is the exact count of smaller values, and the moments are exact.
    (The first chunk's maximum is taken to be held once, as continuous data holds it.)"""
    rng = np.random.default_rng(seed)
    first = rng.normal(size=600)
    later = rng.normal(size=1200)
    lo, hi = first.min(), first.max()
    inside = (later > lo) & (later < hi)  # inside the first chunk's range...
    later = np.where(inside, later, rng.uniform(lo / 2, hi / 2, len(later)))
    extra = [lo - d for d in below] + [hi + d for d in above]  # ...but for these
    if repeat_max and above:
        extra.append(hi + above[0])  # a value held twice
    later[: len(extra)] = extra
    x = np.concatenate([first, later])
    chunks = [pd.DataFrame({"x": part}) for part in (first, later[:600], later[600:])]
    col = fit_profile(chunks, n_bins=20, small_ref_rows=0, multivariate=False).columns["x"]
    s = col.numeric
    assert col.n_rows == s.n == len(x) == int(s.counts.sum())
    assert (s.min, s.max) == (x.min(), x.max())
    assert s.mean == pytest.approx(x.mean(), rel=1e-12, abs=1e-12)
    assert s.std == pytest.approx(x.std(), rel=1e-9)
    assert np.all(np.diff(s.edges) > 0) and np.all(s.counts >= 0)
    below_edge = np.concatenate([[0.0], np.cumsum(s.counts)[:-1]])  # each bin's left edge
    exact = np.array([np.count_nonzero(x < e) for e in s.edges[:-1]])
    np.testing.assert_array_equal(below_edge, exact)


def test_ordered_pool_runs_each_columns_jobs_in_order_and_reraises():
    from mlnb.monitoring.drift._pool import OrderedPool

    pool = OrderedPool(2)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def slow(i: int) -> None:
        time.sleep(0.0005 * (i % 3))

    for i in range(40):
        jobs = [(k, functools.partial(seen[k].append, i)) for k in "ab"]
        pool.submit([*jobs, ("c", functools.partial(slow, i))])
    pool.drain()
    assert seen == {"a": list(range(40)), "b": list(range(40))}

    def broken() -> None:
        raise ValueError("bad chunk")

    pool.submit([("a", broken)])
    with pytest.raises(ValueError, match="bad chunk"):
        pool.drain()
    pool.submit([("a", functools.partial(seen["a"].append, 99))])
    pool.drain()  # the key's turn moved on after the failure: no deadlock
    assert seen["a"][-1] == 99
    pool.close()
