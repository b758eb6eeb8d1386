"""``status`` as text and HTML: where the registry is and what it holds, one labelled line
per count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlnb.render.html import Rendered, esc

STATUS_LABELS: tuple[tuple[str, str], ...] = (
    ("registry", "registry"),
    ("integrity", "integrity"),
    ("experiment", "experiment"),
    ("tracking every cell", "tracking every cell"),
    ("runs", "runs"),
    ("running", "running now"),
    ("failed", "failed"),
    ("crashed", "crashed"),
    ("data_versions", "data versions"),
    ("registered_models", "registered models"),
    ("production_versions", "in production"),
    ("monitors", "monitors"),
    ("open_alerts", "open alerts"),
    ("pipelines", "pipelines"),
)


def status_text(s: Mapping[str, Any]) -> str:
    """The registry status as right-aligned ``label: value`` lines."""
    return "\n".join(f"{label:>20}: {s[key]}" for key, label in STATUS_LABELS if key in s)


def status_html(s: Mapping[str, Any]) -> str:
    """The registry status as a two-column HTML table, values escaped."""
    rows = "".join(
        f"<tr><td style='color:#6e7781;padding:1px 8px;text-align:right'>{esc(label)}</td>"
        f"<td style='padding:1px 8px;text-align:left'>{esc(s[key])}</td></tr>"
        for key, label in STATUS_LABELS
        if key in s
    )
    return f"<table style='font-size:12px'>{rows}</table>"


def status_view(s: Mapping[str, Any]) -> Rendered:
    """Both forms of the registry status, for ``display()``."""
    return Rendered(status_html(s), status_text(s))
