/**
 * Small SVG charts drawn with the theme's CSS variables (so light and dark themes both work):
 * line charts of metric histories and monitoring series. Pure scale and tick maths is
 * exported for the unit tests.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Create an SVG element with attributes. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {}
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, String(value));
  }
  return el;
}

/** The [lo, hi] range of the finite values (and extras), widened when it is a single point. */
export function extent(values: number[], extras: number[] = []): [number, number] {
  const finite = [...values, ...extras].filter(v => Number.isFinite(v));
  if (finite.length === 0) {
    return [0, 1];
  }
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi - lo < 1e-12) {
    const pad = Math.abs(lo) > 1e-12 ? Math.abs(lo) * 0.05 : 0.5;
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

/** A linear map from [d0, d1] onto [r0, r1]. */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0 || 1;
  return (v: number) => r0 + ((v - d0) * (r1 - r0)) / span;
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of 10). */
export function ticks(lo: number, hi: number, count = 4): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi <= lo) {
    return Number.isFinite(lo) ? [lo] : [];
  }
  const raw = (hi - lo) / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= raw) ?? 10 * power;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** A compact tick label: 4 significant digits. */
export function tickLabel(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

export interface IPoint {
  x: number;
  y: number;
}

export interface ISeries {
  label: string;
  points: IPoint[];
}

export interface ILineChartOptions {
  width?: number;
  height?: number;
  title: string;
  xLabel?: string;
  /** A horizontal alert line. */
  threshold?: number | null;
  /** Format x tick labels (e.g. as dates). */
  xFormat?: (v: number) => string;
  /** A shaded band (e.g. an estimate's confidence interval) under the lines. */
  band?: { x: number; low: number; high: number }[];
  /** Draw points whose `breached(y)` is true in the error colour. */
  breached?: (y: number) => boolean;
}

/** An empty chart: an SVG of the given size, read out by screen readers as ``label``. */
export function chartRoot(width: number, height: number, label: string): SVGSVGElement {
  return svg('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: 'mlnb-chart',
    role: 'img',
    'aria-label': label
  });
}

/** A line chart of one or more series with axes, ticks, a legend and an optional threshold. */
export function lineChart(series: ISeries[], options: ILineChartOptions): SVGSVGElement {
  const width = options.width ?? 360;
  const height = options.height ?? 180;
  const m = { left: 46, right: 10, top: 22, bottom: 26 };
  const root = chartRoot(width, height, options.title);
  const title = svg('title');
  title.textContent = options.title;
  root.appendChild(title);
  const heading = svg('text', { x: m.left, y: 14, class: 'mlnb-chart-title' });
  heading.textContent = options.title;
  root.appendChild(heading);
  const xs = series.flatMap(s => s.points.map(p => p.x));
  const band = options.band ?? [];
  const ys = [
    ...series.flatMap(s => s.points.map(p => p.y)),
    ...band.flatMap(b => [b.low, b.high])
  ];
  const threshold = options.threshold ?? null;
  const [x0, x1] = extent(xs);
  const [y0, y1] = extent(ys, threshold !== null ? [threshold] : []);
  const x = scale(x0, x1, m.left, width - m.right);
  const y = scale(y0, y1, height - m.bottom, m.top);
  const xFormat = options.xFormat ?? tickLabel;
  for (const t of ticks(y0, y1, 4)) {
    root.appendChild(
      svg('line', { x1: m.left, x2: width - m.right, y1: y(t), y2: y(t), class: 'mlnb-chart-grid' })
    );
    const label = svg('text', {
      x: m.left - 4,
      y: y(t) + 3,
      class: 'mlnb-chart-tick',
      'text-anchor': 'end'
    });
    label.textContent = tickLabel(t);
    root.appendChild(label);
  }
  const xTicks = xs.length && x1 - x0 > 0 ? ticks(x0, x1, 4) : xs.slice(0, 1);
  for (const t of xTicks) {
    const label = svg('text', {
      x: x(t),
      y: height - m.bottom + 14,
      class: 'mlnb-chart-tick',
      'text-anchor': 'middle'
    });
    label.textContent = xFormat(t);
    root.appendChild(label);
  }
  root.appendChild(
    svg('line', {
      x1: m.left,
      x2: width - m.right,
      y1: height - m.bottom,
      y2: height - m.bottom,
      class: 'mlnb-chart-axis'
    })
  );
  if (band.length > 1) {
    const upper = band.map(b => `${x(b.x).toFixed(1)},${y(b.high).toFixed(1)}`);
    const lower = band.map(b => `${x(b.x).toFixed(1)},${y(b.low).toFixed(1)}`).reverse();
    root.appendChild(
      svg('polygon', { points: [...upper, ...lower].join(' '), class: 'mlnb-chart-band' })
    );
  }
  if (threshold !== null) {
    root.appendChild(
      svg('line', {
        x1: m.left,
        x2: width - m.right,
        y1: y(threshold),
        y2: y(threshold),
        class: 'mlnb-chart-threshold'
      })
    );
  }
  series.forEach((s, i) => {
    const points = s.points.filter(p => Number.isFinite(p.y));
    const cls = `mlnb-series-${i % 6}`;
    if (points.length > 1) {
      root.appendChild(
        svg('polyline', {
          points: points.map(p => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' '),
          class: `mlnb-chart-line ${cls}`
        })
      );
    }
    for (const p of points) {
      const bad = options.breached?.(p.y) ?? false;
      const dot = svg('circle', {
        cx: x(p.x),
        cy: y(p.y),
        r: 2.5,
        class: `mlnb-chart-point ${cls}${bad ? ' mlnb-breached' : ''}`
      });
      const tip = svg('title');
      tip.textContent = `${s.label}: ${tickLabel(p.y)} at ${xFormat(p.x)}`;
      dot.appendChild(tip);
      root.appendChild(dot);
    }
  });
  return root;
}
