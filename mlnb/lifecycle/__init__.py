"""Promotion gates: checks run on a holdout against a candidate model version.

``mlnb.Gate("churn_gate", [MinMetric("accuracy", 0.82), NoRegression("accuracy", 0.01)])``
defines one in code; ``gates.yaml`` / ``gates.toml`` next to the notebook define them in a
file (``mlnb.promote(..., gate="gates.yaml:churn_gate")``).
"""

from __future__ import annotations

from mlnb.lifecycle import checks
from mlnb.lifecycle.checks import (
    CheckResult,
    MaxBias,
    MaxLatency,
    MaxMetric,
    MinMetric,
    NoRegression,
)
from mlnb.lifecycle.gate import (
    Gate,
    GateResult,
    load_gate_file,
    register,
    registered_gates,
    resolve_gate,
)

__all__ = [
    "checks",
    "CheckResult",
    "Gate",
    "GateResult",
    "MaxBias",
    "MaxLatency",
    "MaxMetric",
    "MinMetric",
    "NoRegression",
    "load_gate_file",
    "register",
    "registered_gates",
    "resolve_gate",
]
