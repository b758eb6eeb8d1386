/** An inline SVG sparkline of a metric over monitoring batches, with its alert threshold. */

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, String(value));
  }
  return el;
}

/** "below": values under the threshold alert (scores); "above": values over it (errors). */
export type AlertSide = 'below' | 'above';

/** Whether `value` is on the alerting side of `threshold`. */
export function isBreached(
  value: number | null,
  threshold: number | null,
  side: AlertSide
): boolean {
  if (value === null || threshold === null || !Number.isFinite(value)) {
    return false;
  }
  return side === 'below' ? value < threshold : value > threshold;
}

export interface ISparklineOptions {
  width?: number;
  height?: number;
  /** The alert line, drawn dashed in the error colour. */
  threshold?: number | null;
  /** Which side of the line alerts (default "below"). */
  alertWhen?: AlertSide;
  label?: string;
}

/** Draw `values` (oldest first) as a polyline scaled to include the threshold. */
export function sparkline(values: number[], options: ISparklineOptions = {}): SVGSVGElement {
  const width = options.width ?? 160;
  const height = options.height ?? 36;
  const pad = 3;
  const root = svg('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: 'mlnb-sparkline',
    role: 'img'
  });
  const title = svg('title', {});
  title.textContent = options.label ?? 'metric per batch';
  root.appendChild(title);
  const threshold = options.threshold ?? null;
  const finite = values.filter(v => Number.isFinite(v));
  if (finite.length === 0) {
    return root;
  }
  let lo = Math.min(...finite, threshold ?? Infinity);
  let hi = Math.max(...finite, threshold ?? -Infinity);
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const x = (i: number) =>
    values.length === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (values.length - 1);
  const y = (v: number) => pad + ((hi - v) * (height - 2 * pad)) / (hi - lo);

  if (threshold !== null) {
    root.appendChild(
      svg('line', {
        x1: pad,
        x2: width - pad,
        y1: y(threshold),
        y2: y(threshold),
        class: 'mlnb-sparkline-threshold'
      })
    );
  }
  const points = values
    .map((v, i) => (Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : ''))
    .filter(p => p)
    .join(' ');
  root.appendChild(svg('polyline', { points, class: 'mlnb-sparkline-line' }));
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) {
      return;
    }
    const below = isBreached(v, threshold, options.alertWhen ?? 'below');
    root.appendChild(
      svg('circle', {
        cx: x(i),
        cy: y(v),
        r: i === values.length - 1 ? 2.5 : 1.5,
        class: below ? 'mlnb-sparkline-point mlnb-breached' : 'mlnb-sparkline-point'
      })
    );
  });
  return root;
}
