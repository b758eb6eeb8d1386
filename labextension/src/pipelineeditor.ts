/**
 * Create or edit a pipeline in the main area: the notebook (picked from the Jupyter root),
 * its schedule with the cron expression in words and the next run times, the other
 * triggers, the gate and the stage to promote to; below, the run history with trigger,
 * duration, status and failure, each run's output and log one click away.
 */
import { Widget } from '@lumino/widgets';

import { ApiError, postAPI, requestAPI, withQuery } from './api';
import { badge, button, formatTime, h, replaceChildren } from './dom';
import { __ } from './i18n';
import { describeCron, formatDuration } from './logic';
import { ICronPreview, INotebookList, IPipeline, IPipelineRun } from './types';

const PREVIEW_DELAY_MS = 300;

export class PipelineEditor extends Widget {
  private readonly fields: Record<string, HTMLInputElement | HTMLSelectElement> = {};
  private readonly cronWords: HTMLElement;
  private readonly cronRuns: HTMLElement;
  private readonly status: HTMLElement;
  private readonly history: HTMLElement;
  private previewTimer: number | null = null;

  constructor(
    private pipelineName: string | null,
    private readonly showOutput: (pipeline: string, runId: number) => void,
    private readonly changed: () => Promise<void>
  ) {
    super();
    this.id = PipelineEditor.idFor(pipelineName);
    this.addClass('mlnb-view');
    this.addClass('mlnb-pipeline-editor');
    this.title.label = pipelineName ? __('Pipeline %1', pipelineName) : __('New pipeline');
    this.title.closable = true;
    this.node.dataset.testid = 'pipeline-editor';
    this.cronWords = h('div', { class: 'mlnb-cron-words', testid: 'cron-words' });
    this.cronRuns = h('ul', { class: 'mlnb-cron-runs', testid: 'cron-next-runs' });
    this.status = h('div', {
      class: 'mlnb-form-status',
      testid: 'pipeline-form-status',
      role: 'status'
    });
    this.history = h('section', { class: 'mlnb-page-section', testid: 'pipeline-history' });
    this.node.append(this.form(), this.history);
    void this.load();
  }

  static idFor(name: string | null): string {
    return name ? `mlnb-pipeline-${encodeURIComponent(name)}` : 'mlnb-pipeline-new';
  }

  private input(key: string, label: string, attrs: Record<string, string> = {}): HTMLElement {
    const field = h('input', {
      type: 'text',
      class: 'mlnb-input',
      testid: `pipeline-${key}`,
      id: `${this.id}-${key}`,
      ...attrs
    });
    this.fields[key] = field;
    return h(
      'label',
      { class: 'mlnb-field', for: `${this.id}-${key}` },
      h('span', {}, label),
      field
    );
  }

  private form(): HTMLElement {
    const notebooks = h('datalist', { id: `${this.id}-notebooks`, testid: 'notebook-choices' });
    const promote = h('select', {
      class: 'mlnb-select',
      testid: 'pipeline-promote_to',
      id: `${this.id}-promote_to`
    });
    for (const [value, label] of [
      ['', __('do not promote')],
      ['staging', 'staging'],
      ['production', 'production']
    ]) {
      promote.appendChild(h('option', { value }, label));
    }
    this.fields.promote_to = promote;
    const form = h(
      'form',
      { class: 'mlnb-pipeline-form' },
      h('h2', {}, this.pipelineName ? __('Pipeline %1', this.pipelineName) : __('New pipeline')),
      this.input('name', __('Name'), { placeholder: 'churn-retrain' }),
      this.input('notebook', __('Notebook'), {
        list: `${this.id}-notebooks`,
        placeholder: 'train.ipynb'
      }),
      notebooks,
      h(
        'fieldset',
        {},
        h('legend', {}, __('Schedule')),
        this.input('schedule', __('Cron'), { placeholder: '0 6 * * 1' }),
        this.input('timezone', __('Time zone'), { placeholder: 'UTC' }),
        this.cronWords,
        this.cronRuns
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, __('Other triggers')),
        this.input('on_new_data', __('On new data (paths, comma separated)'), {
          placeholder: 'data/train.csv'
        }),
        this.input('on_alert', __('On alert (monitor[:kinds])'), {
          placeholder: 'churn-live:dataset_drift'
        })
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, __('After a run')),
        this.input('gate', __('Gate'), { placeholder: 'gates.yaml:release' }),
        this.input('model', __('Model'), { placeholder: 'churn' }),
        h(
          'label',
          { class: 'mlnb-field', for: `${this.id}-promote_to` },
          h('span', {}, __('Promote to')),
          promote
        )
      ),
      h(
        'div',
        { class: 'mlnb-actions' },
        button(this.pipelineName ? __('Save') : __('Create'), { testid: 'pipeline-save' }, () =>
          this.save()
        )
      ),
      this.status
    );
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this.save();
    });
    for (const key of ['schedule', 'timezone']) {
      this.fields[key].addEventListener('input', () => this.schedulePreview());
    }
    void requestAPI<INotebookList>('notebooks')
      .then(list =>
        replaceChildren(notebooks, ...list.notebooks.map(n => h('option', { value: n })))
      )
      .catch(error => this.say(__('Cannot list notebooks: %1', (error as Error).message), true));
    return form;
  }

  private say(message: string, bad = false): void {
    replaceChildren(this.status, message);
    this.status.className = `mlnb-form-status ${bad ? 'mlnb-bad' : 'mlnb-ok'}`;
  }

  private schedulePreview(): void {
    if (this.previewTimer !== null) {
      window.clearTimeout(this.previewTimer);
    }
    this.previewTimer = window.setTimeout(() => void this.preview(), PREVIEW_DELAY_MS);
  }

  private async preview(): Promise<void> {
    const expression = this.fields.schedule.value.trim();
    if (!expression) {
      replaceChildren(
        this.cronWords,
        __('No schedule: the pipeline runs on its other triggers or when started.')
      );
      replaceChildren(this.cronRuns);
      return;
    }
    const timezone = this.fields.timezone.value.trim() || 'UTC';
    try {
      const preview = await requestAPI<ICronPreview>(
        withQuery('cron', { expr: expression, tz: timezone, n: 5 })
      );
      const words = describeCron(preview.expression);
      replaceChildren(
        this.cronWords,
        words ? `${words} (${preview.timezone})` : `${preview.expression} (${preview.timezone})`
      );
      this.cronWords.classList.remove('mlnb-bad');
      replaceChildren(
        this.cronRuns,
        ...preview.next_runs.map(t =>
          h('li', { testid: 'cron-next-run' }, new Date(t * 1000).toLocaleString())
        )
      );
    } catch (error) {
      replaceChildren(this.cronWords, (error as Error).message);
      this.cronWords.classList.add('mlnb-bad');
      replaceChildren(this.cronRuns);
    }
  }

  /** Fill the form from the stored pipeline and draw its run history. */
  private async load(): Promise<void> {
    if (this.pipelineName === null) {
      this.fields.timezone.value = 'UTC';
      replaceChildren(
        this.history,
        h('h3', {}, __('Runs')),
        h('div', { class: 'mlnb-empty' }, __('Runs appear here once the pipeline exists.'))
      );
      void this.preview();
      return;
    }
    let pipeline: IPipeline;
    try {
      pipeline = await requestAPI<IPipeline>(
        withQuery(`pipelines/${encodeURIComponent(this.pipelineName)}`, { limit: 50 })
      );
    } catch (error) {
      const message =
        error instanceof ApiError && error.status === 404
          ? __('There is no pipeline named %1 any more.', this.pipelineName)
          : __('Could not load pipeline %1: %2', this.pipelineName, (error as Error).message);
      replaceChildren(
        this.history,
        h('div', { class: 'mlnb-error', role: 'alert', testid: 'view-error' }, message)
      );
      return;
    }
    const values: Record<string, string> = {
      name: pipeline.name,
      notebook: pipeline.notebook_rel ?? pipeline.notebook_path,
      schedule: pipeline.schedule ?? '',
      timezone: pipeline.timezone ?? 'UTC',
      on_new_data: pipeline.on_new_data.join(', '),
      on_alert: pipeline.on_alert ?? '',
      gate: pipeline.gate ?? '',
      model: pipeline.model ?? '',
      promote_to: pipeline.promote_to ?? ''
    };
    for (const [key, value] of Object.entries(values)) {
      this.fields[key].value = value;
    }
    (this.fields.name as HTMLInputElement).readOnly = true;
    void this.preview();
    this.drawHistory(pipeline);
  }

  private drawHistory(pipeline: IPipeline): void {
    const runs = pipeline.runs ?? [];
    const rows = runs.map((run: IPipelineRun) =>
      h(
        'tr',
        { testid: 'pipeline-history-row', 'data-run': run.id },
        h('td', {}, `#${run.id}`),
        h(
          'td',
          { class: 'mlnb-trigger' },
          run.trigger,
          run.reason ? h('div', { class: 'mlnb-dim' }, run.reason) : null
        ),
        h('td', {}, badge(run.status, run.status)),
        h('td', {}, formatTime(run.started_at)),
        h(
          'td',
          {},
          formatDuration(
            run.started_at !== null && run.ended_at !== null ? run.ended_at - run.started_at : null
          )
        ),
        h(
          'td',
          { class: run.error ? 'mlnb-bad' : '', testid: 'pipeline-failure' },
          run.failure_reason ?? run.error ?? ''
        ),
        h(
          'td',
          {},
          run.has_output || run.status === 'failed' || run.status === 'crashed'
            ? button(__('Output & log'), { testid: 'pipeline-history-output' }, () =>
                this.showOutput(pipeline.name, run.id)
              )
            : null
        )
      )
    );
    replaceChildren(
      this.history,
      h('h3', {}, __('Runs (%1 shown)', runs.length)),
      runs.length
        ? h(
            'table',
            { class: 'mlnb-table mlnb-page-table', testid: 'pipeline-history-table' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...[
                  __('run'),
                  __('trigger'),
                  __('status'),
                  __('started'),
                  __('duration'),
                  __('failure'),
                  ''
                ].map(c => h('th', {}, c))
              )
            ),
            h('tbody', {}, ...rows)
          )
        : h('div', { class: 'mlnb-empty' }, __('No runs yet.'))
    );
  }

  private formBody(): Record<string, unknown> {
    const text = (key: string) => this.fields[key].value.trim();
    return {
      name: text('name'),
      notebook: text('notebook'),
      schedule: text('schedule'),
      timezone: text('timezone') || 'UTC',
      on_new_data: text('on_new_data')
        .split(',')
        .map(p => p.trim())
        .filter(Boolean),
      on_alert: text('on_alert'),
      gate: text('gate'),
      model: text('model'),
      promote_to: text('promote_to'),
      replace: this.pipelineName !== null
    };
  }

  private async save(): Promise<void> {
    try {
      const saved = await postAPI<IPipeline>('pipelines', this.formBody());
      this.say(this.pipelineName ? __('Saved %1.', saved.name) : __('Created %1.', saved.name));
      this.pipelineName = saved.name;
      this.title.label = __('Pipeline %1', saved.name);
      (this.fields.name as HTMLInputElement).readOnly = true;
      this.drawHistory(saved);
      await this.changed();
    } catch (error) {
      this.say((error as Error).message, true);
    }
  }
}
