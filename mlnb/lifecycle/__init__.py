"""The model registry's behaviour: versions, aliases, rollback and lineage (``versions``),
promotion gates (``gate``, ``checks``, ``evaluation``, ``holdout``) and promotion (``promotion``).
Import from the modules; this file imports nothing.

Promotion gates: checks run on a holdout against a candidate model version.

``mlnb.Gate("churn_gate", [MinMetric("accuracy", 0.82), NoRegression("accuracy", 0.01)])``
defines one in code; ``gates.yaml`` / ``gates.toml`` next to the notebook define them in a
file (``mlnb.promote(..., gate="gates.yaml:churn_gate")``).
"""
