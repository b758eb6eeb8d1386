/**
 * The mlnb sidebar: a header and four sections. It polls the cheap /version token every
 * few seconds while visible and refetches the sections only when the registry changed.
 */
import { Widget } from '@lumino/widgets';
import { Message } from '@lumino/messaging';

import { ApiError, requestAPI } from './api';
import { button, h, replaceChildren } from './dom';
import { ModelsSection } from './models';
import { MonitorsSection } from './monitors';
import { PipelinesSection } from './pipelines';
import { RunsSection } from './runs';
import { ISectionHost, Section } from './section';
import { IStatus } from './types';

export const POLL_MS = 3000;

/** What the sidebar needs from JupyterLab's shell. */
export interface IShellHooks {
  openPath(path: string): Promise<void>;
  showInMain(widget: Widget): void;
}

export class MlnbSidebar extends Widget implements ISectionHost {
  private readonly sections: Section[];
  private readonly errorNode: HTMLElement;
  private readonly statusNode: HTMLElement;
  private token: string | null = null;
  private timer: number | null = null;
  private busy = false;

  constructor(private readonly shell: IShellHooks) {
    super();
    this.id = 'mlnb-sidebar';
    this.addClass('mlnb-sidebar');
    this.sections = [
      new RunsSection(this),
      new ModelsSection(this),
      new PipelinesSection(this),
      new MonitorsSection(this)
    ];
    this.errorNode = h('div', { class: 'mlnb-error', testid: 'mlnb-error', role: 'alert' });
    this.statusNode = h('div', { class: 'mlnb-dim mlnb-status', testid: 'mlnb-status' });
    const refresh = button('⟳', { testid: 'mlnb-refresh', title: 'Refresh now' }, () =>
      this.refreshAll()
    );
    this.node.append(
      h(
        'header',
        { class: 'mlnb-header' },
        h('span', { class: 'mlnb-title' }, 'mlnb'),
        refresh
      ),
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
      const failed = results.find(r => r.status === 'rejected') as PromiseRejectedResult | undefined;
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

  showInMain(widget: Widget): void {
    this.shell.showInMain(widget);
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
    if (this.timer === null) {
      this.timer = window.setInterval(() => void this.poll(), POLL_MS);
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
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
