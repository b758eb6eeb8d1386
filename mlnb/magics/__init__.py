"""IPython magics: a thin layer over mlnb's core. ``%load_ext mlnb`` registers them all."""

from __future__ import annotations

from typing import Any

# Each area contributes one Magics class; the list is registered in order.
MAGIC_CLASSES = [
    "mlnb.magics.core:CoreMagics",
    "mlnb.magics.models:ModelMagics",
    "mlnb.magics.monitoring:MonitorMagics",
    "mlnb.magics.pipelines:PipelineMagics",
]


def register_all(ip: Any) -> None:
    import importlib

    for spec in MAGIC_CLASSES:
        module, _, cls = spec.partition(":")
        ip.register_magics(getattr(importlib.import_module(module), cls))
