"""What happens once an attempt of a pipeline run has ended: a retry queued under --retries,
the alerts a failure, crash or gate rejection raises, the triggering monitor alerts
acknowledged once a candidate is promoted, and retention of output notebooks. Used by the
executor, by the scheduler's recovery and by a worker whose scheduler died."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlnb.monitoring.alerts import raise_alert
from mlnb.pipelines.config import PipelineConfig

log = logging.getLogger("mlnb.pipelines")


def may_retry(reg: Any, row: Mapping[str, Any]) -> bool:
    """Whether a failed or crashed attempt has attempts left under the pipeline's --retries."""
    if row["details"].get("no_retry"):
        return False
    pipeline = reg.pipelines.get_by_id(row["pipeline_id"])
    return bool(row["attempt"] <= PipelineConfig.from_dict(pipeline["config"]).retries)


def requeue_attempt(reg: Any, row: Mapping[str, Any]) -> float:
    """Put a failed attempt back in the queue after recording it; returns the backoff."""
    pipeline = reg.pipelines.get_by_id(row["pipeline_id"])
    cfg = PipelineConfig.from_dict(pipeline["config"])
    delay = cfg.retry_delay_seconds * 2 ** (row["attempt"] - 1)
    attempts = [*row["details"].get("attempts", []), _attempt_record(row)]
    reg.pipelines.merge_run_details(
        row["id"], {"attempts": attempts, "not_before": time.time() + delay}
    )
    reg.pipelines.update_run(
        row["id"],
        {"status": "queued", "attempt": row["attempt"] + 1, "pid": None, "ended_at": None},
        only_if_status=row["status"],
    )
    log.warning(
        "pipeline %s run #%d attempt %d %s (%s); retrying in %g s",
        pipeline["name"],
        row["id"],
        row["attempt"],
        row["status"],
        row["error"],
        delay,
    )
    return delay


def settle_orphaned_run(reg: Any, run_id: int) -> list[int]:
    """A run whose scheduler (or command) died under it: raise the crash alert, and queue a
    retry while ``--retries`` allows (the next scheduler runs it). Returns the alert ids."""
    row = reg.pipelines.run(run_id)
    if row["status"] not in ("failed", "crashed"):
        return []
    pipeline = reg.pipelines.get_by_id(row["pipeline_id"])
    retry = may_retry(reg, row)
    note = (
        f"; retry queued as attempt {row['attempt'] + 1} (it runs when a scheduler is running)"
        if retry
        else ""
    )
    alerts = raise_run_alerts(reg, pipeline, row, note=note)
    if alerts:
        reg.pipelines.merge_run_details(run_id, {"alerts": alerts})
    if retry:
        requeue_attempt(reg, reg.pipelines.run(run_id))
    else:
        apply_retention(reg, pipeline)
    return alerts


def _attempt_record(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: row.get(k)
        for k in (
            "attempt",
            "status",
            "error",
            "failing_cell",
            "started_at",
            "ended_at",
            "output_path",
        )
    }


def raise_run_alerts(
    reg: Any, pipeline: Mapping[str, Any], row: Mapping[str, Any], note: str = ""
) -> list[int]:
    """Alerts for a run that failed or crashed for good, or whose candidate the gate rejected;
    ``note`` ends the failure alert's message (e.g. that a retry is queued)."""

    evidence = {
        "pipeline": pipeline["name"],
        "pipeline_run_id": row["id"],
        "trigger": row["trigger"],
        "reason": row["reason"],
        "output_path": row["output_path"],
        "attempts": row["attempt"],
    }
    raised = []
    if row["status"] in ("failed", "crashed"):
        attempts = f" after {row['attempt']} attempts" if row["attempt"] > 1 else ""
        triggering = row["details"].get("alert_ids") or []
        if triggering:
            note += "; the alert(s) " + ", ".join(f"#{a}" for a in triggering)
            note += " that triggered it stay open until a retrain is promoted"
        alert = raise_alert(
            reg,
            source="pipeline",
            kind=f"pipeline_run_{row['status']}",
            message=f"pipeline {pipeline['name']} run #{row['id']} {row['status']}{attempts}: "
            f"{row['error']}{note}",
            evidence={**evidence, "error": row["error"], "failing_cell": row["failing_cell"]},
            severity="critical",
            pipeline_id=pipeline["id"],
        )
        raised.append(alert["id"])
    promotion = row["details"].get("promotion") or {}
    if row["status"] == "finished" and promotion.get("decision") == "rejected":
        rejected = [c for c in promotion.get("candidates", []) if not c.get("promoted")]
        names = ", ".join(f"{c['model']} v{c['version']}" for c in rejected)
        checks = "; ".join(
            f"{c.get('message') or ''}".strip() for c in rejected if c.get("message")
        )
        alert = raise_alert(
            reg,
            source="pipeline",
            kind="gate_rejected",
            message=f"pipeline {pipeline['name']} run #{row['id']}: gate {promotion.get('gate')!r} "
            f"rejected {names}; {promotion.get('to')} stays as it was"
            + (f" ({checks})" if checks else ""),
            evidence={**evidence, "promotion": promotion},
            severity="warning",
            pipeline_id=pipeline["id"],
        )
        raised.append(alert["id"])
    if row["status"] == "finished" and promotion.get("decision") == "no_candidate":
        alert = raise_alert(
            reg,
            source="pipeline",
            kind="no_candidate",
            message=f"pipeline {pipeline['name']} run #{row['id']}: {promotion.get('message')}",
            evidence={**evidence, "promotion": promotion},
            severity="warning",
            pipeline_id=pipeline["id"],
        )
        raised.append(alert["id"])
    return raised


def promoted_a_candidate(reg: Any, row: Mapping[str, Any]) -> bool:
    """Whether the run put a new model in place: its gate promoted a candidate, or (with no
    --promote-to) the notebook itself promoted a version it registered to production."""
    if row["status"] != "finished":
        return False
    promotion = row["details"].get("promotion") or {}
    if promotion:
        return promotion.get("decision") == "promoted"
    versions = reg.pipelines.model_versions_of_run(row["id"])
    return any(v["stage"] == "production" for v in versions)


def acknowledge_handled_alerts(
    reg: Any, pipeline: Mapping[str, Any], row: Mapping[str, Any]
) -> list[int]:
    """Once a run promotes a candidate, the open alerts of the watched monitor that the
    pipeline took on are acknowledged (``handled_by=pipeline:NAME``); until then they stay
    open, so a failed retrain never hides the degradation. Returns the ids acknowledged."""
    cfg = PipelineConfig.from_dict(pipeline["config"])
    if not cfg.on_alert or not promoted_a_candidate(reg, row):
        return []
    monitor_id = reg.db.id_by_name("monitors", cfg.on_alert)
    if monitor_id is None:
        return []
    taken = reg.pipelines.last_handled_alert_id(pipeline["id"])
    handled = [
        a["id"]
        for a in reg.alerts.open_of_monitor(monitor_id, 0, cfg.alert_kinds or None)
        if a["id"] <= taken
    ]
    for alert_id in handled:
        reg.alerts.acknowledge(alert_id, by=f"pipeline:{pipeline['name']}")
    if handled:
        reg.pipelines.merge_run_details(row["id"], {"acknowledged_alerts": handled})
    return handled


def apply_retention(reg: Any, pipeline: dict[str, Any]) -> list[int]:
    """Delete output notebooks and logs of all but the newest ``keep_outputs`` ended runs;
    the run rows (status, error, stored log) stay. Returns the runs whose files went."""
    keep = PipelineConfig.from_dict(pipeline["config"]).keep_outputs
    ended = reg.pipelines.runs(pipeline["id"], statuses=("finished", "failed", "crashed"))
    with_files = [r for r in ended if r["output_path"] and not r["details"].get("output_removed")]
    pruned = []
    for row in with_files[keep:]:
        paths = [
            row["output_path"],
            *(a.get("output_path") for a in row["details"].get("attempts", [])),
        ]
        for p in filter(None, paths):
            for f in (Path(p), Path(p).with_suffix(".log")):
                try:
                    f.unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("retention: cannot delete %s: %s", f, exc)
        reg.pipelines.merge_run_details(row["id"], {"output_removed": True})
        pruned.append(row["id"])
    return pruned
