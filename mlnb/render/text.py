"""Plain-text rendering for terminals: aligned tables and the value, time and id formats
shared by the text and HTML views."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any


def fmt_time(ts: float | None) -> str:
    """A UNIX time as local ``YYYY-MM-DD HH:MM:SS`` ('' for None)."""
    if ts is None:
        return ""
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(value: Any, digits: int = 4) -> str:
    """A param or metric value, short: floats to ``digits`` significant digits, dicts as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:.4e}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def fmt_duration(start: float | None, end: float | None) -> str:
    """The time between two UNIX times in ms, s or min ('' when either is missing)."""
    if start is None or end is None:
        return ""
    s = end - start
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def short_id(version_id: str | None, n: int = 12) -> str:
    """The first characters of a content id (with its prefix), enough to tell ids apart."""
    return "" if not version_id else str(version_id)[: n + 3]


def text_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A left-aligned plain-text table (what the CLI prints)."""
    cells = [[fmt_value(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = min(max(widths[i], len(c)), 60)

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            _clip(v, widths[i]).ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
