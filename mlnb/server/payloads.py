"""The JSON documents the REST API under ``/mlnb/api/`` answers with, as TypedDicts.

Each ``Name`` here is the interface ``IName`` in ``labextension/src/types.ts``, key for key
(``tests/server/test_payload_types.py`` holds them together). Records read from the registry
(runs, experiments, data versions, models, transitions, alerts) pass through as stored;
results of domain actions (run detail, lineage, promotion, rollback) are the domain's
``to_dict()`` and are not declared here yet.

No ``from __future__ import annotations``: Python 3.11 sees ``NotRequired`` only in
evaluated annotations.
"""

from typing import Any, NotRequired, TypedDict

# -- status ------------------------------------------------------------------------------------


class Status(TypedDict):
    """``GET status``: which registry the server shows, and how much it holds."""

    registry: str
    root_dir: str
    mlnb_version: str
    counts: dict[str, int]


class VersionToken(TypedDict):
    """``GET version``: a token that changes whenever the registry does (the sidebar polls it)."""

    token: str


# -- experiments, runs, data -------------------------------------------------------------------


class Experiment(TypedDict):
    id: int
    name: str
    created_at: float
    last_run_at: float | None
    n_runs: int


class ExperimentList(TypedDict):
    """``GET experiments``."""

    experiments: list[Experiment]


class Run(TypedDict):
    """A run as listed: its record with params and latest metrics."""

    id: int
    uuid: str
    name: str
    status: str
    experiment: str
    source: str
    user: str | None
    started_at: float | None
    ended_at: float | None
    notebook_path: str | None
    pipeline_run_id: int | None
    metrics: dict[str, float | None]
    params: dict[str, Any]


class RunList(TypedDict):
    """``GET runs``: the runs and every metric name among them (the sort choices)."""

    runs: list[Run]
    metric_keys: list[str]
    total: int
    offset: int


class CompareRun(TypedDict):
    id: int
    name: str
    experiment: str
    status: str
    started_at: float | None
    ended_at: float | None


class CompareRow(TypedDict):
    key: str
    values: list[Any]
    differs: bool


class Compare(TypedDict):
    """``GET compare?runs=a,b``: params, metrics and data side by side."""

    runs: list[CompareRun]
    params: list[CompareRow]
    metrics: list[CompareRow]
    data: list[CompareRow]


class DataVersion(TypedDict):
    id: str
    kind: str
    name: str
    schema: dict[str, Any]
    n_rows: int | None
    n_cols: int | None
    nbytes: int | None
    source_path: str | None
    snapshot: str | None
    created_at: float
    n_runs: int
    names: str | None


class DataVersionList(TypedDict):
    """``GET data``."""

    data_versions: list[DataVersion]


class DataLink(TypedDict):
    """A data version as one run read it (input) or wrote it (output)."""

    id: str
    kind: str
    name: str
    role: str
    n_rows: int | None
    n_cols: int | None
    source_path: str | None
    snapshot: str | None


class Artifact(TypedDict):
    """A model file a run saved (download it from ``artifacts/ID/download``)."""

    id: int
    run_id: int | None
    name: str
    object_hash: str
    format: str
    flavor: str
    class_name: str
    signature: dict[str, Any]
    trusted_types: list[str]
    size: int
    created_at: float


class MetricPoint(TypedDict):
    step: int | None
    value: float
    timestamp: float


class RunVersionRef(TypedDict):
    """A model version registered from a run's artifact (its lineage is one click away)."""

    model: str
    version: int
    stage: str


class RunDetail(Run):
    """``GET runs/ID``: the run page: everything recorded about one run."""

    cell_source: str | None
    execution_count: int | None
    git_commit: str | None
    git_dirty: int | None
    python_version: str | None
    host: str | None
    error: str | None
    packages: dict[str, Any]
    tags: dict[str, str]
    metric_history: dict[str, list[MetricPoint]]
    data: list[DataLink]
    models: list[Artifact]
    model_versions: list[RunVersionRef]
    notebook_rel: str | None


class RestoredData(TypedDict):
    """``POST data/ID/restore``: where the snapshot was written (relative to the Jupyter root)."""

    data_version: str
    path: str


# -- models ------------------------------------------------------------------------------------


class GateCheck(TypedDict):
    name: str
    passed: bool
    metric: str | None
    value: Any
    threshold: Any
    op: str | None


class GateResult(TypedDict):
    """A recorded gate result as the sidebar shows it: verdict and each check."""

    id: int
    gate: str
    passed: bool
    baseline_version: int | None
    created_at: float
    checks: list[GateCheck]


class ModelVersion(TypedDict):
    version: int
    stage: str
    aliases: list[str]
    run_id: int | None
    created_at: float
    created_by: str | None
    description: str
    class_name: str | None
    gate: GateResult | None


class Deployment(TypedDict):
    """The running ``mlnb serve`` of a model (the sidebar shows "serving v2 at URL ·
    N req/min · p95 X ms")."""

    id: int
    alias: str
    version: int | None
    url: str
    status: str
    requests: int
    errors: int
    req_per_min: float
    p95_ms: float | None
    heartbeat_at: float


class ModelSummary(TypedDict):
    """A registered model as listed."""

    id: int
    name: str
    description: str
    created_at: float
    n_versions: int
    latest_version: int | None
    production_version: int | None
    staging_versions: list[int]
    aliases: dict[str, int]
    last_version_at: float | None
    last_transition_at: float | None
    deployment: Deployment | None


class ModelList(TypedDict):
    """``GET models``."""

    models: list[ModelSummary]


class ModelDetailList(TypedDict):
    """``GET models?detail=1``: every model with its versions in one answer (the sidebar)."""

    models: list["ModelDetail"]


class Transition(TypedDict):
    """A stage change of one version, with the gate result that allowed it."""

    id: int
    version_id: int
    version: int
    from_stage: str
    to_stage: str
    reason: str
    user: str | None
    created_at: float
    gate_result_id: int | None
    gate: str | None
    gate_passed: int | None


class ModelDetail(TypedDict):
    """``GET models/NAME``: versions newest first, stage history, what a rollback would do."""

    name: str
    description: str
    n_versions: int
    latest_version: int | None
    production_version: int | None
    staging_version: int | None
    aliases: dict[str, int]
    versions: list[ModelVersion]
    transitions: list[Transition]
    rollback_to: int | None
    can_rollback: bool
    deployment: Deployment | None


# -- pipelines ---------------------------------------------------------------------------------


class PipelineRun(TypedDict):
    id: int
    trigger: str
    reason: str
    status: str
    attempt: int | None
    started_at: float | None
    ended_at: float | None
    error: str | None
    failure_reason: str | None  # failed/crashed runs: exception, message, failing cell
    output_path: str | None
    has_output: bool


class Pipeline(TypedDict):
    """A pipeline with its schedule and last run; ``runs`` only in ``GET pipelines/NAME``."""

    name: str
    notebook_path: str
    schedule: str | None
    timezone: str | None
    triggers: list[str]
    status: str
    next_run: float | None
    notebook_rel: str | None
    gate: str | None
    promote_to: str | None
    model: str | None
    on_new_data: list[str]
    on_alert: str | None
    last_run: PipelineRun | None
    failure_reason: str | None  # the last run's, when it failed or crashed
    runs: NotRequired[list[PipelineRun]]


class PipelineList(TypedDict):
    """``GET pipelines``."""

    pipelines: list[Pipeline]


class RunStarted(TypedDict):
    """``POST pipelines/NAME/run`` (202): the run goes on in its own process."""

    pipeline: str
    started: bool
    pid: int


class PipelineOutput(TypedDict):
    """``GET pipelines/NAME/runs/ID/output``: the output notebook rendered read-only as HTML
    (None when the run left none) and the tail of the run's log."""

    pipeline: str
    run_id: int
    path: str | None
    html: str | None
    log: str | None


class CronPreview(TypedDict):
    """``GET cron?expr=...&tz=...``: a schedule checked and its next run times."""

    expression: str
    timezone: str
    next_runs: list[float]


class NotebookList(TypedDict):
    """``GET notebooks``: notebooks under the Jupyter root a pipeline can run."""

    notebooks: list[str]


# -- monitors and alerts -----------------------------------------------------------------------


class Alert(TypedDict):
    id: int
    source: str
    kind: str
    severity: str
    message: str
    status: str
    monitor: str | None
    monitor_id: int | None
    pipeline_id: int | None
    batch_id: int | None
    evidence: dict[str, Any]
    handled_by: str | None
    created_at: float
    updated_at: float
    # incident: consecutive breaches of one monitor metric extend this one alert
    metric: str | None
    first_batch_id: int | None
    last_batch_id: int | None
    worst_value: float | None
    breach_count: int
    resolved_at: float | None


class AlertList(TypedDict):
    """``GET alerts``."""

    alerts: list[Alert]


class AccuracyPoint(TypedDict):
    batch_at: float
    value: float


class ColumnDrift(TypedDict):
    """One feature column's drift verdict in one batch (a cell of the dashboard's heat map)."""

    column: str
    drifted: bool
    test: str | None
    score: float | None
    threshold: float | None


class EstimatedMetric(TypedDict):
    """A label-free estimate of a metric with its 95% band."""

    value: float
    low: float
    high: float


class Batch(TypedDict):
    """One scored batch of a monitor: drift verdict and the metrics logged with it
    (``metrics`` also carries ``estimated_<metric>`` values drawn on the timeline)."""

    id: int | None
    batch_at: float
    n_rows: int | None
    n_drifted: int | None
    n_columns: int | None
    dataset_drift: bool
    metrics: dict[str, float]
    drifted_columns: list[str]
    columns: list[ColumnDrift]
    estimates: dict[str, EstimatedMetric]
    label_coverage: float | None


class LatestBatch(Batch):
    """The newest batch with its headline metric's value."""

    accuracy: float | None


class MonitorSummary(TypedDict):
    """A monitor as the sidebar lists it: latest verdict, headline metric series, alerts."""

    name: str
    model_name: str | None
    n_batches: int
    metric: str | None
    threshold: float | None
    thresholds: dict[str, float]
    alert_when: dict[str, str]
    latest: LatestBatch | None
    accuracy: list[AccuracyPoint]
    open_alerts: list[Alert]


class ServingWindow(TypedDict):
    """One window of a deployment's traffic scored by its monitor: load, errors, latency."""

    created_at: float
    n_requests: int
    n_errors: int
    p95_ms: float | None


class ServingHealth(TypedDict):
    """The deployment whose traffic a monitor watches, with its health limits and windows."""

    deployment: Deployment
    model_name: str
    error_rate: float | None
    max_p95_ms: float | None
    max_error_rate: float | None
    windows: list[ServingWindow]


class MonitorDetail(MonitorSummary):
    """``GET monitors/NAME``: the summary plus every batch shown, the monitor's alerts and,
    when a deployment feeds it, that deployment's health."""

    batches: list[Batch]
    alerts: list[Alert]
    serving: ServingHealth | None


class MonitorList(TypedDict):
    """``GET monitors``."""

    monitors: list[MonitorSummary]


# -- errors ------------------------------------------------------------------------------------


class ErrorBody(TypedDict):
    """Every error answer; a refused promotion adds the failing ``gate`` result."""

    error: str
    message: str
    gate: NotRequired[dict[str, Any]]
