/**
 * The mlnb sidebar: a header and four sections. It polls the cheap /version token every
 * few seconds while visible and refetches the sections only when the registry changed.
 */
import { Widget } from '@lumino/widgets';
import { Message } from '@lumino/messaging';

import { showErrorMessage } from '@jupyterlab/apputils';

import { ApiError, postAPI, requestAPI } from './api';
import { __ } from './i18n';
import { MonitorDashboard } from './dashboard';
import { button, h, replaceChildren } from './dom';
import { ModelsSection } from './models';
import { MonitorsSection } from './monitors';
import { PipelinesSection } from './pipelines';
import { RunPage } from './runpage';
import { RunsSection } from './runs';
import { ISectionHost, Section } from './section';
import { IStatus } from './types';

/** The user's settings (schema/plugin.json). */
export interface IMlnbSettings {
  pollInterval: number;
  defaultExperiment: string;
  runsPerPage: number;
}

export const DEFAULT_SETTINGS: IMlnbSettings = {
  pollInterval: 3000,
  defaultExperiment: '',
  runsPerPage: 50
};

/** What the sidebar needs from JupyterLab's shell. */
export interface IShellHooks {
  openPath(path: string): Promise<void>;
  showInMain(id: string, create: () => Widget): void;
}

export class MlnbSidebar extends Widget implements ISectionHost {
  private readonly sections: Section[];
  private readonly errorNode: HTMLElement;
  private readonly statusNode: HTMLElement;
  private token: string | null = null;
  private timer: number | null = null;
  private busy = false;
  private readonly runs: RunsSection;
  settings: IMlnbSettings = DEFAULT_SETTINGS;

  constructor(private readonly shell: IShellHooks) {
    super();
    this.id = 'mlnb-sidebar';
    this.addClass('mlnb-sidebar');
    this.runs = new RunsSection(this);
    this.sections = [
      this.runs,
      new ModelsSection(this),
      new PipelinesSection(this),
      new MonitorsSection(this)
    ];
    this.errorNode = h('div', { class: 'mlnb-error', testid: 'mlnb-error', role: 'alert' });
    this.statusNode = h('div', { class: 'mlnb-dim mlnb-status', testid: 'mlnb-status' });
    const refresh = button(
      '⟳',
      { testid: 'mlnb-refresh', title: __('Refresh now'), 'aria-label': __('Refresh now') },
      () => this.refreshAll()
    );
    this.node.append(
      h('header', { class: 'mlnb-header' }, h('span', { class: 'mlnb-title' }, 'mlnb'), refresh),
      this.statusNode,
      this.errorNode,
      ...this.sections.map(s => s.node)
    );
  }

  async refreshAll(): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    try {
      const [version, status] = await Promise.all([
        requestAPI<{ token: string }>('version'),
        requestAPI<IStatus>('status')
      ]);
      this.token = version.token;
      this.statusNode.textContent = status.registry;
      this.statusNode.title = `registry ${status.registry} · mlnb ${status.mlnb_version}`;
      const results = await Promise.allSettled(this.sections.map(s => s.refresh()));
      const failed = results.find(r => r.status === 'rejected') as
        PromiseRejectedResult | undefined;
      if (failed) {
        this.reportError(failed.reason);
      } else {
        this.clearError();
      }
      this.node.dataset.refreshedAt = String(Date.now());
    } catch (error) {
      this.reportError(error);
    } finally {
      this.busy = false;
    }
  }

  openPath(path: string): Promise<void> {
    return this.shell.openPath(path);
  }

  showInMain(id: string, create: () => Widget): void {
    this.shell.showInMain(id, create);
  }

  /** Apply new settings: poll interval, default experiment, runs per page. */
  configure(settings: IMlnbSettings): void {
    this.settings = settings;
    this.runs.configure(settings);
    if (this.timer !== null) {
      this.stopPolling();
      this.startPolling();
    }
    if (this.isVisible) {
      void this.refreshAll();
    }
  }

  openMonitor(name: string): void {
    this.showInMain(
      MonitorDashboard.idFor(name),
      () => new MonitorDashboard(name, this.settings.pollInterval)
    );
  }

  /** Start a pipeline run now (its own process on the server); errors in a dialog. */
  async runPipeline(name: string): Promise<void> {
    try {
      await postAPI(`pipelines/${encodeURIComponent(name)}/run`);
    } catch (error) {
      await showErrorMessage(__('Could not run %1', name), (error as Error).message);
    }
    await this.refreshAll();
  }

  openRun(runId: number): void {
    this.showInMain(`mlnb-run-${runId}`, () => new RunPage(runId, path => this.openPath(path)));
  }

  reportError(error: unknown): void {
    const message =
      error instanceof ApiError || error instanceof Error ? error.message : String(error);
    replaceChildren(this.errorNode, message);
    this.errorNode.classList.add('mlnb-visible');
  }

  private clearError(): void {
    replaceChildren(this.errorNode);
    this.errorNode.classList.remove('mlnb-visible');
  }

  /** Refetch when the registry's change token moved since the last refresh. */
  private async poll(): Promise<void> {
    if (this.busy || !this.isVisible || document.visibilityState === 'hidden') {
      return;
    }
    try {
      const { token } = await requestAPI<{ token: string }>('version');
      if (token !== this.token) {
        await this.refreshAll();
      }
    } catch (error) {
      this.reportError(error);
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refreshAll();
    this.startPolling();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.stopPolling();
  }

  private startPolling(): void {
    if (this.timer === null) {
      this.timer = window.setInterval(() => void this.poll(), this.settings.pollInterval);
    }
  }

  private stopPolling(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
    super.dispose();
  }
}
