/**
 * Shapes of the JSON documents served under /mlnb/api/. Each interface `IName` is the
 * TypedDict `Name` in mlnb/server/payloads.py, key for key (tests/server/test_payload_types.py
 * checks that they agree).
 */

export interface IStatus {
  registry: string;
  root_dir: string;
  mlnb_version: string;
  counts: Record<string, number>;
}

export interface IVersionToken {
  token: string;
}

export interface IExperiment {
  id: number;
  name: string;
  created_at: number;
  last_run_at: number | null;
  n_runs: number;
}

export interface IExperimentList {
  experiments: IExperiment[];
}

export interface IRun {
  id: number;
  uuid: string;
  name: string;
  status: string;
  experiment: string;
  source: string;
  user: string | null;
  started_at: number | null;
  ended_at: number | null;
  notebook_path: string | null;
  pipeline_run_id: number | null;
  metrics: Record<string, number | null>;
  params: Record<string, unknown>;
}

export interface IRunList {
  runs: IRun[];
  metric_keys: string[];
  total: number;
  offset: number;
}

export interface ICompareRun {
  id: number;
  name: string;
  experiment: string;
  status: string;
  started_at: number | null;
  ended_at: number | null;
}

export interface ICompareRow {
  key: string;
  values: unknown[];
  differs: boolean;
}

export interface ICompare {
  runs: ICompareRun[];
  params: ICompareRow[];
  metrics: ICompareRow[];
  data: ICompareRow[];
}

export interface IDataVersion {
  id: string;
  kind: string;
  name: string;
  schema: Record<string, unknown>;
  n_rows: number | null;
  n_cols: number | null;
  nbytes: number | null;
  source_path: string | null;
  snapshot: string | null;
  created_at: number;
  n_runs: number;
  names: string | null;
}

export interface IDataVersionList {
  data_versions: IDataVersion[];
}

export interface IDataLink {
  id: string;
  kind: string;
  name: string;
  role: string;
  n_rows: number | null;
  n_cols: number | null;
  source_path: string | null;
  snapshot: string | null;
}

export interface IArtifact {
  id: number;
  run_id: number | null;
  name: string;
  object_hash: string;
  format: string;
  flavor: string;
  class_name: string;
  signature: Record<string, unknown>;
  trusted_types: string[];
  size: number;
  created_at: number;
}

export interface IMetricPoint {
  step: number | null;
  value: number;
  timestamp: number;
}

export interface IRunVersionRef {
  model: string;
  version: number;
  stage: string;
}

export interface IRunDetail extends IRun {
  cell_source: string | null;
  execution_count: number | null;
  git_commit: string | null;
  git_dirty: number | null;
  python_version: string | null;
  host: string | null;
  error: string | null;
  packages: Record<string, unknown>;
  tags: Record<string, string>;
  metric_history: Record<string, IMetricPoint[]>;
  data: IDataLink[];
  models: IArtifact[];
  model_versions: IRunVersionRef[];
  notebook_rel: string | null;
}

export interface IRestoredData {
  data_version: string;
  path: string;
}

export interface IGateCheck {
  name: string;
  passed: boolean;
  metric: string | null;
  value: unknown;
  threshold: unknown;
  op: string | null;
}

export interface IGateResult {
  id: number;
  gate: string;
  passed: boolean;
  baseline_version: number | null;
  created_at: number;
  checks: IGateCheck[];
}

export interface IModelVersion {
  version: number;
  stage: string;
  aliases: string[];
  run_id: number | null;
  created_at: number;
  created_by: string | null;
  description: string;
  class_name: string | null;
  gate: IGateResult | null;
}

export interface IDeployment {
  id: number;
  alias: string;
  version: number | null;
  url: string;
  status: string;
  requests: number;
  errors: number;
  req_per_min: number;
  p95_ms: number | null;
  heartbeat_at: number;
}

export interface IModelSummary {
  id: number;
  name: string;
  description: string;
  created_at: number;
  n_versions: number;
  latest_version: number | null;
  production_version: number | null;
  staging_versions: number[];
  aliases: Record<string, number>;
  last_version_at: number | null;
  last_transition_at: number | null;
  deployment: IDeployment | null;
}

export interface IModelList {
  models: IModelSummary[];
}

export interface IModelDetailList {
  models: IModelDetail[];
}

export interface ITransition {
  id: number;
  version_id: number;
  version: number;
  from_stage: string;
  to_stage: string;
  reason: string;
  user: string | null;
  created_at: number;
  gate_result_id: number | null;
  gate: string | null;
  gate_passed: number | null;
}

export interface IModelDetail {
  name: string;
  description: string;
  n_versions: number;
  latest_version: number | null;
  production_version: number | null;
  staging_version: number | null;
  aliases: Record<string, number>;
  versions: IModelVersion[];
  transitions: ITransition[];
  rollback_to: number | null;
  can_rollback: boolean;
  deployment: IDeployment | null;
}

export interface IPipelineRun {
  id: number;
  trigger: string;
  reason: string;
  status: string;
  attempt: number | null;
  started_at: number | null;
  ended_at: number | null;
  error: string | null;
  failure_reason: string | null;
  output_path: string | null;
  has_output: boolean;
}

export interface IPipeline {
  name: string;
  notebook_path: string;
  schedule: string | null;
  timezone: string | null;
  triggers: string[];
  status: string;
  next_run: number | null;
  notebook_rel: string | null;
  gate: string | null;
  promote_to: string | null;
  model: string | null;
  on_new_data: string[];
  on_alert: string | null;
  last_run: IPipelineRun | null;
  failure_reason: string | null;
  runs?: IPipelineRun[];
}

export interface IPipelineList {
  pipelines: IPipeline[];
}

export interface IRunStarted {
  pipeline: string;
  started: boolean;
  pid: number;
}

export interface IPipelineOutput {
  pipeline: string;
  run_id: number;
  path: string | null;
  html: string | null;
  log: string | null;
}

export interface ICronPreview {
  expression: string;
  timezone: string;
  next_runs: number[];
}

export interface INotebookList {
  notebooks: string[];
}

export interface IAlert {
  id: number;
  source: string;
  kind: string;
  severity: string;
  message: string;
  status: string;
  monitor: string | null;
  monitor_id: number | null;
  pipeline_id: number | null;
  batch_id: number | null;
  evidence: Record<string, unknown>;
  handled_by: string | null;
  created_at: number;
  updated_at: number;
  metric: string | null;
  first_batch_id: number | null;
  last_batch_id: number | null;
  worst_value: number | null;
  breach_count: number;
  resolved_at: number | null;
}

export interface IAlertList {
  alerts: IAlert[];
}

export interface IAccuracyPoint {
  batch_at: number;
  value: number;
}

export interface IColumnDrift {
  column: string;
  drifted: boolean;
  test: string | null;
  score: number | null;
  threshold: number | null;
}

export interface IEstimatedMetric {
  value: number;
  low: number;
  high: number;
}

export interface IBatch {
  id: number | null;
  batch_at: number;
  n_rows: number | null;
  n_drifted: number | null;
  n_columns: number | null;
  dataset_drift: boolean;
  metrics: Record<string, number>;
  drifted_columns: string[];
  columns: IColumnDrift[];
  estimates: Record<string, IEstimatedMetric>;
  label_coverage: number | null;
}

export interface ILatestBatch extends IBatch {
  accuracy: number | null;
}

export interface IMonitorSummary {
  name: string;
  model_name: string | null;
  n_batches: number;
  metric: string | null;
  threshold: number | null;
  thresholds: Record<string, number>;
  alert_when: Record<string, string>;
  latest: ILatestBatch | null;
  accuracy: IAccuracyPoint[];
  open_alerts: IAlert[];
}

export interface IServingWindow {
  created_at: number;
  n_requests: number;
  n_errors: number;
  p95_ms: number | null;
}

export interface IServingHealth {
  deployment: IDeployment;
  model_name: string;
  error_rate: number | null;
  max_p95_ms: number | null;
  max_error_rate: number | null;
  windows: IServingWindow[];
}

export interface IMonitorDetail extends IMonitorSummary {
  batches: IBatch[];
  alerts: IAlert[];
  serving: IServingHealth | null;
}

export interface IMonitorList {
  monitors: IMonitorSummary[];
}

export interface IErrorBody {
  error: string;
  message: string;
  gate?: Record<string, unknown>;
}
