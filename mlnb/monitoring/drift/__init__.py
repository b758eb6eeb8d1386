"""Statistical drift detection: fit a reference once, score batches in linear time.

    from mlnb.monitoring.drift import fit_profile, score, drift
    profile = fit_profile(reference_df)           # compact, JSON-serializable statistics
    report = score(profile, current_df)           # DriftReport: per-column verdicts
    report = drift(reference_df, current_df)      # both in one call
    report = mlnb.drift(reference_df, current_df) # the same, from the public API

Reports render as inline panels in notebooks (``_repr_html_``) and as text in terminals.
"""

from __future__ import annotations

from mlnb.monitoring.drift.config import DEFAULT_THRESHOLDS, METHODS, DriftConfig
from mlnb.monitoring.drift.profile import ColumnProfile, Profile, fit_profile
from mlnb.monitoring.drift.report import ColumnResult, DriftReport
from mlnb.monitoring.drift.scoring import drift, score
from mlnb.monitoring.drift.thresholds import learn_threshold, reference_chunk_scores

__all__ = [
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "ColumnProfile",
    "ColumnResult",
    "DriftConfig",
    "DriftReport",
    "Profile",
    "drift",
    "fit_profile",
    "learn_threshold",
    "reference_chunk_scores",
    "score",
]
