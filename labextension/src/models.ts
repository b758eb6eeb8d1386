/** Models: versions with stage badges, gate results, promote and rollback (confirmed). */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ApiError, postAPI, requestAPI } from './api';
import { badge, button, formatTime, h } from './dom';
import { describeCheck, describeDeployment, promotionTargets, refusedChecks } from './logic';
import { ISectionHost, Section } from './section';
import { IGateResult, IModelDetail, IModelDetailList, IModelVersion } from './types';
import { __ } from './i18n';

/** The promote dialog's body: a target stage, a gate, a reason and, past a failed gate, force. */
class PromoteForm extends Widget {
  private readonly stage: HTMLSelectElement;
  private readonly reason: HTMLInputElement;
  private readonly gate: HTMLInputElement;
  private readonly force: HTMLInputElement | null = null;

  constructor(model: string, version: IModelVersion) {
    super();
    this.addClass('mlnb-form');
    this.stage = h('select', { class: 'mlnb-select', testid: 'promote-stage' });
    const targets = promotionTargets(version.stage);
    for (const stage of targets) {
      this.stage.appendChild(h('option', { value: stage }, stage));
    }
    this.stage.value =
      targets.includes('production') && version.stage === 'staging' ? 'production' : targets[0];
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
    const failed = version.gate !== null && !version.gate.passed ? version.gate : null;
    if (version.gate) {
      this.gate.value = version.gate.gate;
    }
    const children: HTMLElement[] = [
      h('p', {}, `Move ${model} v${version.version} (now ${version.stage}) to:`),
      h('label', {}, __('Stage '), this.stage),
      h('label', {}, __('Gate '), this.gate),
      h('label', {}, __('Reason '), this.reason),
      h(
        'p',
        { class: 'mlnb-dim' },
        __(
          'With a gate, its checks run on the holdout first and a failing check stops the promotion.'
        )
      )
    ];
    if (failed) {
      this.force = h('input', { type: 'checkbox', testid: 'promote-force' });
      children.push(
        h(
          'div',
          { class: 'mlnb-warning', testid: 'promote-failed-gate', role: 'note' },
          `v${version.version} failed gate ${failed.gate}: `,
          failed.checks
            .filter(c => !c.passed)
            .map(describeCheck)
            .join('; ')
        ),
        h(
          'label',
          { class: 'mlnb-force' },
          this.force,
          ' Force past the failed gate (needs a reason; recorded as forced)'
        )
      );
    }
    this.node.append(...children);
  }

  getValue(): { to: string; reason: string; gate: string; force: boolean } {
    return {
      to: this.stage.value,
      reason: this.reason.value.trim(),
      gate: this.gate.value.trim(),
      force: this.force?.checked ?? false
    };
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
      h('label', {}, __('Reason '), this.reason)
    );
  }

  getValue(): string {
    return this.reason.value;
  }
}

/** The body of a refusal: the server's message and each failed check with value and threshold. */
function refusalBody(error: unknown): HTMLElement {
  const message = error instanceof Error ? error.message : String(error);
  const checks = error instanceof ApiError ? refusedChecks(error.body) : [];
  return h(
    'div',
    { class: 'mlnb-form', testid: 'promote-refusal' },
    h('p', {}, message),
    checks.length
      ? h(
          'ul',
          { class: 'mlnb-checks' },
          ...checks.map(c => h('li', { testid: 'refused-check' }, describeCheck(c)))
        )
      : null
  );
}

export class ModelsSection extends Section {
  constructor(host: ISectionHost) {
    super('models', __('Models'), host);
  }

  async refresh(): Promise<void> {
    const { models } = await requestAPI<IModelDetailList>('models?detail=1');
    this.setCount(models.length);
    if (models.length === 0) {
      this.render(
        this.empty('No registered models. Use %register_model or mlnb.register_model().')
      );
      return;
    }
    this.render(...models.map(d => this.modelCard(d)));
  }

  private modelCard(model: IModelDetail): HTMLElement {
    const rollback = model.can_rollback
      ? button(
          __('Rollback'),
          { testid: 'rollback-button', title: `Put v${model.rollback_to} back in production` },
          () => this.rollback(model)
        )
      : null;
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
          model.production_version !== null
            ? `production v${model.production_version}`
            : 'no production version'
        ),
        rollback
      ),
      model.deployment
        ? h(
            'div',
            {
              class: `mlnb-dim mlnb-deployment${model.deployment.status === 'running' ? '' : ' mlnb-bad'}`,
              testid: 'model-deployment',
              title: model.deployment.url
            },
            describeDeployment(model.deployment)
          )
        : null,
      ...model.versions.map(v => this.versionRow(model, v))
    );
  }

  private versionRow(model: IModelDetail, version: IModelVersion): HTMLElement {
    const movable = promotionTargets(version.stage).length > 0;
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
      movable
        ? button(
            __('Promote…'),
            { testid: 'promote-button', title: `Change the stage of v${version.version}` },
            () => this.promote(model, version)
          )
        : null
    );
  }

  private gateSummary(gate: IGateResult | null): HTMLElement {
    if (gate === null) {
      return h('span', { class: 'mlnb-dim', testid: 'gate-result' }, 'gates not run');
    }
    const failed = gate.checks.filter(c => !c.passed).map(c => c.name);
    return h(
      'span',
      {
        class: gate.passed ? 'mlnb-gate mlnb-ok' : 'mlnb-gate mlnb-bad',
        testid: 'gate-result',
        title: gate.checks.map(describeCheck).join('\n')
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
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: __('Promote') })]
    });
    if (!result.button.accept || result.value === null) {
      return;
    }
    const { to, reason, gate, force } = result.value;
    try {
      await postAPI(`models/${encodeURIComponent(model.name)}/promote`, {
        version: version.version,
        to,
        reason,
        gate: gate || null,
        force
      });
    } catch (error) {
      await showDialog({
        title: `Promotion of ${model.name} v${version.version} refused`,
        body: new Widget({ node: refusalBody(error) }),
        buttons: [Dialog.okButton({ label: __('Close') })]
      });
    }
    await this.host.refreshAll();
  }

  private async rollback(model: IModelDetail): Promise<void> {
    const result = await showDialog({
      title: `Roll back ${model.name}`,
      body: new RollbackForm(model),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: __('Roll back') })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await postAPI(`models/${encodeURIComponent(model.name)}/rollback`, {
        reason: result.value ?? ''
      });
    } catch (error) {
      await showErrorMessage(
        `Rollback of ${model.name} refused`,
        String((error as Error).message ?? error)
      );
    }
    await this.host.refreshAll();
  }
}
