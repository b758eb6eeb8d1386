"""``%mlnb status`` / ``mlnb status``: where the registry is and what it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlnb.render.html import Rendered
from mlnb.render.status import status_view

if TYPE_CHECKING:
    from mlnb.store.registry import Registry


def status_dict(reg: Registry, experiment: str) -> dict[str, Any]:
    """Registry folder, schema version, current experiment and the record counts."""
    return {
        "registry": str(reg.home),
        "schema_version": reg.db.schema_version(),
        "experiment": experiment,
        **reg.counts(),
    }


def status_report(reg: Registry, experiment: str, tracking_every_cell: bool = False) -> Rendered:
    """The status as HTML and text, with whether every cell is tracked."""
    s = status_dict(reg, experiment)
    s["tracking every cell"] = "on" if tracking_every_cell else "off"
    return status_view(s)
