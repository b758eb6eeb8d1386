/** Monitors: latest drift verdict, accuracy sparkline with its threshold, open alerts. */
import { showErrorMessage } from '@jupyterlab/apputils';

import { postAPI, requestAPI } from './api';
import { badge, button, formatTime, formatValue, h } from './dom';
import { __ } from './i18n';
import { ISectionHost, Section } from './section';
import { alertSide } from './logic';
import { isBreached, sparkline } from './sparkline';
import { IAlert, IMonitorSummary } from './types';

const MAX_ALERTS = 3;

export class MonitorsSection extends Section {
  constructor(host: ISectionHost) {
    super('monitors', __('Monitors'), host);
  }

  async refresh(): Promise<void> {
    const { monitors } = await requestAPI<{ monitors: IMonitorSummary[] }>('monitors');
    this.setCount(monitors.length);
    if (monitors.length === 0) {
      this.render(this.empty('No monitors. Create one with mlnb.Monitor or %monitor.'));
      return;
    }
    this.render(...monitors.map(m => this.monitorCard(m)));
  }

  private monitorCard(monitor: IMonitorSummary): HTMLElement {
    const latest = monitor.latest;
    const verdict =
      latest === null
        ? badge('no batches yet', 'none', 'drift-verdict')
        : latest.dataset_drift
          ? badge('drift', 'bad', 'drift-verdict')
          : badge('no drift', 'good', 'drift-verdict');
    const driftText =
      latest === null
        ? ''
        : `${latest.n_drifted}/${latest.n_columns} columns drifted` +
          (latest.drifted_columns.length ? `: ${latest.drifted_columns.join(', ')}` : '');
    const values = monitor.accuracy.map(p => p.value);
    const metric = monitor.metric ?? 'accuracy';
    const lastValue = values.length ? values[values.length - 1] : null;
    const side = alertSide(monitor);
    const breached = isBreached(lastValue, monitor.threshold, side);
    return h(
      'div',
      { class: 'mlnb-card', testid: 'monitor-card', 'data-monitor': monitor.name },
      h(
        'div',
        { class: 'mlnb-card-header' },
        button(
          monitor.name,
          {
            class: 'mlnb-name mlnb-link',
            testid: 'monitor-open',
            title: __('Open the dashboard of %1', monitor.name)
          },
          () => this.host.openMonitor(monitor.name)
        ),
        verdict
      ),
      h(
        'div',
        { class: 'mlnb-dim' },
        monitor.model_name ? `model ${monitor.model_name}` : 'no model',
        latest ? ` · last batch ${formatTime(latest.batch_at)}` : ''
      ),
      driftText
        ? h('div', { class: 'mlnb-drift-columns', testid: 'drift-columns' }, driftText)
        : null,
      values.length
        ? h(
            'div',
            { class: 'mlnb-spark-row', testid: 'accuracy-sparkline' },
            sparkline(values, {
              threshold: monitor.threshold,
              alertWhen: side,
              label: `${metric} per batch${monitor.threshold !== null ? `, alert ${side} ${monitor.threshold}` : ''}`
            }),
            h(
              'span',
              { class: breached ? 'mlnb-bad' : 'mlnb-ok', testid: 'monitor-metric-value' },
              `${metric} ${formatValue(lastValue)}`,
              monitor.threshold !== null
                ? h('span', { class: 'mlnb-dim' }, ` (threshold ${formatValue(monitor.threshold)})`)
                : null
            )
          )
        : null,
      ...monitor.open_alerts.slice(0, MAX_ALERTS).map(a => this.alertRow(a)),
      monitor.open_alerts.length > MAX_ALERTS
        ? h(
            'div',
            { class: 'mlnb-dim', testid: 'more-alerts' },
            `and ${monitor.open_alerts.length - MAX_ALERTS} more open alerts (mlnb alerts)`
          )
        : null
    );
  }

  private alertRow(alert: IAlert): HTMLElement {
    return h(
      'div',
      {
        class: `mlnb-alert mlnb-alert-${alert.severity}`,
        testid: 'alert-item',
        'data-alert': alert.id
      },
      h(
        'span',
        { class: 'mlnb-row-main' },
        h('span', { testid: 'alert-message' }, alert.message),
        h('span', { class: 'mlnb-dim' }, `${alert.kind} · ${formatTime(alert.created_at)}`)
      ),
      button('Ack', { testid: 'alert-ack', title: 'Acknowledge this alert' }, async () => {
        try {
          await postAPI(`alerts/${alert.id}/ack`);
        } catch (error) {
          await showErrorMessage('Could not acknowledge the alert', (error as Error).message);
        }
        await this.host.refreshAll();
      })
    );
  }
}
