"""When a pipeline should run, and why: its cron schedule, new data in a watched path, or an
open alert of a monitor. Each check returns :class:`Fire` records; the scheduler queues them
under a ``due_key`` that is unique per pipeline, so the same due time never runs twice."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.errors import MlnbError
from mlnb.pipelines.config import PipelineConfig, missed_slots
from mlnb.tracking.files import file_hash_cache, fingerprint_path

log = logging.getLogger("mlnb.pipelines")
TRIGGERS = ("schedule", "new_data", "alert", "manual")


@dataclass
class Fire:
    """A reason to run: which trigger, why (in words), and the key that makes it idempotent."""

    trigger: str
    reason: str
    due_key: str | None
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "queued"
    after_enqueue: Callable[[int], None] | None = None


def due_fires(reg: Any, pipeline: Mapping[str, Any], now: dt.datetime) -> list[Fire]:
    """Every trigger of ``pipeline`` that is due at ``now``."""
    cfg = PipelineConfig.from_dict(pipeline["config"])
    fires: list[Fire] = []
    if cfg.schedule:
        fires += schedule_fires(reg, pipeline, cfg, now)
    if cfg.on_new_data:
        fires += new_data_fires(reg, pipeline, cfg)
    if cfg.on_alert:
        fires += alert_fires(reg, pipeline, cfg)
    return fires


# -- cron ---------------------------------------------------------------------------------


def schedule_anchor(reg: Any, pipeline: Mapping[str, Any], cfg: PipelineConfig) -> dt.datetime:
    """Slots after this time are due: the last scheduled due time, or creation/resume time."""
    since = dt.datetime.fromtimestamp(cfg.schedule_anchor or pipeline["created_at"], dt.UTC)
    last = reg.pipelines.latest_due_key(pipeline["id"], "cron:")
    if last:
        since = max(since, dt.datetime.fromisoformat(last.removeprefix("cron:")))
    return since


def schedule_fires(
    reg: Any, pipeline: Mapping[str, Any], cfg: PipelineConfig, now: dt.datetime
) -> list[Fire]:
    """The cron slot due now; slots missed while no scheduler ran follow ``cfg.catchup``."""
    assert cfg.schedule
    if reg.pipelines.has_queued_run(pipeline["id"], "schedule"):
        return []  # the queued run covers any later slot
    anchor = schedule_anchor(reg, pipeline, cfg)
    missed = missed_slots(cfg.schedule, cfg.timezone, anchor, now)
    if missed is None:
        return []
    latest, first, count = missed.latest, missed.first.isoformat(), missed.describe()
    late = (now - latest).total_seconds() > cfg.misfire_grace_seconds
    what = f"schedule '{cfg.schedule}' ({cfg.timezone}) due at {latest.isoformat()}"
    details: dict[str, Any] = {
        "due_at": latest.isoformat(),
        "slots": missed.count,
        "first_slot": first,
    }
    if missed.more:
        details["slots_more"] = True  # counted up to the limit, there were more
    key = f"cron:{latest.isoformat()}"
    several = missed.count > 1
    if cfg.catchup == "once":
        if several or late:
            what += f"; catch-up policy 'once': one run for {count} slot(s) missed since {first}"
        return [Fire("schedule", what, key, details)]
    if late:
        return [
            Fire(
                "schedule",
                f"{what}: skipped, {count} slot(s) since {first} were "
                "missed while no scheduler ran (catch-up policy 'skip')",
                key,
                details,
                status="skipped",
            )
        ]
    if several:
        earlier = f"{missed.count - 1}+" if missed.more else str(missed.count - 1)
        what += f"; {earlier} earlier missed slot(s) skipped (catch-up policy 'skip')"
    return [Fire("schedule", what, key, details)]


# -- new data -------------------------------------------------------------------------------


def hash_watched_paths(reg: Any, paths: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Content hashes of watched files/folders (cached by inode, size and mtime), and the
    paths that could not be hashed with the reason."""

    hashes, problems = {}, {}
    cache = file_hash_cache(reg)
    for path in paths:
        try:
            hashes[path] = fingerprint_path(Path(path), cache)
        except (MlnbError, OSError) as exc:
            problems[path] = str(exc)
    return hashes, problems


def new_data_fires(reg: Any, pipeline: Mapping[str, Any], cfg: PipelineConfig) -> list[Fire]:
    """A run when a watched path's content differs from what the last successful run saw."""
    hashes, problems = hash_watched_paths(reg, cfg.on_new_data)
    for path, problem in problems.items():
        log.warning(
            "pipeline %s: cannot check %s for new data: %s", pipeline["name"], path, problem
        )
    last = reg.pipelines.last_successful_run(pipeline["id"])
    baseline = dict(cfg.data_baseline)
    if last is not None:
        baseline.update(last["details"].get("data_hashes", {}))
    changed = [p for p, h in hashes.items() if h != baseline.get(p)]
    if not changed or reg.pipelines.has_queued_run(pipeline["id"], "new_data"):
        return []
    since = f"run #{last['id']}" if last else "the pipeline was created"
    parts = [f"{p} changed ({_short(baseline.get(p))} -> {_short(hashes[p])})" for p in changed[:3]]
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    combined = "+".join(hashes[p].split(":")[-1][:12] for p in sorted(changed))
    return [
        Fire(
            "new_data",
            f"new data: {'; '.join(parts)}{more} since {since}",
            f"data:{combined}@{last['id'] if last else 0}",
            {"changed": changed, "new_hashes": {p: hashes[p] for p in changed}},
        )
    ]


def _short(digest: str | None) -> str:
    return "none" if not digest else digest.split(":")[-1][:12]


# -- alerts -----------------------------------------------------------------------------------


def alert_fires(reg: Any, pipeline: Mapping[str, Any], cfg: PipelineConfig) -> list[Fire]:
    """A run for open alerts of the watched monitor that the pipeline has not handled yet.

    Several new alerts make one run. They stay open until a run of the pipeline actually
    promotes a candidate (:func:`mlnb.pipelines.runner.acknowledge_handled_alerts`): a
    failed retrain must not hide the degradation that triggered it.
    """
    assert cfg.on_alert
    monitor_id = reg.db.id_by_name("monitors", cfg.on_alert)
    if monitor_id is None:
        return []
    after = max(cfg.alert_after_id, reg.pipelines.last_handled_alert_id(pipeline["id"]))
    alerts = reg.alerts.open_of_monitor(monitor_id, after, cfg.alert_kinds or None)
    if not alerts:
        return []
    newest = alerts[-1]
    reason = (
        f"alert #{newest['id']} from monitor {cfg.on_alert} ({newest['kind']}): {newest['message']}"
    )
    if len(alerts) > 1:
        reason += (
            f" (with {len(alerts) - 1} earlier open alert(s): "
            + ", ".join(f"#{a['id']}" for a in alerts[:-1])
            + ")"
        )
    return [
        Fire(
            "alert",
            reason,
            f"alert:{newest['id']}",
            {
                "alert_ids": [a["id"] for a in alerts],
                "alert": {k: newest[k] for k in ("id", "kind", "message", "severity")},
                "monitor": cfg.on_alert,
            },
        )
    ]


def coalesce(reg: Any, pipeline: Mapping[str, Any], fires: list[Fire]) -> list[Fire]:
    """Fires due in the same pass as one run: its trigger is the first one's, its reason and
    ``details["reasons"]`` record every one. Fires whose due key was taken already drop out;
    records of skipped slots stay as they are."""
    skipped = [f for f in fires if f.status != "queued"]
    due = [
        f
        for f in fires
        if f.status == "queued"
        and not (f.due_key and reg.pipelines.due_key_taken(pipeline["id"], f.due_key))
    ]
    if len(due) <= 1:
        return skipped + due
    details: dict[str, Any] = {}
    for fire in reversed(due):
        details.update(fire.details)
    details["reasons"] = [
        {"trigger": f.trigger, "reason": f.reason, "due_key": f.due_key} for f in due
    ]
    details["coalesced_keys"] = [f.due_key for f in due[1:] if f.due_key]
    hooks = [f.after_enqueue for f in due if f.after_enqueue is not None]

    def after_enqueue(run_id: int) -> None:
        for hook in hooks:
            hook(run_id)

    first = due[0]
    merged = Fire(
        first.trigger,
        f"{len(due)} triggers due together, one run: "
        + "; ".join(f"[{f.trigger}] {f.reason}" for f in due),
        first.due_key,
        details,
        after_enqueue=after_enqueue if hooks else None,
    )
    return [*skipped, merged]


def enqueue_fires(
    reg: Any, pipeline: Mapping[str, Any], fires: list[Fire]
) -> list[tuple[int, Fire]]:
    """Queue what is due for one pipeline, coalesced into one run; returns (run id, fire).

    The due keys of the triggers folded into the run are kept as ``skipped`` records pointing
    at it, so the same cron slot, alert or data change never starts another run."""
    out = []
    for fire in coalesce(reg, pipeline, fires):
        run_id = enqueue(reg, pipeline, fire)
        if run_id is None:
            continue
        out.append((run_id, fire))
        for key in fire.details.get("coalesced_keys", []) if fire.status == "queued" else []:
            reason = next(r["reason"] for r in fire.details["reasons"] if r["due_key"] == key)
            trigger = next(r["trigger"] for r in fire.details["reasons"] if r["due_key"] == key)
            marker = reg.pipelines.enqueue_run(
                pipeline["id"],
                trigger,
                f"{reason}: coalesced into run #{run_id}",
                key,
                {"coalesced_into": run_id},
                "skipped",
            )
            if marker is not None:
                reg.pipelines.update_run(marker, {"ended_at": time.time()})
    return out


def enqueue(reg: Any, pipeline: Mapping[str, Any], fire: Fire) -> int | None:
    """Queue (or record as skipped) one fire; None when its due key was taken already."""
    run_id = reg.pipelines.enqueue_run(
        pipeline["id"], fire.trigger, fire.reason, fire.due_key, fire.details, fire.status
    )
    if run_id is None:
        return None
    if fire.status == "skipped":
        reg.pipelines.update_run(run_id, {"ended_at": time.time()})
    if fire.after_enqueue is not None:
        fire.after_enqueue(run_id)
    return run_id
