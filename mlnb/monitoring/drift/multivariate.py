"""Multivariate drift: a change in how the numeric features move together.

Per-column tests miss a change in the relation between columns (a correlation that flips
while every marginal stays put). The reference's principal components are fitted on its
correlation matrix, keeping those that explain ``KEPT_VARIANCE`` of it; a batch drifts when
its mean reconstruction error (the standardized variance left outside those components)
moves away from the reference's, as NannyML's data-reconstruction drift does, except that
the batch is standardized by its own means and spreads: shifts of single columns are the
per-column tests' business, so this test answers only "do the columns still move together
as they did?".

Everything is computed from first and second moments (mean vector and cross-product
matrix), which merge exactly across chunks and Dask partitions, so the batch is never held
whole. The moments come from evenly strided rows: a whole frame gives at most
``SAMPLE_ROWS``; a stream of chunks thins as it grows (:func:`stride`), each sampled row
weighted by the rows it stands for, so the merged moments estimate the whole stream's
without favouring its first chunks, with the precision of ``SAMPLE_ROWS`` rows (2x that
many read at 10 chunks, ~``SAMPLE_ROWS`` x ln(chunks) / 2 more beyond). Rows with a missing
or infinite value in any of these columns are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlnb.monitoring.drift._frames import numeric_values

SAMPLE_ROWS = 20_000  # rows per frame feeding the moments (strided, so order does not bias)
MAX_COLUMNS = 100  # the d x d moments grow with the square of the column count
KEPT_VARIANCE = 0.65  # share of the reference's variance the kept components explain
Z_LIMIT = 3.0  # the error must also move this many standard errors (NannyML: 3 sigma)
METHOD = "pca_reconstruction"


def stride(position: int, rows: int) -> int:
    """Every how many rows the ``position``-th chunk of a stream (0: the first or only frame)
    is sampled. The first gets at most SAMPLE_ROWS rows, as a whole frame does; chunk k >= 1
    is sampled as the last of k + 1 chunks its size sharing half that budget, so a stream's
    rows, weighted, have about the precision of SAMPLE_ROWS unweighted ones (Kish's
    effective size) at any length, for SAMPLE_ROWS x (1 + ln(chunks) / 2) rows read. It
    depends on the chunk's position, not on the rows before it, so a Dask partition knows
    it too."""
    share = 1 if position == 0 else 2 * (position + 1)
    return max(1, math.ceil(rows * share / SAMPLE_ROWS))


@dataclass
class Moments:
    """Weighted mean vector and centred cross-product matrix of some numeric columns.

    ``n`` rows were sampled; each stands for the rows around it, so ``weight`` is the number
    of rows they represent (``weight_sq`` the sum of squared weights, for the effective row
    count). Unit weights (``weight == weight_sq == n``) are plain, unsampled moments.
    """

    columns: list[str]
    n: int
    mean: np.ndarray
    m2: np.ndarray
    weight: float = -1.0  # -1: unit weights (n)
    weight_sq: float = -1.0

    def __post_init__(self) -> None:
        if self.weight < 0:
            self.weight = float(self.n)
        if self.weight_sq < 0:
            self.weight_sq = float(self.n)

    @property
    def covariance(self) -> np.ndarray:
        """The (population) covariance matrix the rows estimate."""
        return self.m2 / self.weight

    @property
    def effective_n(self) -> float:
        """Rows an unweighted sample with the same precision would hold (Kish)."""
        return self.weight**2 / self.weight_sq if self.weight_sq else 0.0

    @classmethod
    def empty(cls, columns: list[str]) -> Moments:
        d = len(columns)
        return cls(list(columns), 0, np.zeros(d), np.zeros((d, d)))

    @classmethod
    def of_frame(cls, df: Any, columns: list[str], step: int | None = None) -> Moments:
        """Moments of the complete rows of ``df[columns]``, every ``step``-th row (default:
        strided to SAMPLE_ROWS), each weighted by the rows it stands for."""
        step = stride(0, len(df)) if step is None else max(1, int(step))
        by_name = {str(c): c for c in df.columns}
        rows = len(range(0, len(df), step))
        x = np.empty((len(columns), rows))  # one contiguous row per column
        for j, c in enumerate(columns):
            x[j] = numeric_values(df[by_name[c]])[::step]
        complete = np.isfinite(x).all(axis=0)
        if not complete.all():
            x = x[:, complete]
        n = x.shape[1]
        if n == 0:
            return cls.empty(columns)
        each = len(df) / rows  # the rows one sampled row stands for
        mean = x.mean(axis=1)
        x -= mean[:, None]
        # not x @ x.T: BLAS hands it to OpenBLAS's own threads, which spin for milliseconds
        # waiting for a core while the column jobs keep both busy
        m2 = np.einsum("ik,jk->ij", x, x)
        if each != 1.0:
            m2 *= each
        return cls(list(columns), n, mean, m2, each * n, each * each * n)

    def merge(self, other: Moments) -> Moments:
        """Moments of both row sets together (Chan et al.'s pairwise update, weighted)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        weight = self.weight + other.weight
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.weight / weight)
        m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.weight * other.weight / weight)
        return Moments(
            self.columns,
            self.n + other.n,
            mean,
            m2,
            weight,
            self.weight_sq + other.weight_sq,
        )

    def subset(self, keep: np.ndarray) -> Moments:
        """The moments of the columns at positions ``keep`` (the matching entries: exact)."""
        return Moments(
            [self.columns[i] for i in keep],
            self.n,
            self.mean[keep],
            self.m2[np.ix_(keep, keep)],
            self.weight,
            self.weight_sq,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "n": self.n,
            "mean": self.mean.tolist(),
            "m2": self.m2.tolist(),
            "weight": self.weight,
            "weight_sq": self.weight_sq,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Moments:
        """Moments saved by :meth:`to_dict` (older profiles, without weights: unit weights)."""
        columns = [str(c) for c in d["columns"]]
        d2 = len(columns)
        return cls(
            columns,
            int(d["n"]),
            np.asarray(d["mean"], dtype=float).reshape(d2),
            np.asarray(d["m2"], dtype=float).reshape(d2, d2),
            float(d.get("weight", -1.0)),
            float(d.get("weight_sq", -1.0)),
        )


def feature_columns(df: Any, names: list[str], roles: Mapping[str, str]) -> list[str]:
    """The numeric (not boolean, not categorical-dtype) feature columns, at most MAX_COLUMNS."""
    from pandas.api import types as pdt

    by_name = {str(c): c for c in df.columns}
    picked = []
    for name in names:
        dtype = df[by_name[name]].dtype
        if roles.get(name, "feature") != "feature":
            continue
        if pdt.is_numeric_dtype(dtype) and not pdt.is_bool_dtype(dtype):
            picked.append(name)
    return picked[:MAX_COLUMNS]


def reference_model(ref: Moments) -> dict[str, Any] | None:
    """Standardization and kept components of the reference (None with < 2 usable columns)."""
    if ref.n < 3:
        return None
    cov = ref.covariance
    std = np.sqrt(np.diag(cov))
    usable = std > 0
    if usable.sum() < 2:
        return None
    scale = std[usable]
    corr = cov[np.ix_(usable, usable)] / np.outer(scale, scale)
    values, vectors = np.linalg.eigh(corr)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    share = np.cumsum(values) / values.sum()
    k = min(int(np.searchsorted(share, KEPT_VARIANCE)) + 1, len(values) - 1)
    dropped = values[k:]
    return {
        "usable": usable,
        "mean": ref.mean[usable],
        "scale": scale,
        "kept": vectors[:, :k],
        "error": float(dropped.sum()),
        "error_var": float(2.0 * np.sum(dropped**2)),  # per-row variance if Gaussian
        "n_components": k,
    }


def _correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance; a column without spread correlates with nothing.

    The batch is standardized by its own means and spreads, so shifts and rescalings of
    single columns (which the per-column tests judge) leave the error alone: only a change in
    how the columns move together moves it.
    """
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    safe = np.where(sd > 0, sd, 1.0)
    corr = cov / np.outer(safe, safe)
    corr[sd == 0, :] = 0.0
    corr[:, sd == 0] = 0.0
    np.fill_diagonal(corr, 1.0)
    return corr


def verdict(ref: Moments, cur: Moments, threshold: float, min_rows: int) -> dict[str, Any] | None:
    """The batch's reconstruction error against the reference's, and whether it drifted."""
    model = reference_model(ref)
    if model is None:
        return None
    base = {
        "method": METHOD,
        "columns": [c for c, ok in zip(ref.columns, model["usable"], strict=True) if ok],
        "n_components": model["n_components"],
        "error_ref": model["error"],
        "threshold": threshold,
        "rows": cur.n,
    }
    if cur.n < min_rows:
        return {
            **base,
            "error_cur": None,
            "score": None,
            "z": None,
            "drifted": False,
            "note": f"too little data: {cur.n} complete rows, at least {min_rows} needed",
        }
    usable = model["usable"]
    second = _correlation(cur.covariance[np.ix_(usable, usable)])
    kept = model["kept"]
    error_cur = float(np.trace(second) - np.trace(kept.T @ second @ kept))
    error_ref = model["error"]
    ratio = error_cur / error_ref if error_ref > 0 else (1.0 if error_cur == 0 else math.inf)
    se = math.sqrt(model["error_var"] * (1.0 / cur.effective_n + 1.0 / ref.effective_n))
    z = (error_cur - error_ref) / se if se > 0 else 0.0
    drifted = abs(ratio - 1.0) >= threshold and abs(z) >= Z_LIMIT
    direction = "more" if error_cur > error_ref else "less"
    note = (
        f"the {len(base['columns'])} numeric features leave {abs(ratio - 1):.0%} {direction} "
        f"variance outside the reference's {model['n_components']} main components "
        f"({z:+.1f} standard errors)"
    )
    return {
        **base,
        "error_cur": error_cur,
        "score": ratio if math.isfinite(ratio) else 1e9,
        "z": z,
        "drifted": bool(drifted),
        "note": note + ("; the relation between columns changed" if drifted else ""),
    }
