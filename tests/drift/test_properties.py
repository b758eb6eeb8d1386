"""Property tests: scores stay finite and in range for any float column (NaN/inf included),
merged profiles give the same verdicts as one fit, and everything round-trips through JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mlnb.monitoring.drift import DriftReport, Profile, fit_profile, score
from mlnb.monitoring.drift._binning import Binner
from mlnb.monitoring.drift._scratch import BLOCK, blocks

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# finite values of moderate magnitude plus NaN / +-inf (values near float max would make
# every distance overflow, which no real feature does)
any_float = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0]),
)
columns = hnp.arrays(np.float64, st.integers(1, 60), elements=any_float)
METHODS = ["ks", "chisquare", "psi", "wasserstein", "jensenshannon"]
UPPER = {"jensenshannon": math.sqrt(math.log(2)) + 1e-12, "constant": 1.0}


def _check_ranges(report: DriftReport) -> None:
    for c in report.columns:
        for value in (c.score, c.statistic, c.p_value):
            assert value is None or math.isfinite(value), c
        if c.score is None:
            continue
        assert c.score >= 0
        if c.p_value is not None:
            assert 0 <= c.p_value <= 1 and c.score == c.p_value
        if c.test in UPPER:
            assert c.score <= UPPER[c.test]
        passes = c.score < c.threshold if c.p_value is not None else c.score >= c.threshold
        if c.test == "constant":  # also needs the new values to be unlikely by chance
            assert not c.drifted or passes
        else:
            assert c.drifted == passes or (c.unseen_share > 0)
    json.dumps(report.to_dict(), allow_nan=False)


@SETTINGS
@given(ref=columns, cur=columns, method=st.sampled_from(METHODS), small=st.booleans())
def test_scores_are_finite_and_in_range_for_any_float_column(ref, cur, method, small):
    cfg = {
        "num_method": method,
        "cat_method": None,
        "small_ref_rows": 1000 if small else 0,
        "min_rows": 1,  # any size gets a verdict here: the ranges are what is checked
    }
    profile = fit_profile(pd.DataFrame({"v": ref}), **cfg)
    report = score(profile, pd.DataFrame({"v": cur}))
    _check_ranges(report)
    res = report.column("v")
    finite_cur = int(np.isfinite(cur).sum())
    assert res.n_cur == finite_cur
    assert res.n_inf_cur == int(np.isinf(cur).sum())
    if profile.columns["v"].kind != "empty" and finite_cur == 0:
        assert res.status == "all_missing"


category = st.sampled_from(["a", "b", "c", "d", None, "e", "f<g>"])


@SETTINGS
@given(
    ref=st.lists(category, min_size=1, max_size=50),
    cur=st.lists(category, min_size=1, max_size=50),
    method=st.sampled_from(["chisquare", "psi", "jensenshannon", None]),
    small=st.booleans(),
)
def test_categorical_scores_are_finite_and_in_range(ref, cur, method, small):
    cfg = {"cat_method": method, "small_ref_rows": 1000 if small else 0, "min_rows": 1}
    report = score(
        fit_profile(pd.DataFrame({"c": pd.Series(ref, dtype=object)}), **cfg),
        pd.DataFrame({"c": pd.Series(cur, dtype=object)}),
    )
    _check_ranges(report)
    res = report.column("c")
    seen = {v for v in ref if v is not None}
    new = {v for v in cur if v is not None and v not in seen}
    if seen and len(seen) > 1 and res.status in ("ok", "drift"):
        assert set(res.unseen_categories) == new


shapes = st.sampled_from(["normal", "lognormal", "integers", "mixed"])


def _sample(shape: str, rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    if shape == "normal":
        return rng.normal(shift, 1, n)
    if shape == "lognormal":
        return rng.lognormal(shift, 0.7, n)
    if shape == "integers":
        return rng.integers(0, 300, n) + np.round(shift * 90)
    return np.where(rng.random(n) < 0.2, 0.0, rng.normal(5 + shift, 1, n))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shape=shapes,
    shift=st.sampled_from([0.0, 0.6, 1.5]),
    n_chunks=st.integers(2, 9),
    n_rows=st.sampled_from([600, 6000]),
)
def test_profile_merged_from_chunks_gives_the_same_verdicts(seed, shape, shift, n_chunks, n_rows):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "v": _sample(shape, rng, n_rows, 0.0),
            "c": rng.choice(["x", "y", "z"], n_rows, p=[0.5, 0.3, 0.2]),
        }
    )
    cur = pd.DataFrame(
        {
            "v": _sample(shape, rng, 3000, shift),
            "c": rng.choice(
                ["x", "y", "z"], 3000, p=[0.5, 0.3, 0.2] if shift == 0 else [0.2, 0.3, 0.5]
            ),
        }
    )
    whole = fit_profile(ref)
    bounds = np.linspace(0, n_rows, n_chunks + 1).astype(int)
    parts = [ref.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    streamed = fit_profile(iter(parts))
    merged = Profile.merge(*[fit_profile(p) for p in parts])
    expected = score(whole, cur)
    for other in (streamed, merged):
        assert other.n_rows == whole.n_rows
        report = score(other, cur)
        for a, b in zip(expected.columns, report.columns, strict=True):
            assert (a.column, a.test) == (b.column, b.test)
            if whole.is_small:  # exact samples and counts merge exactly (up to summation order)
                assert a.score == pytest.approx(b.score, rel=1e-12, abs=1e-300)
            elif a.score < 10 * a.threshold:
                assert abs(a.score - b.score) <= 0.01 + 0.05 * a.score
            else:  # ten times past the threshold, a merged heavy tail reads up to ~12% high
                assert abs(a.score - b.score) <= 0.15 * a.score
            near = abs(a.score - a.threshold) < 0.02 and a.p_value is None
            assert near or a.drifted == b.drifted


@SETTINGS
@given(
    values=hnp.arrays(np.float64, st.integers(1, 40), elements=any_float),
    cats=st.lists(category, min_size=1, max_size=40),
)
def test_profile_and_report_round_trip_through_json(values, cats):
    n = min(len(values), len(cats))
    df = pd.DataFrame({"v": values[:n], "c": pd.Series(cats[:n], dtype=object)})
    profile = fit_profile(df)
    again = Profile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))
    assert again.to_dict() == profile.to_dict()
    report = score(profile, df)
    back = DriftReport.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False)))
    assert back.to_dict() == report.to_dict()


finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(
    edges=hnp.arrays(np.float64, st.integers(2, 300), elements=finite, unique=True),
    values=hnp.arrays(np.float64, st.integers(1, 300), elements=finite),
    pick_edges=st.booleans(),
)
def test_binner_equals_searchsorted(edges, values, pick_edges):
    edges = np.unique(edges)
    assume(len(edges) >= 2)
    if pick_edges:  # values sitting exactly on, and right next to, the edges
        values = np.concatenate(
            [values, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf), -edges]
        )
    binner = Binner(edges)
    expected = np.searchsorted(binner.bounds, values, side="right")
    np.testing.assert_array_equal(binner.index(values), expected)
    assert binner.counts(values).sum() == len(values)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    codes=st.lists(st.integers(-1, 40), max_size=400),
    head=st.integers(1, 64),
    storage=st.sampled_from(["str", "string[pyarrow]"]),
)
def test_string_counts_equal_value_counts_in_order(codes, head, storage, monkeypatch):
    """Counting strings by prefix lookup gives pandas' table, order of ties included, also
    when values first appear after the prefix."""
    from mlnb.monitoring.drift import _frames

    monkeypatch.setattr(_frames, "PREFIX_ROWS", head)
    series = pd.Series([None if c < 0 else f"v{c}" for c in codes], dtype=storage)
    table, missing = _frames.category_counts(series, "string")
    vc = series.value_counts(dropna=True)
    assert list(table.items()) == list(zip(vc.index.tolist(), vc.tolist(), strict=True))
    assert missing == int(series.isna().sum())


@given(
    n=st.one_of(
        st.integers(0, 5 * BLOCK),
        st.sampled_from([BLOCK - 1, BLOCK, 2 * BLOCK - 1, 3 * BLOCK + 1, 10**6]),
    )
)
def test_passes_cover_every_value_once_in_near_equal_parts(n):
    """Block-wise passes visit each of ``n`` values once, in order, in parts of BLOCK to
    2 * BLOCK values (a single part when there are fewer, none for none), so no pass is a
    short tail."""
    parts = blocks(n)
    covered = np.concatenate([np.arange(n)[part] for part in parts]) if n else np.empty(0)
    assert np.array_equal(covered, np.arange(n))
    sizes = [len(range(n)[part]) for part in parts]
    if n <= BLOCK:
        assert len(parts) == min(n, 1)
    else:
        assert all(BLOCK <= size < 2 * BLOCK for size in sizes), sizes
        assert max(sizes) - min(sizes) <= 1
