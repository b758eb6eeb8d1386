"""Serialising models safely: skops by default, raw pickle only on explicit opt-in.

The types a skops file may instantiate are recorded in the registry when mlnb itself writes
the file; on load they come from the registry (or the caller), never from the file, and the
bytes are checked against their sha256 before anything is parsed.
"""

from __future__ import annotations

import io
import json
import pickle
import threading
import weakref
import zipfile
from collections.abc import Callable
from typing import Any

from mlnb.errors import UnsafeModelError, ValidationError
from mlnb.store.registry import Registry
from mlnb.tracking.estimators import class_name, fit_token
from mlnb.tracking.estimators import signature as model_signature

SKOPS = "skops"
PICKLE = "pickle"


def serialize(model: Any, allow_pickle: bool = False) -> tuple[bytes, str, list[str]]:
    """Canonical bytes, format and the trusted types needed to load them back.

    The same model gives the same bytes in any process (see :func:`canonical_skops`), so its
    sha256 is its identity and the object store keeps it once. Raises ValidationError when
    skops cannot store the object and pickle was not allowed.
    """
    try:
        data, schema = skops_bytes(model)
        return data, SKOPS, untrusted_types(schema, data)
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


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


class _Entries:
    """Collects the files skops writes while it walks a model, to be written once, in
    canonical form, by :func:`skops_bytes` (skops' SaveContext only calls these two)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def writestr(self, name: str, data: Any) -> None:
        self.files[name] = bytes(data)

    def namelist(self) -> list[str]:
        return list(self.files)


def skops_bytes(model: Any) -> tuple[bytes, dict[str, Any]]:
    """The model as a canonical skops file, built in one pass: skops' own walk of the model,
    then one zip written with ids numbered in order and a compact schema (skops' ``dumps``
    indents its schema, which costs it about half its time). Falls back to rewriting
    ``skops.io.dumps``' output on a skops version without these internals."""
    import skops
    import skops.io as sio

    try:
        from skops.io._utils import SaveContext, get_state

        entries = _Entries()
        context = SaveContext(zip_file=entries)
        state = get_state(model, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = skops.__version__
    except ImportError:
        return canonical_skops(sio.dumps(model))
    data = _write_canonical(state, entries.files)
    with zipfile.ZipFile(io.BytesIO(data)) as written:  # the schema exactly as a load sees it
        return data, json.loads(written.read(SCHEMA_FILE))


def canonical_skops(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """A skops file rewritten so that identical models give identical bytes: skops names
    objects and array files by their ``id()`` in the saving process and stamps each entry
    with the current time; here ids are numbered in schema order, files are named after
    that number and every entry carries the zip epoch. Returns the bytes and the schema."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = json.loads(src.read(SCHEMA_FILE))
        files = {name: src.read(name) for name in src.namelist() if name != SCHEMA_FILE}
    return _write_canonical(schema, files), schema


SCHEMA_FILE = "schema.json"


def _write_canonical(schema: dict[str, Any], files: dict[str, bytes]) -> bytes:
    """One stored (uncompressed) zip: the files renamed in schema order, then the schema."""
    ids: dict[int, int] = {}
    renamed: dict[str, str] = {}
    _renumber(schema, ids, renamed)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for old, new in renamed.items():
            _write_entry(dst, new, files[old])
        # compact: the C encoder (an indent would select the pure-Python one, ~20x slower)
        text = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        _write_entry(dst, SCHEMA_FILE, text.encode("utf-8"))
    return out.getvalue()


def _renumber(node: Any, ids: dict[int, int], files: dict[str, str]) -> None:
    """Replace process-specific ids and file names, in document order, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                node[key] = ids.setdefault(value, len(ids) + 1)
            elif key == "file" and isinstance(value, str):
                node[key] = files.setdefault(value, f"{len(files) + 1}.npy")
            else:
                _renumber(value, ids, files)
    elif isinstance(node, (list, tuple)):  # skops' own state holds tuples too
        for item in node:
            _renumber(item, ids, files)


def _write_entry(dst: zipfile.ZipFile, name: str, payload: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    dst.writestr(info, payload)


class _NoArrays:
    """Stands in for the zip while auditing: which types a file needs depends on its
    schema only, so the array bytes are not copied out to answer it."""

    def read(self, name: str) -> bytes:
        return b""


def untrusted_types(schema: dict[str, Any], data: bytes) -> list[str]:
    """The types of a skops file that skops does not trust by default (recorded as the
    file's trusted types), from its schema alone; the full audit when that is unavailable."""
    import skops.io as sio

    try:
        from skops.io._audit import get_tree
        from skops.io._utils import LoadContext

        context = LoadContext(src=_NoArrays(), protocol=int(schema["protocol"]))
        return sorted(get_tree(schema, context, trusted=None).get_unsafe_set())
    except Exception:  # another skops version: the public, slower route
        return sorted(sio.get_untrusted_types(data=data))


def deserialize(
    data: bytes,
    fmt: str,
    trusted_types: list[str],
    extra_trusted: list[str] | None = None,
    allow_pickle: bool = False,
    verify: Callable[[], None] | None = None,
) -> Any:
    """Load bytes; unknown types or pickle without opt-in are refused.

    skops audits the types while it parses (one parse): a type outside the registry's and
    the caller's lists stops the load before anything is built. ``verify`` (the object
    store's sha256 check, running beside the parse) is called before anything is built."""
    check = verify if verify is not None else _nothing_to_check
    if fmt == SKOPS:
        trusted = sorted(set(trusted_types) | set(extra_trusted or []))
        return _load_skops(data, trusted, check)
    if fmt == PICKLE:
        if not allow_pickle:
            raise UnsafeModelError(
                "refusing to load a pickle artifact: pickle runs arbitrary code on load. "
                "Pass allow_pickle=True only if you trust where this model came from."
            )
        check()
        return pickle.loads(data)  # noqa: S301 - explicit opt-in above
    raise UnsafeModelError(f"unknown model format {fmt!r}; cannot load it safely.")


def _nothing_to_check() -> None:
    """The ``verify`` of bytes that were checked already."""


def _load_skops(data: bytes, trusted: list[str], check: Callable[[], None]) -> Any:
    """skops' own ``loads`` (read the schema, build and audit the node tree, construct), with
    ``check`` run between the audit and the construction."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        try:
            from skops.io._audit import audit_tree, get_tree
            from skops.io._utils import read_schema
        except ImportError:  # another skops version: check first, then its public loads
            check()
            return sio.loads(data, trusted=trusted)
        with zipfile.ZipFile(io.BytesIO(data), "r") as zip_file:
            schema, load_context = read_schema(zip_file)
            tree = get_tree(schema, load_context, trusted=trusted)
            audit_tree(tree, trusted=trusted)
            check()
            return tree.construct()
    except UntrustedTypesFoundException:
        check()
        unknown = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted))
        raise UnsafeModelError(
            "refusing to load: the model file asks for types that are not trusted by the "
            f"registry or the caller: {', '.join(unknown)}. If you trust them, pass "
            "trusted=[...] to load_model."
        ) from None
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        check()
        raise UnsafeModelError(f"the model file is not a valid skops file: {exc}") from exc


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
    data, check = reg.objects.get_bytes_checking(artifact["object_hash"])
    return deserialize(
        data, artifact["format"], artifact["trusted_types"], trusted, allow_pickle, verify=check
    )


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
