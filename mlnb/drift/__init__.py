"""Statistical drift detection: fit a reference once, score batches in linear time.

    from mlnb.drift import fit_profile, score, drift
    profile = fit_profile(reference_df)           # compact, JSON-serializable statistics
    report = score(profile, current_df)           # DriftReport: per-column verdicts
    report = drift(reference_df, current_df)      # both in one call
    report = mlnb.drift(reference_df, current_df) # the same, from the top-level package

Reports render as inline panels in notebooks (``_repr_html_``) and as text in terminals.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from mlnb.drift.config import DEFAULT_THRESHOLDS, METHODS, DriftConfig
from mlnb.drift.profile import ColumnProfile, Profile, fit_profile
from mlnb.drift.report import ColumnResult, DriftReport
from mlnb.drift.scoring import drift, score
from mlnb.drift.thresholds import learn_threshold, reference_chunk_scores

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


class _CallableModule(types.ModuleType):
    """Lets ``mlnb.drift(reference, current)`` work although ``mlnb.drift`` is a package:
    importing the subpackage rebinds the ``mlnb.drift`` attribute to this module."""

    def __call__(self, reference: Any, current: Any, **kwargs: Any) -> DriftReport:
        return drift(reference, current, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
