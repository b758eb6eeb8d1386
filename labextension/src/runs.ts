/** Runs: filter by experiment, sort by a metric, pick two and compare them side by side. */
import { requestAPI, withQuery } from './api';
import { badge, button, formatTime, formatValue, h, replaceChildren } from './dom';
import { ISectionHost, Section } from './section';
import { ICompare, ICompareRow, IExperiment, IRun, IRunList } from './types';

const RUN_LIMIT = 50;

export class RunsSection extends Section {
  private experiment = '';
  private sortKey = '';
  private order: 'asc' | 'desc' = 'desc';
  private readonly selected: number[] = [];
  private comparing: number[] | null = null;

  private readonly experimentSelect: HTMLSelectElement;
  private readonly sortSelect: HTMLSelectElement;
  private readonly orderButton: HTMLButtonElement;
  private readonly compareButton: HTMLButtonElement;
  private readonly list: HTMLElement;
  private readonly compareView: HTMLElement;

  constructor(host: ISectionHost) {
    super('runs', 'Runs', host);
    this.experimentSelect = h('select', {
      class: 'mlnb-select',
      testid: 'runs-experiment',
      title: 'Show runs of one experiment'
    });
    this.experimentSelect.addEventListener('change', () => {
      this.experiment = this.experimentSelect.value;
      void this.refresh();
    });
    this.sortSelect = h('select', {
      class: 'mlnb-select',
      testid: 'runs-sort',
      title: 'Sort runs by a metric'
    });
    this.sortSelect.addEventListener('change', () => {
      this.sortKey = this.sortSelect.value;
      void this.refresh();
    });
    this.orderButton = button('↓', { testid: 'runs-order', title: 'Sort order' }, () => {
      this.order = this.order === 'desc' ? 'asc' : 'desc';
      void this.refresh();
    });
    this.compareButton = button(
      'Compare',
      { testid: 'runs-compare', title: 'Select two runs to compare them side by side' },
      () => this.compareSelected()
    );
    this.list = h('div', { class: 'mlnb-list', testid: 'runs-list' });
    this.compareView = h('div', { class: 'mlnb-compare', testid: 'runs-compare-view' });
    this.render(
      h(
        'div',
        { class: 'mlnb-toolbar' },
        this.experimentSelect,
        this.sortSelect,
        this.orderButton,
        this.compareButton
      ),
      this.list,
      this.compareView
    );
  }

  async refresh(): Promise<void> {
    const [experiments, runs] = await Promise.all([
      requestAPI<{ experiments: IExperiment[] }>('experiments'),
      requestAPI<IRunList>(
        withQuery('runs', {
          experiment: this.experiment,
          sort: this.sortKey,
          order: this.order,
          limit: RUN_LIMIT
        })
      )
    ]);
    this.fillExperiments(experiments.experiments);
    this.fillSortKeys(runs.metric_keys);
    this.orderButton.textContent = this.order === 'desc' ? '↓' : '↑';
    this.orderButton.title = this.order === 'desc' ? 'Highest first' : 'Lowest first';
    this.drawRuns(runs.runs);
    if (this.comparing) {
      await this.drawCompare(this.comparing);
    }
  }

  private fillExperiments(experiments: IExperiment[]): void {
    const options = [h('option', { value: '' }, 'All experiments')];
    for (const e of experiments) {
      options.push(h('option', { value: e.name }, `${e.name} (${e.n_runs})`));
    }
    replaceChildren(this.experimentSelect, ...options);
    this.experimentSelect.value = this.experiment;
  }

  private fillSortKeys(keys: string[]): void {
    const options = [h('option', { value: '' }, 'Newest first')];
    for (const key of keys) {
      options.push(h('option', { value: key }, `Sort by ${key}`));
    }
    replaceChildren(this.sortSelect, ...options);
    this.sortSelect.value = keys.includes(this.sortKey) ? this.sortKey : '';
  }

  private drawRuns(runs: IRun[]): void {
    this.setCount(runs.length);
    const visible = new Set(runs.map(r => r.id));
    for (let i = this.selected.length - 1; i >= 0; i--) {
      if (!visible.has(this.selected[i])) {
        this.selected.splice(i, 1);
      }
    }
    this.updateCompareButton();
    if (runs.length === 0) {
      replaceChildren(
        this.list,
        this.empty('No runs yet. Track a cell with %%track in a notebook to see it here.')
      );
      return;
    }
    replaceChildren(this.list, ...runs.map(run => this.runRow(run)));
  }

  private runRow(run: IRun): HTMLElement {
    const checkbox = h('input', {
      type: 'checkbox',
      testid: 'run-select',
      title: 'Select for comparison'
    });
    checkbox.checked = this.selected.includes(run.id);
    checkbox.addEventListener('change', () => this.toggleSelection(run.id, checkbox.checked));
    const metricKey = this.sortKey || Object.keys(run.metrics)[0];
    const metric =
      metricKey !== undefined
        ? h(
            'span',
            { class: 'mlnb-metric', title: metricKey, testid: 'run-metric' },
            `${metricKey} ${formatValue(run.metrics[metricKey])}`
          )
        : h('span', {});
    const row = h(
      'label',
      {
        class: 'mlnb-run',
        testid: 'run-row',
        'data-run-id': run.id,
        title: `${run.name || `run ${run.id}`}${run.notebook_path ? `\n${run.notebook_path}` : ''}`
      },
      checkbox,
      h('span', { class: 'mlnb-name', testid: 'run-name' }, run.name || `run ${run.id}`),
      badge(run.status, run.status, 'run-status'),
      h('span', {}),
      h('span', { class: 'mlnb-dim mlnb-ellipsis' }, `#${run.id} · ${run.experiment} · ${formatTime(run.started_at)}`),
      metric
    );
    return row;
  }

  private toggleSelection(id: number, on: boolean): void {
    const at = this.selected.indexOf(id);
    if (on && at < 0) {
      this.selected.push(id);
      if (this.selected.length > 2) {
        this.selected.shift();
        for (const box of Array.from(
          this.list.querySelectorAll<HTMLInputElement>('[data-testid="run-select"]')
        )) {
          const rowId = Number(box.closest('[data-run-id]')?.getAttribute('data-run-id'));
          box.checked = this.selected.includes(rowId);
        }
      }
    } else if (!on && at >= 0) {
      this.selected.splice(at, 1);
    }
    this.updateCompareButton();
  }

  private updateCompareButton(): void {
    this.compareButton.disabled = this.selected.length !== 2;
  }

  private async compareSelected(): Promise<void> {
    if (this.selected.length !== 2) {
      return;
    }
    this.comparing = [...this.selected];
    try {
      await this.drawCompare(this.comparing);
    } catch (error) {
      this.host.reportError(error);
    }
  }

  private async drawCompare(ids: number[]): Promise<void> {
    const result = await requestAPI<ICompare>(withQuery('compare', { runs: ids.join(',') }));
    const [a, b] = result.runs;
    const close = button('×', { testid: 'compare-close', title: 'Close comparison' }, () => {
      this.comparing = null;
      replaceChildren(this.compareView);
    });
    const head = h(
      'tr',
      {},
      h('th', {}, ''),
      ...[a, b].map(run =>
        h(
          'th',
          { title: run.name || `run ${run.id}` },
          run.name || `run ${run.id}`,
          h('div', { class: 'mlnb-dim' }, `#${run.id}`)
        )
      )
    );
    const body = h('tbody', {});
    const group = (title: string, rows: ICompareRow[]) => {
      if (rows.length === 0) {
        return;
      }
      body.appendChild(h('tr', { class: 'mlnb-group' }, h('td', { colspan: 3 }, title)));
      for (const row of rows) {
        body.appendChild(
          h(
            'tr',
            { class: row.differs ? 'mlnb-differs' : '', testid: 'compare-row' },
            h('td', { class: 'mlnb-key' }, row.key),
            ...row.values.map(v => h('td', {}, formatValue(v)))
          )
        );
      }
    };
    group('Metrics', result.metrics);
    group('Params', result.params);
    group('Data', result.data);
    replaceChildren(
      this.compareView,
      h('div', { class: 'mlnb-compare-header' }, h('strong', {}, 'Comparison'), close),
      h('table', { class: 'mlnb-table', testid: 'compare-table' }, h('thead', {}, head), body)
    );
  }
}
