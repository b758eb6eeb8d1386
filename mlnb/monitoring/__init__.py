"""Drift and accuracy monitoring over the drift engine, with alerts stored in the registry."""

from mlnb.monitoring.monitor import (
    BatchResult,
    Monitor,
    Threshold,
    compute_metrics,
    list_monitors,
    parse_thresholds,
)

__all__ = [
    "BatchResult",
    "Monitor",
    "Threshold",
    "compute_metrics",
    "list_monitors",
    "parse_thresholds",
]
