/** A collapsible section of the sidebar with a header, a body and a refresh method. */
import { Widget } from '@lumino/widgets';

import { h, replaceChildren, Child } from './dom';

/** What a section may ask of the sidebar that owns it. */
export interface ISectionHost {
  /** Re-fetch every section now (after an action changed the registry). */
  refreshAll(): Promise<void>;
  /** Open a file in JupyterLab, by a path relative to the server root. */
  openPath(path: string): Promise<void>;
  /** Bring forward the main-area view with this id, or add the one `create` makes. */
  showInMain(id: string, create: () => Widget): void;
  /** Open the run page of a run. */
  openRun(runId: number): void;
  /** Open the dashboard of a monitor. */
  openMonitor(name: string): void;
  /** Start a pipeline run now and refresh. */
  runPipeline(name: string): Promise<void>;
  /** Show an error in the sidebar's banner. */
  reportError(error: unknown): void;
}

export abstract class Section {
  readonly node: HTMLElement;
  protected readonly body: HTMLElement;
  protected readonly countNode: HTMLElement;

  constructor(
    readonly id: string,
    title: string,
    protected readonly host: ISectionHost
  ) {
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'mlnb-section-toggle',
        'aria-expanded': 'true',
        testid: `section-toggle-${id}`
      },
      h('span', { class: 'mlnb-caret' }),
      h('span', { class: 'mlnb-section-title' }, title)
    );
    this.countNode = h('span', { class: 'mlnb-section-count' });
    toggle.appendChild(this.countNode);
    this.body = h('div', { class: 'mlnb-section-body' });
    this.node = h('section', { class: 'mlnb-section', testid: `section-${id}` }, toggle, this.body);
    toggle.addEventListener('click', () => {
      const collapsed = this.node.classList.toggle('mlnb-collapsed');
      toggle.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
    });
  }

  /** Fetch this section's data and redraw it. */
  abstract refresh(): Promise<void>;

  protected setCount(n: number): void {
    this.countNode.textContent = String(n);
  }

  protected empty(message: string): HTMLElement {
    return h('div', { class: 'mlnb-empty' }, message);
  }

  protected render(...children: Child[]): void {
    replaceChildren(this.body, ...children);
  }
}
