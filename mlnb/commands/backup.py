"""``mlnb backup PATH`` / ``%mlnb backup PATH``: a consistent copy of the registry."""

from __future__ import annotations

import argparse

from mlnb.commands.spec import Context, Result
from mlnb.store.backup import backup_registry


def backup(ctx: Context, args: argparse.Namespace) -> Result:
    """Copy registry.db (online backup API) and the object store into a new folder."""
    record = backup_registry(ctx.registry, args.path)
    text = (
        f"backed up {ctx.registry.home} to {record['path']}: registry.db "
        f"{_size(record['database_bytes'])}, {record['objects']} objects "
        f"{_size(record['objects_bytes'])}."
    )
    if record["integrity"] != "ok":
        text += (
            f"\nthe copy is damaged like the registry it came from ({record['integrity']}); "
            "salvage it with `sqlite3 registry.db .recover | sqlite3 recovered.db`."
        )
        return Result(text, data=record, code=1)
    text += f"\nrestore it with: MLNB_HOME={record['path']} (or copy it back over the folder)"
    return Result(text, data=record)


def _size(n: int) -> str:
    """Bytes as B, KB, MB or GB."""
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
