"""IPython magics: a thin layer over :mod:`mlnb.commands`. ``%load_ext mlnb`` registers them.

``core.CoreMagics`` runs ``%%track`` (it needs the shell's cell execution and hooks);
``commands.CommandMagics`` holds every other magic, generated from the command catalog.
"""

from __future__ import annotations

import importlib
from typing import Any

MAGIC_CLASSES = [
    "mlnb.magics.core:CoreMagics",
    "mlnb.magics.commands:CommandMagics",
]


def register_all(ip: Any) -> None:
    """Register every magics class with the IPython shell ``ip``."""
    for target in MAGIC_CLASSES:
        module, _, cls = target.partition(":")
        ip.register_magics(getattr(importlib.import_module(module), cls))
