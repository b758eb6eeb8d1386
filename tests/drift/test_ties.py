"""Point masses (tied values) are counted when they are heavy, whatever the chunking.

The edge sample flags candidate ties; the first block's exact counts decide whether every
block pays for counting them. Integer data with ten values per bin must not be treated as
tied by sampling luck (it made a chunked fit count ties its in-memory twin did not, and
every later chunk and score pay for it), while real point masses keep their exact counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from mlnb.monitoring.drift import fit_profile, score
from mlnb.monitoring.drift.profile import NumericSummary

N_BINS = 1000


def _chunks(frame: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    return [frame.iloc[i : i + rows] for i in range(0, len(frame), rows)]


@pytest.mark.parametrize("seed", range(6))
def test_integers_with_ten_values_per_bin_are_not_counted_as_ties(seed):
    """100k rows of 10,000 integer values (each a tenth of a bin), as the first 100k-row chunk
    of a stream sees them: the sample shows up to ~11 copies of some values, but no value
    holds half a bin, so neither the whole nor the chunked fit counts ties."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10_000, 300_000).astype(np.float64)
    assert NumericSummary.from_values(x[:100_000], N_BINS).atoms.sum() == 0
    frame = pd.DataFrame({"v": x})
    for fitted in (fit_profile(frame), fit_profile(_chunks(frame, 100_000))):
        assert fitted.columns["v"].numeric.atoms.sum() == 0


def test_heavy_point_masses_are_counted_exactly():
    """Zeros holding 30% of a column, and two values holding a bin's mass each: their atoms
    are the exact number of rows that hold them, fitted whole or in chunks."""
    rng = np.random.default_rng(11)
    n = 200_000
    x = rng.exponential(1.0, n)
    x[rng.random(n) < 0.3] = 0.0
    spots = rng.choice(n, 800, replace=False)
    x[spots[:400]], x[spots[400:]] = 1.25, 2.5  # 0.2% each: two bins' worth of mass
    frame = pd.DataFrame({"v": x})
    for fitted in (fit_profile(frame), fit_profile(_chunks(frame, 50_000))):
        s = fitted.columns["v"].numeric
        for value in (0.0, 1.25, 2.5):
            at = np.flatnonzero(s.edges == value)
            assert len(at) == 1, value
            assert s.atoms[at[0]] == np.count_nonzero(x == value), value


def test_ties_the_first_block_cannot_see_are_kept():
    """Data sorted by the column, capped at 100 (20% of rows): the first block holds only
    the smallest values, so it cannot judge the cap the sample flagged, and ties are kept."""
    rng = np.random.default_rng(5)
    x = np.sort(np.minimum(rng.exponential(40.0, 200_000), 100.0))
    s = NumericSummary.from_values(x, N_BINS)
    assert s.edges[-1] == 100.0
    assert s.atoms[-1] == np.count_nonzero(x == 100.0)


def test_fine_integers_score_like_scipy_without_ties():
    """Not counting a tenth-of-a-bin's ties costs no accuracy: the binned Wasserstein
    distance of a shifted batch stays within the suite's tolerance of scipy's exact one."""
    rng = np.random.default_rng(2)
    ref = rng.integers(0, 10_000, 100_000).astype(np.float64)
    profile = fit_profile(pd.DataFrame({"v": ref}))
    assert profile.columns["v"].numeric.atoms.sum() == 0
    for shift in (0, 300, 1500):
        cur = rng.integers(0, 10_000, 30_000).astype(np.float64) + shift
        got = score(profile, pd.DataFrame({"v": cur})).column("v").score
        exact = wasserstein_distance(ref, cur) / np.std(ref)
        assert abs(got - exact) <= 0.003 + 0.03 * exact, (shift, got, exact)
