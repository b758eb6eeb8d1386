/**
 * The pure logic of the views (no DOM, no JupyterLab): what may be offered, how values are
 * described, paging, drift shares, lineage nodes. Unit-tested in ../test/logic.test.ts.
 */
import { formatValue } from './dom';
import { AlertSide } from './sparkline';
import {
  IBatch,
  ICompareRow,
  IDeployment,
  IGateCheck,
  IMonitorSummary,
  IRunDetail,
  IServingWindow
} from './types';

/** The stages a version may move to: never its own, and an archived version nowhere. */
export function promotionTargets(stage: string): string[] {
  if (stage === 'archived') {
    return [];
  }
  return ['staging', 'production', 'archived'].filter(s => s !== stage);
}

/** A gate check as a person reads it: `✗ min accuracy: 0.71 >= 0.8`. */
export function describeCheck(check: Partial<IGateCheck>): string {
  const mark = check.passed ? '✓' : '✗';
  if (check.value === null || check.value === undefined) {
    return `${mark} ${check.name ?? ''}`;
  }
  return (
    `${mark} ${check.name ?? ''}: ${formatValue(check.value)} ` +
    `${check.op ?? 'vs'} ${formatValue(check.threshold)}`
  );
}

/** The failed checks a refusal (409) carries, wherever the server nested the gate result. */
export function refusedChecks(body: Record<string, unknown>): Partial<IGateCheck>[] {
  const gate = body.gate as Record<string, unknown> | null | undefined;
  if (!gate) {
    return [];
  }
  const inner = (gate.checks ? gate : (gate.gate as Record<string, unknown> | null)) ?? {};
  const checks = (inner.checks as Partial<IGateCheck>[] | undefined) ?? [];
  return checks.filter(c => !c.passed);
}

/** Seconds as `1 h 2 min`, `3.4 s`. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) {
    return '—';
  }
  if (seconds < 60) {
    return `${Number(seconds.toPrecision(3))} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${Math.round(seconds % 60)} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Bytes as `1.2 MB`. */
export function formatBytes(n: number | null): string {
  if (n === null || !Number.isFinite(n)) {
    return '—';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : Number(value.toPrecision(3))} ${units[unit]}`;
}

/** The parts of `GET models/NAME/versions/N/lineage` the graph draws. */
export interface ILineage {
  model: string;
  version: number;
  stage: string;
  pipeline_run: { id: number; pipeline?: string; trigger?: string; status?: string } | null;
  transitions: { to_stage: string; reason: string; created_at: number }[];
  gate_results: { gate: string; passed: number | boolean }[];
}

export interface INode {
  key: string;
  column: number;
  label: string;
  detail: string;
  kind: string;
}

/** The graph's nodes and edges: input data → (pipeline run →) run → outputs → model versions. */
export function lineageNodes(
  run: Pick<IRunDetail, 'id' | 'name' | 'status' | 'data' | 'models' | 'pipeline_run_id'>,
  lineages: ILineage[]
): { nodes: INode[]; edges: [string, string][] } {
  const nodes: INode[] = [];
  const edges: [string, string][] = [];
  const runKey = `run:${run.id}`;
  const pipeline = lineages.find(l => l.pipeline_run)?.pipeline_run ?? null;
  if (run.pipeline_run_id !== null) {
    const key = `pipeline:${run.pipeline_run_id}`;
    nodes.push({
      key,
      column: 0,
      label: pipeline?.pipeline
        ? `${pipeline.pipeline} #${run.pipeline_run_id}`
        : `pipeline run #${run.pipeline_run_id}`,
      detail: pipeline?.trigger ?? 'pipeline run',
      kind: 'pipeline'
    });
    edges.push([key, runKey]);
  }
  for (const d of run.data.filter(d => d.role !== 'output')) {
    const key = `data:${d.role}:${d.id}:${d.name}`;
    nodes.push({
      key,
      column: 0,
      label: d.name || d.id.slice(0, 12),
      detail: `${d.kind} ${d.id.slice(0, 8)}`,
      kind: 'data'
    });
    edges.push([key, runKey]);
  }
  nodes.push({
    key: runKey,
    column: 1,
    label: run.name || `run ${run.id}`,
    detail: `run #${run.id} · ${run.status}`,
    kind: 'run'
  });
  for (const d of run.data.filter(d => d.role === 'output')) {
    const key = `data:${d.role}:${d.id}:${d.name}`;
    nodes.push({
      key,
      column: 2,
      label: d.name || d.id.slice(0, 12),
      detail: `output ${d.id.slice(0, 8)}`,
      kind: 'data'
    });
    edges.push([runKey, key]);
  }
  for (const a of run.models) {
    const key = `artifact:${a.object_hash}`;
    if (!nodes.some(n => n.key === key)) {
      nodes.push({
        key,
        column: 2,
        label: a.name,
        detail: `${a.format} ${a.object_hash.slice(0, 8)}`,
        kind: 'artifact'
      });
      edges.push([runKey, key]);
    }
  }
  for (const l of lineages) {
    const key = `version:${l.model}:${l.version}`;
    const gate = l.gate_results[0];
    nodes.push({
      key,
      column: 3,
      label: `${l.model} v${l.version}`,
      detail: `${l.stage}${gate ? ` · gate ${gate.gate} ${gate.passed ? 'passed' : 'failed'}` : ''}`,
      kind: `version stage-${l.stage}`
    });
    const artifact = run.models.length ? `artifact:${run.models[0].object_hash}` : runKey;
    edges.push([artifact, key]);
  }
  return { nodes, edges };
}

/** The offset of the previous / next page, or null at either end. */
export function pageOffsets(
  offset: number,
  perPage: number,
  total: number
): { prev: number | null; next: number | null } {
  return {
    prev: offset > 0 ? Math.max(0, offset - perPage) : null,
    next: offset + perPage < total ? offset + perPage : null
  };
}

/** Drift share of a batch: drifted feature columns over all feature columns. */
export function driftShare(batch: Pick<IBatch, 'n_drifted' | 'n_columns'>): number | null {
  if (batch.n_drifted === null || !batch.n_columns) {
    return null;
  }
  return batch.n_drifted / batch.n_columns;
}

/** Every column that appears in any batch, the most often drifted first. */
export function heatmapColumns(batches: Pick<IBatch, 'columns'>[]): string[] {
  const drifted = new Map<string, number>();
  for (const b of batches) {
    for (const c of b.columns) {
      drifted.set(c.column, (drifted.get(c.column) ?? 0) + (c.drifted ? 1 : 0));
    }
  }
  return [...drifted.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([c]) => c);
}

/** Rows to show: all, or only those whose values differ between the runs. */
export function visibleRows(rows: ICompareRow[], onlyDifferences: boolean): ICompareRow[] {
  return onlyDifferences ? rows.filter(r => r.differs) : rows;
}

/** The numeric values of a row (null where a run has none or it is not a number). */
export function numericValues(row: ICompareRow): (number | null)[] {
  return row.values.map(v => (typeof v === 'number' && Number.isFinite(v) ? v : null));
}

/** Whether a row can be an axis: at least one number. */
export function isNumericRow(row: ICompareRow): boolean {
  return numericValues(row).some(v => v !== null);
}

/** Which side of its threshold the headline metric alerts on: the monitor's own rule. */
export function alertSide(monitor: IMonitorSummary): AlertSide {
  const side = monitor.metric !== null ? monitor.alert_when[monitor.metric] : undefined;
  return side === 'above' ? 'above' : 'below';
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December'
];
const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *'
};

function isNumber(field: string): boolean {
  return /^\d+$/.test(field);
}

function pad2(n: string): string {
  return n.padStart(2, '0');
}

/** A list/range field with names: `1-5` -> "Monday to Friday", `1,3` -> "Monday, Wednesday". */
function named(field: string, names: string[], offset: number): string | null {
  const parts = field.split(',').map(part => {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const a = names[Number(range[1]) - offset];
      const b = names[Number(range[2]) - offset];
      return a && b ? `${a} to ${b}` : null;
    }
    return isNumber(part) ? (names[(Number(part) - offset) % names.length] ?? null) : null;
  });
  return parts.every(p => p !== null) ? parts.join(', ') : null;
}

function timeOfDay(minute: string, hour: string): string | null {
  if (isNumber(minute) && isNumber(hour)) {
    return `at ${pad2(hour)}:${pad2(minute)}`;
  }
  if (isNumber(minute) && hour === '*') {
    return minute === '0' ? 'every hour' : `every hour at minute ${minute}`;
  }
  const everyMinutes = /^\*\/(\d+)$/.exec(minute);
  if (everyMinutes && hour === '*') {
    return `every ${everyMinutes[1]} minutes`;
  }
  if (minute === '*' && hour === '*') {
    return 'every minute';
  }
  const everyHours = /^\*\/(\d+)$/.exec(hour);
  if (everyHours && isNumber(minute)) {
    return `every ${everyHours[1]} hours at minute ${minute}`;
  }
  if (isNumber(minute) && /^[\d,]+$/.test(hour)) {
    return `at ${hour
      .split(',')
      .map(h => `${pad2(h)}:${pad2(minute)}`)
      .join(', ')}`;
  }
  return null;
}

function daysPart(dom: string, month: string, dow: string): string | null {
  const parts: string[] = [];
  if (dom === '*' && dow === '*') {
    parts.push('every day');
  } else if (dom === '*') {
    const days = named(dow, DAYS, 0);
    if (days === null) {
      return null;
    }
    parts.push(`on ${days}`);
  } else if (dow === '*') {
    if (!/^[\d,-]+$/.test(dom)) {
      return null;
    }
    parts.push(`on day ${dom.replace(/,/g, ', ')} of the month`);
  } else {
    return null;
  }
  if (month !== '*') {
    const months = named(month, MONTHS, 1);
    if (months === null) {
      return null;
    }
    parts.push(`in ${months}`);
  }
  return parts.join(' ');
}

/** A cron expression in words ("at 06:00 on Monday"), or null when it is beyond these rules
 * (the server still checks it and lists its next runs). */
export function describeCron(expression: string): string | null {
  const text = expression.trim().replace(/\s+/g, ' ');
  const fields = (MACROS[text.toLowerCase()] ?? text).split(' ');
  if (fields.length !== 5) {
    return null;
  }
  const [minute, hour, dom, month, dow] = fields;
  const time = timeOfDay(minute, hour);
  const days = daysPart(dom, month, dow);
  if (time === null || days === null) {
    return null;
  }
  if (time.startsWith('every') && days === 'every day') {
    return time;
  }
  return `${time} ${days}`;
}

/** A model's deployment in one line: "serving v2 at URL · 310 req/min · p95 4 ms", or how it
 * ended ("crashed: v2 at URL"). */
export function describeDeployment(d: IDeployment): string {
  const what = `v${d.version ?? '?'} at ${d.url}`;
  if (d.status !== 'running') {
    return `${d.status}: ${what}`;
  }
  const parts = [`serving ${what}`, `${Math.round(d.req_per_min)} req/min`];
  if (d.p95_ms !== null) {
    parts.push(`p95 ${d.p95_ms < 10 ? d.p95_ms.toFixed(1) : Math.round(d.p95_ms)} ms`);
  }
  if (d.errors > 0) {
    parts.push(`${d.errors} errors`);
  }
  return parts.join(' · ');
}

/** Each scored window's error rate (failed / answered requests), for the serving chart. */
export function windowErrorRates(windows: IServingWindow[]): { x: number; y: number }[] {
  return windows
    .filter(w => w.n_requests > 0)
    .map(w => ({ x: w.created_at, y: w.n_errors / w.n_requests }));
}
