"""Serialising models safely: skops by default, raw pickle only on explicit opt-in.

The types a skops file may instantiate are recorded in the registry when mlnb itself writes
the file; on load they come from the registry (or the caller), never from the file, and the
bytes are checked against their sha256 before anything is parsed.
"""

from __future__ import annotations

import io
import pickle
import threading
import weakref
from typing import Any

from mlnb.errors import UnsafeModelError, ValidationError
from mlnb.store.registry import Registry
from mlnb.tracking.estimators import class_name, fit_token
from mlnb.tracking.estimators import signature as model_signature

SKOPS = "skops"
PICKLE = "pickle"


def serialize(model: Any, allow_pickle: bool = False) -> tuple[bytes, str, list[str]]:
    """Bytes, format and the trusted types needed to load them back.

    Raises ValidationError when skops cannot store the object and pickle was not allowed.
    """
    try:
        import skops.io as sio

        data = sio.dumps(model)
        trusted = sorted(sio.get_untrusted_types(data=data))
        return data, SKOPS, trusted
    except Exception as exc:
        if not allow_pickle:
            raise ValidationError(
                f"skops cannot store a {type(model).__name__} ({type(exc).__name__}: {exc}). "
                "Pass allow_pickle=True (mlnb.log_model / --allow-pickle) to store it with "
                "pickle, which runs code on load; only do that for models you trust."
            ) from exc
    buf = io.BytesIO()
    pickle.dump(model, buf, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.getvalue(), PICKLE, []


def deserialize(
    data: bytes,
    fmt: str,
    trusted_types: list[str],
    extra_trusted: list[str] | None = None,
    allow_pickle: bool = False,
) -> Any:
    """Load verified bytes; unknown types or pickle without opt-in are refused."""
    if fmt == SKOPS:
        import skops.io as sio

        trusted = sorted(set(trusted_types) | set(extra_trusted or []))
        try:
            found = set(sio.get_untrusted_types(data=data))
        except Exception as exc:
            raise UnsafeModelError(f"the model file is not a valid skops file: {exc}") from exc
        unknown = sorted(found - set(trusted))
        if unknown:
            raise UnsafeModelError(
                "refusing to load: the model file asks for types that are not trusted by the "
                f"registry or the caller: {', '.join(unknown)}. If you trust them, pass "
                "trusted=[...] to load_model."
            )
        return sio.loads(data, trusted=trusted)
    if fmt == PICKLE:
        if not allow_pickle:
            raise UnsafeModelError(
                "refusing to load a pickle artifact: pickle runs arbitrary code on load. "
                "Pass allow_pickle=True only if you trust where this model came from."
            )
        return pickle.loads(data)  # noqa: S301 - explicit opt-in above
    raise UnsafeModelError(f"unknown model format {fmt!r}; cannot load it safely.")


# -- stored models -----------------------------------------------------------------------


def save_model(
    reg: Registry,
    model: Any,
    name: str,
    run_id: int | None = None,
    signature: dict[str, Any] | None = None,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """Serialise a model into the object store and record it as an artifact of a run."""
    data, fmt, trusted = serialize(model, allow_pickle=allow_pickle)
    digest = reg.objects.put_bytes(data)
    artifact: dict[str, Any] = {
        "run_id": run_id,
        "name": name,
        "object_hash": digest,
        "format": fmt,
        "flavor": "sklearn" if type(model).__module__.startswith("sklearn") else "python",
        "class_name": class_name(model),
        "signature": signature if signature is not None else model_signature(model),
        "trusted_types": trusted,
        "size": len(data),
    }
    artifact_id = reg.models.add_artifact(artifact)
    artifact["id"] = artifact_id
    _saved.remember(reg, model, artifact_id)
    return artifact


def load_artifact(
    reg: Registry,
    artifact_id: int,
    trusted: list[str] | None = None,
    allow_pickle: bool = False,
) -> Any:
    """Load a stored model after checking its sha256; types trusted by registry or caller."""
    artifact = reg.models.artifact(artifact_id)
    data = reg.objects.get_bytes(artifact["object_hash"])
    return deserialize(data, artifact["format"], artifact["trusted_types"], trusted, allow_pickle)


class _SavedModels:
    """Remembers which artifact each in-memory model was saved as (per registry).

    A model fitted in a ``%%track`` cell is saved as an artifact of that run; registering
    the same object afterwards reuses that artifact, so the version's lineage leads to the
    training cell and its data instead of to a new, empty run. A refit invalidates the entry.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[weakref.ref[Any], int, int]] = {}
        self._lock = threading.Lock()

    def remember(self, registry: Registry, model: Any, artifact_id: int) -> None:
        try:
            ref = weakref.ref(model)
        except TypeError:
            return
        with self._lock:
            self._entries[(str(registry.home), id(model))] = (ref, fit_token(model), artifact_id)

    def artifact_for(self, registry: Registry, model: Any) -> int | None:
        with self._lock:
            entry = self._entries.get((str(registry.home), id(model)))
        if entry is None:
            return None
        ref, token, artifact_id = entry
        if ref() is not model or token != fit_token(model):
            return None
        return artifact_id


_saved = _SavedModels()


def saved_artifact_id(registry: Registry, model: Any) -> int | None:
    """The artifact this in-memory model was saved as in ``registry`` (None if refitted since)."""
    return _saved.artifact_for(registry, model)
