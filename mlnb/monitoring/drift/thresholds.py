"""Learned thresholds: how much do drift scores wobble between chunks of the reference itself?

Scoring chunks of the reference against the whole reference shows the noise level of each
drift score for batches of that size; ``mean +/- 3 sigma`` of those scores is a threshold
that fires on real change rather than sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from mlnb.errors import ValidationError
from mlnb.monitoring.drift.config import DriftConfig
from mlnb.monitoring.drift.profile import fit_profile
from mlnb.monitoring.drift.scoring import score


def learn_threshold(values: Iterable[float], sigmas: float = 3) -> tuple[float, float]:
    """(low, high) = mean -/+ ``sigmas`` standard deviations of reference-chunk metrics.

    Non-finite values are ignored; at least two finite values are needed.
    """
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    if len(arr) < 2:
        raise ValidationError(
            f"learn_threshold needs at least 2 finite values to estimate spread, got {len(arr)}"
        )
    if not (isinstance(sigmas, int | float) and math.isfinite(sigmas) and sigmas >= 0):
        raise ValidationError(f"sigmas must be a finite number >= 0, got {sigmas!r}")
    mean, std = float(arr.mean()), float(arr.std(ddof=1))
    return mean - sigmas * std, mean + sigmas * std


def reference_chunk_scores(reference: Any, n_chunks: int = 10, **config_kwargs: Any) -> Any:
    """Drift scores of ``n_chunks`` consecutive chunks of the reference against all of it.

    Returns a DataFrame with one row per chunk: ``chunk``, ``n_rows``, ``share_drifted``,
    ``n_drifted`` and one column per scored column holding its drift score.
    """
    import pandas as pd

    if not isinstance(reference, pd.DataFrame):
        raise ValidationError(
            f"reference must be a pandas DataFrame, got {type(reference).__name__}"
        )
    if isinstance(n_chunks, bool) or not isinstance(n_chunks, int) or n_chunks < 2:
        raise ValidationError(f"n_chunks must be an integer >= 2, got {n_chunks!r}")
    if len(reference) < n_chunks:
        raise ValidationError(
            f"the reference has {len(reference)} rows, fewer than n_chunks={n_chunks}"
        )
    cfg = DriftConfig.from_kwargs(**config_kwargs)
    profile = fit_profile(reference, config=cfg)
    rows = []
    bounds = np.linspace(0, len(reference), n_chunks + 1).round().astype(int)
    for i in range(n_chunks):
        chunk = reference.iloc[bounds[i] : bounds[i + 1]]
        report = score(profile, chunk)
        row: dict[str, Any] = {
            "chunk": i,
            "n_rows": len(chunk),
            "share_drifted": report.share_drifted,
            "n_drifted": report.n_drifted,
        }
        for c in report.columns:
            if c.score is not None:
                row[c.column] = c.score
        rows.append(row)
    return pd.DataFrame(rows)
