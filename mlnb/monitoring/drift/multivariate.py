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
whole. The moments come from at most ``SAMPLE_ROWS`` evenly strided rows per frame; rows with
a missing or infinite value in any of these columns are left out.
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


@dataclass
class Moments:
    """Row count, mean vector and centred cross-product matrix of some numeric columns."""

    columns: list[str]
    n: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def empty(cls, columns: list[str]) -> Moments:
        d = len(columns)
        return cls(list(columns), 0, np.zeros(d), np.zeros((d, d)))

    @classmethod
    def of_frame(cls, df: Any, columns: list[str]) -> Moments:
        """Moments of the complete rows of ``df[columns]`` (strided to SAMPLE_ROWS)."""
        step = max(1, math.ceil(len(df) / SAMPLE_ROWS))
        by_name = {str(c): c for c in df.columns}
        rows = len(range(0, len(df), step))
        x = np.empty((len(columns), rows))  # one contiguous row per column
        for j, c in enumerate(columns):
            x[j] = numeric_values(df[by_name[c]])[::step]
        complete = np.isfinite(x).all(axis=0)
        if not complete.all():
            x = x[:, complete]
        if x.shape[1] == 0:
            return cls.empty(columns)
        mean = x.mean(axis=1)
        x -= mean[:, None]
        return cls(list(columns), x.shape[1], mean, x @ x.T)

    def merge(self, other: Moments) -> Moments:
        """Moments of both row sets together (Chan et al.'s pairwise update)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.n * other.n / n)
        return Moments(self.columns, n, mean, m2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "n": self.n,
            "mean": self.mean.tolist(),
            "m2": self.m2.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Moments:
        columns = [str(c) for c in d["columns"]]
        d2 = len(columns)
        return cls(
            columns,
            int(d["n"]),
            np.asarray(d["mean"], dtype=float).reshape(d2),
            np.asarray(d["m2"], dtype=float).reshape(d2, d2),
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
    std = np.sqrt(np.diag(ref.m2) / ref.n)
    usable = std > 0
    if usable.sum() < 2:
        return None
    scale = std[usable]
    corr = (ref.m2[np.ix_(usable, usable)] / ref.n) / np.outer(scale, scale)
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
    second = _correlation(cur.m2[np.ix_(usable, usable)] / cur.n)
    kept = model["kept"]
    error_cur = float(np.trace(second) - np.trace(kept.T @ second @ kept))
    error_ref = model["error"]
    ratio = error_cur / error_ref if error_ref > 0 else (1.0 if error_cur == 0 else math.inf)
    se = math.sqrt(model["error_var"] * (1.0 / cur.n + 1.0 / ref.n))
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
