/**
 * A pipeline run's output notebook, rendered read-only: the server converts it to static HTML
 * and it is shown in a sandboxed frame (no scripts, no kernel), so looking at a training run's
 * output can never re-run the training and register another model.
 */
import { Widget } from '@lumino/widgets';

import { requestAPI } from './api';
import { h, replaceChildren } from './dom';
import { IPipelineOutput } from './types';
import { __ } from './i18n';

export class OutputView extends Widget {
  constructor(
    readonly pipeline: string,
    readonly runId: number
  ) {
    super();
    this.id = OutputView.idFor(pipeline, runId);
    this.addClass('mlnb-view');
    this.addClass('mlnb-output-view');
    this.title.label = `${pipeline} #${runId} output`;
    this.title.caption = `Output notebook of pipeline ${pipeline} run #${runId} (read-only)`;
    this.title.closable = true;
    this.node.dataset.testid = 'output-view';
    void this.load();
  }

  static idFor(pipeline: string, runId: number): string {
    return `mlnb-output-${encodeURIComponent(pipeline)}-${runId}`;
  }

  private async load(): Promise<void> {
    replaceChildren(
      this.node,
      h('div', { class: 'mlnb-dim mlnb-loading' }, __('Rendering the output notebook…'))
    );
    try {
      const output = await requestAPI<IPipelineOutput>(
        `pipelines/${encodeURIComponent(this.pipeline)}/runs/${this.runId}/output`
      );
      let frame: HTMLElement;
      if (output.html !== null) {
        const iframe = h('iframe', {
          class: 'mlnb-output-frame',
          testid: 'output-frame',
          sandbox: '',
          title: `Output of ${this.pipeline} run #${this.runId}`
        });
        iframe.srcdoc = output.html;
        frame = iframe;
      } else {
        frame = h('div', { class: 'mlnb-empty' }, __('This run left no output notebook.'));
      }
      replaceChildren(
        this.node,
        h(
          'div',
          { class: 'mlnb-view-header' },
          h('strong', {}, `${this.pipeline} run #${this.runId}`),
          h(
            'span',
            { class: 'mlnb-badge mlnb-badge-none', testid: 'output-readonly' },
            'read-only'
          ),
          h(
            'span',
            { class: 'mlnb-dim mlnb-ellipsis', title: output.path ?? '' },
            output.path ?? ''
          )
        ),
        frame,
        output.log
          ? h(
              'details',
              { class: 'mlnb-log', testid: 'output-log', open: output.html === null },
              h('summary', {}, __('Log')),
              h('pre', { class: 'mlnb-code' }, output.log)
            )
          : null
      );
    } catch (error) {
      replaceChildren(
        this.node,
        h(
          'div',
          { class: 'mlnb-error mlnb-visible', role: 'alert', testid: 'view-error' },
          (error as Error).message
        )
      );
    }
  }
}
