"""After a training run: find the candidate model version the run registered, run the
pipeline's gate on it and promote it when it passes. The decision is returned for the run's
``details`` (and a rejection becomes an alert in the runner)."""

from __future__ import annotations

from typing import Any

from mlnb.errors import GateFailed
from mlnb.pipelines.config import PipelineConfig


def promote_candidates(
    reg: Any, pipeline: dict[str, Any], cfg: PipelineConfig, run_id: int
) -> dict[str, Any]:
    """Gate and promote the newest version of each model the run registered.

    Returns ``{"decision": "promoted" | "rejected" | "no_candidate", "candidates": [...]}``.
    """
    versions = reg.db.model_versions_of_pipeline_run(run_id)
    if cfg.model:
        versions = [v for v in versions if v["model"] == cfg.model]
    newest: dict[str, dict[str, Any]] = {}
    for v in versions:  # newest first
        newest.setdefault(v["model"], v)
    if not newest:
        which = f"a version of model {cfg.model!r}" if cfg.model else "a model version"
        return {
            "decision": "no_candidate",
            "message": f"the notebook registered no {which} during this run, so nothing was "
            f"gated or promoted; call mlnb.register_model(...) (or %register_model) in it.",
            "candidates": [],
        }
    candidates = [_gate_and_promote(pipeline, cfg, run_id, v) for v in newest.values()]
    decision = "promoted" if all(c["promoted"] for c in candidates) else "rejected"
    return {"decision": decision, "candidates": candidates, "gate": cfg.gate, "to": cfg.promote_to}


def _gate_and_promote(
    pipeline: dict[str, Any], cfg: PipelineConfig, run_id: int, version: dict[str, Any]
) -> dict[str, Any]:
    import mlnb

    reason = f"pipeline {pipeline['name']} run #{run_id}"
    record: dict[str, Any] = {
        "model": version["model"],
        "version": version["version"],
        "version_id": version["version_id"],
    }
    try:
        result = mlnb.promote(
            version["model"],
            version=version["version"],
            to=cfg.promote_to,
            gate=cfg.gate,
            reason=reason,
        )
    except GateFailed as exc:
        record.update({"promoted": False, "message": str(exc)})
        record.update(_gate_summary(exc.result))
        return record
    record["promoted"] = bool(getattr(result, "promoted", False))
    record.update(
        _gate_summary(getattr(result, "gate_result", None) or getattr(result, "gate", None))
    )
    message = getattr(result, "message", None) or getattr(result, "reason", None)
    if message:
        record["message"] = str(message)
    return record


def _gate_summary(gate_result: Any) -> dict[str, Any]:
    """The gate result's id, verdict and failed checks, whatever shape it has."""
    if gate_result is None:
        return {}
    get = (
        gate_result.get
        if isinstance(gate_result, dict)
        else lambda k, d=None: getattr(gate_result, k, d)
    )
    out: dict[str, Any] = {}
    for key, name in (("id", "gate_result_id"), ("gate", "gate"), ("passed", "gate_passed")):
        value = get(key)
        if value is not None and isinstance(value, (int, float, str, bool)):
            out[name] = value
    checks = get("checks")
    if checks:
        failed = []
        for c in checks:
            cd = c if isinstance(c, dict) else getattr(c, "__dict__", {})
            if not cd.get("passed", True):
                failed.append(
                    {k: cd.get(k) for k in ("name", "value", "threshold", "message") if k in cd}
                )
        out["failed_checks"] = failed
    return out
