"""The drift panel as one PNG file (``panel_png``): matplotlib drawings of the verdict,
per-column scores, distributions and the timeline across batches.

The notebook panel itself draws SVG charts with ``mlnb.render.drift_charts`` (no matplotlib
import, a millisecond a chart); this module is for a picture to save or send. Plots are drawn
from the compact histograms a report carries, never from raw rows. matplotlib is imported
only when a figure is drawn. History comes in as the rows
``mlnb.monitoring.drift.report.history_rows`` makes (reports already parsed).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mlnb.render.drift import (
    CUR_OK,
    GREEN,
    GREY,
    RED,
    REF_COLOR,
    DriftColumn,
    DriftResult,
    fmt_score,
    plain,
    plot_columns,
    verdict_label,
    verdict_text,
)
from mlnb.render.drift_charts import PALETTE, metric_groups
from mlnb.render.svg import INK

T = TypeVar("T")


# Text, ticks and spines in the SVG charts' mid grey (it reads on a white notebook and on a
# dark one); the figure itself is transparent, so the notebook's own background shows through.
THEME = {
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "grid.color": INK,
    "legend.labelcolor": INK,
    "axes.facecolor": "none",
    "figure.facecolor": "none",
    "savefig.facecolor": "none",
    "savefig.transparent": True,
}


def _themed(draw: Callable[..., T]) -> Callable[..., T]:
    """Run a figure-making function under THEME (matplotlib reads it as artists are made)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        import matplotlib

        with matplotlib.rc_context(THEME):  # type: ignore[arg-type]
            return draw(*args, **kwargs)

    return wrapper


# Fonts that draw CJK and other non-Latin letters, tried after DejaVu Sans glyph by glyph
# (matplotlib >= 3.6 falls back per glyph through a list of families).
WIDE_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Microsoft YaHei",
    "SimHei",
    "Yu Gothic",
    "Meiryo",
    "Malgun Gothic",
    "Hiragino Sans",
    "PingFang SC",
    "Apple SD Gothic Neo",
    "Arial Unicode MS",
    "Noto Sans",
)


@functools.cache
def font_families() -> list[str]:
    """DejaVu Sans, then every installed font of WIDE_FONTS: column names in any script are
    drawn when one of those fonts is installed, and as empty boxes otherwise."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in WIDE_FONTS if name in installed)]


def _drawn_with_fonts(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Draw with the font fallback list; a glyph no font has never prints a warning into
    the user's notebook (the figure shows a box, the panel's text names the column)."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with (
            matplotlib.rc_context({"font.family": font_families()}),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
            warnings.filterwarnings("ignore", message=r"findfont: ")
            return draw(*args, **kwargs)

    return drawn


def _figure(width: float, height: float, constrained: bool = True) -> Any:
    """A transparent figure of ``width`` x ``height`` inches; ``constrained=False`` for the
    panel's own figures, whose margins are set by hand (the layout solver costs more than
    drawing them)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    fig.patch.set_alpha(0.0)
    return fig


# --------------------------------------------------------------------------- plots


def _draw_distribution(ax: Any, c: DriftColumn, legend: bool = True) -> None:
    """Reference vs current shares of one column on ``ax``."""
    hist = c.hist or {}
    color = RED if c.drifted else CUR_OK
    title = plain(c.column, 34)
    sub = f"{c.test} {fmt_score(c.score)}" if c.test else c.status
    ax.set_title(f"{title}\n{sub}", fontsize=9, loc="left", color=RED if c.drifted else INK)
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
            plain(lbl, 18) + (" (new)" if new else "")
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


def _draw_scores(ax: Any, report: DriftResult) -> None:
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
    names = [plain(c.column, 24) for c in scored]
    colors = [RED if c.drifted else GREEN for c in scored]
    ys = list(range(len(scored)))
    ax.barh(ys, values, color=colors, height=0.6)
    ax.axvline(line, color=INK, linestyle="--", linewidth=1)
    ax.text(line, -0.7, f" {label}", fontsize=7, va="bottom", color=INK)
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_ylim(len(scored) - 0.4, -1.1)
    ax.tick_params(labelsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


# --------------------------------------------------------------------------- timeline


def _draw_timeline(
    fig: Any, spec: Any, rows: Sequence[dict[str, Any]], top_columns: int = 6
) -> None:
    """Share drifted, per-column strengths and metrics across ``rows`` (oldest first)."""
    import matplotlib.dates as mdates

    span = (rows[-1]["at"] - rows[0]["at"]).total_seconds() if rows else 0.0
    by_date = span >= 60  # batches logged seconds apart (tests, backfills): number them
    numbers = [r.get("number") for r in rows]  # the monitor's own batch numbers, if given
    if any(n is None for n in numbers):
        numbers = list(range(1, len(rows) + 1))
    times: list[Any] = [r["at"] for r in rows] if by_date else numbers
    groups = metric_groups(rows)
    # each metric on its own axes: r2 (0..1) beside mae (~50) would lie flat on a shared one;
    # an estimate (estimated_accuracy) shares its realized metric's axes
    n_panels = 2 + len(groups)
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
        color=INK,
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
        ax.plot(times, strengths[name], marker=".", linewidth=1.2, label=plain(name, 22))
    ax.axhline(1.0, color=RED, linestyle="--", linewidth=1, label="threshold")
    ax.set_ylabel("score ÷ threshold", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=min(4, top_columns + 1))

    palette = PALETTE
    for i, (base, members) in enumerate(groups.items()):
        ax, color = axes[2 + i], palette[i % len(palette)]
        for m in members:
            ax.plot(
                times,
                [r["metrics"].get(m, math.nan) for r in rows],
                marker="o",
                markersize=4,
                color=color,
                linewidth=1.5,
                linestyle=":" if m.startswith("estimated_") else "-",
                label=plain(m, 20),
            )
            step_thresholds(ax, m, color, f"{plain(m, 20)} threshold")
            bands = [r.get("bands", {}).get(m) for r in rows]
            if any(b is not None for b in bands):  # an estimate's 95% band
                low = [math.nan if b is None else b[0] for b in bands]
                high = [math.nan if b is None else b[1] for b in bands]
                ax.fill_between(times, low, high, color=color, alpha=0.18, linewidth=0)
        ax.set_ylabel(plain(base, 14), fontsize=8)
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


# --------------------------------------------------------------------------- whole panel


@_themed
@_drawn_with_fonts
def write_panel_png(
    report: DriftResult,
    path: str | Path,
    rows: Sequence[dict[str, Any]] | None = None,
    max_plots: int = 6,
) -> str:
    """Write the panel as one PNG: verdict, score bars with threshold, distributions,
    and the timeline when history ``rows`` are given. Returns the path written."""
    plotted = plot_columns(report, max_plots)
    n_scored = sum(1 for c in report.columns if c.score is not None)
    dist_rows = math.ceil(len(plotted) / 3)
    heights = [0.55, max(1.4, 0.24 * n_scored + 0.8)]
    heights += [2.6] * dist_rows
    if rows:
        heights.append(3.4 + 1.3 * len(metric_groups(rows)))
    fig = _figure(11, sum(heights) + 0.3)
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights)

    head = fig.add_subplot(grid[0])
    head.set_axis_off()
    verdict, color = verdict_label(report)
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
        plain(verdict_text(report), 200),
        fontsize=9.5,
        color=INK,
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
    if rows:
        _draw_timeline(fig, grid[-1], rows)
    out = Path(path)
    fig.savefig(out, format="png", dpi=100, transparent=True)
    return str(out)
