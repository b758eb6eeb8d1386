"""``%mlnb status`` / ``mlnb status``: where the registry is and what it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlnb.render.html import Rendered
from mlnb.render.status import status_view
from mlnb.store.connection import RESTORE_HINT

if TYPE_CHECKING:
    from mlnb.store.registry import Registry


def status_dict(reg: Registry, experiment: str) -> dict[str, Any]:
    """Registry folder, schema version, SQLite's quick_check, current experiment and the
    record counts."""
    integrity = reg.db.quick_check()
    counts = reg.counts() if integrity == "ok" else {}
    return {
        "registry": str(reg.home),
        "schema_version": reg.db.schema_version(),
        "integrity": integrity,
        "read_only": reg.read_only,
        "experiment": experiment,
        **counts,
    }


def status_report(s: dict[str, Any], tracking_every_cell: bool = False) -> Rendered:
    """The status as HTML and text, with whether every cell is tracked."""
    return status_view({**s, "tracking every cell": "on" if tracking_every_cell else "off"})


def damage_notice(s: dict[str, Any]) -> str:
    """What to do when the status found the registry damaged ('' when it is fine)."""
    if s["integrity"] == "ok":
        return ""
    return (
        f"the registry {s['registry']} is damaged ({s['integrity']}); mlnb refuses to write to "
        f"it. {RESTORE_HINT}"
    )
