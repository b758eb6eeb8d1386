"""After a training run: find the candidate model version the run registered, run the
pipeline's gate on it and promote it when it passes. The decision is returned for the run's
``details`` (and a rejection becomes an alert in the runner).

The gate is resolved the way :func:`mlnb.promote` resolves it, from the worker whose working
folder is the notebook's: a name found in ``gates.yaml``/``gates.toml`` next to the notebook,
or ``path.yaml:name``. The gate file may name its own holdout and target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlnb.errors import GateFailed
from mlnb.lifecycle.promotion import PromotionResult, promote
from mlnb.pipelines.config import PipelineConfig


def promote_candidates(
    reg: Any, pipeline: Mapping[str, Any], cfg: PipelineConfig, run_id: int
) -> dict[str, Any]:
    """Gate and promote the newest version of each model the run registered.

    Returns ``{"decision": "promoted" | "rejected" | "no_candidate", "candidates": [...]}``.
    """
    versions = reg.pipelines.model_versions_of_run(run_id)
    if cfg.model:
        versions = [v for v in versions if v["model"] == cfg.model]
    newest: dict[str, dict[str, Any]] = {}
    for v in versions:  # newest first
        newest.setdefault(v["model"], v)
    base = {"gate": cfg.gate, "to": cfg.promote_to}
    if not newest:
        which = f"a version of model {cfg.model!r}" if cfg.model else "a model version"
        return {
            **base,
            "decision": "no_candidate",
            "message": f"the notebook registered no {which} during this run, so nothing was "
            f"gated or promoted; call mlnb.register_model(...) (or %register_model) in it.",
            "candidates": [],
        }
    candidates = [_gate_and_promote(reg, pipeline, cfg, run_id, v) for v in newest.values()]
    decision = "promoted" if all(c["promoted"] for c in candidates) else "rejected"
    return {**base, "decision": decision, "candidates": candidates}


def _gate_and_promote(
    reg: Any, pipeline: Mapping[str, Any], cfg: PipelineConfig, run_id: int, version: dict[str, Any]
) -> dict[str, Any]:

    record: dict[str, Any] = {
        "model": version["model"],
        "version": version["version"],
        "version_id": version["version_id"],
    }
    to = cfg.promote_to or "production"
    stage = reg.models.version(version["model"], version["version"])["stage"]
    if stage == to:  # moved during the run by something else: record it, never a failure
        return {
            **record,
            "promoted": True,
            "message": f"{version['model']} v{version['version']} was already in {to}; "
            "nothing to do",
        }
    if stage == "archived":
        return {
            **record,
            "promoted": False,
            "message": f"{version['model']} v{version['version']} was archived during the "
            "run, so it was not gated",
        }
    try:
        result = promote(
            version["model"],
            version=version["version"],
            to=to,
            gate=cfg.gate,
            reason=f"pipeline {pipeline['name']} run #{run_id}",
            registry=reg,
            defer_to_pipeline=False,
        )
    except GateFailed as exc:  # raise_on_failure is off; kept for gates that raise anyway
        if not isinstance(exc.result, PromotionResult):
            return {**record, "promoted": False, "message": str(exc)}
        result = exc.result
    d = result.to_dict()
    record.update(
        {
            "promoted": bool(d["promoted"]),
            "message": d.get("message", ""),
            "previous_production": d.get("previous_production"),
            "production_version": d.get("production_version"),
        }
    )
    gate = d.get("gate")
    if gate:
        record["gate_result_id"] = gate.get("id")
        record["gate_passed"] = gate.get("passed")
        record["checks"] = [
            {k: c.get(k) for k in ("name", "value", "threshold", "op", "passed")}
            for c in gate.get("checks", [])
        ]
    return record
