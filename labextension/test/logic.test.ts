import { describe, expect, it } from 'vitest';

import { extent, scale, ticks } from '../src/chart';
import {
  describeCheck,
  describeCron,
  describeDeployment,
  driftShare,
  formatBytes,
  formatDuration,
  heatmapColumns,
  lineageNodes,
  pageOffsets,
  promotionTargets,
  refusedChecks,
  visibleRows,
  windowErrorRates
} from '../src/logic';
import { isBreached } from '../src/sparkline';

describe('alert sides', () => {
  it('scores alert below their line, errors above it', () => {
    expect(isBreached(0.7, 0.82, 'below')).toBe(true);
    expect(isBreached(0.9, 0.82, 'below')).toBe(false);
    // rmse 71 over a threshold of 60 is the alert, not a pass
    expect(isBreached(71, 60, 'above')).toBe(true);
    expect(isBreached(50, 60, 'above')).toBe(false);
    expect(isBreached(null, 60, 'above')).toBe(false);
    expect(isBreached(NaN, 60, 'above')).toBe(false);
  });
});

describe('promotion', () => {
  it('offers no move for archived versions and never the current stage', () => {
    expect(promotionTargets('archived')).toEqual([]);
    expect(promotionTargets('none')).toEqual(['staging', 'production', 'archived']);
    expect(promotionTargets('production')).toEqual(['staging', 'archived']);
  });

  it('describes a check with its value and threshold', () => {
    expect(
      describeCheck({
        name: 'min accuracy',
        passed: false,
        value: 0.7123,
        op: '>=',
        threshold: 0.8
      })
    ).toBe('✗ min accuracy: 0.7123 >= 0.8');
    expect(describeCheck({ name: 'schema', passed: true, value: null })).toBe('✓ schema');
  });

  it('finds the failed checks wherever the refusal nests the gate', () => {
    const check = { name: 'min accuracy', passed: false, value: 0.7, threshold: 0.8, op: '>=' };
    const ok = { name: 'schema', passed: true };
    expect(refusedChecks({ gate: { checks: [check, ok] } })).toEqual([check]);
    expect(refusedChecks({ gate: { gate: { checks: [ok, check] } } })).toEqual([check]);
    expect(refusedChecks({})).toEqual([]);
  });
});

describe('paging', () => {
  it('steps by a page and stops at both ends', () => {
    expect(pageOffsets(0, 50, 120)).toEqual({ prev: null, next: 50 });
    expect(pageOffsets(50, 50, 120)).toEqual({ prev: 0, next: 100 });
    expect(pageOffsets(100, 50, 120)).toEqual({ prev: 50, next: null });
    expect(pageOffsets(0, 50, 0)).toEqual({ prev: null, next: null });
  });
});

describe('formats', () => {
  it('durations and sizes read naturally', () => {
    expect(formatDuration(3.456)).toBe('3.46 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3 h 2 min');
    expect(formatDuration(null)).toBe('—');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1_234_567)).toBe('1.23 MB');
  });
});

describe('drift', () => {
  it('share is drifted over columns, unknown without columns', () => {
    expect(driftShare({ n_drifted: 2, n_columns: 8 })).toBe(0.25);
    expect(driftShare({ n_drifted: null, n_columns: 8 })).toBeNull();
    expect(driftShare({ n_drifted: 0, n_columns: 0 })).toBeNull();
  });

  it('heat map rows put the most often drifted column first', () => {
    const cell = (column: string, drifted: boolean) => ({
      column,
      drifted,
      test: 'ks',
      score: 0.01,
      threshold: 0.05
    });
    const batches = [
      { columns: [cell('age', false), cell('tenure', true)] },
      { columns: [cell('age', false), cell('tenure', true), cell('calls', true)] }
    ];
    expect(heatmapColumns(batches)).toEqual(['tenure', 'calls', 'age']);
  });
});

describe('compare', () => {
  it('only differences hides the rows all runs share', () => {
    const rows = [
      { key: 'C', values: [0.1, 1], differs: true },
      { key: 'solver', values: ['lbfgs', 'lbfgs'], differs: false }
    ];
    expect(visibleRows(rows, true).map(r => r.key)).toEqual(['C']);
    expect(visibleRows(rows, false)).toHaveLength(2);
  });
});

describe('lineage', () => {
  it('links inputs to the run, the run to its model file, the file to its versions', () => {
    const run = {
      id: 7,
      name: 'train',
      status: 'finished',
      pipeline_run_id: 3,
      data: [
        {
          id: 'aaa111',
          kind: 'frame',
          name: 'train',
          role: 'input',
          n_rows: 10,
          n_cols: 2,
          source_path: null,
          snapshot: null
        },
        {
          id: 'bbb222',
          kind: 'frame',
          name: 'scored',
          role: 'output',
          n_rows: 10,
          n_cols: 3,
          source_path: null,
          snapshot: null
        }
      ],
      models: [
        {
          id: 1,
          run_id: 7,
          name: 'model',
          object_hash: 'cafe01',
          format: 'skops',
          flavor: 'sklearn',
          class_name: 'x.Y',
          signature: {},
          trusted_types: [],
          size: 10,
          created_at: 0
        }
      ]
    };
    const lineage = {
      model: 'churn',
      version: 2,
      stage: 'production',
      pipeline_run: { id: 3, pipeline: 'retrain', trigger: 'schedule' },
      transitions: [],
      gate_results: [{ gate: 'release', passed: 1 }]
    };
    const { nodes, edges } = lineageNodes(run, [lineage]);
    const keys = nodes.map(n => n.key);
    expect(keys).toContain('version:churn:2');
    expect(edges).toContainEqual(['data:input:aaa111:train', 'run:7']);
    expect(edges).toContainEqual(['pipeline:3', 'run:7']);
    expect(edges).toContainEqual(['run:7', 'data:output:bbb222:scored']);
    expect(edges).toContainEqual(['artifact:cafe01', 'version:churn:2']);
    expect(nodes.find(n => n.key === 'pipeline:3')?.label).toBe('retrain #3');
  });
});

describe('chart scales', () => {
  it('ticks are round and cover the range', () => {
    expect(ticks(0, 1, 4)).toEqual([0, 0.5, 1]);
    expect(ticks(0, 1, 10)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(ticks(0.81, 0.87, 4)).toEqual([0.82, 0.84, 0.86]);
    const t = ticks(-3.2, 117, 5);
    expect(t[0]).toBeGreaterThanOrEqual(-3.2);
    expect(t[t.length - 1]).toBeLessThanOrEqual(117);
  });

  it('a single value gets a visible range and scales map ends to ends', () => {
    const [lo, hi] = extent([5]);
    expect(lo).toBeLessThan(5);
    expect(hi).toBeGreaterThan(5);
    expect(extent([NaN])).toEqual([0, 1]);
    const y = scale(0, 10, 100, 0);
    expect(y(0)).toBe(100);
    expect(y(10)).toBe(0);
    expect(y(5)).toBe(50);
  });
});

describe('cron in words', () => {
  it('reads the common schedules', () => {
    expect(describeCron('0 6 * * 1')).toBe('at 06:00 on Monday');
    expect(describeCron('30 2 * * *')).toBe('at 02:30 every day');
    expect(describeCron('0 9 * * 1-5')).toBe('at 09:00 on Monday to Friday');
    expect(describeCron('*/15 * * * *')).toBe('every 15 minutes');
    expect(describeCron('@daily')).toBe('at 00:00 every day');
    expect(describeCron('@hourly')).toBe('every hour');
    expect(describeCron('0 3 1,15 * *')).toBe('at 03:00 on day 1, 15 of the month');
    expect(describeCron('0 0 1 1 *')).toBe('at 00:00 on day 1 of the month in January');
    expect(describeCron('0 6,18 * * 0')).toBe('at 06:00, 18:00 on Sunday');
  });

  it('gives up on what it cannot say rather than guess', () => {
    expect(describeCron('0 6 * *')).toBeNull();
    expect(describeCron('5-10 6 * * 1')).toBeNull();
    expect(describeCron('0 6 1 * 1')).toBeNull();
  });
});

describe('deployments', () => {
  const running = {
    id: 1,
    alias: 'production',
    version: 2,
    url: 'http://127.0.0.1:8080',
    status: 'running',
    requests: 900,
    errors: 0,
    req_per_min: 310.4,
    p95_ms: 4.2,
    heartbeat_at: 0
  };
  it('says what is served, how busy and how fast', () => {
    expect(describeDeployment(running)).toBe(
      'serving v2 at http://127.0.0.1:8080 · 310 req/min · p95 4.2 ms'
    );
    expect(describeDeployment({ ...running, p95_ms: null, errors: 3 })).toBe(
      'serving v2 at http://127.0.0.1:8080 · 310 req/min · 3 errors'
    );
  });
  it('says how a stopped or crashed server ended', () => {
    expect(describeDeployment({ ...running, status: 'crashed' })).toBe(
      'crashed: v2 at http://127.0.0.1:8080'
    );
  });
});

describe('serving windows', () => {
  it('gives each answered window its error rate and skips empty ones', () => {
    expect(
      windowErrorRates([
        { created_at: 1, n_requests: 200, n_errors: 3, p95_ms: 4 },
        { created_at: 2, n_requests: 0, n_errors: 0, p95_ms: null },
        { created_at: 3, n_requests: 50, n_errors: 0, p95_ms: 5 }
      ])
    ).toEqual([
      { x: 1, y: 0.015 },
      { x: 3, y: 0 }
    ]);
  });
});
