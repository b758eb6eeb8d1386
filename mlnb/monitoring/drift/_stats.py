"""The drift statistics, computed from compact summaries (bin counts, category counts).

Every function returns finite numbers for any input it accepts; degenerate inputs (one
category, no spread) get a defined answer instead of NaN.
"""

from __future__ import annotations

import math

import numpy as np

KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp(method="auto") is exact up to this sample size


def ks_exact(ref_sample: np.ndarray, cur_values: np.ndarray) -> tuple[float, float]:
    """(D, p) exactly as ``scipy.stats.ks_2samp`` gives them on the raw samples."""
    from scipy.stats import ks_2samp

    res = ks_2samp(ref_sample, cur_values)
    return float(res.statistic), _clip_p(res.pvalue)


def ks_from_cells(ref_sorted: np.ndarray, cur_cells: np.ndarray, n_cur: int) -> tuple[float, float]:
    """KS (D, p) of a raw reference sample against a current batch known only by counts.

    ``cur_cells`` counts current values per cell of the reference's distinct values
    ``u_0 < ... < u_m``: cell 2i holds values in ``(u_{i-1}, u_i)``, cell 2i+1 values equal to
    ``u_i`` (see :func:`ks_cells`). The supremum of |F_ref - F_cur| is reached at a reference
    value or just before the next one, so D is exact and, computed with scipy's arithmetic,
    identical to ``ks_2samp``; p uses scipy's asymptotic formula, which is what ``ks_2samp``
    itself uses once a sample exceeds 10,000 values.
    """
    from scipy.stats import kstwo

    uniq, ref_le = np.unique(ref_sorted, return_counts=True)
    ref_le = np.cumsum(ref_le)
    n_ref = len(ref_sorted)
    cum = np.cumsum(cur_cells)
    cur_lt = cum[0::2][: len(uniq)]  # values < u_i
    cur_le = cum[1::2][: len(uniq)]  # values <= u_i
    cur_lt_next = np.append(cur_lt[1:], n_cur)  # values < u_{i+1} (or all, after u_m)
    f_ref = ref_le / n_ref
    diffs = np.concatenate(
        [[-(cur_lt[0] / n_cur)], f_ref - cur_le / n_cur, f_ref - cur_lt_next / n_cur]
    )
    d = max(float(np.max(diffs)), float(np.clip(-np.min(diffs), 0, 1)))
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    en = m * n / (m + n)
    return d, _clip_p(kstwo.sf(d, np.round(en)))


def ks_cells(ref_uniq: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Counts of ``values`` per cell of :func:`ks_from_cells` (length 2m+3)."""
    right = np.searchsorted(ref_uniq, values, side="right")
    equal = (right > 0) & (ref_uniq[np.maximum(right - 1, 0)] == values)
    cells = 2 * right - equal
    return np.bincount(cells, minlength=2 * len(ref_uniq) + 1)


def ks_binned(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """KS (D, p) from counts on shared bins: D is the largest CDF gap at the bin edges.

    ``cur_counts`` has the below-range and above-range bins at both ends. With fine quantile
    bins D is within one bin's mass of the raw-data statistic; p is the asymptotic one.
    """
    from scipy.stats import kstwo

    n_ref, n_cur = float(ref_counts.sum()), float(cur_counts.sum())
    f_ref = np.concatenate([[0.0], np.cumsum(ref_counts)]) / n_ref
    f_cur = (cur_counts[0] + np.concatenate([[0.0], np.cumsum(cur_counts[1:-1])])) / n_cur
    d = float(np.max(np.abs(f_ref - f_cur)))
    d = max(d, float(cur_counts[0] / n_cur), float(cur_counts[-1] / n_cur))
    en = n_ref * n_cur / (n_ref + n_cur)
    return d, _clip_p(kstwo.sf(d, np.round(en)))


def wasserstein_binned(
    edges: np.ndarray,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    below_sum: float,
    above_sum: float,
    ref_atoms: np.ndarray | None = None,
    cur_atoms: np.ndarray | None = None,
) -> float:
    """Wasserstein-1 distance between reference and current, both binned on ``edges``.

    Inside the reference range both CDFs are taken as linear within each bin (values spread
    evenly), except for the point masses ``*_atoms[j]`` sitting exactly on ``edges[j]``
    (tied or discrete data), where the CDFs step. When every value sits on an edge (a
    discrete reference, and a batch on the same values) the distance is exact. Current
    values outside the range contribute exactly, through ``below_sum = sum(edges[0] - x)``
    and ``above_sum = sum(x - edges[-1])``.
    """
    n_ref, n_cur = float(ref_counts.sum()), float(cur_counts.sum())
    ref_below = np.concatenate([[0.0], np.cumsum(ref_counts)])  # mass below each edge
    cur_below = cur_counts[0] + np.concatenate([[0.0], np.cumsum(cur_counts[1:-1])])
    ref_at = np.zeros(len(edges)) if ref_atoms is None else np.asarray(ref_atoms, float)
    cur_at = np.zeros(len(edges)) if cur_atoms is None else np.asarray(cur_atoms, float)
    # the last bin is closed: its count includes the mass on the last edge
    ref_below[-1] -= ref_at[-1]
    cur_below[-1] -= cur_at[-1]
    after = (ref_below + ref_at)[:-1] / n_ref - (cur_below + cur_at)[:-1] / n_cur
    before = ref_below[1:] / n_ref - cur_below[1:] / n_cur
    a0, a1 = np.abs(after), np.abs(before)
    width = np.diff(edges)
    same_sign = after * before >= 0
    total = a0 + a1
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(total > 0, (a0 * a0 + a1 * a1) / total, 0.0)
    inside = 0.5 * width * np.where(same_sign, total, crossing)
    return float(inside.sum() + (below_sum + above_sum) / n_cur)


def js_distance(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, as scipy and Evidently): 0 same .. 0.8326 disjoint."""
    from scipy.special import rel_entr

    p = np.asarray(ref_counts, dtype=float)
    q = np.asarray(cur_counts, dtype=float)
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum() + rel_entr(q, m).sum()) / 2.0
    return float(math.sqrt(max(js, 0.0)))


# Sample pairs drawn to estimate the no-shift Jensen-Shannon divergence: about
# JS_NULL_CELLS / categories of them (at least 16, at most 2,000), so the estimate's relative
# noise, ~sqrt(2 / (draws * (categories - 1))), stays within a few percent at any cardinality.
JS_NULL_CELLS = 32_000


def js_noise_approx(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Expected Jensen-Shannon divergence of two same-distribution samples of these sizes in
    the many-values-per-category limit, (K - 1)(1/n_ref + 1/n_cur) / 8: a cheap gate for
    :func:`js_noise_floor` (it rises with categories and falls with rows)."""
    n_ref, n_cur = float(np.sum(ref_counts)), float(np.sum(cur_counts))
    k = int(np.count_nonzero(np.asarray(ref_counts) + np.asarray(cur_counts)))
    if k < 2 or n_ref <= 0 or n_cur <= 0:
        return 0.0
    return (k - 1) * (1.0 / n_ref + 1.0 / n_cur) / 8.0


def js_noise_floor(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Mean Jensen-Shannon divergence (squared distance) between samples of the reference's and
    the batch's sizes drawn from one distribution (their pooled shares): what sampling alone
    reads as drift. Sparse categories make it large (2,000 categories, 10,000 rows: ~0.02, a
    distance of ~0.14), so a distance threshold must sit above it. A parametric bootstrap
    (see JS_NULL_CELLS) with a fixed seed: the same counts always give the same floor."""
    ref = np.asarray(ref_counts, dtype=float)
    cur = np.asarray(cur_counts, dtype=float)
    n_ref, n_cur = int(round(ref.sum())), int(round(cur.sum()))
    pooled = ref + cur
    pooled = pooled[pooled > 0]
    if len(pooled) < 2 or n_ref <= 0 or n_cur <= 0:
        return 0.0
    rng = np.random.default_rng(0)
    shares = pooled / pooled.sum()
    draws = int(np.clip(JS_NULL_CELLS // len(pooled), 16, 2000))
    p = rng.multinomial(n_ref, shares, size=draws) / n_ref
    q = rng.multinomial(n_cur, shares, size=draws) / n_cur
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=1)
    return float(np.mean((kl_p + kl_q) / 2.0))


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index; empty bins get a tiny share, as Evidently does."""
    p = _fill_zero_shares(np.asarray(ref_counts, dtype=float) / np.sum(ref_counts))
    q = _fill_zero_shares(np.asarray(cur_counts, dtype=float) / np.sum(cur_counts))
    return float(np.sum((p - q) * np.log(p / q)))


def _fill_zero_shares(shares: np.ndarray) -> np.ndarray:
    nonzero = shares[shares > 0]
    smallest = float(nonzero.min()) if len(nonzero) else 1.0
    fill = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return np.where(shares > 0, shares, fill)


def chisquare_test(cur_counts: np.ndarray, ref_counts: np.ndarray) -> tuple[float, float]:
    """Two-sample Pearson chi-square on the 2 x K table of reference and current counts.

    Both sides are samples, so this is ``scipy.stats.chi2_contingency`` on the table (Yates'
    correction at one degree of freedom, as scipy does); categories absent from both sides
    are dropped. A goodness-of-fit test against the reference's shares would treat those
    shares as exact and false-alarm far above the nominal rate on small references.
    """
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(ref_counts, dtype=float), np.asarray(cur_counts, dtype=float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or not (table.sum(axis=1) > 0).all():
        return 0.0, 1.0
    res = chi2_contingency(table)
    return float(res.statistic), _clip_p(res.pvalue)


def chisquare_goodness_of_fit(
    cur_counts: np.ndarray, ref_counts: np.ndarray
) -> tuple[float, float]:
    """The one-sample test Evidently runs (current counts against the reference's shares);
    kept for the false-alarm benchmark's before/after comparison, not used for verdicts."""
    from scipy.stats import chisquare

    f_obs = np.asarray(cur_counts, dtype=float)
    ref = np.asarray(ref_counts, dtype=float)
    if len(f_obs) < 2:
        return 0.0, 1.0
    res = chisquare(f_obs, ref * (f_obs.sum() / ref.sum()))
    return float(res.statistic), _clip_p(res.pvalue)


def all_in_current_p(n_ref: int, n_cur: int, n_differ: int) -> float:
    """Chance that ``n_differ`` values drawn without replacement from the pooled rows all fall
    in the current batch (hypergeometric; the exact one-sided test when the reference has none)."""
    if n_differ <= 0:
        return 1.0
    if n_differ > n_cur:
        return 0.0
    total = n_ref + n_cur
    log_p = (
        math.lgamma(n_cur + 1)
        - math.lgamma(n_cur - n_differ + 1)
        - math.lgamma(total + 1)
        + math.lgamma(total - n_differ + 1)
    )
    return _clip_p(math.exp(log_p))


def ztest_two_proportions(
    ref_hits: float, n_ref: float, cur_hits: float, n_cur: float
) -> tuple[float, float]:
    """Two-proportion z-test (pooled variance), two-sided; the test Evidently uses for binary
    columns. Identical samples with no variation give z = 0, p = 1."""
    from scipy.stats import norm

    p1, p2 = ref_hits / n_ref, cur_hits / n_cur
    pooled = (p1 * n_ref + p2 * n_cur) / (n_ref + n_cur)
    var = pooled * (1.0 - pooled) * (1.0 / n_ref + 1.0 / n_cur)
    if var <= 0:
        return 0.0, 1.0
    z = (p1 - p2) / math.sqrt(var)
    return float(z), _clip_p(2.0 * (1.0 - norm.cdf(abs(z))))


def coarse_groups(ref_counts: np.ndarray, n_groups: int) -> np.ndarray:
    """Start indices that merge fine bins into about ``n_groups`` equal-mass groups."""
    cum = np.cumsum(ref_counts)
    targets = cum[-1] * np.arange(1, n_groups) / n_groups
    cuts = np.searchsorted(cum, targets, side="left") + 1
    starts = np.unique(np.concatenate([[0], cuts[cuts < len(ref_counts)]]))
    return starts.astype(np.intp)


def coarse_counts(
    ref_counts: np.ndarray, cur_counts: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts on equal-mass reference bins (open-ended at both ends)."""
    starts = coarse_groups(ref_counts, n_groups)
    ref_c = np.add.reduceat(ref_counts, starts)
    cur_c = np.add.reduceat(cur_counts[1:-1], starts).astype(float)
    cur_c[0] += cur_counts[0]
    cur_c[-1] += cur_counts[-1]
    return ref_c.astype(float), cur_c


def _clip_p(p: object) -> float:
    value = float(p)  # type: ignore[arg-type]
    if not math.isfinite(value):
        return 1.0
    return min(max(value, 0.0), 1.0)


def sum_of_squares(x: np.ndarray) -> float:
    """Sum of x**2 without BLAS (np.dot hands short vectors to OpenBLAS threads, which stall
    for milliseconds per call when the cores are busy)."""
    return float(np.einsum("i,i->", x, x))
