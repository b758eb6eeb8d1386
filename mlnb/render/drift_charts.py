"""The drift panels' charts as SVG documents (standard library only): one column's reference
vs current distribution, the per-column scores against their threshold, and the timeline of
drift and metrics across batches.

They show what the matplotlib figures of ``mlnb.monitoring.drift.figures`` show (those stay
for the PNG file export) at a fraction of the cost: no import, a few kilobytes each. Charts
are drawn from the compact histograms a report carries, never from raw rows. Timeline rows
are the ones ``mlnb.monitoring.drift.report.history_rows`` makes: ``at`` (a datetime),
``number``, ``report`` (a report or None), ``metrics``, ``bands`` and ``thresholds``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlnb.render.drift import (
    CUR_OK,
    GREEN,
    GREY,
    RED,
    REF_COLOR,
    DriftColumn,
    DriftResult,
    fmt_score,
)
from mlnb.render.svg import (
    CHAR_WIDTH,
    INK,
    Plot,
    clip,
    document,
    legend,
    num,
    padded,
    ticks,
    xml,
)

# line colours of the timeline's columns and metrics: each reads on light and dark notebooks
PALETTE = ("#218bff", "#b08800", "#a371f7", "#1b9e9e", "#e16f24", "#bf3989")
MAX_STRENGTH = 50.0  # strengths above this are drawn at it (a p-value of 0 is infinitely strong)

DIST_WIDTH, DIST_HEIGHT = 340, 240


# --------------------------------------------------------------------------- distributions


def distribution_svg(c: DriftColumn, show_legend: bool = True) -> str:
    """Reference vs current shares of one column: stairs for numbers, bars for categories."""
    hist = c.hist or {}
    kind = hist.get("type")
    if kind == "numeric":
        body, height = _numeric(hist, RED if c.drifted else CUR_OK), DIST_HEIGHT
    elif kind == "categorical":
        body, height = _categorical(hist, RED if c.drifted else CUR_OK)
    else:
        body, height = _nothing_to_show(), DIST_HEIGHT
    parts = [_title(c)]
    if show_legend and kind in ("numeric", "categorical"):
        parts.append(
            legend(
                DIST_WIDTH - 150,
                28,
                [
                    ("box", REF_COLOR, "reference"),
                    ("line", RED if c.drifted else CUR_OK, "current"),
                ],
                150,
            )
        )
    parts.append(body)
    verdict = "drift" if c.drifted else c.status
    return document(DIST_WIDTH, height, parts, f"{c.column}: {_score_line(c)} ({verdict})")


def _score_line(c: DriftColumn) -> str:
    return f"{c.test} {fmt_score(c.score)}" if c.test else c.status


def _title(c: DriftColumn) -> str:
    """Column name (red when it drifted) over its test and score."""
    color = RED if c.drifted else INK
    return (
        f"<text x='4' y='13' font-size='11' font-weight='600' fill='{color}'>"
        f"{xml(clip(c.column, 50))}</text>"
        f"<text x='4' y='28' font-size='9.5' fill='{color}'>{xml(_score_line(c))}</text>"
    )


def _numeric(hist: Mapping[str, Any], color: str) -> str:
    """Stairs of reference (filled) and current (outlined) shares on the display bins."""
    edges = [float(e) for e in hist["edges"]]
    ref = [100 * float(v) for v in hist["ref"]]
    cur = [100 * float(v) for v in hist["cur"]]
    top = max([*ref, *cur, 0.0]) * 1.08 or 1.0
    plot = Plot(
        48, 40, DIST_WIDTH - 48 - 12, DIST_HEIGHT - 40 - 30, (edges[0], edges[-1]), (0, top)
    )
    return "".join(
        [
            _stairs(
                plot, edges, ref, f"fill='{REF_COLOR}' fill-opacity='0.45' stroke='none'", True
            ),
            _stairs(plot, edges, cur, f"fill='none' stroke='{color}' stroke-width='1.6'", False),
            plot.frame(),
            plot.xaxis(ticks(edges[0], edges[-1], 5)),
            plot.yaxis(ticks(0, top, 4)),
            plot.ylabel("% of rows", 36),
        ]
    )


def _stairs(plot: Plot, edges: list[float], heights: list[float], style: str, closed: bool) -> str:
    """Bin heights as one step path from the first edge to the last."""
    path = [f"M{plot.point(edges[0], 0)}"]
    for i, h in enumerate(heights):
        path.append(f"V{num(plot.y(h))}H{num(plot.x(edges[i + 1]))}")
    path.append(f"V{num(plot.y(0))}" + ("Z" if closed else ""))
    return f"<path d='{''.join(path)}' {style}/>"


def _categorical(hist: Mapping[str, Any], color: str) -> tuple[str, int]:
    """Bars per category, current above reference, new categories marked."""
    labels = [
        clip(lbl, 18) + (" (new)" if new else "")
        for lbl, new in zip(hist["labels"], hist["unseen"], strict=True)
    ]
    ref = [100 * float(v) for v in hist["ref"]]
    cur = [100 * float(v) for v in hist["cur"]]
    row = 16
    height = 40 + row * len(labels) + 34
    left = min(130.0, 12 + max((len(lbl) for lbl in labels), default=4) * 9 * CHAR_WIDTH)
    top_value = max([*ref, *cur, 0.0]) * 1.08 or 1.0
    plot = Plot(
        left, 40, DIST_WIDTH - left - 12, row * len(labels), (0, top_value), (len(labels), 0)
    )
    x0 = num(plot.left)
    cur_bars, ref_bars, names = [], [], []
    for i, (label, r, c) in enumerate(zip(labels, ref, cur, strict=True)):
        y = plot.top + i * row
        cur_bars.append(
            f"<rect x='{x0}' y='{num(y + 2)}' width='{num(plot.x(c) - plot.left)}' height='6'/>"
        )
        ref_bars.append(
            f"<rect x='{x0}' y='{num(y + 8)}' width='{num(plot.x(r) - plot.left)}' height='6'/>"
        )
        names.append(f"<text x='{num(plot.left - 5)}' y='{num(y + 11)}'>{xml(label)}</text>")
    parts = [
        f"<g fill='{color}'>{''.join(cur_bars)}</g>",
        f"<g fill='{REF_COLOR}' fill-opacity='0.7'>{''.join(ref_bars)}</g>",
        f"<g text-anchor='end'>{''.join(names)}</g>",
    ]
    parts += [plot.frame(), plot.xaxis(ticks(0, top_value, 4)), plot.xlabel("% of rows")]
    return "".join(parts), height


def _nothing_to_show() -> str:
    return (
        f"<text x='{DIST_WIDTH / 2}' y='{DIST_HEIGHT / 2}' text-anchor='middle' "
        f"fill='{GREY}'>no distribution to show</text>"
    )


# --------------------------------------------------------------------------- scores


def scores_svg(report: DriftResult) -> str:
    """Per-column scores as bars against their threshold (the panel when nothing drifted)."""
    scored = [c for c in report.columns if c.score is not None and c.threshold is not None]
    width = 750
    if not scored:
        return document(
            width,
            60,
            [
                f"<text x='{width / 2}' y='30' text-anchor='middle' fill='{GREY}'>"
                "no column could be scored</text>"
            ],
            "drift score per column",
        )
    same_scale = len({(c.higher_is_drift, c.threshold) for c in scored}) == 1
    if same_scale and scored[0].higher_is_drift:
        values = [float(c.score or 0.0) for c in scored]
        line, label = float(scored[0].threshold or 0.0), f"threshold {scored[0].threshold:g}"
        xlabel = "drift score (" + ", ".join(sorted({c.test or "" for c in scored})) + ")"
    else:
        values = [min(c.strength() or 0.0, MAX_STRENGTH) for c in scored]
        line, label = 1.0, "threshold"
        xlabel = "drift score ÷ threshold (p-values as log p / log α); ≥ 1 is drift"
    names = [clip(c.column, 24) for c in scored]
    row = 18
    left = min(190.0, 14 + max(len(n) for n in names) * 10 * CHAR_WIDTH)
    plot_height = row * len(scored)
    height = 22 + plot_height + 34
    high = max([*values, line]) * 1.05 or 1.0
    plot = Plot(left, 22, width - left - 20, plot_height, (0, high), (len(scored), 0))
    parts = []
    for i, (name, value, c) in enumerate(zip(names, values, scored, strict=True)):
        y = plot.top + i * row
        parts.append(
            f"<rect x='{num(plot.left)}' y='{num(y + 3.5)}' width='{num(plot.x(value) - plot.left)}' "
            f"height='11' fill='{RED if c.drifted else GREEN}'/>"
            f"<text x='{num(plot.left - 5)}' y='{num(y + 12.5)}' text-anchor='end'>{xml(name)}</text>"
        )
    lx = num(plot.x(line))
    anchor = " text-anchor='middle'" if plot.x(line) > plot.left + 0.6 * plot.width else ""
    parts += [
        f"<path d='M{lx} {num(plot.top - 6)}V{num(plot.bottom)}' stroke='{INK}' "
        "stroke-dasharray='4 3'/>",
        f"<text x='{lx}' y='{num(plot.top - 9)}'{anchor}>{xml(label)}</text>",
        plot.frame(),
        plot.xaxis(ticks(0, high, 6)),
        plot.xlabel(xlabel),
    ]
    return document(width, height, parts, "drift score per column")


# --------------------------------------------------------------------------- timeline

TL_WIDTH, TL_LEFT, TL_RIGHT = 900, 70, 15
TL_LEGEND, TL_PLOT, TL_GAP = 16, 92, 10
MAX_DOTS = 60  # more batches than this: lines without a dot per batch (dataset drift keeps its)
MAX_DATE_TICKS = 12  # dated batches get a tick each, up to this many (evenly picked beyond)


def metric_groups(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Metrics by the axes they share: each realized metric with its estimate, if any."""
    groups: dict[str, list[str]] = {}
    for m in sorted({m for r in rows for m in r["metrics"]}):
        groups.setdefault(m.removeprefix("estimated_"), []).append(m)
    return groups


def timeline_svg(rows: Sequence[Mapping[str, Any]], top_columns: int = 6) -> str:
    """Share drifted, the strongest columns' scores and each metric on its own axes across
    ``rows`` (oldest first), thresholds dashed, an estimate dotted inside its band."""
    xs, xticks, xlabels, axis_label = _time_axis(rows)
    pad = (xs[-1] - xs[0]) * 0.03 if len(xs) > 1 and xs[-1] > xs[0] else 0.5
    xlim = (xs[0] - pad, xs[-1] + pad)
    groups = metric_groups(rows)
    n_panels = 2 + len(groups)
    height = n_panels * (TL_LEGEND + TL_PLOT + TL_GAP) + 30

    def panel(i: int, ylim: tuple[float, float]) -> Plot:
        top = i * (TL_LEGEND + TL_PLOT + TL_GAP) + TL_LEGEND
        return Plot(TL_LEFT, top, TL_WIDTH - TL_LEFT - TL_RIGHT, TL_PLOT, xlim, ylim)

    parts = [_share_panel(panel(0, (-0.05, 1.05)), rows, xs)]
    parts.append(_strength_panel(panel, rows, xs, top_columns))
    for i, (base, members) in enumerate(groups.items()):
        parts.append(_metric_panel(panel, 2 + i, base, members, rows, xs))
    last = panel(n_panels - 1, (0, 1))
    for i in range(n_panels):
        p = panel(i, (0, 1))
        parts.append(p.xaxis(xticks, xlabels, grid=True, show_labels=i == n_panels - 1))
    if axis_label:
        parts.append(last.xlabel(axis_label))
    return document(TL_WIDTH, height, parts, "drift and metrics across batches")


def _time_axis(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[float], list[float], list[str], str]:
    """x positions of the batches, tick positions and labels, and the axis label: dates when
    the batches span a minute or more, else the monitor's batch numbers."""
    span = (rows[-1]["at"] - rows[0]["at"]).total_seconds() if rows else 0.0
    if span >= 60:
        xs = [r["at"].timestamp() for r in rows]
        picked = sorted(
            {round(i * (len(rows) - 1) / (MAX_DATE_TICKS - 1)) for i in range(MAX_DATE_TICKS)}
        )
        if span < 2 * 86400:
            fmt = "%H:%M"
        elif rows[0]["at"].year == rows[-1]["at"].year:
            fmt = "%b %d"
        else:
            fmt = "%Y-%m-%d"
        labels = [rows[i]["at"].strftime(fmt) for i in picked]
        if fmt == "%H:%M":
            labels[0] = rows[picked[0]]["at"].strftime("%b %d %H:%M")
        return xs, [xs[i] for i in picked], labels, ""
    numbers = [r.get("number") for r in rows]
    xs = (
        [float(i) for i in range(1, len(rows) + 1)]
        if any(n is None for n in numbers)
        else [float(n) for n in numbers if n is not None]
    )
    marks = ticks(xs[0], xs[-1], 10, integer=True) if rows else []
    return xs, marks, [str(int(m)) for m in marks], "batch"


def _share_panel(plot: Plot, rows: Sequence[Mapping[str, Any]], xs: list[float]) -> str:
    """Share of drifted columns per batch, a red dot where the dataset drifted (and a green
    one where it did not, while the batches are few enough to tell the dots apart)."""
    share = [r["report"].share_drifted if r["report"] else math.nan for r in rows]
    drifted = [bool(r["report"] and r["report"].dataset_drift) for r in rows]
    every_dot = len(rows) <= MAX_DOTS
    entries = [("line", INK, "share of drifted columns"), ("dot", RED, "dataset drift")]
    if every_dot:
        entries.append(("dot", GREEN, "no dataset drift"))
    parts = [plot.yaxis([0.0, 0.5, 1.0], grid=True), plot.frame()]
    parts.append(plot.polyline(xs, share, INK))
    thresholds = _threshold_values(rows, "drift_share")
    if thresholds is not None:
        parts.append(plot.steps(xs, thresholds, RED))
        entries.append(("dash", RED, "drift share threshold"))
    marked = [(x, v, RED if d else GREEN) for x, v, d in zip(xs, share, drifted, strict=True)]
    if not every_dot:
        marked = [m for m in marked if m[2] == RED]
    parts.append(
        plot.dots([m[0] for m in marked], [m[1] for m in marked], [m[2] for m in marked], 3.2)
    )
    parts.append(plot.ylabel("share drifted", 44))
    parts.append(legend(plot.left, plot.top - 5, entries, plot.width))
    return _panel_group("share drifted", parts)


def _panel_group(name: str, parts: list[str]) -> str:
    """One panel of the timeline as a group named after what its y axis shows."""
    return f"<g aria-label='{xml(name)}'>{''.join(parts)}</g>"


def _threshold_values(rows: Sequence[Mapping[str, Any]], key: str) -> list[float | None] | None:
    values = [r["thresholds"].get(key) for r in rows]
    return values if any(v is not None for v in values) else None


def _strength_panel(
    panel: Any, rows: Sequence[Mapping[str, Any]], xs: list[float], top_columns: int
) -> str:
    """Each of the strongest columns' score ÷ threshold per batch, the threshold at 1."""
    strengths: dict[str, list[float]] = {}
    for r in rows:
        for c in r["report"].columns if r["report"] else []:
            strengths.setdefault(c.column, [])
    for r in rows:
        by_name = {c.column: c for c in r["report"].columns} if r["report"] else {}
        for name, values in strengths.items():
            res = by_name.get(name)
            s = res.strength() if res is not None else None
            values.append(math.nan if s is None else min(s, MAX_STRENGTH))

    def peak(name: str) -> float:
        return max([v for v in strengths[name] if v == v] or [0.0])

    ranked = sorted(strengths, key=lambda n: -peak(n))[:top_columns]
    high = max([1.1, *(peak(n) for n in ranked)]) * 1.05
    plot: Plot = panel(1, (0.0, high))
    parts = [plot.yaxis(ticks(0, high, 4), grid=True), plot.frame()]
    entries = []
    for i, name in enumerate(ranked):
        color = PALETTE[i % len(PALETTE)]
        parts.append(plot.polyline(xs, strengths[name], color, 1.2))
        if len(xs) <= MAX_DOTS:
            parts.append(plot.dots(xs, strengths[name], [color] * len(xs), 1.8))
        entries.append(("line", color, clip(name, 22)))
    parts.append(plot.hline(1.0, RED))
    entries.append(("dash", RED, "threshold"))
    parts.append(plot.ylabel("score ÷ threshold", 44))
    parts.append(legend(plot.left, plot.top - 5, entries, plot.width))
    return _panel_group("score ÷ threshold", parts)


def _metric_panel(
    panel: Any,
    index: int,
    base: str,
    members: list[str],
    rows: Sequence[Mapping[str, Any]],
    xs: list[float],
) -> str:
    """One metric (and its estimate, dotted, with its band) with their thresholds."""
    color = PALETTE[(index - 2) % len(PALETTE)]
    series = {m: [r["metrics"].get(m, math.nan) for r in rows] for m in members}
    thresholds = {m: _threshold_values(rows, m) for m in members}
    bands = {m: [r.get("bands", {}).get(m) for r in rows] for m in members}
    everything: list[float] = [v for s in series.values() for v in s if v is not None]
    everything += [v for t in thresholds.values() if t for v in t if v is not None]
    everything += [v for b in bands.values() for pair in b if pair for v in pair]
    ylim = padded(everything, 0.08)
    plot: Plot = panel(index, ylim)
    parts = [plot.yaxis(ticks(*ylim, 3), grid=True), plot.frame()]
    entries = []
    for m in members:
        estimate = m.startswith("estimated_")
        if any(b is not None for b in bands[m]):  # an estimate's 95% band
            parts.append(
                plot.band(
                    xs,
                    [b[0] if b else None for b in bands[m]],
                    [b[1] if b else None for b in bands[m]],
                    color,
                )
            )
        banded = any(b is not None for b in bands[m])
        parts.append(plot.polyline(xs, series[m], color, 1.5, "2 2.5" if estimate else ""))
        if len(xs) <= MAX_DOTS:
            parts.append(plot.dots(xs, series[m], [color] * len(xs), 3))
        kind = "dotted" if estimate else "line"
        entries.append((kind, color, clip(m, 20) + (" (95% band)" if banded else "")))
        threshold = thresholds[m]
        if threshold is not None:
            parts.append(plot.steps(xs, threshold, color))
            entries.append(("dash", color, f"{clip(m, 20)} threshold"))
    parts.append(plot.ylabel(clip(base, 14), 44))
    parts.append(legend(plot.left, plot.top - 5, entries, plot.width))
    return _panel_group(base, parts)
