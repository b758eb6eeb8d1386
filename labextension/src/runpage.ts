/**
 * The run page in the main area: what a run was (params, metrics with their step history as
 * charts, data it read and wrote, model files it saved, its cell, environment and git state)
 * and where it led (the lineage graph through the model versions registered from it).
 */
import { InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { URLExt } from '@jupyterlab/coreutils';
import { Widget } from '@lumino/widgets';

import { ApiError, postAPI, requestAPI } from './api';
import { lineChart, svg } from './chart';
import { badge, button, formatTime, formatValue, h, replaceChildren, Child } from './dom';
import { formatBytes, formatDuration, ILineage, lineageNodes } from './logic';
import { IArtifact, IDataLink, IRestoredData, IRunDetail, IRunVersionRef } from './types';
import { __ } from './i18n';

function section(title: string, testid: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'mlnb-page-section', testid }, h('h3', {}, title), ...children);
}

function table(head: string[], rows: Child[][], testid: string): HTMLElement {
  return h(
    'table',
    { class: 'mlnb-table mlnb-page-table', testid },
    h('thead', {}, h('tr', {}, ...head.map(c => h('th', {}, c)))),
    h('tbody', {}, ...rows.map(r => h('tr', {}, ...r.map(c => h('td', {}, c)))))
  );
}

export class RunPage extends Widget {
  constructor(
    readonly runId: number,
    private readonly openPath: (path: string) => Promise<void>
  ) {
    super();
    this.id = `mlnb-run-${runId}`;
    this.addClass('mlnb-view');
    this.addClass('mlnb-run-page');
    this.title.label = `Run #${runId}`;
    this.title.caption = `mlnb run #${runId}`;
    this.title.closable = true;
    this.node.dataset.testid = 'run-page';
    this.node.tabIndex = -1;
    void this.load();
  }

  /** Fetch the run (and its lineage) again and redraw. */
  async load(): Promise<void> {
    replaceChildren(this.node, h('div', { class: 'mlnb-dim' }, `Loading run #${this.runId}…`));
    let run: IRunDetail;
    try {
      run = await requestAPI<IRunDetail>(`runs/${this.runId}`);
    } catch (error) {
      const message =
        error instanceof ApiError && error.status === 404
          ? `There is no run #${this.runId} in this registry (it may have been deleted).`
          : `Could not load run #${this.runId}: ${(error as Error).message}`;
      replaceChildren(
        this.node,
        h('div', { class: 'mlnb-error', role: 'alert', testid: 'view-error' }, message)
      );
      return;
    }
    this.title.label = `Run #${run.id} ${run.name}`.trim();
    replaceChildren(
      this.node,
      this.header(run),
      this.params(run),
      this.metrics(run),
      this.data(run),
      this.artifacts(run),
      this.lineage(run),
      this.cell(run),
      this.environment(run)
    );
  }

  private header(run: IRunDetail): HTMLElement {
    const duration =
      run.ended_at !== null && run.started_at !== null ? run.ended_at - run.started_at : null;
    return h(
      'header',
      { class: 'mlnb-page-header' },
      h(
        'div',
        { class: 'mlnb-view-header' },
        h('h2', { testid: 'run-page-name' }, run.name || `run ${run.id}`),
        badge(run.status, run.status, 'run-page-status'),
        h('span', { class: 'mlnb-dim' }, `#${run.id} · ${run.experiment}`)
      ),
      h(
        'div',
        { class: 'mlnb-kv mlnb-page-kv' },
        h('span', {}, __('Started')),
        h('span', {}, formatTime(run.started_at)),
        h('span', {}, __('Duration')),
        h('span', { testid: 'run-page-duration' }, formatDuration(duration)),
        h('span', {}, __('Source')),
        h('span', {}, `${run.source}${run.user ? ` by ${run.user}` : ''}`),
        h('span', {}, __('Notebook')),
        run.notebook_rel
          ? button(
              run.notebook_rel,
              { testid: 'run-page-notebook', class: 'mlnb-link', title: 'Open the notebook' },
              () => this.openPath(run.notebook_rel as string)
            )
          : h('span', {}, run.notebook_path ?? '—'),
        run.error ? h('span', {}, __('Error')) : null,
        run.error ? h('span', { class: 'mlnb-bad', testid: 'run-page-error' }, run.error) : null
      )
    );
  }

  private params(run: IRunDetail): HTMLElement {
    const keys = Object.keys(run.params).sort();
    return section(
      __('Parameters'),
      'run-page-params',
      keys.length
        ? table(
            ['name', 'value'],
            keys.map(k => [h('code', {}, k), formatValue(run.params[k])]),
            'params-table'
          )
        : h('div', { class: 'mlnb-empty' }, __('No parameters were logged.'))
    );
  }

  private metrics(run: IRunDetail): HTMLElement {
    const keys = Object.keys(run.metric_history).sort();
    if (keys.length === 0) {
      return section(
        __('Metrics'),
        'run-page-metrics',
        h('div', { class: 'mlnb-empty' }, __('No metrics were logged.'))
      );
    }
    const charts = keys
      .filter(k => run.metric_history[k].length > 1)
      .map(k =>
        h(
          'figure',
          { class: 'mlnb-figure', testid: 'metric-chart', 'data-metric': k },
          lineChart(
            [
              {
                label: k,
                points: run.metric_history[k].map((p, i) => ({ x: p.step ?? i, y: p.value }))
              }
            ],
            { title: `${k} by step`, xLabel: 'step' }
          )
        )
      );
    return section(
      __('Metrics'),
      'run-page-metrics',
      table(
        ['metric', 'last value', 'values logged'],
        keys.map(k => [
          h('code', {}, k),
          formatValue(run.metrics[k]),
          run.metric_history[k].length
        ]),
        'metrics-table'
      ),
      charts.length ? h('div', { class: 'mlnb-charts' }, ...charts) : null
    );
  }

  private data(run: IRunDetail): HTMLElement {
    if (run.data.length === 0) {
      return section(
        __('Data'),
        'run-page-data',
        h('div', { class: 'mlnb-empty' }, __('This run recorded no data versions.'))
      );
    }
    return section(
      __('Data'),
      'run-page-data',
      table(
        ['role', 'name', 'kind', 'shape', 'fingerprint', 'source', ''],
        run.data.map(d => [
          d.role,
          d.name,
          d.kind,
          d.n_rows !== null ? `${d.n_rows} × ${d.n_cols ?? '?'}` : '—',
          h('code', { title: d.id }, d.id.slice(0, 12)),
          h('span', { class: 'mlnb-ellipsis', title: d.source_path ?? '' }, d.source_path ?? '—'),
          d.snapshot
            ? button(
                __('Restore…'),
                {
                  testid: 'data-restore',
                  title: __('Write the snapshot to a file under the Jupyter root')
                },
                () => this.restore(d)
              )
            : h('span', { class: 'mlnb-dim' }, 'no snapshot')
        ]),
        'data-table'
      )
    );
  }

  private async restore(data: IDataLink): Promise<void> {
    const suffix =
      data.kind === 'file' && data.source_path
        ? data.source_path.split('/').pop()
        : `${data.name || 'data'}.csv`;
    const answer = await InputDialog.getText({
      title: `Restore ${data.name || data.id.slice(0, 12)}`,
      label: __('File to write under the Jupyter root (it must not exist yet)'),
      text: `restored/${suffix}`
    });
    if (!answer.button.accept || !answer.value) {
      return;
    }
    try {
      const restored = await postAPI<IRestoredData>(`data/${encodeURIComponent(data.id)}/restore`, {
        path: answer.value
      });
      await this.openPath(restored.path).catch(() => undefined);
    } catch (error) {
      await showErrorMessage('Could not restore the snapshot', (error as Error).message);
    }
  }

  private artifacts(run: IRunDetail): HTMLElement {
    if (run.models.length === 0) {
      return section(
        __('Model files'),
        'run-page-artifacts',
        h('div', { class: 'mlnb-empty' }, __('This run saved no model files.'))
      );
    }
    return section(
      __('Model files'),
      'run-page-artifacts',
      table(
        ['name', 'class', 'format', 'size', 'sha256', ''],
        run.models.map(a => [
          a.name,
          h('span', { title: a.class_name }, a.class_name.split('.').pop() ?? a.class_name),
          a.format,
          formatBytes(a.size),
          h('code', { title: a.object_hash }, a.object_hash.slice(0, 12)),
          button('Download', { testid: 'artifact-download', title: `Download ${a.name}` }, () =>
            this.download(a)
          )
        ]),
        'artifacts-table'
      )
    );
  }

  private async download(artifact: IArtifact): Promise<void> {
    const settings = ServerConnection.makeSettings();
    const url = URLExt.join(
      settings.baseUrl,
      'mlnb',
      'api',
      'artifacts',
      String(artifact.id),
      'download'
    );
    try {
      const response = await ServerConnection.makeRequest(url, {}, settings);
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.error ?? response.statusText);
      }
      const disposition = response.headers.get('Content-Disposition') ?? '';
      const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? artifact.name;
      const link = h('a', { href: URL.createObjectURL(await response.blob()), download: name });
      document.body.appendChild(link);
      link.click();
      link.remove();
      this.node.dataset.downloaded = name;
    } catch (error) {
      await showErrorMessage(`Could not download ${artifact.name}`, (error as Error).message);
    }
  }

  private lineage(run: IRunDetail): HTMLElement {
    const holder = h('div', { class: 'mlnb-lineage', testid: 'lineage-graph' });
    void this.drawLineage(run, holder);
    return section('Lineage', 'run-page-lineage', holder);
  }

  private async drawLineage(run: IRunDetail, holder: HTMLElement): Promise<void> {
    let lineages: ILineage[] = [];
    try {
      lineages = await Promise.all(
        run.model_versions.map((v: IRunVersionRef) =>
          requestAPI<ILineage>(
            `models/${encodeURIComponent(v.model)}/versions/${v.version}/lineage`
          )
        )
      );
    } catch (error) {
      replaceChildren(
        holder,
        h('div', { class: 'mlnb-error', role: 'alert' }, `Lineage: ${(error as Error).message}`)
      );
      return;
    }
    replaceChildren(holder, lineageGraph(run, lineages));
  }

  private cell(run: IRunDetail): HTMLElement {
    return section(
      __('Cell'),
      'run-page-cell',
      run.cell_source
        ? h(
            'pre',
            { class: 'mlnb-code', testid: 'run-page-source' },
            run.execution_count !== null
              ? `# In [${run.execution_count}]\n${run.cell_source}`
              : run.cell_source
          )
        : h(
            'div',
            { class: 'mlnb-empty' },
            __('No cell source was recorded (the run was not a tracked cell).')
          )
    );
  }

  private environment(run: IRunDetail): HTMLElement {
    const packages = Object.entries(run.packages).sort(([a], [b]) => a.localeCompare(b));
    const git = run.git_commit
      ? `${run.git_commit.slice(0, 12)}${run.git_dirty ? ' (uncommitted changes)' : ' (clean)'}`
      : 'not a git repository';
    return section(
      __('Environment'),
      'run-page-environment',
      h(
        'div',
        { class: 'mlnb-kv mlnb-page-kv' },
        h('span', {}, __('Python')),
        h('span', {}, run.python_version ?? '—'),
        h('span', {}, __('Host')),
        h('span', {}, run.host ?? '—'),
        h('span', {}, __('Git')),
        h('span', { testid: 'run-page-git', class: run.git_dirty ? 'mlnb-warn-text' : '' }, git),
        h('span', {}, __('Tags')),
        h(
          'span',
          {},
          Object.keys(run.tags).length
            ? Object.entries(run.tags)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ')
            : '—'
        )
      ),
      packages.length
        ? h(
            'details',
            { class: 'mlnb-packages' },
            h('summary', {}, `${packages.length} packages`),
            table(
              ['package', 'version'],
              packages.map(([k, v]) => [k, formatValue(v)]),
              'packages-table'
            )
          )
        : null
    );
  }
}

function lineageGraph(run: IRunDetail, lineages: ILineage[]): SVGSVGElement {
  const { nodes, edges } = lineageNodes(run, lineages);
  const boxW = 170;
  const boxH = 40;
  const gapX = 50;
  const gapY = 14;
  const columns = [0, 1, 2, 3].map(c => nodes.filter(n => n.column === c));
  const rows = Math.max(1, ...columns.map(c => c.length));
  const used = columns.filter(c => c.length).length;
  const width = used * boxW + (used - 1) * gapX + 20;
  const height = rows * (boxH + gapY) + 10;
  const position = new Map<string, { x: number; y: number }>();
  let col = 0;
  for (const column of columns) {
    if (!column.length) {
      continue;
    }
    const top = (height - column.length * (boxH + gapY)) / 2;
    column.forEach((n, i) =>
      position.set(n.key, { x: 10 + col * (boxW + gapX), y: top + i * (boxH + gapY) + gapY / 2 })
    );
    col++;
  }
  const root = svg('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: 'mlnb-lineage-svg',
    role: 'img'
  });
  const title = svg('title');
  title.textContent = `Lineage of run #${run.id}`;
  root.appendChild(title);
  for (const [from, to] of edges) {
    const a = position.get(from);
    const b = position.get(to);
    if (!a || !b) {
      continue;
    }
    const x1 = a.x + boxW;
    const y1 = a.y + boxH / 2;
    const x2 = b.x;
    const y2 = b.y + boxH / 2;
    const mid = (x1 + x2) / 2;
    root.appendChild(
      svg('path', {
        d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
        class: 'mlnb-lineage-edge'
      })
    );
  }
  for (const n of nodes) {
    const p = position.get(n.key) as { x: number; y: number };
    const g = svg('g', {
      class: `mlnb-lineage-node mlnb-lineage-${n.kind.split(' ')[0]}`,
      'data-node': n.key
    });
    g.appendChild(
      svg('rect', {
        x: p.x,
        y: p.y,
        width: boxW,
        height: boxH,
        rx: 5,
        class: n.kind.includes('stage-production') ? 'mlnb-lineage-production' : ''
      })
    );
    const label = svg('text', { x: p.x + 8, y: p.y + 16, class: 'mlnb-lineage-label' });
    label.textContent = n.label.length > 24 ? `${n.label.slice(0, 23)}…` : n.label;
    const detail = svg('text', { x: p.x + 8, y: p.y + 31, class: 'mlnb-lineage-detail' });
    detail.textContent = n.detail.length > 28 ? `${n.detail.slice(0, 27)}…` : n.detail;
    const tip = svg('title');
    tip.textContent = `${n.label}\n${n.detail}`;
    g.append(tip, label, detail);
    root.appendChild(g);
  }
  return root;
}
