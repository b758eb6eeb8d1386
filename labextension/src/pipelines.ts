/** Pipelines: schedule, next run, last status, run now, pause/resume, open the output. */
import { showErrorMessage } from '@jupyterlab/apputils';

import { postAPI, requestAPI } from './api';
import { badge, button, formatTime, h } from './dom';
import { ISectionHost, Section } from './section';
import { __ } from './i18n';
import { OutputView } from './outputview';
import { PipelineEditor } from './pipelineeditor';
import { IPipeline, IPipelineRun } from './types';

export class PipelinesSection extends Section {
  constructor(host: ISectionHost) {
    super('pipelines', __('Pipelines'), host);
  }

  async refresh(): Promise<void> {
    const { pipelines } = await requestAPI<{ pipelines: IPipeline[] }>('pipelines');
    this.setCount(pipelines.length);
    const create = h(
      'div',
      { class: 'mlnb-toolbar' },
      button(
        __('New pipeline…'),
        { testid: 'pipeline-new', title: __('Create a pipeline from a notebook') },
        () => this.edit(null)
      )
    );
    if (pipelines.length === 0) {
      this.render(
        create,
        this.empty(__('No pipelines. Create one here, or with %pipeline or `mlnb pipeline`.'))
      );
      return;
    }
    this.render(create, ...pipelines.map(p => this.pipelineCard(p)));
  }

  /** Open the editor of a pipeline (null: a new one) in the main area. */
  private edit(name: string | null): void {
    this.host.showInMain(
      PipelineEditor.idFor(name),
      () =>
        new PipelineEditor(
          name,
          (pipeline, runId) =>
            this.host.showInMain(
              OutputView.idFor(pipeline, runId),
              () => new OutputView(pipeline, runId)
            ),
          () => this.host.refreshAll()
        )
    );
  }

  private pipelineCard(pipeline: IPipeline): HTMLElement {
    const paused = pipeline.status === 'paused';
    const last = pipeline.last_run;
    return h(
      'div',
      { class: 'mlnb-card', testid: 'pipeline-card', 'data-pipeline': pipeline.name },
      h(
        'div',
        { class: 'mlnb-card-header' },
        h('span', { class: 'mlnb-name' }, pipeline.name),
        badge(pipeline.status, pipeline.status, 'pipeline-status')
      ),
      h('div', { class: 'mlnb-dim', title: pipeline.notebook_path }, pipeline.notebook_path),
      h(
        'div',
        { class: 'mlnb-kv' },
        h('span', {}, __('Schedule')),
        h(
          'span',
          { testid: 'pipeline-schedule', title: pipeline.triggers.join(', ') },
          pipeline.schedule
            ? `${pipeline.schedule}${pipeline.timezone && pipeline.timezone !== 'UTC' ? ` (${pipeline.timezone})` : ''}`
            : pipeline.triggers.length
              ? pipeline.triggers.join(', ')
              : 'manual only'
        ),
        h('span', {}, __('Next run')),
        h('span', { testid: 'pipeline-next' }, paused ? 'paused' : formatTime(pipeline.next_run)),
        h('span', {}, __('Last run')),
        this.lastRun(last)
      ),
      h(
        'div',
        { class: 'mlnb-actions' },
        button(
          __('Edit & history'),
          { testid: 'pipeline-edit', title: __('Edit the pipeline and see its runs') },
          () => this.edit(pipeline.name)
        ),
        button('Run now', { testid: 'pipeline-run', title: 'Queue a run now' }, () =>
          this.act(pipeline, 'run')
        ),
        button(
          paused ? __('Resume') : __('Pause'),
          {
            testid: 'pipeline-toggle',
            title: paused ? __('Resume the schedule') : __('Pause the schedule')
          },
          () => this.act(pipeline, paused ? 'resume' : 'pause')
        ),
        last && last.has_output
          ? button(
              __('Open output'),
              { testid: 'pipeline-open-output', title: last.output_path ?? '' },
              () => this.openOutput(pipeline, last)
            )
          : null
      )
    );
  }

  private lastRun(run: IPipelineRun | null): HTMLElement {
    if (run === null) {
      return h('span', { testid: 'pipeline-last' }, 'never');
    }
    return h(
      'span',
      { testid: 'pipeline-last', title: run.failure_reason ?? run.error ?? run.reason ?? '' },
      badge(run.status, run.status, 'pipeline-last-status'),
      ` #${run.id} ${formatTime(run.ended_at ?? run.started_at)} (${run.trigger})`
    );
  }

  private openOutput(pipeline: IPipeline, run: IPipelineRun): void {
    this.host.showInMain(
      OutputView.idFor(pipeline.name, run.id),
      () => new OutputView(pipeline.name, run.id)
    );
  }

  private async act(pipeline: IPipeline, action: 'run' | 'pause' | 'resume'): Promise<void> {
    if (action === 'run') {
      return this.host.runPipeline(pipeline.name);
    }
    try {
      await postAPI(`pipelines/${encodeURIComponent(pipeline.name)}/${action}`);
    } catch (error) {
      await showErrorMessage(`Could not ${action} ${pipeline.name}`, (error as Error).message);
    }
    await this.host.refreshAll();
  }
}
