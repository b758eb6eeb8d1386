/**
 * A monitor's dashboard in the main area: the headline metric per batch against its
 * threshold, drift share, a per-column drift heat map across batches, the monitor's alerts
 * and open pipeline alerts; for a monitor fed by `mlnb serve`, the deployment's request rate,
 * latency p95 and error rate. It refreshes while open, when the registry's change token moves.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ApiError, postAPI, requestAPI, withQuery } from './api';
import { lineChart } from './chart';
import { badge, button, formatTime, formatValue, h, replaceChildren } from './dom';
import { __ } from './i18n';
import {
  alertSide,
  describeDeployment,
  driftShare,
  heatmapColumns,
  windowErrorRates
} from './logic';
import { isBreached } from './sparkline';
import { IAlert, IAlertList, IBatch, IMonitorDetail, IServingHealth, IVersionToken } from './types';

const BATCHES = 60;

function shortDate(seconds: number): string {
  return new Date(seconds * 1000).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

export class MonitorDashboard extends Widget {
  private token: string | null = null;
  private timer: number | null = null;

  constructor(
    readonly monitor: string,
    pollMs: number
  ) {
    super();
    this.id = MonitorDashboard.idFor(monitor);
    this.addClass('mlnb-view');
    this.addClass('mlnb-dashboard');
    this.title.label = __('Monitor %1', monitor);
    this.title.caption = __('mlnb monitor dashboard: %1', monitor);
    this.title.closable = true;
    this.node.dataset.testid = 'monitor-dashboard';
    replaceChildren(this.node, h('div', { class: 'mlnb-dim' }, __('Loading monitor %1…', monitor)));
    void this.load();
    this.timer = window.setInterval(() => void this.poll(), pollMs);
  }

  static idFor(monitor: string): string {
    return `mlnb-monitor-${encodeURIComponent(monitor)}`;
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
    super.dispose();
  }

  private async poll(): Promise<void> {
    if (!this.isVisible || document.visibilityState === 'hidden') {
      return;
    }
    try {
      const { token } = await requestAPI<IVersionToken>('version');
      if (token !== this.token) {
        await this.load();
      }
    } catch {
      // the next poll tries again; load() shows errors
    }
  }

  /** Fetch the monitor and open pipeline alerts, then redraw. */
  async load(): Promise<void> {
    let detail: IMonitorDetail;
    let pipelineAlerts: IAlert[];
    try {
      const [version, monitor, alerts] = await Promise.all([
        requestAPI<IVersionToken>('version'),
        requestAPI<IMonitorDetail>(
          withQuery(`monitors/${encodeURIComponent(this.monitor)}`, { batches: BATCHES })
        ),
        requestAPI<IAlertList>(withQuery('alerts', { status: 'open', limit: 200 }))
      ]);
      this.token = version.token;
      detail = monitor;
      pipelineAlerts = alerts.alerts.filter(a => a.source === 'pipeline');
    } catch (error) {
      const message =
        error instanceof ApiError && error.status === 404
          ? __('There is no monitor named %1 in this registry.', this.monitor)
          : __('Could not load monitor %1: %2', this.monitor, (error as Error).message);
      replaceChildren(
        this.node,
        h('div', { class: 'mlnb-error', role: 'alert', testid: 'view-error' }, message)
      );
      return;
    }
    this.draw(detail, pipelineAlerts);
    this.node.dataset.refreshedAt = String(Date.now());
  }

  private draw(detail: IMonitorDetail, pipelineAlerts: IAlert[]): void {
    const header = h(
      'div',
      { class: 'mlnb-view-header' },
      h('h2', {}, detail.name),
      detail.latest === null
        ? badge(__('no batches yet'), 'none', 'dashboard-verdict')
        : detail.latest.dataset_drift
          ? badge(__('drift'), 'bad', 'dashboard-verdict')
          : badge(__('no drift'), 'good', 'dashboard-verdict'),
      h(
        'span',
        { class: 'mlnb-dim' },
        (detail.model_name ? __('model %1', detail.model_name) : __('no model')) +
          ' · ' +
          __('%1 batches', detail.n_batches)
      )
    );
    if (detail.batches.length === 0) {
      replaceChildren(
        this.node,
        header,
        h(
          'div',
          { class: 'mlnb-empty', testid: 'dashboard-empty' },
          __('No batches logged yet: call monitor.log_batch(df) to score one.')
        ),
        this.alerts(__('Alerts'), detail.alerts, 'dashboard-alerts'),
        this.alerts(__('Pipeline alerts'), pipelineAlerts, 'dashboard-pipeline-alerts')
      );
      return;
    }
    replaceChildren(
      this.node,
      header,
      h('div', { class: 'mlnb-charts' }, this.metricChart(detail), this.driftChart(detail)),
      detail.serving ? this.serving(detail.serving) : null,
      this.heatmap(detail.batches),
      this.alerts(__('Alerts'), detail.alerts, 'dashboard-alerts'),
      this.alerts(__('Pipeline alerts'), pipelineAlerts, 'dashboard-pipeline-alerts')
    );
  }

  private metricChart(detail: IMonitorDetail): HTMLElement {
    const metric = detail.metric;
    if (metric === null) {
      return h(
        'figure',
        { class: 'mlnb-figure mlnb-empty' },
        __('No performance metric logged (log batches with target= and predictions=).')
      );
    }
    const side = alertSide(detail);
    const points = detail.batches
      .filter(b => typeof b.metrics[metric] === 'number')
      .map(b => ({ x: b.batch_at, y: b.metrics[metric] }));
    const estimated = detail.batches
      .filter(b => b.estimates[metric] !== undefined)
      .map(b => ({ x: b.batch_at, ...b.estimates[metric] }));
    const series = [{ label: metric, points }];
    if (estimated.length) {
      series.push({
        label: `estimated ${metric}`,
        points: estimated.map(e => ({ x: e.x, y: e.value }))
      });
    }
    const kind = estimated.length ? __('realized and estimated') : __('realized');
    return h(
      'figure',
      { class: 'mlnb-figure', testid: 'dashboard-metric-chart', 'data-metric': metric },
      lineChart(series, {
        band: estimated.map(e => ({ x: e.x, low: e.low, high: e.high })),
        width: 420,
        height: 200,
        title:
          detail.threshold !== null
            ? __('%1 %2 (alert %3 %4)', kind, metric, side, formatValue(detail.threshold))
            : __('%1 %2', kind, metric),
        threshold: detail.threshold,
        xFormat: shortDate,
        breached: y => isBreached(y, detail.threshold, side)
      })
    );
  }

  /** The deployment whose traffic this monitor scores: its line, then latency p95 and error
   * rate per scored window against the deployment's limits. */
  private serving(serving: IServingHealth): HTMLElement {
    const d = serving.deployment;
    const rate = serving.error_rate;
    const p95 = serving.windows
      .filter(w => w.p95_ms !== null)
      .map(w => ({ x: w.created_at, y: w.p95_ms as number }));
    const errors = windowErrorRates(serving.windows);
    return h(
      'section',
      { class: 'mlnb-serving', testid: 'dashboard-serving' },
      h(
        'h3',
        {},
        __('Serving %1', serving.model_name),
        ' ',
        h(
          'span',
          { class: 'mlnb-dim', testid: 'dashboard-serving-line' },
          describeDeployment(d) +
            (rate !== null ? ' · ' + __('error rate %1%', (100 * rate).toFixed(1)) : '')
        )
      ),
      serving.windows.length === 0
        ? h(
            'div',
            { class: 'mlnb-empty' },
            __('No window of its traffic scored yet: `mlnb scheduler` scores them.')
          )
        : h(
            'div',
            { class: 'mlnb-charts' },
            h(
              'figure',
              { class: 'mlnb-figure', testid: 'dashboard-latency-chart' },
              lineChart([{ label: 'p95 ms', points: p95 }], {
                width: 420,
                height: 180,
                title: __('latency p95 per window (ms)'),
                threshold: serving.max_p95_ms,
                xFormat: shortDate,
                breached: y => isBreached(y, serving.max_p95_ms, 'above')
              })
            ),
            h(
              'figure',
              { class: 'mlnb-figure', testid: 'dashboard-error-chart' },
              lineChart([{ label: 'error rate', points: errors }], {
                width: 420,
                height: 180,
                title: __('error rate per window'),
                threshold: serving.max_error_rate,
                xFormat: shortDate,
                breached: y => isBreached(y, serving.max_error_rate, 'above')
              })
            )
          )
    );
  }

  private driftChart(detail: IMonitorDetail): HTMLElement {
    const threshold = detail.thresholds['drift_share'] ?? null;
    const points = detail.batches
      .map(b => ({ x: b.batch_at, y: driftShare(b) }))
      .filter((p): p is { x: number; y: number } => p.y !== null);
    return h(
      'figure',
      { class: 'mlnb-figure', testid: 'dashboard-drift-chart' },
      lineChart([{ label: 'drift share', points }], {
        width: 420,
        height: 200,
        title: __('drift share (drifted columns / columns)'),
        threshold,
        xFormat: shortDate,
        breached: y => isBreached(y, threshold, 'above')
      })
    );
  }

  private heatmap(batches: IBatch[]): HTMLElement {
    const columns = heatmapColumns(batches);
    if (columns.length === 0) {
      return h(
        'section',
        { class: 'mlnb-page-section' },
        h('h3', {}, __('Drift by column')),
        h('div', { class: 'mlnb-empty' }, __('No drift reports stored with these batches.'))
      );
    }
    const head = h(
      'tr',
      {},
      h('th', {}, __('column')),
      ...batches.map(b =>
        h('th', { class: 'mlnb-heat-date', title: formatTime(b.batch_at) }, shortDate(b.batch_at))
      )
    );
    const rows = columns.map(column =>
      h(
        'tr',
        { testid: 'heatmap-row', 'data-column': column },
        h('th', { class: 'mlnb-key' }, column),
        ...batches.map(b => {
          const cell = b.columns.find(c => c.column === column);
          if (!cell) {
            return h('td', { class: 'mlnb-heat mlnb-heat-missing', title: __('not scored') });
          }
          const title = `${column} · ${formatTime(b.batch_at)}\n${cell.test ?? ''} ${formatValue(cell.score)} (threshold ${formatValue(cell.threshold)})\n${cell.drifted ? __('drifted') : __('no drift')}`;
          return h(
            'td',
            {
              class: `mlnb-heat ${cell.drifted ? 'mlnb-heat-drift' : 'mlnb-heat-ok'}`,
              title,
              testid: 'heatmap-cell',
              'data-drifted': cell.drifted ? 'yes' : 'no'
            },
            cell.drifted ? '●' : ''
          );
        })
      )
    );
    return h(
      'section',
      { class: 'mlnb-page-section', testid: 'dashboard-heatmap' },
      h('h3', {}, __('Drift by column across batches')),
      h(
        'div',
        { class: 'mlnb-heat-scroll' },
        h('table', { class: 'mlnb-heatmap' }, h('thead', {}, head), h('tbody', {}, ...rows))
      )
    );
  }

  private alerts(title: string, alerts: IAlert[], testid: string): HTMLElement {
    return h(
      'section',
      { class: 'mlnb-page-section', testid },
      h('h3', {}, `${title} (${alerts.length})`),
      alerts.length === 0
        ? h('div', { class: 'mlnb-empty' }, __('None.'))
        : h('div', {}, ...alerts.map(a => this.alertRow(a)))
    );
  }

  private alertRow(alert: IAlert): HTMLElement {
    return h(
      'div',
      {
        class: `mlnb-alert mlnb-alert-${alert.severity}`,
        testid: 'dashboard-alert',
        'data-alert': alert.id
      },
      h(
        'span',
        { class: 'mlnb-row-main' },
        h('span', {}, alert.message),
        h(
          'span',
          { class: 'mlnb-dim' },
          `${alert.kind} · ${alert.status} · ${formatTime(alert.created_at)}` +
            (alert.breach_count > 1
              ? __(
                  ' · incident: %1 breaches, worst %2',
                  alert.breach_count,
                  formatValue(alert.worst_value)
                )
              : '')
        )
      ),
      alert.status === 'open'
        ? button(
            __('Ack'),
            { testid: 'dashboard-alert-ack', title: __('Acknowledge this alert') },
            async () => {
              try {
                await postAPI(`alerts/${alert.id}/ack`);
              } catch (error) {
                await showErrorMessage(
                  __('Could not acknowledge the alert'),
                  (error as Error).message
                );
              }
              await this.load();
            }
          )
        : null
    );
  }
}
