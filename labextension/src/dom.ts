/**
 * Tiny DOM helpers. Every piece of registry data (names, params, tags, messages) reaches
 * the page through text nodes or attributes, never through innerHTML, so a run named
 * `<img onerror=...>` is shown literally instead of being interpreted.
 */

export type Child = Node | string | number | null | undefined | false;

export interface IAttrs {
  class?: string;
  testid?: string;
  title?: string;
  [name: string]: string | number | boolean | undefined;
}

/** Create an element with attributes and children; strings become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: IAttrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) {
      continue;
    }
    if (name === 'class') {
      el.className = String(value);
    } else if (name === 'testid') {
      el.dataset.testid = String(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children to a node; strings and numbers are added as text. */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.appendChild(
      typeof child === 'string' || typeof child === 'number'
        ? document.createTextNode(String(child))
        : child
    );
  }
}

/** Replace all children of a node. */
export function replaceChildren(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) {
    parent.removeChild(parent.firstChild);
  }
  append(parent, children);
}

/** A button that runs `onClick` (errors are handed to `onError`). */
export function button(
  label: string,
  attrs: IAttrs,
  onClick: () => void | Promise<void>
): HTMLButtonElement {
  const el = h(
    'button',
    { type: 'button', ...attrs, class: `mlnb-button ${attrs.class ?? ''}` },
    label
  );
  el.addEventListener('click', event => {
    event.stopPropagation();
    void onClick();
  });
  return el;
}

/** A coloured pill such as a stage or status badge. */
export function badge(text: string, kind: string, testid?: string): HTMLSpanElement {
  return h('span', { class: `mlnb-badge mlnb-badge-${kind}`, testid }, text);
}

/** Format a UNIX timestamp (seconds): the time for today, else the date and time. */
export function formatTime(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '—';
  }
  const date = new Date(seconds * 1000);
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === new Date().toDateString()) {
    return time;
  }
  const day = date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return `${day} ${time}`;
}

/** Format a number compactly: 4 significant digits, integers as is. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      return String(value);
    }
    return Number(value.toPrecision(4)).toString();
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}
