"""Inline drift panels: static HTML (with embedded PNG plots), a PNG file, and a widget.

The static panel works wherever notebook output is shown (JupyterLab light and dark, VS Code,
papermill and nbconvert output, GitHub): inline styles only, neutral greys that read on both
backgrounds, red/green badges with white text, plots as base64 PNG on a white card. Every
name is escaped. Plots are drawn from the compact histograms a report carries, never from
raw rows. ``drift_widget`` adds a column picker and a batch slider on top (ipywidgets).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
from collections.abc import Sequence
from typing import Any

from mlnb.monitoring.drift.report import ColumnResult, DriftReport

RED = "#cf222e"
GREEN = "#1a7f37"
AMBER = "#9a6700"
GREY = "#6e7781"
REF_COLOR = "#8c959f"
CUR_OK = "#0969da"
BORDER = "rgba(128,128,128,0.35)"
SHADE = "rgba(128,128,128,0.08)"
FONT = "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"

_STATUS_TEXT = {
    "ok": ("ok", GREEN),
    "drift": ("drift", RED),
    "all_missing": ("all missing", RED),
    "dtype_changed": ("type changed", RED),
    "missing_column": ("missing", AMBER),
    "extra_column": ("not profiled", GREY),
    "empty": ("empty ref", GREY),
    "skipped": ("skipped", GREY),
}


# --------------------------------------------------------------------------- helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(text: str, color: str) -> str:
    return (
        f'<span style="display:inline-block;padding:1px 8px;border-radius:9px;'
        f"background:{color};color:#fff;font-weight:600;font-size:11px;"
        f'white-space:nowrap">{_esc(text)}</span>'
    )


def _fmt_score(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.3g}"


def _fmt_threshold(c: ColumnResult) -> str:
    if c.threshold is None:
        return "–"
    op = "p &lt; " if not c.higher_is_drift else "≥ "
    return op + _esc(f"{c.threshold:g}")


def _plain(text: str, limit: int = 40) -> str:
    """Text safe for matplotlib labels: no mathtext, bounded length."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _coerce_report(report: Any) -> DriftReport:
    if isinstance(report, DriftReport):
        return report
    if isinstance(report, dict):
        return DriftReport.from_dict(report)
    raise TypeError(f"expected a DriftReport or its dict, got {type(report).__name__}")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return buf.getvalue()


def _img(png: bytes, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(png).decode("ascii")
    size = f"width:{width}px;" if width else ""
    return (
        f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}" '
        f'style="{size}max-width:100%;height:auto;border:1px solid {BORDER};'
        f'border-radius:4px;background:#fff;margin-top:8px"/>'
    )


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    fig.set_facecolor("white")
    return fig


def _ordered(report: DriftReport) -> list[ColumnResult]:
    """Drifted columns first (strongest first), then the rest in their original order."""
    drifted = [c for c in report.columns if c.drifted]
    drifted.sort(key=lambda c: -(c.strength() or math.inf))
    return drifted + [c for c in report.columns if not c.drifted]


# --------------------------------------------------------------------------- plots


def _draw_distribution(ax: Any, c: ColumnResult, legend: bool = True) -> None:
    """Reference vs current shares of one column on ``ax``."""
    hist = c.hist or {}
    color = RED if c.drifted else CUR_OK
    title = _plain(c.column, 34)
    sub = f"{c.test} {_fmt_score(c.score)}" if c.test else c.status
    ax.set_title(f"{title}\n{sub}", fontsize=9, loc="left", color=RED if c.drifted else "#24292f")
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if hist.get("type") == "numeric":
        edges = hist["edges"]
        ax.stairs(
            [v * 100 for v in hist["ref"]],
            edges,
            fill=True,
            color=REF_COLOR,
            alpha=0.45,
            label="reference",
        )
        ax.stairs(
            [v * 100 for v in hist["cur"]], edges, color=color, linewidth=1.6, label="current"
        )
        ax.set_ylabel("% of rows", fontsize=7)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(5))
    elif hist.get("type") == "categorical":
        labels = [
            _plain(lbl, 18) + (" (new)" if new else "")
            for lbl, new in zip(hist["labels"], hist["unseen"], strict=True)
        ]
        ys = list(range(len(labels)))
        ax.barh(
            [y + 0.2 for y in ys],
            [v * 100 for v in hist["ref"]],
            height=0.4,
            color=REF_COLOR,
            alpha=0.7,
            label="reference",
        )
        ax.barh(
            [y - 0.2 for y in ys],
            [v * 100 for v in hist["cur"]],
            height=0.4,
            color=color,
            label="current",
        )
        ax.set_yticks(ys, labels)
        ax.invert_yaxis()
        ax.set_xlabel("% of rows", fontsize=7)
    else:
        ax.text(
            0.5,
            0.5,
            "no distribution to show",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
            color=GREY,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    if legend and hist:
        ax.legend(fontsize=7, frameon=False, loc="best")


def _plot_columns(report: DriftReport, max_plots: int) -> list[ColumnResult]:
    return [c for c in _ordered(report) if c.drifted and c.hist][:max_plots]


def distributions_png(columns: Sequence[ColumnResult], per_row: int = 3) -> bytes:
    """Small multiples of reference vs current distributions."""
    n = len(columns)
    rows = math.ceil(n / per_row)
    cols = min(n, per_row)
    fig = _figure(3.4 * cols, 2.7 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            _draw_distribution(ax, columns[i], legend=(i == 0))
        else:
            ax.set_visible(False)
    return _png(fig)


def _draw_scores(ax: Any, report: DriftReport) -> None:
    """Bar chart of per-column scores with the threshold drawn as a line."""
    scored = [c for c in report.columns if c.score is not None and c.threshold is not None]
    if not scored:
        ax.text(
            0.5,
            0.5,
            "no column could be scored",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=9,
            color=GREY,
        )
        ax.set_axis_off()
        return
    same_scale = len({(c.higher_is_drift, c.threshold) for c in scored}) == 1
    raw_distance = same_scale and scored[0].higher_is_drift
    if raw_distance:
        values = [c.score for c in scored]
        line, label = scored[0].threshold, f"threshold {scored[0].threshold:g}"
        xlabel = "drift score (" + ", ".join(sorted({c.test or "" for c in scored})) + ")"
    else:
        values = [min(c.strength() or 0.0, 50.0) for c in scored]
        line, label = 1.0, "threshold"
        xlabel = "drift score ÷ threshold (p-values as log p / log α); ≥ 1 is drift"
    names = [_plain(c.column, 24) for c in scored]
    colors = [RED if c.drifted else GREEN for c in scored]
    ys = list(range(len(scored)))
    ax.barh(ys, values, color=colors, height=0.6)
    ax.axvline(line, color="#24292f", linestyle="--", linewidth=1)
    ax.text(line, -0.7, f" {label}", fontsize=7, va="bottom", color="#24292f")
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_ylim(len(scored) - 0.4, -1.1)
    ax.tick_params(labelsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def scores_png(report: DriftReport) -> bytes:
    n = sum(1 for c in report.columns if c.score is not None)
    fig = _figure(7.5, max(1.6, 0.28 * n + 1.0))
    _draw_scores(fig.subplots(), report)
    return _png(fig)


# --------------------------------------------------------------------------- timeline


def _history_rows(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, rec in enumerate(history):
        if not isinstance(rec, dict) or "batch_at" not in rec:
            raise TypeError(f"history[{i}] must be a dict with at least 'batch_at' (unix seconds)")
        rep = rec.get("report")
        rows.append(
            {
                "at": _dt.datetime.fromtimestamp(float(rec["batch_at"])),
                "report": _coerce_report(rep) if rep is not None else None,
                "metrics": dict(rec.get("metrics") or {}),
                "thresholds": dict(rec.get("thresholds") or {}),
            }
        )
    rows.sort(key=lambda r: r["at"])
    return rows


def _draw_timeline(
    fig: Any, spec: Any, history: Sequence[dict[str, Any]], top_columns: int = 6
) -> None:
    import matplotlib.dates as mdates

    rows = _history_rows(history)
    span = (rows[-1]["at"] - rows[0]["at"]).total_seconds() if rows else 0.0
    by_date = span >= 60  # batches logged seconds apart (tests, backfills): number them
    times: list[Any] = [r["at"] for r in rows] if by_date else list(range(1, len(rows) + 1))
    metric_names = sorted({m for r in rows for m in r["metrics"]})
    n_panels = 2 + (1 if metric_names else 0)
    sub = spec.subgridspec(n_panels, 1, hspace=0.08)
    axes = [fig.add_subplot(sub[i]) for i in range(n_panels)]
    for ax in axes[1:]:
        ax.sharex(axes[0])

    def step_thresholds(ax: Any, key: str, color: str, label: str) -> None:
        values = [r["thresholds"].get(key) for r in rows]
        if any(v is not None for v in values):
            ax.step(
                times,
                [math.nan if v is None else v for v in values],
                where="post",
                color=color,
                linestyle="--",
                linewidth=1,
                label=label,
            )

    ax = axes[0]
    share = [r["report"].share_drifted if r["report"] else math.nan for r in rows]
    ax.plot(
        times,
        share,
        marker="o",
        color="#24292f",
        linewidth=1.5,
        markersize=4,
        label="share of drifted columns",
    )
    dots = [RED if r["report"] and r["report"].dataset_drift else GREEN for r in rows]
    ax.scatter(times, share, c=dots, s=22, zorder=3)
    step_thresholds(ax, "drift_share", RED, "drift share threshold")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("share drifted", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left")

    ax = axes[1]
    strengths: dict[str, list[float]] = {}
    for r in rows:
        for c in r["report"].columns if r["report"] else []:
            strengths.setdefault(c.column, [])
    for name in strengths:
        for r in rows:
            res = None
            if r["report"]:
                res = next((c for c in r["report"].columns if c.column == name), None)
            s = res.strength() if res is not None else None
            strengths[name].append(math.nan if s is None else min(s, 50.0))
    ranked = sorted(strengths, key=lambda n: -max([v for v in strengths[n] if v == v] or [0]))
    for name in ranked[:top_columns]:
        ax.plot(times, strengths[name], marker=".", linewidth=1.2, label=_plain(name, 22))
    ax.axhline(1.0, color=RED, linestyle="--", linewidth=1, label="threshold")
    ax.set_ylabel("score ÷ threshold", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=min(4, top_columns + 1))

    if metric_names:
        ax = axes[2]
        palette = ["#0969da", "#8250df", "#bf8700", "#1a7f37", "#cf222e"]
        for i, m in enumerate(metric_names):
            color = palette[i % len(palette)]
            ax.plot(
                times,
                [r["metrics"].get(m, math.nan) for r in rows],
                marker="o",
                markersize=4,
                color=color,
                linewidth=1.5,
                label=_plain(m, 20),
            )
            step_thresholds(ax, m, color, f"{_plain(m, 20)} threshold")
        ax.set_ylabel("metrics", fontsize=8)
        ax.legend(fontsize=7, frameon=False, loc="lower left", ncol=2)

    if by_date:
        locator = mdates.AutoDateLocator(maxticks=8)
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        from matplotlib.ticker import MaxNLocator

        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
        axes[-1].set_xlabel("batch", fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)


def timeline_png(history: Sequence[dict[str, Any]]) -> bytes:
    """Drift share, per-column scores and metrics across batches, thresholds as dashed lines."""
    has_metrics = any((rec.get("metrics") or {}) for rec in history)
    fig = _figure(9, 5.4 if has_metrics else 3.8)
    spec = fig.add_gridspec(1, 1)[0]
    _draw_timeline(fig, spec, history)
    return _png(fig)


# --------------------------------------------------------------------------- static panel


def _header(report: DriftReport) -> str:
    color = RED if report.dataset_drift else GREEN
    verdict = "DATASET DRIFT" if report.dataset_drift else "NO DATASET DRIFT"
    tests = (
        "small reference: KS / chi-square / z-test, drift when p &lt; threshold"
        if report.small_reference
        else "large reference: normed Wasserstein / Jensen-Shannon, drift when score ≥ threshold"
    )
    return (
        f'<div style="padding:8px 12px;border-left:6px solid {color};background:{SHADE};'
        f'border-radius:4px">'
        f"{_badge(verdict, color)} "
        f'<span style="font-size:14px"><b>{report.n_drifted}</b> of <b>{report.n_columns}</b> '
        f"columns drifted ({report.share_drifted:.0%}; dataset drift at ≥ "
        f"{report.threshold_share:.0%})</span>"
        f'<div style="opacity:0.75;font-size:12px;margin-top:3px">'
        f"{report.n_rows_cur:,} rows vs {report.n_rows_ref:,} reference rows · {tests}</div>"
        f"</div>"
    )


def _warnings(report: DriftReport) -> str:
    items = []
    for status, what in (
        ("missing_column", "missing from this batch"),
        ("dtype_changed", "changed type"),
        ("all_missing", "entirely missing"),
        ("extra_column", "not in the reference (not scored)"),
    ):
        names = [c.column for c in report.columns if c.status == status]
        if names:
            shown = ", ".join(_esc(n) for n in names[:8]) + (" …" if len(names) > 8 else "")
            items.append(f"{len(names)} column{'s' if len(names) > 1 else ''} {what}: {shown}")
    if not items:
        return ""
    lis = "".join(f"<li>{i}</li>" for i in items)
    return f'<ul style="margin:6px 0 0 0;padding-left:20px;color:{AMBER};font-size:12px">{lis}</ul>'


def _table(report: DriftReport) -> str:
    th = f'style="text-align:left;padding:3px 8px;border-bottom:1px solid {BORDER}"'
    head = "".join(
        f"<th {th}>{h}</th>"
        for h in (
            "column",
            "type",
            "test",
            "score",
            "threshold",
            "drift",
            "missing Δ",
            "unseen categories",
            "note",
        )
    )
    body = []
    for c in _ordered(report):
        label, color = _STATUS_TEXT.get(c.status, (c.status, GREY))
        role = (
            f' <span style="opacity:0.6;font-size:11px">({_esc(c.role)})</span>'
            if c.role != "feature"
            else ""
        )
        miss = f"{c.missing_change:+.1%}" if abs(c.missing_change) >= 0.0005 else "0"
        miss_style = f"color:{RED};font-weight:600" if abs(c.missing_change) >= 0.05 else ""
        unseen = ", ".join(_esc(u) for u in c.unseen_categories[:5])
        if len(c.unseen_categories) > 5:
            unseen += " …"
        if c.unseen_categories:
            unseen += f' <span style="opacity:0.6">({c.unseen_share:.1%})</span>'
        note = _esc(c.note if len(c.note) <= 90 else c.note[:89] + "…")
        td = f'style="padding:3px 8px;border-bottom:1px solid {BORDER};vertical-align:top"'
        body.append(
            "<tr>"
            f'<td {td}><span style="font-weight:600">{_esc(c.column)}</span>{role}</td>'
            f"<td {td}>{_esc(c.kind)}</td>"
            f"<td {td}>{_esc(c.test or '–')}</td>"
            f'<td {td} style="text-align:right">{_fmt_score(c.score)}</td>'
            f"<td {td}>{_fmt_threshold(c)}</td>"
            f"<td {td}>{_badge(label, color)}</td>"
            f'<td {td}><span style="{miss_style}">{miss}</span></td>'
            f"<td {td}>{unseen}</td>"
            f'<td {td} title="{_esc(c.note)}"><span style="opacity:0.8;font-size:12px">{note}</span></td>'
            "</tr>"
        )
    return (
        f'<table style="border-collapse:collapse;margin-top:8px;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def render_panel(
    report: DriftReport | dict[str, Any],
    history: Sequence[dict[str, Any]] | None = None,
    max_plots: int = 6,
) -> str:
    """The static drift panel as HTML: verdict, per-column table, plots, optional timeline.

    ``history`` is a list of past batches: dicts with ``batch_at`` (unix seconds), ``report``
    (a DriftReport or its dict), ``metrics`` (e.g. ``{"accuracy": 0.8}``) and ``thresholds``
    (e.g. ``{"accuracy": 0.82, "drift_share": 0.5}``).
    """
    report = _coerce_report(report)
    parts = [
        f'<div style="font-family:{FONT};font-size:13px;line-height:1.45;max-width:1100px">',
        _header(report),
        _warnings(report),
        _table(report),
    ]
    plotted = _plot_columns(report, max_plots)
    if plotted:
        parts.append(
            '<div style="margin-top:10px;font-weight:600">Reference vs current, drifted columns'
            + (
                f' <span style="font-weight:400;opacity:0.7">({len(plotted)} of '
                f"{report.n_drifted})</span>"
                if report.n_drifted > len(plotted)
                else ""
            )
            + "</div>"
        )
        parts.append(_img(distributions_png(plotted), "reference vs current distributions"))
    elif any(c.score is not None for c in report.columns):
        parts.append(_img(scores_png(report), "drift score per column"))
    if history:
        parts.append('<div style="margin-top:10px;font-weight:600">Across batches</div>')
        parts.append(_img(timeline_png(history), "drift and metrics across batches"))
    parts.append("</div>")
    return "".join(parts)


def panel_png(
    report: DriftReport | dict[str, Any],
    path: Any,
    history: Sequence[dict[str, Any]] | None = None,
    max_plots: int = 6,
) -> str:
    """Write the panel as one PNG: verdict, score bars with threshold, distributions,
    and the timeline when ``history`` is given. Returns the path written."""
    from pathlib import Path

    report = _coerce_report(report)
    plotted = _plot_columns(report, max_plots)
    n_scored = sum(1 for c in report.columns if c.score is not None)
    dist_rows = math.ceil(len(plotted) / 3)
    heights = [0.55, max(1.4, 0.24 * n_scored + 0.8)]
    heights += [2.6] * dist_rows
    if history:
        heights.append(4.6)
    fig = _figure(11, sum(heights) + 0.3)
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights)

    head = fig.add_subplot(grid[0])
    head.set_axis_off()
    color = RED if report.dataset_drift else GREEN
    verdict = "DATASET DRIFT" if report.dataset_drift else "NO DATASET DRIFT"
    head.text(
        0.0,
        0.62,
        verdict,
        fontsize=15,
        fontweight="bold",
        color="white",
        transform=head.transAxes,
        va="center",
        bbox={"boxstyle": "round,pad=0.35", "facecolor": color, "edgecolor": color},
    )
    head.text(
        0.0,
        0.0,
        _plain(report.verdict_text(), 200),
        fontsize=9.5,
        color="#24292f",
        transform=head.transAxes,
        va="center",
    )

    _draw_scores(fig.add_subplot(grid[1]), report)
    for r in range(dist_rows):
        sub = grid[2 + r].subgridspec(1, 3, wspace=0.35)
        for j in range(3):
            i = r * 3 + j
            ax = fig.add_subplot(sub[j])
            if i < len(plotted):
                _draw_distribution(ax, plotted[i], legend=(i == 0))
            else:
                ax.set_visible(False)
    if history:
        _draw_timeline(fig, grid[-1], history)
    out = Path(path)
    fig.savefig(out, format="png", dpi=100, facecolor="white")
    return str(out)


# --------------------------------------------------------------------------- widget


def column_png(c: ColumnResult) -> bytes:
    fig = _figure(5.2, 3.2)
    _draw_distribution(fig.subplots(), c)
    return _png(fig)


def _stats_html(c: ColumnResult) -> str:
    rows = [
        ("type", c.kind),
        ("test", c.test or "–"),
        ("score", _fmt_score(c.score)),
        ("threshold", html.unescape(_fmt_threshold(c))),
        ("status", c.status),
        ("statistic", _fmt_score(c.statistic)),
        ("values (ref / current)", f"{c.n_ref:,} / {c.n_cur:,}"),
        ("missing (ref / current)", f"{c.missing_ref:.1%} / {c.missing_cur:.1%}"),
    ]
    st = c.stats or {}
    if "ref_mean" in st:
        rows.append(("mean (ref / current)", f"{st['ref_mean']:.4g} / {st['cur_mean']:.4g}"))
        rows.append(("std (ref / current)", f"{st['ref_std']:.4g} / {st['cur_std']:.4g}"))
    if c.n_inf_ref or c.n_inf_cur:
        rows.append(("infinite (ref / current)", f"{c.n_inf_ref:,} / {c.n_inf_cur:,}"))
    if c.unseen_categories:
        rows.append(("unseen categories", ", ".join(map(str, c.unseen_categories[:10]))))
    if c.note:
        rows.append(("note", c.note))
    td = f'style="padding:2px 8px;border-bottom:1px solid {BORDER};vertical-align:top"'
    body = "".join(
        f"<tr><td {td}><b>{_esc(k)}</b></td><td {td}>{_esc(v)}</td></tr>" for k, v in rows
    )
    return f'<table style="border-collapse:collapse;font-size:12px">{body}</table>'


def column_detail_html(c: ColumnResult) -> str:
    """Plot and statistics for one column (used by the widget)."""
    plot = _img(column_png(c), f"distribution of {c.column}") if c.hist else ""
    return (
        f'<div style="font-family:{FONT}"><div style="display:inline-block;vertical-align:top;'
        f'margin-right:12px">{plot}</div><div style="display:inline-block;vertical-align:top;'
        f'margin-top:8px">{_stats_html(c)}</div></div>'
    )


def drift_widget(
    report: DriftReport | dict[str, Any], history: Sequence[dict[str, Any]] | None = None
) -> Any:
    """An ipywidgets panel: pick a column to see its distribution and stats, and (with
    ``history``) pick a batch to see its report."""
    import ipywidgets as widgets

    batches: list[tuple[str, DriftReport]] = []
    if history:
        for r in _history_rows(history):
            if r["report"] is not None:
                batches.append((r["at"].strftime("%Y-%m-%d %H:%M"), r["report"]))
    current = _coerce_report(report)
    if not batches or batches[-1][1].created_at != current.created_at:
        batches.append(("this batch", current))

    header = widgets.HTML()
    table = widgets.HTML()
    detail = widgets.HTML()
    picker = widgets.Dropdown(description="column", layout=widgets.Layout(width="420px"))
    state: dict[str, Any] = {"report": batches[-1][1], "quiet": False}

    def column_options(rep: DriftReport) -> list[tuple[str, str]]:
        return [
            (f"{c.column} — {'DRIFT' if c.drifted else c.status}", c.column) for c in _ordered(rep)
        ]

    def show_column(change: Any = None) -> None:
        if state["quiet"]:
            return
        rep = state["report"]
        name = picker.value
        res = next((c for c in rep.columns if c.column == name), None)
        detail.value = column_detail_html(res) if res is not None else ""

    def show_report(rep: DriftReport) -> None:
        state["report"] = rep
        header.value = f'<div style="font-family:{FONT}">{_header(rep)}{_warnings(rep)}</div>'
        table.value = f'<div style="font-family:{FONT}">{_table(rep)}</div>'
        keep = picker.value
        options = column_options(rep)
        values = [v for _, v in options]
        state["quiet"] = True
        try:
            picker.options = options
            picker.value = keep if keep in values else (values[0] if values else None)
        finally:
            state["quiet"] = False
        show_column()

    children: list[Any] = []
    if history:
        children.append(widgets.HTML(_img(timeline_png(history), "drift across batches")))
    if len(batches) > 1:
        slider = widgets.SelectionSlider(
            options=[(label, i) for i, (label, _) in enumerate(batches)],
            value=len(batches) - 1,
            description="batch",
            continuous_update=False,
            layout=widgets.Layout(width="600px"),
        )
        slider.observe(lambda ch: show_report(batches[ch["new"]][1]), names="value")
        children.append(slider)
        box_slider: Any = slider
    else:
        box_slider = None
    picker.observe(show_column, names="value")
    show_report(batches[-1][1])
    children += [header, picker, detail, table]
    box = widgets.VBox(children)
    box.picker = picker  # handles for programmatic use and tests
    box.batch_slider = box_slider
    box.detail = detail
    box.header = header
    return box
