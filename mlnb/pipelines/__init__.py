"""Notebook pipelines: a notebook with a ``parameters`` cell becomes a scheduled, retrained,
gated training job executed by papermill in a fresh kernel.

Define one with :func:`create_pipeline` (or ``%pipeline create`` / ``mlnb pipeline create``),
run it with :func:`run_pipeline`, and keep ``mlnb scheduler`` (a :class:`Scheduler`) running
for its triggers: a cron schedule, new data in a watched path, or a monitor's alert.
Plain Python: nothing here imports IPython.
"""

from __future__ import annotations

from mlnb.pipelines.api import (
    create_pipeline,
    delete_pipeline,
    describe_pipeline,
    get_pipeline_run,
    list_pipelines,
    pipeline_history,
    promote_pipeline_run,
    run_pipeline,
    set_pipeline_status,
)
from mlnb.pipelines.config import PipelineConfig
from mlnb.pipelines.scheduler import Scheduler, SchedulerLock, SchedulerLocked

__all__ = [
    "PipelineConfig",
    "Scheduler",
    "SchedulerLock",
    "SchedulerLocked",
    "create_pipeline",
    "delete_pipeline",
    "describe_pipeline",
    "get_pipeline_run",
    "list_pipelines",
    "pipeline_history",
    "promote_pipeline_run",
    "run_pipeline",
    "set_pipeline_status",
]
