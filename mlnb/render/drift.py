"""Drift panels as HTML and text: verdict header, warnings, the per-column table, a column's
statistics and the panel layout around charts drawn elsewhere (SVG documents, see
``mlnb.render.drift_charts``).

The panel works wherever notebook output is shown (JupyterLab light and dark, VS Code,
papermill and nbconvert output, GitHub): inline styles only, neutral greys that read on both
backgrounds, red/green badges with white text, charts as transparent SVG images drawn
in greys and colours that read on either background. Every
name is escaped. Reports come in as anything shaped like ``DriftReport`` (see the protocols
below), so this module needs nothing from the drift package.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mlnb.render.html import esc
from mlnb.render.svg import data_url

RED = "#cf222e"
GREEN = "#2da44e"
AMBER = "#9a6700"
GREY = "#6e7781"
REF_COLOR = "#8c959f"
CUR_OK = "#218bff"
BORDER = "rgba(128,128,128,0.35)"
SHADE = "rgba(128,128,128,0.08)"
FONT = "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"

STATUS_TEXT = {
    "ok": ("ok", GREEN),
    "drift": ("drift", RED),
    "all_missing": ("all missing", RED),
    "dtype_changed": ("type changed", RED),
    "missing_column": ("missing", AMBER),
    "extra_column": ("not profiled", GREY),
    "empty": ("empty ref", GREY),
    "skipped": ("skipped", GREY),
    "too_few": ("too few values", GREY),
    "excluded": ("excluded", GREY),
}


class DriftColumn(Protocol):
    """One column's drift result (``mlnb.monitoring.drift.report.ColumnResult``)."""

    @property
    def column(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def test(self) -> str | None: ...
    @property
    def score(self) -> float | None: ...
    @property
    def threshold(self) -> float | None: ...
    @property
    def drifted(self) -> bool: ...
    @property
    def statistic(self) -> float | None: ...
    @property
    def missing_ref(self) -> float: ...
    @property
    def missing_cur(self) -> float: ...
    @property
    def missing_change(self) -> float: ...
    @property
    def unseen_categories(self) -> Sequence[Any]: ...
    @property
    def unseen_share(self) -> float: ...
    @property
    def status(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def n_ref(self) -> int: ...
    @property
    def n_cur(self) -> int: ...
    @property
    def n_inf_ref(self) -> int: ...
    @property
    def n_inf_cur(self) -> int: ...
    @property
    def stats(self) -> Mapping[str, Any]: ...
    @property
    def hist(self) -> Mapping[str, Any] | None: ...
    @property
    def higher_is_drift(self) -> bool: ...
    def strength(self) -> float | None: ...


class DriftResult(Protocol):
    """A batch's drift report (``mlnb.monitoring.drift.report.DriftReport``)."""

    @property
    def columns(self) -> Sequence[DriftColumn]: ...
    @property
    def dataset_drift(self) -> bool: ...
    @property
    def too_little_data(self) -> bool: ...
    @property
    def multivariate(self) -> Mapping[str, Any] | None: ...
    @property
    def small_reference(self) -> bool: ...
    @property
    def n_drifted(self) -> int: ...
    @property
    def n_columns(self) -> int: ...
    @property
    def share_drifted(self) -> float: ...
    @property
    def threshold_share(self) -> float: ...
    @property
    def n_rows_cur(self) -> int: ...
    @property
    def n_rows_ref(self) -> int: ...


# --------------------------------------------------------------------------- formats


def badge(text: str, color: str) -> str:
    """A filled pill with white text (the drift panel's verdict and status badges)."""
    return (
        f'<span style="display:inline-block;padding:1px 8px;border-radius:9px;'
        f"background:{color};color:#fff;font-weight:600;font-size:11px;"
        f'white-space:nowrap">{esc(text)}</span>'
    )


def fmt_score(value: float | None) -> str:
    """A score or statistic in three decimals, tiny values in scientific notation."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.3g}"


def fmt_threshold(c: DriftColumn) -> str:
    """The threshold as HTML with its direction: ``p < 0.05`` for tests, ``≥ 0.1`` for distances."""
    if c.threshold is None:
        return "–"
    op = "p &lt; " if not c.higher_is_drift else "≥ "
    return op + esc(f"{c.threshold:g}")


def plain(text: str, limit: int = 40) -> str:
    """Text safe for matplotlib labels: no mathtext, bounded length."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def ordered(report: DriftResult) -> list[DriftColumn]:
    """Drifted columns first (strongest first), then the rest in their original order."""
    drifted = [c for c in report.columns if c.drifted]
    drifted.sort(key=lambda c: -(c.strength() or math.inf))
    return drifted + [c for c in report.columns if not c.drifted]


def plot_columns(report: DriftResult, max_plots: int) -> list[DriftColumn]:
    """The drifted columns worth a distribution plot (they carry a histogram), strongest first."""
    return [c for c in ordered(report) if c.drifted and c.hist][:max_plots]


def svg_img(svg: str, alt: str, width: int | None = None) -> str:
    """An SVG chart embedded as a data URL image: sanitizers that strip inline ``<svg>``
    (JupyterLab's for untrusted notebooks, previewers) keep it."""
    return _framed(data_url(svg), alt, width)


def _framed(src: str, alt: str, width: int | None) -> str:
    size = f"width:{width}px;" if width else ""
    return (
        f'<img src="{src}" alt="{esc(alt)}" '
        f'style="{size}max-width:100%;height:auto;border:1px solid {BORDER};'
        f'border-radius:4px;margin-top:8px;vertical-align:top"/>'
    )


# --------------------------------------------------------------------------- HTML parts


def verdict_label(report: DriftResult) -> tuple[str, str]:
    """The verdict badge's text and colour: drift, no drift, or too little data to tell."""
    if report.too_little_data:
        return "TOO LITTLE DATA", GREY
    if report.dataset_drift:
        return "DATASET DRIFT", RED
    return "NO DATASET DRIFT", GREEN


def header_html(report: DriftResult) -> str:
    """The verdict box: dataset drift or not, how many columns drifted, which tests ran."""
    verdict, color = verdict_label(report)
    tests = (
        "small reference: KS / chi-square / z-test, drift when p &lt; threshold"
        if report.small_reference
        else "large reference: normed Wasserstein / Jensen-Shannon, drift when score ≥ threshold"
    )
    return (
        f'<div style="padding:8px 12px;border-left:6px solid {color};background:{SHADE};'
        f'border-radius:4px">'
        f"{badge(verdict, color)} "
        f'<span style="font-size:14px"><b>{report.n_drifted}</b> of <b>{report.n_columns}</b> '
        f"columns drifted ({report.share_drifted:.0%}; dataset drift at ≥ "
        f"{report.threshold_share:.0%})</span>"
        f'<div style="opacity:0.75;font-size:12px;margin-top:3px">'
        f"{report.n_rows_cur:,} rows vs {report.n_rows_ref:,} reference rows · {tests}</div>"
        f"{multivariate_html(report)}</div>"
    )


def multivariate_line(report: DriftResult) -> str:
    """The features-together verdict in words ('' when it was not tested)."""
    mv = report.multivariate
    if not mv:
        return ""
    if mv.get("score") is None:
        return f"features together: {mv.get('note', 'not tested')}"
    verdict = "DRIFT" if mv.get("drifted") else "no drift"
    return (
        f"features together ({mv.get('method')}): {verdict}, reconstruction error "
        f"{mv['score']:.2f}x the reference's (drift at ±{mv['threshold']:.0%}); {mv.get('note', '')}"
    )


def multivariate_html(report: DriftResult) -> str:
    """The features-together verdict under the header ('' when it was not tested)."""
    line = multivariate_line(report)
    if not line:
        return ""
    mv = report.multivariate or {}
    color = RED if mv.get("drifted") else "inherit"
    weight = "600" if mv.get("drifted") else "400"
    return (
        f'<div style="font-size:12px;margin-top:3px;color:{color};font-weight:{weight}">'
        f"{esc(line)}</div>"
    )


def warnings_html(report: DriftResult) -> str:
    """Columns missing, retyped, all-missing or unprofiled, as an amber list ('' when none)."""
    items = []
    for status, what in (
        ("missing_column", "missing from this batch"),
        ("dtype_changed", "changed type"),
        ("all_missing", "entirely missing"),
        ("extra_column", "not in the reference (not scored)"),
    ):
        names = [c.column for c in report.columns if c.status == status]
        if names:
            shown = ", ".join(esc(n) for n in names[:8]) + (" …" if len(names) > 8 else "")
            items.append(f"{len(names)} column{'s' if len(names) > 1 else ''} {what}: {shown}")
    if not items:
        return ""
    lis = "".join(f"<li>{i}</li>" for i in items)
    return f'<ul style="margin:6px 0 0 0;padding-left:20px;color:{AMBER};font-size:12px">{lis}</ul>'


def table_html(report: DriftResult) -> str:
    """One row per column: test, score, threshold, verdict, missing change, unseen, note."""
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
    for c in ordered(report):
        label, color = STATUS_TEXT.get(c.status, (c.status, GREY))
        role = (
            f' <span style="opacity:0.6;font-size:11px">({esc(c.role)})</span>'
            if c.role != "feature"
            else ""
        )
        miss = f"{c.missing_change:+.1%}" if abs(c.missing_change) >= 0.0005 else "0"
        miss_style = f"color:{RED};font-weight:600" if abs(c.missing_change) >= 0.05 else ""
        unseen = ", ".join(esc(u) for u in c.unseen_categories[:5])
        if len(c.unseen_categories) > 5:
            unseen += " …"
        if c.unseen_categories:
            unseen += f' <span style="opacity:0.6">({c.unseen_share:.1%})</span>'
        note = esc(c.note if len(c.note) <= 90 else c.note[:89] + "…")
        # the row carries the rule and alignment, each cell only its padding (wide reports)
        td = 'style="padding:3px 8px"'
        body.append(
            f'<tr style="border-bottom:1px solid {BORDER};vertical-align:top">'
            f'<td {td}><span style="font-weight:600">{esc(c.column)}</span>{role}</td>'
            f"<td {td}>{esc(c.kind)}</td>"
            f"<td {td}>{esc(c.test or '–')}</td>"
            f'<td style="padding:3px 8px;text-align:right">{fmt_score(c.score)}</td>'
            f"<td {td}>{fmt_threshold(c)}</td>"
            f"<td {td}>{badge(label, color)}</td>"
            f'<td {td}><span style="{miss_style}">{miss}</span></td>'
            f"<td {td}>{unseen}</td>"
            f'<td {td} title="{esc(c.note)}"><span style="opacity:0.8;font-size:12px">{note}</span></td>'
            "</tr>"
        )
    return (
        f'<table style="border-collapse:collapse;margin-top:8px;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def panel_html(
    report: DriftResult,
    *,
    distributions: Sequence[str] = (),
    others: Sequence[tuple[DriftColumn, str]] = (),
    n_others: int | None = None,
    scores: str | None = None,
    timeline: str | None = None,
) -> str:
    """The static panel: verdict, warnings, table, then whichever charts were drawn (SVG).

    ``distributions`` are the drifted columns' charts, shown at once; ``others`` the
    charts of ``n_others`` remaining columns (all of them unless given), folded away until the
    reader opens them; ``scores`` is the score-bar chart shown instead when nothing drifted;
    ``timeline`` the history.
    """
    parts = [
        f'<div style="font-family:{FONT};font-size:13px;line-height:1.45;max-width:1100px">',
        header_html(report),
        warnings_html(report),
        table_html(report),
    ]
    if distributions:
        n_plotted = len(distributions)
        parts.append(
            '<div style="margin-top:10px;font-weight:600">Reference vs current, drifted columns'
            + (
                f' <span style="font-weight:400;opacity:0.7">({n_plotted} of '
                f"{report.n_drifted})</span>"
                if report.n_drifted > n_plotted
                else ""
            )
            + "</div>"
        )
        parts.append(
            "<div>"
            + "".join(svg_img(svg, "reference vs current distribution") for svg in distributions)
            + "</div>"
        )
    elif scores is not None:
        parts.append(svg_img(scores, "drift score per column"))
    if others:
        parts.append(others_html(others, len(others) if n_others is None else n_others))
    if timeline is not None:
        parts.append('<div style="margin-top:10px;font-weight:600">Across batches</div>')
        parts.append(svg_img(timeline, "drift and metrics across batches"))
    parts.append("</div>")
    return "".join(parts)


def others_html(others: Sequence[tuple[DriftColumn, str]], n_others: int) -> str:
    """The other columns' distributions, folded: each opens on its own, so a wide report
    costs the reader nothing until a column is asked for. When only some were drawn
    (the highest scores of ``n_others``), the summary says so."""
    items = "".join(
        f'<details style="margin:2px 0 0 12px"><summary style="cursor:pointer">'
        f"{esc(c.column)} "
        f'<span style="opacity:0.7">{esc(c.test or c.status)} {fmt_score(c.score)}'
        f"{' · drift' if c.drifted else ''}</span></summary>"
        f"{svg_img(svg, f'distribution of {c.column}')}</details>"
        for c, svg in others
    )
    count = f"the other {n_others} column{'s' if n_others != 1 else ''}"
    if len(others) < n_others:
        count += (
            f' <span style="font-weight:400;opacity:0.7">({len(others)} with the highest '
            f"scores; mlnb.monitoring.drift.panel.render_panel(report, max_folded={n_others}) "
            "draws all)</span>"
        )
    return (
        '<details style="margin-top:10px"><summary style="cursor:pointer;font-weight:600">'
        f"Reference vs current, {count}</summary>{items}</details>"
    )


def stats_html(c: DriftColumn) -> str:
    """One column's numbers as a two-column table (the widget's detail view)."""
    rows = [
        ("type", c.kind),
        ("test", c.test or "–"),
        ("score", fmt_score(c.score)),
        ("threshold", html.unescape(fmt_threshold(c))),
        ("status", c.status),
        ("statistic", fmt_score(c.statistic)),
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
    body = "".join(f"<tr><td {td}><b>{esc(k)}</b></td><td {td}>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table style="border-collapse:collapse;font-size:12px">{body}</table>'


def column_detail_html(c: DriftColumn, svg: str | None = None) -> str:
    """Chart (when drawn) and statistics for one column, side by side (used by the widget)."""
    plot = svg_img(svg, f"distribution of {c.column}") if svg is not None else ""
    return (
        f'<div style="font-family:{FONT}"><div style="display:inline-block;vertical-align:top;'
        f'margin-right:12px">{plot}</div><div style="display:inline-block;vertical-align:top;'
        f'margin-top:8px">{stats_html(c)}</div></div>'
    )


def report_header_html(report: DriftResult) -> str:
    """Verdict and warnings in the panel font (the widget's header)."""
    return f'<div style="font-family:{FONT}">{header_html(report)}{warnings_html(report)}</div>'


def report_table_html(report: DriftResult) -> str:
    """The per-column table in the panel font (the widget's table)."""
    return f'<div style="font-family:{FONT}">{table_html(report)}</div>'


# --------------------------------------------------------------------------- text


def verdict_text(report: DriftResult) -> str:
    """One line: how many columns drifted and whether the dataset did."""
    if report.too_little_data:
        return (
            f"too little data for a verdict: {report.n_rows_cur:,} row"
            f"{'' if report.n_rows_cur == 1 else 's'} vs {report.n_rows_ref:,} reference rows "
            "(no column had enough values to test)"
        )
    head = "DATASET DRIFT" if report.dataset_drift else "no dataset drift"
    return (
        f"{head}: {report.n_drifted} of {report.n_columns} columns drifted "
        f"({report.share_drifted:.0%}, threshold {report.threshold_share:.0%}); "
        f"{report.n_rows_cur:,} rows vs {report.n_rows_ref:,} reference rows"
    )


def report_text(report: DriftResult) -> str:
    """The report as a plain-text table for terminals and logs, notes underneath."""
    header = ("column", "type", "test", "score", "thresh", "drift", "missing Δ", "status")
    rows: list[tuple[str, ...]] = [header]
    for c in report.columns:
        rows.append(
            (
                _clip(c.column, 28) + ("" if c.role == "feature" else f" [{c.role}]"),
                c.kind,
                c.test or "-",
                _fmt(c.score),
                _fmt(c.threshold),
                "DRIFT" if c.drifted else "-",
                f"{c.missing_change:+.1%}" if c.missing_change else "0",
                c.status,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = [verdict_text(report), ""]
    for j, r in enumerate(rows):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    if multivariate_line(report):
        lines.insert(1, multivariate_line(report))
    notes = [f"  {c.column}: {c.note}" for c in report.columns if c.note]
    if notes:
        lines += ["", "notes:"] + notes
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.4g}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
