/**
 * Compare runs in the main area: every metric side by side as bars, parameters against
 * metrics as parallel coordinates, and the table of values, with an "only differences"
 * toggle that hides what all runs share.
 */
import { Widget } from '@lumino/widgets';

import { requestAPI, withQuery } from './api';
import { chartRoot, extent, scale, svg, tickLabel } from './chart';
import { formatValue, h, replaceChildren } from './dom';
import { __ } from './i18n';
import { isNumericRow, numericValues, visibleRows } from './logic';
import { ICompare, ICompareRow } from './types';

function runLabel(run: { id: number; name: string }): string {
  return run.name ? `${run.name} #${run.id}` : `#${run.id}`;
}

/** One small bar chart per metric: a bar per run. */
function metricBars(result: ICompare, rows: ICompareRow[]): HTMLElement[] {
  return rows.filter(isNumericRow).map(row => {
    const values = numericValues(row);
    const width = 240;
    const barH = 16;
    const m = { left: 8, right: 56, top: 20 };
    const height = m.top + values.length * (barH + 4) + 4;
    const [lo, hi] = extent(
      values.filter((v): v is number => v !== null),
      [0]
    );
    const x = scale(Math.min(lo, 0), hi, m.left, width - m.right);
    const root = chartRoot(width, height, row.key);
    const title = svg('text', { x: m.left, y: 13, class: 'mlnb-chart-title' });
    title.textContent = row.key;
    root.appendChild(title);
    values.forEach((v, i) => {
      const y = m.top + i * (barH + 4);
      if (v !== null) {
        const x0 = x(Math.min(0, v));
        const bar = svg('rect', {
          x: x0,
          y,
          width: Math.max(1, Math.abs(x(v) - x(0))),
          height: barH,
          class: `mlnb-bar mlnb-series-${i % 6}`
        });
        const tip = svg('title');
        tip.textContent = `${runLabel(result.runs[i])}: ${formatValue(v)}`;
        bar.appendChild(tip);
        root.appendChild(bar);
      }
      const label = svg('text', {
        x: width - m.right + 4,
        y: y + barH - 4,
        class: 'mlnb-chart-tick'
      });
      label.textContent = v === null ? '—' : tickLabel(v);
      root.appendChild(label);
    });
    return h(
      'figure',
      { class: 'mlnb-figure', testid: 'compare-bars', 'data-metric': row.key },
      root
    );
  });
}

/** Parameters then metrics as vertical axes; each run a line across them. */
function parallelCoordinates(result: ICompare, axes: ICompareRow[]): HTMLElement | null {
  if (axes.length < 2) {
    return null;
  }
  const width = Math.max(360, axes.length * 110);
  const height = 220;
  const m = { left: 40, right: 40, top: 28, bottom: 24 };
  const root = chartRoot(width, height, __('parameters and metrics per run'));
  const step = (width - m.left - m.right) / (axes.length - 1);
  const ys = axes.map(axis => {
    const values = numericValues(axis).filter((v): v is number => v !== null);
    const [lo, hi] = extent(values);
    return { lo, hi, y: scale(lo, hi, height - m.bottom, m.top) };
  });
  axes.forEach((axis, i) => {
    const ax = m.left + i * step;
    root.appendChild(
      svg('line', { x1: ax, x2: ax, y1: m.top, y2: height - m.bottom, class: 'mlnb-chart-axis' })
    );
    const label = svg('text', { x: ax, y: 12, class: 'mlnb-chart-title', 'text-anchor': 'middle' });
    label.textContent = axis.key;
    root.appendChild(label);
    for (const [value, y] of [
      [ys[i].hi, m.top + 3],
      [ys[i].lo, height - m.bottom + 12]
    ] as const) {
      const tick = svg('text', { x: ax, y, class: 'mlnb-chart-tick', 'text-anchor': 'middle' });
      tick.textContent = tickLabel(value);
      root.appendChild(tick);
    }
  });
  result.runs.forEach((run, r) => {
    const points = axes
      .map((axis, i) => {
        const v = numericValues(axis)[r];
        return v === null ? null : `${(m.left + i * step).toFixed(1)},${ys[i].y(v).toFixed(1)}`;
      })
      .filter((p): p is string => p !== null);
    const line = svg('polyline', {
      points: points.join(' '),
      class: `mlnb-chart-line mlnb-series-${r % 6}`,
      'data-run': run.id
    });
    const tip = svg('title');
    tip.textContent = runLabel(run);
    line.appendChild(tip);
    root.appendChild(line);
  });
  return h('figure', { class: 'mlnb-figure', testid: 'compare-parallel' }, root);
}

export class CompareView extends Widget {
  private result: ICompare | null = null;
  private onlyDifferences = false;
  private readonly content: HTMLElement;

  constructor(readonly runIds: number[]) {
    super();
    this.id = CompareView.idFor(runIds);
    this.addClass('mlnb-view');
    this.addClass('mlnb-compare-view');
    this.title.label = __('Compare %1', runIds.map(id => `#${id}`).join(' '));
    this.title.closable = true;
    this.node.dataset.testid = 'compare-view';
    const toggle = h('input', { type: 'checkbox', testid: 'compare-only-diff' });
    toggle.addEventListener('change', () => {
      this.onlyDifferences = toggle.checked;
      this.draw();
    });
    this.content = h('div', {});
    this.node.append(
      h(
        'div',
        { class: 'mlnb-view-header' },
        h('h2', {}, __('Compare runs')),
        h('label', { class: 'mlnb-toggle' }, toggle, ' ', __('Only differences'))
      ),
      this.content
    );
    void this.load();
  }

  static idFor(runIds: number[]): string {
    return `mlnb-compare-${runIds.join('-')}`;
  }

  private async load(): Promise<void> {
    replaceChildren(this.content, h('div', { class: 'mlnb-dim' }, __('Loading…')));
    try {
      this.result = await requestAPI<ICompare>(
        withQuery('compare', { runs: this.runIds.join(',') })
      );
    } catch (error) {
      replaceChildren(
        this.content,
        h(
          'div',
          { class: 'mlnb-error', role: 'alert', testid: 'view-error' },
          (error as Error).message
        )
      );
      return;
    }
    this.draw();
  }

  private draw(): void {
    const result = this.result;
    if (result === null) {
      return;
    }
    const metrics = visibleRows(result.metrics, this.onlyDifferences);
    const params = visibleRows(result.params, this.onlyDifferences);
    const axes = [...params.filter(isNumericRow), ...metrics.filter(isNumericRow)];
    const legend = h(
      'div',
      { class: 'mlnb-legend' },
      ...result.runs.map((run, i) =>
        h(
          'span',
          { class: 'mlnb-legend-item' },
          h('span', { class: `mlnb-swatch mlnb-series-${i % 6}` }),
          runLabel(run)
        )
      )
    );
    const bars = metricBars(result, metrics);
    replaceChildren(
      this.content,
      legend,
      bars.length
        ? h('div', { class: 'mlnb-charts' }, ...bars)
        : h('div', { class: 'mlnb-empty' }, __('No numeric metric to chart.')),
      parallelCoordinates(result, axes),
      this.table(result, metrics, params, visibleRows(result.data, this.onlyDifferences))
    );
  }

  private table(
    result: ICompare,
    metrics: ICompareRow[],
    params: ICompareRow[],
    data: ICompareRow[]
  ): HTMLElement {
    const body = h('tbody', {});
    const group = (title: string, rows: ICompareRow[]) => {
      if (rows.length === 0) {
        return;
      }
      body.appendChild(
        h('tr', { class: 'mlnb-group' }, h('td', { colspan: result.runs.length + 1 }, title))
      );
      for (const row of rows) {
        body.appendChild(
          h(
            'tr',
            {
              class: row.differs ? 'mlnb-differs' : '',
              testid: 'compare-row',
              'data-key': row.key
            },
            h('td', { class: 'mlnb-key' }, row.key),
            ...row.values.map(v => h('td', {}, formatValue(v)))
          )
        );
      }
    };
    group(__('Metrics'), metrics);
    group(__('Params'), params);
    group(__('Data'), data);
    return h(
      'table',
      { class: 'mlnb-table mlnb-page-table', testid: 'compare-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, ''),
          ...result.runs.map(run =>
            h(
              'th',
              { title: runLabel(run) },
              run.name || `run ${run.id}`,
              h('div', { class: 'mlnb-dim' }, `#${run.id}`)
            )
          )
        )
      ),
      body
    );
  }
}
