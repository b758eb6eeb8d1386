/** Models: versions with stage badges, gate results, promote and rollback (confirmed). */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { postAPI, requestAPI } from './api';
import { badge, button, formatTime, formatValue, h } from './dom';
import { ISectionHost, Section } from './section';
import { IGateResult, IModelDetail, IModelSummary, IModelVersion } from './types';

const STAGES = ['staging', 'production', 'archived'];

/** The promote dialog's body: a target stage and a reason. */
class PromoteForm extends Widget {
  private readonly stage: HTMLSelectElement;
  private readonly reason: HTMLInputElement;
  private readonly gate: HTMLInputElement;

  constructor(model: string, version: IModelVersion) {
    super();
    this.addClass('mlnb-form');
    this.stage = h('select', { class: 'mlnb-select', testid: 'promote-stage' });
    for (const stage of STAGES) {
      this.stage.appendChild(h('option', { value: stage }, stage));
    }
    this.stage.value = version.stage === 'staging' ? 'production' : 'staging';
    this.reason = h('input', {
      type: 'text',
      class: 'mlnb-input',
      testid: 'promote-reason',
      placeholder: 'why (recorded with the transition)'
    });
    this.gate = h('input', {
      type: 'text',
      class: 'mlnb-input',
      testid: 'promote-gate',
      placeholder: 'gate name from gates.yaml (optional)'
    });
    if (version.gate) {
      this.gate.value = version.gate.gate;
    }
    this.node.append(
      h('p', {}, `Move ${model} v${version.version} (now ${version.stage}) to:`),
      h('label', {}, 'Stage ', this.stage),
      h('label', {}, 'Gate ', this.gate),
      h('label', {}, 'Reason ', this.reason),
      h(
        'p',
        { class: 'mlnb-dim' },
        'With a gate, its checks run on the holdout first and a failing check stops the promotion.'
      )
    );
  }

  getValue(): { to: string; reason: string; gate: string } {
    return { to: this.stage.value, reason: this.reason.value, gate: this.gate.value.trim() };
  }
}

/** The rollback dialog's body: what happens and a reason. */
class RollbackForm extends Widget {
  private readonly reason: HTMLInputElement;

  constructor(model: IModelDetail) {
    super();
    this.addClass('mlnb-form');
    this.reason = h('input', {
      type: 'text',
      class: 'mlnb-input',
      testid: 'rollback-reason',
      placeholder: 'why'
    });
    this.node.append(
      h(
        'p',
        {},
        `Put ${model.name} v${model.rollback_to} back in production` +
          (model.production_version !== null ? ` and archive v${model.production_version}?` : '?')
      ),
      h('label', {}, 'Reason ', this.reason)
    );
  }

  getValue(): string {
    return this.reason.value;
  }
}

export class ModelsSection extends Section {
  constructor(host: ISectionHost) {
    super('models', 'Models', host);
  }

  async refresh(): Promise<void> {
    const { models } = await requestAPI<{ models: IModelSummary[] }>('models');
    this.setCount(models.length);
    if (models.length === 0) {
      this.render(this.empty('No registered models. Use %register_model or mlnb.register_model().'));
      return;
    }
    const details = await Promise.all(
      models.map(m => requestAPI<IModelDetail>(`models/${encodeURIComponent(m.name)}`))
    );
    this.render(...details.map(d => this.modelCard(d)));
  }

  private modelCard(model: IModelDetail): HTMLElement {
    const rollback = button(
      'Rollback',
      {
        testid: 'rollback-button',
        title: model.can_rollback
          ? `Put v${model.rollback_to} back in production`
          : 'No earlier production version to roll back to'
      },
      () => this.rollback(model)
    );
    rollback.disabled = !model.can_rollback;
    return h(
      'div',
      { class: 'mlnb-card', testid: 'model-card', 'data-model': model.name },
      h(
        'div',
        { class: 'mlnb-card-header' },
        h('span', { class: 'mlnb-name' }, model.name),
        h(
          'span',
          { class: 'mlnb-dim' },
          model.production_version !== null ? `production v${model.production_version}` : 'no production version'
        ),
        rollback
      ),
      ...model.versions.map(v => this.versionRow(model, v))
    );
  }

  private versionRow(model: IModelDetail, version: IModelVersion): HTMLElement {
    return h(
      'div',
      { class: 'mlnb-row mlnb-version', testid: 'model-version', 'data-version': version.version },
      h(
        'span',
        { class: 'mlnb-row-main' },
        h(
          'span',
          {},
          h('span', { class: 'mlnb-name' }, `v${version.version}`),
          ' ',
          badge(version.stage, `stage-${version.stage}`, 'stage-badge'),
          ...version.aliases.map(a => badge(`@${a}`, 'alias', 'alias-badge'))
        ),
        h(
          'span',
          { class: 'mlnb-dim mlnb-ellipsis', title: version.class_name ?? '' },
          [
            formatTime(version.created_at),
            version.run_id !== null ? `run #${version.run_id}` : '',
            (version.class_name ?? '').split('.').pop() ?? ''
          ]
            .filter(Boolean)
            .join(' · ')
        ),
        this.gateSummary(version.gate)
      ),
      button(
        'Promote…',
        { testid: 'promote-button', title: `Change the stage of v${version.version}` },
        () => this.promote(model, version)
      )
    );
  }

  private gateSummary(gate: IGateResult | null): HTMLElement {
    if (gate === null) {
      return h('span', { class: 'mlnb-dim', testid: 'gate-result' }, 'gates not run');
    }
    const failed = gate.checks.filter(c => !c.passed).map(c => c.name);
    const detail = gate.checks
      .map(
        c =>
          `${c.passed ? '✓' : '✗'} ${c.name}` +
          (c.value !== null && c.value !== undefined
            ? `: ${formatValue(c.value)} ${c.op ?? ''} ${formatValue(c.threshold)}`
            : '')
      )
      .join('\n');
    return h(
      'span',
      {
        class: gate.passed ? 'mlnb-gate mlnb-ok' : 'mlnb-gate mlnb-bad',
        testid: 'gate-result',
        title: detail
      },
      gate.passed
        ? `✓ gate ${gate.gate} passed (${gate.checks.length} check${gate.checks.length === 1 ? '' : 's'})`
        : `✗ gate ${gate.gate} failed: ${failed.join(', ')}`
    );
  }

  private async promote(model: IModelDetail, version: IModelVersion): Promise<void> {
    const result = await showDialog({
      title: `Promote ${model.name} v${version.version}`,
      body: new PromoteForm(model.name, version),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Promote' })]
    });
    if (!result.button.accept || result.value === null) {
      return;
    }
    try {
      await postAPI(`models/${encodeURIComponent(model.name)}/promote`, {
        version: version.version,
        to: result.value.to,
        reason: result.value.reason,
        gate: result.value.gate || null
      });
    } catch (error) {
      await showErrorMessage(`Promotion of ${model.name} v${version.version} refused`, String(
        (error as Error).message ?? error
      ));
    }
    await this.host.refreshAll();
  }

  private async rollback(model: IModelDetail): Promise<void> {
    const result = await showDialog({
      title: `Roll back ${model.name}`,
      body: new RollbackForm(model),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Roll back' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await postAPI(`models/${encodeURIComponent(model.name)}/rollback`, {
        reason: result.value ?? ''
      });
    } catch (error) {
      await showErrorMessage(`Rollback of ${model.name} refused`, String(
        (error as Error).message ?? error
      ));
    }
    await this.host.refreshAll();
  }
}
