"""Small SVG charts drawn with the standard library: scales, "nice" ticks, axes, lines, stairs
and bars, as text, embedded in HTML as ``<img>`` data URLs.

The notebook panels use these instead of matplotlib: a chart is a few kilobytes of text made
in about a millisecond, with no import to pay on the first panel of a session. Images (not
inline ``<svg>``) because JupyterLab's sanitizer of untrusted outputs and most previewers
strip inline SVG but keep ``<img>`` data URLs. The background stays transparent and the ink
is a mid grey, so a chart reads on light and dark notebooks alike.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape as _xml_escape

INK = "#768390"  # text, ticks and axes: readable on white and on a dark notebook
FONT = "system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif"
CHAR_WIDTH = 0.58  # average glyph width in ems, to fit labels without measuring text

# characters XML 1.0 does not allow (a column name may hold them): drawn as U+FFFD
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = str.maketrans("\t\n\r", "   ")  # SVG text is one line


def num(value: float) -> str:
    """A coordinate in at most one decimal, without a trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def xml(text: str) -> str:
    """Text safe inside SVG elements and single- or double-quoted attributes, on one line."""
    text = _NOT_XML.sub("\ufffd", str(text)).translate(_LINE_BREAKS)
    return _xml_escape(text, {'"': "&quot;", "'": "&apos;"})


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = str(text).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def data_url(svg: str) -> str:
    """An SVG document as a base64 ``data:`` URL for an ``<img src>``: the form sanitizers
    and notebook previewers pass on as they do base64 PNGs."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def document(width: float, height: float, body: Iterable[str], title: str = "") -> str:
    """A standalone SVG document: transparent background, grey text in the panel font."""
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{num(width)}' height='{num(height)}' "
        f"viewBox='0 0 {num(width)} {num(height)}' font-family='{FONT}' font-size='9' "
        f"fill='{INK}'>"
    )
    label = f"<title>{xml(title)}</title>" if title else ""
    return head + label + "".join(body) + "</svg>"


# --------------------------------------------------------------------------- ticks


def nice_step(span: float, count: int) -> float:
    """The smallest step of 1, 2, 2.5 or 5 times a power of ten that cuts ``span`` into at
    most ``count + 1`` parts."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    power = 10 ** math.floor(math.log10(span / max(count, 1)))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if span / (factor * power) <= count + 1:
            return factor * power
    return 10 * power


def ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values within ``[low, high]``, about ``count`` of them."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    step = nice_step(high - low, count)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(low / step - 1e-9) * step
    out: list[float] = []
    value = first
    # (bounded: a step below the floats' resolution at this magnitude would never advance)
    while value <= high + step * 1e-9 and len(out) <= count + 2:
        out.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + len(out) * step
    return out


def tick_label(value: float, step: float) -> str:
    """A tick value with just the digits that tell it from its neighbours ``step`` away:
    fixed decimals, or scientific notation for huge and tiny values."""
    step = abs(step) if step and math.isfinite(step) else 1.0
    extra = 1 if round(step / 10 ** math.floor(math.log10(step) + 1e-9), 6) % 1 else 0  # 2.5
    magnitude = abs(value)
    if magnitude >= 1e6 or 0 < magnitude < 1e-4:
        digits = math.floor(math.log10(magnitude)) - math.floor(math.log10(step) + 1e-9) + 1
        return f"{value:.{max(digits + extra, 1)}g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + extra)
    return f"{value:.{decimals}f}"


def padded(values: Iterable[float | None], pad: float = 0.06) -> tuple[float, float]:
    """The range of the finite ``values`` widened by ``pad`` of its span (never empty)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return (0.0, 1.0)
    low, high = min(finite), max(finite)
    if high - low < 1e-12:
        half = abs(low) * 0.05 or 0.5
        low, high = low - half, high + half
    span = high - low
    return low - span * pad, high + span * pad


# --------------------------------------------------------------------------- plot area


class Plot:
    """A rectangle of the chart with linear scales from data to pixels."""

    def __init__(
        self,
        left: float,
        top: float,
        width: float,
        height: float,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
    ) -> None:
        self.left, self.top, self.width, self.height = left, top, width, height
        self.xlim, self.ylim = xlim, ylim
        self._xk = width / ((xlim[1] - xlim[0]) or 1.0)
        self._yk = height / ((ylim[1] - ylim[0]) or 1.0)

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, value: float) -> float:
        return self.left + (value - self.xlim[0]) * self._xk

    def y(self, value: float) -> float:
        return self.bottom - (value - self.ylim[0]) * self._yk

    def point(self, x: float, y: float) -> str:
        return f"{num(self.x(x))} {num(self.y(y))}"

    # ------------------------------------------------------------------ axes

    def frame(self) -> str:
        """The left and bottom spines."""
        return (
            f"<path d='M{num(self.left)} {num(self.top)}V{num(self.bottom)}H{num(self.right)}' "
            f"fill='none' stroke='{INK}' stroke-width='0.8'/>"
        )

    def xaxis(
        self,
        values: Sequence[float],
        labels: Sequence[str] | None = None,
        grid: bool = False,
        show_labels: bool = True,
    ) -> str:
        """Ticks (and labels) under the plot at data positions ``values``."""
        step = values[1] - values[0] if len(values) > 1 else 1.0
        texts = labels if labels is not None else [tick_label(v, step) for v in values]
        xs = [num(self.x(v)) for v in values]
        out = []
        if grid:
            out.append(_grid("".join(f"M{x} {num(self.top)}V{num(self.bottom)}" for x in xs)))
        out.append(
            f"<path d='{''.join(f'M{x} {num(self.bottom)}v3' for x in xs)}' stroke='{INK}' "
            "stroke-width='0.8'/>"
        )
        if show_labels:
            y = num(self.bottom + 12)
            out.append(
                "<g text-anchor='middle'>"
                + "".join(
                    f"<text x='{x}' y='{y}'>{xml(t)}</text>" for x, t in zip(xs, texts, strict=True)
                )
                + "</g>"
            )
        return "".join(out)

    def yaxis(self, values: Sequence[float], grid: bool = False) -> str:
        """Ticks and labels left of the plot at data positions ``values``."""
        step = values[1] - values[0] if len(values) > 1 else 1.0
        ys = [num(self.y(v)) for v in values]
        left = num(self.left)
        out = []
        if grid:
            out.append(_grid("".join(f"M{left} {y}H{num(self.right)}" for y in ys)))
        out.append(
            f"<path d='{''.join(f'M{left} {y}h-3' for y in ys)}' stroke='{INK}' "
            "stroke-width='0.8'/>"
        )
        x = num(self.left - 5)
        out.append(
            "<g text-anchor='end'>"
            + "".join(
                f"<text x='{x}' y='{y}' dy='3'>{xml(tick_label(v, step))}</text>"
                for v, y in zip(values, ys, strict=True)
            )
            + "</g>"
        )
        return "".join(out)

    def ylabel(self, text: str, offset: float = 38) -> str:
        """A label turned upright along the left of the plot."""
        cx, cy = num(self.left - offset), num(self.top + self.height / 2)
        return (
            f"<text transform='translate({cx} {cy}) rotate(-90)' text-anchor='middle'>"
            f"{xml(text)}</text>"
        )

    def xlabel(self, text: str) -> str:
        """A label centred under the x tick labels."""
        return (
            f"<text x='{num(self.left + self.width / 2)}' y='{num(self.bottom + 25)}' "
            f"text-anchor='middle'>{xml(text)}</text>"
        )

    # ------------------------------------------------------------------ marks

    def polyline(
        self,
        xs: Sequence[float],
        ys: Sequence[float | None],
        color: str,
        width: float = 1.5,
        dash: str = "",
    ) -> str:
        """A line through the points, broken where a value is missing (None or NaN)."""
        parts: list[str] = []
        pen_down = False
        for x, y in zip(xs, ys, strict=True):
            if y is None or not math.isfinite(y):
                pen_down = False
                continue
            parts.append(("L" if pen_down else "M") + self.point(x, y))
            pen_down = True
        if not parts:
            return ""
        dashes = f" stroke-dasharray='{dash}'" if dash else ""
        return (
            f"<path d='{''.join(parts)}' fill='none' stroke='{color}' "
            f"stroke-width='{num(width)}' stroke-linejoin='round'{dashes}/>"
        )

    def steps(
        self,
        xs: Sequence[float],
        ys: Sequence[float | None],
        color: str,
        width: float = 1.0,
        dash: str = "4 3",
    ) -> str:
        """A step line: each value holds from its x to the next one (a threshold over time)."""
        parts: list[str] = []
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if y is None or not math.isfinite(y):
                continue
            end = xs[i + 1] if i + 1 < len(xs) else x
            parts.append(f"M{self.point(x, y)}H{num(self.x(end))}")
        if not parts:
            return ""
        return (
            f"<path d='{''.join(parts)}' fill='none' stroke='{color}' stroke-width='{num(width)}' "
            f"stroke-dasharray='{dash}'/>"
        )

    def band(
        self,
        xs: Sequence[float],
        lows: Sequence[float | None],
        highs: Sequence[float | None],
        color: str,
        opacity: float = 0.18,
    ) -> str:
        """A shaded area between ``lows`` and ``highs``, in runs where both are known."""
        runs: list[list[tuple[float, float, float]]] = [[]]
        for x, lo, hi in zip(xs, lows, highs, strict=True):
            if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
                runs.append([])
            else:
                runs[-1].append((x, lo, hi))
        paths = []
        for run in runs:
            if len(run) == 1:  # a single batch: a short bar instead of an area
                x, lo, hi = run[0]
                paths.append(f"M{num(self.x(x) - 2)} {num(self.y(hi))}h4V{num(self.y(lo))}h-4Z")
            elif run:
                top = "L".join(self.point(x, hi) for x, _, hi in run)
                bottom = "L".join(self.point(x, lo) for x, lo, _ in reversed(run))
                paths.append(f"M{top}L{bottom}Z")
        if not paths:
            return ""
        return f"<path d='{''.join(paths)}' fill='{color}' fill-opacity='{opacity}' stroke='none'/>"

    def dots(
        self, xs: Sequence[float], ys: Sequence[float | None], colors: Sequence[str], r: float = 3
    ) -> str:
        """A filled circle per known point, each in its own colour."""
        return "".join(
            f"<circle cx='{num(self.x(x))}' cy='{num(self.y(y))}' r='{num(r)}' fill='{c}'/>"
            for x, y, c in zip(xs, ys, colors, strict=True)
            if y is not None and math.isfinite(y)
        )

    def hline(self, value: float, color: str, dash: str = "4 3", width: float = 1.0) -> str:
        """A horizontal rule across the plot at ``value``."""
        py = num(self.y(value))
        return (
            f"<path d='M{num(self.left)} {py}H{num(self.right)}' stroke='{color}' "
            f"stroke-width='{num(width)}' stroke-dasharray='{dash}'/>"
        )


def _grid(path: str) -> str:
    return f"<path d='{path}' stroke='{INK}' stroke-opacity='0.25' stroke-width='0.6'/>"


def legend(x: float, y: float, entries: Sequence[tuple[str, str, str]], max_width: float) -> str:
    """A row of legend entries from ``x`` at baseline ``y``: (kind, colour, label) with kind
    one of ``line``, ``dash``, ``dotted``, ``dot``, ``box``; entries that do not fit are left out."""
    out = []
    at = x
    for kind, color, label in entries:
        width = 18 + len(label) * 9 * CHAR_WIDTH + 10
        if at + width > x + max_width:
            break
        if kind == "box":
            out.append(
                f"<rect x='{num(at)}' y='{num(y - 7)}' width='12' height='8' fill='{color}' "
                "fill-opacity='0.55'/>"
            )
        elif kind == "dot":
            out.append(f"<circle cx='{num(at + 6)}' cy='{num(y - 3)}' r='3' fill='{color}'/>")
        else:
            dash = {"dash": " stroke-dasharray='4 3'", "dotted": " stroke-dasharray='2 2.5'"}.get(
                kind, ""
            )
            out.append(
                f"<path d='M{num(at)} {num(y - 3)}h14' stroke='{color}' stroke-width='1.6'{dash}/>"
            )
        out.append(f"<text x='{num(at + 18)}' y='{num(y)}'>{xml(label)}</text>")
        at += width
    return "".join(out)
