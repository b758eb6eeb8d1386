/**
 * Runs: filter by experiment, search with an expression (`metrics.accuracy > 0.9 and
 * params.C < 1`), sort by a metric, page through them, open a run's page, pick runs and
 * compare them in the main area.
 */
import { ApiError, requestAPI, withQuery } from './api';
import { CompareView } from './compare';
import { badge, button, formatTime, formatValue, h, replaceChildren } from './dom';
import { __ } from './i18n';
import { pageOffsets } from './logic';
import { ISectionHost, Section } from './section';
import { IExperiment, IRun, IRunList } from './types';

export const MAX_COMPARE = 10;

/** "51–100 of 10000", or "no runs". */
export function pageLabel(offset: number, shown: number, total: number): string {
  if (total === 0 || shown === 0) {
    return __('no runs');
  }
  return __('%1–%2 of %3', offset + 1, offset + shown, total);
}

export class RunsSection extends Section {
  private experiment = '';
  private experimentChosen = false;
  private sortKey = '';
  private order: 'asc' | 'desc' = 'desc';
  private query = '';
  private offset = 0;
  private perPage = 50;
  private total = 0;
  private readonly selected: number[] = [];

  private readonly experimentSelect: HTMLSelectElement;
  private readonly sortSelect: HTMLSelectElement;
  private readonly orderButton: HTMLButtonElement;
  private readonly compareButton: HTMLButtonElement;
  private readonly searchInput: HTMLInputElement;
  private readonly searchError: HTMLElement;
  private readonly list: HTMLElement;
  private readonly prevButton: HTMLButtonElement;
  private readonly nextButton: HTMLButtonElement;
  private readonly rangeNode: HTMLElement;

  constructor(host: ISectionHost) {
    super('runs', __('Runs'), host);
    this.experimentSelect = h('select', {
      class: 'mlnb-select',
      testid: 'runs-experiment',
      title: __('Show runs of one experiment'),
      'aria-label': __('Experiment')
    });
    this.experimentSelect.addEventListener('change', () => {
      this.experiment = this.experimentSelect.value;
      this.experimentChosen = true;
      this.offset = 0;
      void this.refresh();
    });
    this.sortSelect = h('select', {
      class: 'mlnb-select',
      testid: 'runs-sort',
      title: __('Sort runs by a metric'),
      'aria-label': __('Sort by')
    });
    this.sortSelect.addEventListener('change', () => {
      this.sortKey = this.sortSelect.value;
      this.offset = 0;
      void this.refresh();
    });
    this.orderButton = button('↓', { testid: 'runs-order', title: __('Sort order') }, () => {
      this.order = this.order === 'desc' ? 'asc' : 'desc';
      void this.refresh();
    });
    this.compareButton = button(
      __('Compare'),
      { testid: 'runs-compare', title: __('Select 2 to %1 runs to compare them', MAX_COMPARE) },
      () => this.compareSelected()
    );
    this.searchInput = h('input', {
      type: 'search',
      class: 'mlnb-input mlnb-search',
      testid: 'runs-search',
      placeholder: 'metrics.accuracy > 0.9 and params.C < 1',
      title: __(
        'Search runs: metrics.NAME, params.NAME, tags.NAME, name, experiment, status; =, !=, <, <=, >, >=, ~ (contains); and, or, ( )'
      ),
      'aria-label': __('Search runs')
    });
    this.searchInput.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this.applySearch();
      }
    });
    this.searchInput.addEventListener('search', () => this.applySearch());
    this.searchError = h('div', {
      class: 'mlnb-search-error',
      testid: 'runs-search-error',
      role: 'alert'
    });
    this.list = h('div', { class: 'mlnb-list', testid: 'runs-list' });
    this.prevButton = button(
      '‹',
      { testid: 'runs-prev', title: __('Previous page'), 'aria-label': __('Previous page') },
      () => this.goTo(pageOffsets(this.offset, this.perPage, this.total).prev)
    );
    this.nextButton = button(
      '›',
      { testid: 'runs-next', title: __('Next page'), 'aria-label': __('Next page') },
      () => this.goTo(pageOffsets(this.offset, this.perPage, this.total).next)
    );
    this.rangeNode = h('span', { class: 'mlnb-dim', testid: 'runs-range' });
    this.render(
      h(
        'div',
        { class: 'mlnb-toolbar' },
        this.experimentSelect,
        this.sortSelect,
        this.orderButton,
        this.compareButton
      ),
      h('div', { class: 'mlnb-toolbar' }, this.searchInput),
      this.searchError,
      this.list,
      h(
        'div',
        { class: 'mlnb-toolbar mlnb-pager', testid: 'runs-pager' },
        this.prevButton,
        this.rangeNode,
        this.nextButton
      )
    );
  }

  /** Apply settings: runs per page, and the default experiment until the user picks one. */
  configure(settings: { runsPerPage: number; defaultExperiment: string }): void {
    this.perPage = settings.runsPerPage;
    if (!this.experimentChosen) {
      this.experiment = settings.defaultExperiment;
    }
  }

  private applySearch(): void {
    this.query = this.searchInput.value.trim();
    this.offset = 0;
    void this.refresh().catch(error => this.host.reportError(error));
  }

  private goTo(offset: number | null): void {
    if (offset === null) {
      return;
    }
    this.offset = offset;
    void this.refresh().catch(error => this.host.reportError(error));
  }

  async refresh(): Promise<void> {
    const experimentsPromise = requestAPI<{ experiments: IExperiment[] }>('experiments');
    let runs: IRunList;
    try {
      runs = await requestAPI<IRunList>(
        withQuery('runs', {
          experiment: this.experiment,
          sort: this.sortKey,
          order: this.order,
          q: this.query,
          offset: this.offset || undefined,
          limit: this.perPage
        })
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 400 && this.query) {
        replaceChildren(this.searchError, error.message);
        this.searchError.classList.add('mlnb-visible');
        await experimentsPromise.catch(() => undefined);
        return;
      }
      throw error;
    }
    replaceChildren(this.searchError);
    this.searchError.classList.remove('mlnb-visible');
    this.fillExperiments((await experimentsPromise).experiments);
    this.fillSortKeys(runs.metric_keys);
    this.orderButton.textContent = this.order === 'desc' ? '↓' : '↑';
    this.orderButton.title = this.order === 'desc' ? __('Highest first') : __('Lowest first');
    this.total = runs.total;
    if (runs.runs.length === 0 && this.offset > 0 && runs.total > 0) {
      this.offset = 0;
      return this.refresh();
    }
    this.drawRuns(runs);
  }

  private fillExperiments(experiments: IExperiment[]): void {
    const options = [h('option', { value: '' }, __('All experiments'))];
    for (const e of experiments) {
      options.push(h('option', { value: e.name }, `${e.name} (${e.n_runs})`));
    }
    if (this.experiment && !experiments.some(e => e.name === this.experiment)) {
      options.push(h('option', { value: this.experiment }, `${this.experiment} (0)`));
    }
    replaceChildren(this.experimentSelect, ...options);
    this.experimentSelect.value = this.experiment;
  }

  private fillSortKeys(keys: string[]): void {
    const options = [h('option', { value: '' }, __('Newest first'))];
    for (const key of keys) {
      options.push(h('option', { value: key }, __('Sort by %1', key)));
    }
    if (this.sortKey && !keys.includes(this.sortKey)) {
      options.push(h('option', { value: this.sortKey }, __('Sort by %1', this.sortKey)));
    }
    replaceChildren(this.sortSelect, ...options);
    this.sortSelect.value = this.sortKey;
  }

  private drawRuns(list: IRunList): void {
    const runs = list.runs;
    this.setCount(list.total);
    this.updateCompareButton();
    const { prev, next } = pageOffsets(this.offset, this.perPage, list.total);
    this.prevButton.disabled = prev === null;
    this.nextButton.disabled = next === null;
    this.rangeNode.textContent = pageLabel(this.offset, runs.length, list.total);
    if (runs.length === 0) {
      replaceChildren(
        this.list,
        this.empty(
          this.query
            ? __('No run matches %1.', this.query)
            : __('No runs yet. Track a cell with %%track in a notebook to see it here.')
        )
      );
      return;
    }
    replaceChildren(this.list, ...runs.map(run => this.runRow(run)));
  }

  private runRow(run: IRun): HTMLElement {
    const checkbox = h('input', {
      type: 'checkbox',
      testid: 'run-select',
      title: __('Select for comparison'),
      'aria-label': __('Select run #%1 for comparison', run.id)
    });
    checkbox.checked = this.selected.includes(run.id);
    checkbox.addEventListener('change', () => this.toggleSelection(run.id, checkbox));
    const metricKey = this.sortKey || Object.keys(run.metrics)[0];
    const metric =
      metricKey !== undefined && metricKey in run.metrics
        ? h(
            'span',
            { class: 'mlnb-metric', title: metricKey, testid: 'run-metric' },
            `${metricKey} ${formatValue(run.metrics[metricKey])}`
          )
        : h('span', {});
    return h(
      'div',
      {
        class: 'mlnb-run',
        testid: 'run-row',
        'data-run-id': run.id,
        title: `${run.name || `run ${run.id}`}${run.notebook_path ? `\n${run.notebook_path}` : ''}`
      },
      checkbox,
      button(
        run.name || `run ${run.id}`,
        {
          class: 'mlnb-name mlnb-link',
          testid: 'run-name',
          title: __('Open the run page of #%1', run.id)
        },
        () => this.host.openRun(run.id)
      ),
      badge(run.status, run.status, 'run-status'),
      h('span', {}),
      h(
        'span',
        { class: 'mlnb-dim mlnb-ellipsis' },
        `#${run.id} · ${run.experiment} · ${formatTime(run.started_at)}`
      ),
      metric
    );
  }

  private toggleSelection(id: number, box: HTMLInputElement): void {
    const at = this.selected.indexOf(id);
    if (box.checked && at < 0) {
      if (this.selected.length >= MAX_COMPARE) {
        box.checked = false;
        this.host.reportError(__('Compare at most %1 runs at once.', MAX_COMPARE));
        return;
      }
      this.selected.push(id);
    } else if (!box.checked && at >= 0) {
      this.selected.splice(at, 1);
    }
    this.updateCompareButton();
  }

  private updateCompareButton(): void {
    this.compareButton.disabled = this.selected.length < 2;
    this.compareButton.textContent =
      this.selected.length >= 2 ? __('Compare %1', this.selected.length) : __('Compare');
  }

  private compareSelected(): void {
    if (this.selected.length < 2) {
      return;
    }
    const ids = [...this.selected];
    this.host.showInMain(CompareView.idFor(ids), () => new CompareView(ids));
  }
}
