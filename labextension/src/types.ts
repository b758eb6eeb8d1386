/** Shapes of the JSON documents served under /mlnb/api/ (see mlnb/server/handlers.py). */

export interface IStatus {
  registry: string;
  root_dir: string;
  mlnb_version: string;
  counts: Record<string, number>;
}

export interface IRun {
  id: number;
  uuid: string;
  name: string;
  status: string;
  experiment: string;
  started_at: number | null;
  ended_at: number | null;
  notebook_path: string | null;
  metrics: Record<string, number | null>;
  params: Record<string, unknown>;
}

export interface IRunList {
  runs: IRun[];
  metric_keys: string[];
}

export interface IExperiment {
  name: string;
  n_runs: number;
}

export interface ICompareRow {
  key: string;
  values: unknown[];
  differs: boolean;
}

export interface ICompare {
  runs: IRun[];
  params: ICompareRow[];
  metrics: ICompareRow[];
  data: ICompareRow[];
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
  checks: IGateCheck[];
  created_at: number;
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

export interface IModelSummary {
  name: string;
  description: string;
  n_versions: number;
  latest_version: number | null;
  production_version: number | null;
}

export interface ITransition {
  version: number;
  from_stage: string;
  to_stage: string;
  reason: string;
  user: string | null;
  created_at: number;
}

export interface IModelDetail extends IModelSummary {
  staging_version: number | null;
  versions: IModelVersion[];
  transitions: ITransition[];
  rollback_to: number | null;
  can_rollback: boolean;
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
  last_run: IPipelineRun | null;
  runs?: IPipelineRun[];
}

export interface IOpenOutput {
  path: string;
  copied: boolean;
  note?: string;
}

export interface IAlert {
  id: number;
  source: string;
  kind: string;
  severity: string;
  message: string;
  status: string;
  monitor: string | null;
  created_at: number;
}

export interface IAccuracyPoint {
  batch_at: number;
  value: number;
}

export interface IMonitorSummary {
  name: string;
  model_name: string | null;
  metric: string | null;
  threshold: number | null;
  latest: {
    batch_at: number;
    dataset_drift: boolean;
    n_drifted: number;
    n_columns: number;
    drifted_columns: string[];
    accuracy: number | null;
  } | null;
  accuracy: IAccuracyPoint[];
  open_alerts: IAlert[];
}
