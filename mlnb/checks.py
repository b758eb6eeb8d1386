"""Gate checks, importable as ``from mlnb.checks import MinMetric`` (see :mod:`mlnb.gates.checks`)."""

from __future__ import annotations

from mlnb.gates.checks import (
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
