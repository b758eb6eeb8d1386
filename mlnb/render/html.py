"""HTML building blocks for notebook output: escaping, the palette, badges, tables
and :class:`Rendered`. Every user-provided string goes through :func:`esc`."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

GREEN = "#1a7f37"
RED = "#cf222e"
AMBER = "#9a6700"
GREY = "#6e7781"
STATUS_COLORS = {
    "finished": GREEN,
    "running": AMBER,
    "failed": RED,
    "crashed": RED,
    "interrupted": GREY,
    "production": GREEN,
    "staging": AMBER,
    "archived": GREY,
    "none": GREY,
    "passed": GREEN,
    "failed_gate": RED,
}


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def badge(text: str, color: str | None = None) -> str:
    """A small outlined pill; the colour follows the status name unless given."""
    color = color or STATUS_COLORS.get(str(text), GREY)
    return (
        f'<span style="display:inline-block;padding:0 6px;border-radius:8px;'
        f'border:1px solid {color};color:{color};font-size:11px;line-height:16px">{esc(text)}</span>'
    )


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table whose cells are already-escaped HTML.

    No script: untrusted notebooks, GitHub's preview and nbconvert drop scripts, so the
    rows come in the order the command sorted them (``--sort``) and read well as they are.
    """
    head = "".join(
        f'<th style="text-align:left;padding:3px 8px;border-bottom:1px solid {GREY}">{esc(h)}</th>'
        for h in headers
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td style="text-align:left;padding:2px 8px">{c}</td>' for c in r)
        + "</tr>"
        for r in rows
    )
    return (
        '<table class="mlnb-table" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


class Rendered:
    """Something with both an HTML and a text form, for ``display()``."""

    def __init__(self, html_text: str, text: str) -> None:
        self._html = html_text
        self._text = text

    def _repr_html_(self) -> str:
        """The notebook form."""
        return self._html

    def __repr__(self) -> str:
        return self._text
