"""Serialising models safely: skops by default, raw pickle only on explicit opt-in.

The types a skops file may instantiate are recorded in the registry when mlnb itself writes
the file; on load they come from the registry (or the caller), never from the file, and the
bytes are checked against their sha256 before anything is parsed.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from mlnb.errors import UnsafeModelError, ValidationError

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
