"""The records the stores return: one ``TypedDict`` per kind of row.

Records stay plain dicts at run time, so they go to JSON, ``--json``, the REST API and the
sidebar as they are, while mypy checks every key the code reads or writes. Keys marked
``NotRequired`` are added by the store methods that assemble a fuller view (a run with its
params and metrics, a model with its versions).
"""

from typing import Any, NotRequired, TypedDict, TypeVar, cast

R = TypeVar("R")


def as_record(kind: type[R], row: Any) -> R:
    """``row`` as a record of ``kind``: a dict is taken as it is (no copy), a sqlite3.Row
    becomes one."""
    return cast(R, row if isinstance(row, dict) else dict(row))


class ExperimentRecord(TypedDict):
    id: int
    name: str
    created_at: float
    n_runs: int
    last_run_at: float | None


class RunRecord(TypedDict):
    """A tracked run: a notebook cell, a ``with mlnb.track()`` block or a pipeline's run.

    A listing (``reg.runs.find``) carries the first block of keys plus params and latest
    metrics; ``reg.runs.get`` adds everything else.
    """

    id: int
    uuid: str
    experiment: str
    name: str
    status: str
    source: str
    started_at: float
    ended_at: float | None
    notebook_path: str | None
    user: str | None
    pipeline_run_id: int | None
    experiment_id: NotRequired[int]
    heartbeat_at: NotRequired[float]
    pid: NotRequired[int | None]
    host: NotRequired[str | None]
    cell_source: NotRequired[str | None]
    execution_count: NotRequired[int | None]
    git_commit: NotRequired[str | None]
    git_dirty: NotRequired[int | None]
    python_version: NotRequired[str | None]
    packages: NotRequired[Any]
    error: NotRequired[str | None]
    params: NotRequired[dict[str, Any]]
    metrics: NotRequired[dict[str, float]]
    metric_history: NotRequired[dict[str, list[dict[str, float]]]]
    tags: NotRequired[dict[str, str]]
    data: NotRequired[list["DataLinkRecord"]]
    models: NotRequired[list["ArtifactRecord"]]


class DataVersionRecord(TypedDict):
    """A data version: the fingerprint of a frame, array, file or folder."""

    id: str
    kind: str
    name: str
    schema: Any
    n_rows: int | None
    n_cols: int | None
    nbytes: int | None
    source_path: str | None
    snapshot: str | None
    created_at: float
    runs: NotRequired[list[dict[str, Any]]]
    n_runs: NotRequired[int]  # in listings
    names: NotRequired[str | None]  # in listings: the names runs gave it


class DataLinkRecord(TypedDict):
    """A data version as one run used it (input) or produced it (output)."""

    id: str
    kind: str
    name: str
    role: str
    n_rows: int | None
    n_cols: int | None
    source_path: str | None
    snapshot: str | None


class ArtifactRecord(TypedDict):
    """A stored model file: its object hash, format and the types trusted to load it."""

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


class ModelVersionRecord(TypedDict):
    """A numbered version of a registered model, with the artifact it points at."""

    id: int
    model_id: int
    model: str
    version: int
    artifact_id: int
    run_id: int | None
    stage: str
    description: str
    created_by: str | None
    created_at: float
    object_hash: str
    format: str
    flavor: str
    class_name: str
    signature: dict[str, Any]
    size: int
    artifact_name: str
    aliases: NotRequired[list[str]]


class TransitionRecord(TypedDict):
    id: int
    version_id: int
    version: int
    from_stage: str
    to_stage: str
    user: str | None
    reason: str
    gate_result_id: int | None
    created_at: float
    gate: str | None
    gate_passed: bool | int | None


class GateResultRecord(TypedDict):
    id: int
    version_id: int
    version: int
    gate: str
    passed: bool
    checks: list[dict[str, Any]]
    baseline_version_id: int | None
    baseline_version: int | None
    holdout_data_version: str | None
    created_at: float


class AlertRecord(TypedDict):
    """A threshold breach or a pipeline failure, with its evidence and handling status."""

    id: int
    source: str
    monitor_id: int | None
    monitor: str | None
    pipeline_id: int | None
    batch_id: int | None
    kind: str
    severity: str
    message: str
    evidence: dict[str, Any]
    status: str
    handled_by: str | None
    created_at: float
    updated_at: float
    metric: str | None
    first_batch_id: int | None
    last_batch_id: int | None
    worst_value: float | None
    breach_count: int
    resolved_at: float | None


class MonitorRecord(TypedDict):
    """A monitor: the reference profile and thresholds batches are scored against."""

    id: int
    name: str
    model_name: str | None
    target: str | None
    profile: NotRequired[str]  # not in listings
    config: dict[str, Any]
    created_at: float
    updated_at: float
    n_batches: NotRequired[int]  # in listings
    open_alerts: NotRequired[int]  # in listings


class BatchRecord(TypedDict):
    """One batch logged to a monitor: its drift verdict and metrics."""

    id: int
    monitor_id: int
    batch_at: float
    n_rows: int
    n_drifted: int
    n_columns: int
    dataset_drift: bool
    metrics: dict[str, Any]
    data_version_id: str | None
    created_at: float
    labels: dict[str, Any] | None
    estimates: dict[str, Any] | None
    report: NotRequired[dict[str, Any]]
    predictions: NotRequired[Any]


class PipelineRecord(TypedDict):
    """A notebook pipeline: its notebook, its config (schedule, triggers, gate) and status."""

    id: int
    name: str
    notebook_path: str
    config: dict[str, Any]
    status: str
    created_at: float
    updated_at: float
    n_runs: NotRequired[int]  # listings carry the last run's summary
    last_run_id: NotRequired[int | None]
    last_run_status: NotRequired[str | None]
    last_run_trigger: NotRequired[str | None]
    last_run_at: NotRequired[float | None]
    last_run_ended_at: NotRequired[float | None]


class PipelineRunRecord(TypedDict):
    """One execution of a pipeline: why it ran, how it went, where its output notebook is."""

    id: int
    pipeline_id: int
    pipeline: str
    trigger: str
    reason: str
    due_key: str | None
    status: str
    attempt: int
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None
    pid: int | None
    host: str | None
    output_path: str | None
    log: NotRequired[str]
    error: str | None
    failing_cell: int | None
    details: dict[str, Any]
    created_at: float


class BackupRecord(TypedDict):
    """A copy made by ``mlnb backup``: where, how big, and the copy's own quick_check."""

    path: str
    database_bytes: int
    objects: int
    objects_bytes: int
    integrity: str


class DeploymentRecord(TypedDict):
    """One ``mlnb serve`` process: what it serves, where, and how it is doing."""

    id: int
    model_name: str
    alias: str
    version: int | None
    url: str
    bind_host: str
    port: int
    pid: int | None
    host: str | None
    status: str
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    requests: int
    errors: int
    rows_logged: int
    rows_dropped: int
    req_per_min: float
    p95_ms: float | None
    config: dict[str, Any]
    error: str | None


class InferenceRowRecord(TypedDict):
    """One logged prediction (or failed request) of a deployment, read out of its request's
    record (``id`` is that record's)."""

    id: int
    deployment_id: int
    request_id: str
    row_index: int
    logged_at: float
    version: int | None
    features: dict[str, Any] | None
    prediction: Any
    probability: float | None
    latency_ms: float
    ok: bool
    error: str | None
    label: Any
    labelled_at: float | None
    window_id: int | None


class InferenceRequestRecord(TypedDict):
    """One logged request of a deployment: its rows as columns (failed requests have none)."""

    id: int
    deployment_id: int
    request_id: str
    row_offset: int
    n_rows: int
    logged_at: float
    version: int | None
    features: dict[str, list[Any]] | None
    predictions: list[Any] | None
    probabilities: list[float | None] | None  # of the class each row was predicted
    # a multiclass model's probabilities, a row of one per class (its classes' order)
    class_probabilities: list[list[float]] | None
    latency_ms: float
    ok: bool
    error: str | None
    labels: list[Any] | None
    n_labelled: int
    labelled_at: float | None
    window_id: int | None


class WindowRecord(TypedDict):
    """A window of a deployment's traffic scored by its monitor."""

    id: int
    deployment_id: int
    first_log_id: int
    last_log_id: int
    n_rows: int
    n_requests: int
    n_errors: int
    p95_ms: float | None
    batch_id: int | None
    realized: bool
    created_at: float
