"""Module-level helpers of the public API that are not tied to a run."""

from __future__ import annotations

import os
import re
from typing import Any

from mlnb.errors import ValidationError
from mlnb.store.registry import Registry, get_registry

_RUN_REF = re.compile(r"^runs?:/?/?(\d+)(?:/(.+))?$")
_ARTIFACT_REF = re.compile(r"^artifact:(\d+)$")


def fingerprint(obj: Any, registry: Registry | None = None) -> str:
    """The data version id of a DataFrame, Series, ndarray, file or folder; records nothing.

    File hashes are cached in the registry by (inode, size, mtime) when one is open.
    """
    from mlnb.store.registry import current_registry
    from mlnb.tracking import fingerprint as fp

    reg = registry or current_registry()
    cache = reg.file_hash_cache() if reg is not None else None
    return fp.fingerprint(obj, cache)


def load_model(
    ref: str | int,
    trusted: list[str] | None = None,
    allow_pickle: bool = False,
    registry: Registry | str | os.PathLike[str] | None = None,
) -> Any:
    """Load a stored model, checking its hash first.

    ``ref`` is ``"churn@production"``, ``"churn@champion"``, ``"churn/3"`` (registered models),
    ``"runs:/12/model"`` (the model a run saved under that name) or ``"artifact:5"``.
    """
    reg = registry if isinstance(registry, Registry) else get_registry(registry)
    text = str(ref).strip()
    m = _ARTIFACT_REF.match(text)
    if m:
        return reg.load_artifact(int(m.group(1)), trusted=trusted, allow_pickle=allow_pickle)
    m = _RUN_REF.match(text)
    if m:
        run_id, name = int(m.group(1)), m.group(2)
        models = reg.db.run_models(run_id)
        if name:
            models = [a for a in models if a["name"] == name]
        if not models:
            raise ValidationError(
                f"run {run_id} saved no model{' named ' + repr(name) if name else ''}; "
                f"see `mlnb show {run_id}`."
            )
        return reg.load_artifact(models[-1]["id"], trusted=trusted, allow_pickle=allow_pickle)
    artifact_id = reg.resolve_model_ref(text)
    return reg.load_artifact(artifact_id, trusted=trusted, allow_pickle=allow_pickle)


def load_data(version: str, registry: Registry | str | os.PathLike[str] | None = None) -> Any:
    """The snapshot of a data version (recorded with ``snapshot=True``) as the original object."""
    reg = registry if isinstance(registry, Registry) else get_registry(registry)
    return reg.load_data(version)
