"""Notebook pipelines: a notebook with a ``parameters`` cell becomes a scheduled, retrained,
gated training job executed by papermill in a fresh kernel.

Define one with :func:`mlnb.pipelines.api.create_pipeline` (or ``%pipeline create`` /
``mlnb pipeline create``), run it with :func:`mlnb.pipelines.api.run_pipeline`, and keep
``mlnb scheduler`` (a :class:`mlnb.pipelines.scheduler.Scheduler`) running for its
triggers: a cron schedule, new data in a watched path, or a monitor's alert. Plain Python:
nothing here imports IPython. This file imports nothing, so that the worker process and the
scheduler load only the modules they use.
"""
