"""Defining, running and inspecting pipelines: what ``%pipeline``, ``mlnb pipeline`` and the
sidebar call."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import time
from pathlib import Path
from typing import Any

from mlnb._runtime import user
from mlnb.errors import ValidationError
from mlnb.pipelines.config import (
    PipelineConfig,
    next_due,
    parse_on_alert,
    validate_params,
    validate_pipeline_name,
)
from mlnb.pipelines.notebook import (
    check_params_known,
    find_parameters_cell,
    read_notebook,
    require_parameters_cell,
)
from mlnb.pipelines.outcomes import acknowledge_handled_alerts, raise_run_alerts
from mlnb.pipelines.runner import RunExecutor, runs_folder
from mlnb.pipelines.scheduler import recover_pipeline_runs
from mlnb.pipelines.triggers import hash_watched_paths
from mlnb.store.records import PipelineRecord, PipelineRunRecord
from mlnb.store.registry import Registry, RegistryArg, get_registry
from mlnb.tracking.parameters import execution_parameters


def create_pipeline(
    name: str,
    notebook: str | os.PathLike[str],
    schedule: str | None = None,
    timezone: str = "UTC",
    params: dict[str, Any] | None = None,
    on_new_data: list[str] | str | None = None,
    on_alert: str | None = None,
    gate: str | None = None,
    promote_to: str | None = None,
    model: str | None = None,
    timeout: float = 3600.0,
    retries: int = 0,
    retry_delay: float = 30.0,
    max_concurrent: int = 1,
    keep: int = 20,
    catchup: str = "once",
    kernel: str = "python3",
    tag_parameters: bool = False,
    replace: bool = False,
    registry: RegistryArg = None,
) -> dict[str, Any]:
    """Store a pipeline that runs ``notebook`` with papermill on its triggers.

    ``on_alert`` is a monitor name, optionally with alert kinds (``"churn:dataset_drift"``).
    Without a cell tagged ``parameters`` this refuses, naming the cell of literal assignments
    that ``tag_parameters=True`` would tag. Returns the pipeline with a ``messages`` list.
    """
    reg = get_registry(registry)
    validate_pipeline_name(name)
    path = Path(notebook).expanduser().resolve()
    read_notebook(path)
    existing = reg.db.id_by_name("pipelines", name)
    monitor, kinds = parse_on_alert(on_alert)
    cfg = PipelineConfig(
        schedule=schedule,
        timezone=timezone,
        catchup=catchup,
        params=dict(params or {}),
        on_new_data=_watched_paths(on_new_data),
        on_alert=monitor,
        alert_kinds=kinds,
        gate=gate,
        promote_to=promote_to,
        model=model,
        timeout_seconds=float(timeout),
        retries=retries,
        retry_delay_seconds=float(retry_delay),
        max_concurrent=max_concurrent,
        keep_outputs=keep,
        kernel=kernel,
        schedule_anchor=time.time(),
    ).validate()
    cfg.gate = _resolve_gate_spec(cfg.gate, path.parent)
    if existing is not None and not replace:
        return _unchanged_or_refuse(reg, name, str(path), cfg)
    cell, tagged = require_parameters_cell(path, tag=tag_parameters)
    check_params_known(cfg.params, cell, str(path))
    messages = [tagged] if tagged else []
    if cfg.on_new_data:
        cfg.data_baseline, _ = hash_watched_paths(reg, cfg.on_new_data)
    if monitor:
        # Alerts still open when the pipeline is created count: nobody has handled them, and
        # retraining is what the new pipeline is for. Acknowledge an alert to exclude it.
        cfg.alert_after_id = 0
        if reg.db.id_by_name("monitors", monitor) is None:
            messages.append(
                f"no monitor named {monitor!r} yet: the pipeline reacts once it raises alerts"
            )
    if not cfg.triggers:
        messages.append(
            "no --schedule, --on-new-data or --on-alert: the pipeline runs only when started "
            f"with `mlnb pipeline run {name}`"
        )
    if existing is None:
        reg.pipelines.create(name, str(path), cfg.to_dict())
    else:
        reg.pipelines.update(existing, notebook_path=str(path), config=cfg.to_dict())
    out = describe_pipeline(name, registry=reg)
    out["messages"] = messages
    return out


_STATE_KEYS = ("schedule_anchor", "data_baseline", "alert_after_id")


def _unchanged_or_refuse(reg: Any, name: str, path: str, cfg: PipelineConfig) -> dict[str, Any]:
    """Re-running the same ``create`` (a notebook cell run twice) changes nothing; a
    different definition under the same name needs ``replace``."""
    stored = reg.pipelines.get(name)
    old = {
        k: v
        for k, v in PipelineConfig.from_dict(stored["config"]).to_dict().items()
        if k not in _STATE_KEYS
    }
    new = {k: v for k, v in cfg.to_dict().items() if k not in _STATE_KEYS}
    if stored["notebook_path"] == path and old == new:
        out = describe_pipeline(name, registry=reg)
        out["messages"] = [f"pipeline {name} is already defined like this; nothing changed"]
        return out
    changed = sorted(k for k in new if old.get(k) != new[k])
    if stored["notebook_path"] != path:
        changed.insert(0, "notebook")
    raise ValidationError(
        f"a pipeline named {name!r} exists already with a different {', '.join(changed)}; pass "
        f"--replace to redefine it (its history stays), pick another name, or delete it "
        f"(`mlnb pipeline delete {name}`)."
    )


def _watched_paths(paths: list[str] | str | None) -> list[str]:
    if not paths:
        return []
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out = []
    for p in items:
        path = Path(p).expanduser().resolve()
        if not path.exists():
            raise ValidationError(
                f"--on-new-data {p}: no such file or folder. Watch a path that exists (its "
                "content hash is compared with the one the last successful run saw)."
            )
        out.append(str(path))
    return out


def _resolve_gate_spec(gate: str | None, notebook_dir: Path) -> str | None:
    """The gate as the pipeline's worker will look it up, checked now.

    The worker runs in the notebook's folder in its own process: ``file.yaml:name`` is
    stored with an absolute path, and a bare name must be in ``gates.yaml``/``gates.toml``
    next to the notebook (a Gate defined in code in this session is invisible to it).
    """
    if not gate:
        return gate
    text = str(gate).strip()
    path_part, sep, name = text.rpartition(":")
    if sep and path_part.lower().endswith((".yaml", ".yml", ".toml")):
        path = Path(path_part).expanduser().resolve()
        if not path.exists():
            raise ValidationError(f"--gate {gate}: the gate file {path} does not exist.")
        _check_gate_in_file(gate, path, name)
        return f"{path}:{name}"
    if text.lower().endswith((".yaml", ".yml", ".toml")):
        path = Path(text).expanduser().resolve()
        if not path.exists():
            raise ValidationError(f"--gate {gate}: the gate file {path} does not exist.")
        return str(path)
    files = [notebook_dir / f for f in ("gates.yaml", "gates.yml", "gates.toml")]
    for f in files:
        if f.is_file() and _check_gate_in_file(gate, f, text, required=False):
            return text
    raise ValidationError(
        f"--gate {text}: no gates.yaml or gates.toml next to {notebook_dir} defines it. "
        "Pipeline runs look gates up there (a Gate defined in code in this session is not "
        "visible to them): add it to the gates file next to the notebook, or pass "
        "--gate path/to/gates.yaml:NAME."
    )


def _check_gate_in_file(gate: str, path: Path, name: str, required: bool = True) -> bool:
    """Whether ``path`` defines gate ``name``."""
    # gates pull in the model and data stack (numpy...): `pipeline run` should not pay for it
    from mlnb.lifecycle.gate import load_gate_file

    gates = load_gate_file(path)
    if name in gates:
        return True
    if required:
        raise ValidationError(
            f"--gate {gate}: {path} defines no gate named {name!r} (it has "
            f"{', '.join(gates) or 'none'})."
        )
    return False


def run_pipeline(
    name: str,
    params: dict[str, Any] | None = None,
    reason: str = "",
    registry: RegistryArg = None,
    trigger: str = "manual",
    promote: bool = True,
    retry: bool = True,
) -> dict[str, Any]:
    """Run a pipeline now and wait for it; returns the run record.

    ``params`` override the pipeline's parameters for this run only. An outside orchestrator
    (Airflow) passes ``trigger="airflow"``, ``promote=False`` to run the gate and promotion
    as its own step (:func:`promote_pipeline_run`) and ``retry=False`` to do the retrying.
    """

    reg = get_registry(registry)
    pipeline = reg.pipelines.get(name)
    cfg = PipelineConfig.from_dict(pipeline["config"])
    if params:
        validate_params(params)
        cell = find_parameters_cell(read_notebook(pipeline["notebook_path"]))
        if cell is not None:
            check_params_known(params, cell, pipeline["notebook_path"])

    recover_pipeline_runs(reg)  # a run whose process died must not hold the slot
    busy = reg.pipelines.runs(pipeline["id"], statuses=("running",))
    if len(busy) >= cfg.max_concurrent:
        raise ValidationError(
            f"pipeline {name} is at its concurrency limit ({cfg.max_concurrent} run(s) at a "
            f"time): run {', '.join('#' + str(r['id']) for r in busy)} is still in progress. "
            "Wait for it (`mlnb pipeline history " + name + "`) or raise --max-concurrent."
        )
    run_id = reg.pipelines.enqueue_run(
        pipeline["id"],
        trigger,
        reason or f"started by {user()}",
        None,
        _run_details(params, promote, retry),
    )
    assert run_id is not None
    executor = RunExecutor(reg)
    if not executor.claim(run_id, pipeline):
        reg.pipelines.update_run(
            run_id,
            {
                "status": "skipped",
                "error": "another run took the last free slot",
                "ended_at": time.time(),
            },
        )
        raise ValidationError(
            f"pipeline {name} reached its concurrency limit just now; run #{run_id} was skipped."
        )
    try:
        return executor.execute(run_id)
    except KeyboardInterrupt:
        executor.stop_all("interrupted by the user (Ctrl-C) while the run was in progress")
        raise


def _run_details(params: dict[str, Any] | None, promote: bool, retry: bool) -> dict[str, Any]:
    details: dict[str, Any] = {"params": params} if params else {}
    if not promote:
        details["defer_promotion"] = True
    if not retry:
        details["no_retry"] = True
    return details


def promote_pipeline_run(name: str, run_id: int, registry: RegistryArg = None) -> dict[str, Any]:
    """Gate and promote the candidate of a finished run started with ``promote=False``.

    Returns the decision recorded in the run's details. Calling it again returns the decision
    already recorded, so a retried orchestrator task never promotes twice.
    """

    reg = get_registry(registry)
    pipeline = reg.pipelines.get(name)
    run = reg.pipelines.run(int(run_id))
    if run["pipeline_id"] != pipeline["id"]:
        raise ValidationError(f"run #{run_id} does not belong to pipeline {name}.")
    if run["details"].get("promotion"):
        return run["details"]["promotion"]
    if run["status"] != "finished":
        raise ValidationError(
            f"pipeline {name} run #{run_id} is {run['status']}, not finished: only a finished "
            f"run's model can be gated (see `mlnb pipeline show {name} {run_id} --log`)."
        )
    cfg = PipelineConfig.from_dict(pipeline["config"])
    if not cfg.promote_to:
        decision: dict[str, Any] = {
            "decision": "not_configured",
            "message": f"pipeline {name} has no --promote-to stage, so nothing was gated.",
            "candidates": [],
        }
    else:
        from mlnb.pipelines.promotion import promote_candidates  # the model stack, see above

        # Gate names resolve against gates.yaml next to the notebook, as in the worker.
        folder = Path(pipeline["notebook_path"]).parent
        with contextlib.chdir(folder if folder.is_dir() else Path.cwd()):
            decision = promote_candidates(reg, pipeline, cfg, run["id"])
    reg.pipelines.merge_run_details(run["id"], {"promotion": decision})
    alerts = raise_run_alerts(reg, pipeline, reg.pipelines.run(run["id"]))
    if alerts:
        reg.pipelines.merge_run_details(run["id"], {"alerts": alerts})
    acknowledge_handled_alerts(reg, pipeline, reg.pipelines.run(run["id"]))
    return decision


def describe_pipeline(
    name: str, registry: RegistryArg = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A pipeline with its config, triggers, next scheduled time and latest runs."""
    reg = get_registry(registry)
    pipeline: dict[str, Any] = {**reg.pipelines.get(name)}
    cfg = PipelineConfig.from_dict(pipeline["config"])
    pipeline["triggers"] = cfg.triggers
    pipeline["next_run_at"] = None
    if cfg.schedule and pipeline["status"] == "active":
        pipeline["next_run_at"] = next_due(
            cfg.schedule, cfg.timezone, now or dt.datetime.now(dt.UTC)
        ).isoformat()
    pipeline["recent_runs"] = reg.pipelines.runs(pipeline["id"], limit=10)
    pipeline["runs_folder"] = str(runs_folder(reg, name))
    return pipeline


def list_pipelines(registry: RegistryArg = None) -> list[dict[str, Any]]:
    """Every pipeline with its triggers, next scheduled time and last run."""
    reg = get_registry(registry)
    out = []
    now = dt.datetime.now(dt.UTC)
    for row in reg.pipelines.find():
        p: dict[str, Any] = {**row}
        cfg = PipelineConfig.from_dict(p["config"])
        p["triggers"] = cfg.triggers
        p["next_run_at"] = (
            next_due(cfg.schedule, cfg.timezone, now).isoformat()
            if cfg.schedule and p["status"] == "active"
            else None
        )
        out.append(p)
    return out


def pipeline_history(
    name: str, limit: int | None = 20, registry: RegistryArg = None
) -> list[PipelineRunRecord]:
    """Runs of a pipeline, newest first: trigger and why, status, duration, error, output."""
    reg = get_registry(registry)
    pipeline = reg.pipelines.get(name)
    return reg.pipelines.runs(pipeline["id"], limit=limit)


def get_pipeline_run(run_id: int, registry: RegistryArg = None) -> dict[str, Any]:
    """One pipeline run with the tracked runs and model versions it produced."""
    reg = get_registry(registry)
    run: dict[str, Any] = {**reg.pipelines.run(int(run_id))}
    run["runs"] = reg.pipelines.tracked_runs_of_run(run["id"])
    run["parameters"] = _execution_parameters(reg, run["runs"])
    run["model_versions"] = reg.pipelines.model_versions_of_run(run["id"])
    run["duration"] = (
        run["ended_at"] - run["started_at"] if run["ended_at"] and run["started_at"] else None
    )
    return run


def _execution_parameters(reg: Registry, tracked: list[dict[str, Any]]) -> dict[str, Any]:
    """The notebook parameters the execution ran with, as its tracked runs recorded them."""
    for tracked_run in tracked:
        found = execution_parameters(
            reg.runs.params(tracked_run["id"]), reg.runs.tags(tracked_run["id"])
        )
        if found:
            return found
    return {}


def set_pipeline_status(name: str, status: str, registry: RegistryArg = None) -> dict[str, Any]:
    """Pause or resume. Resuming does not catch up cron slots that fell in the pause."""
    if status not in ("active", "paused"):
        raise ValidationError(f"a pipeline is 'active' or 'paused', not {status!r}.")
    reg = get_registry(registry)
    pipeline = reg.pipelines.get(name)
    config = None
    if status == "active" and pipeline["status"] == "paused":
        config = {**pipeline["config"], "schedule_anchor": time.time()}
    reg.pipelines.update(pipeline["id"], config=config, status=status)
    return describe_pipeline(name, registry=reg)


def delete_pipeline(
    name: str, keep_outputs: bool = False, registry: RegistryArg = None
) -> PipelineRecord:
    """Delete a pipeline, its run history and (unless ``keep_outputs``) its output notebooks."""
    reg = get_registry(registry)
    pipeline = reg.pipelines.get(name)
    busy = reg.pipelines.runs(pipeline["id"], statuses=("running",))
    if busy:
        raise ValidationError(
            f"pipeline {name} has run #{busy[0]['id']} in progress; wait for it or pause the "
            "pipeline, then delete it."
        )
    reg.pipelines.delete(pipeline["id"])
    folder = runs_folder(reg, name).parent
    if not keep_outputs and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    return pipeline
