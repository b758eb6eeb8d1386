"""Gate checks, importable as ``from mlnb.checks import MinMetric`` (see :mod:`mlnb.lifecycle.checks`)."""

from __future__ import annotations

from mlnb.lifecycle.checks import (
    Check,
    CheckResult,
    MaxBias,
    MaxLatency,
    MaxMetric,
    MinMetric,
    NoRegression,
)

__all__ = [
    "Check",
    "CheckResult",
    "MaxBias",
    "MaxLatency",
    "MaxMetric",
    "MinMetric",
    "NoRegression",
]
