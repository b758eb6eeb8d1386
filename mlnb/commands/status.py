"""``%mlnb status`` / ``mlnb status``: where the registry is and what it holds."""

from __future__ import annotations

from typing import Any

from mlnb.render.tables import Rendered, esc


def status_dict(reg: Any, experiment: str) -> dict[str, Any]:
    return {
        "registry": str(reg.home),
        "schema_version": reg.db.schema_version(),
        "experiment": experiment,
        **reg.counts(),
    }


def status_report(reg: Any, experiment: str, tracking_every_cell: bool = False) -> Rendered:
    s = status_dict(reg, experiment)
    s["tracking every cell"] = "on" if tracking_every_cell else "off"
    labels = [
        ("registry", "registry"),
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
    ]
    text = "\n".join(f"{label:>20}: {s[key]}" for key, label in labels)
    rows = "".join(
        f"<tr><td style='color:#6e7781;padding:1px 8px;text-align:right'>{esc(label)}</td>"
        f"<td style='padding:1px 8px;text-align:left'>{esc(s[key])}</td></tr>"
        for key, label in labels
    )
    return Rendered(f"<table style='font-size:12px'>{rows}</table>", text)
