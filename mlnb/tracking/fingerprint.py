"""Data fingerprints: a version id from the full content plus the schema.

Unlike digests that sample the first rows, every value counts: a change anywhere gives a new
id, and identical content gives the same id in any session. Columns are hashed straight from
their memory buffers with xxh3-128 (near memory speed); strings go through Arrow buffers.
File hashes are cached by (inode, size, mtime) so an unchanged file is not read twice.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import xxhash

from mlnb.errors import ValidationError
from mlnb.tracking.files import PREFIX, FileHashCache, fingerprint_path, update_text


def is_data(obj: Any) -> bool:
    """True for the objects mlnb versions as data: DataFrames, Series and non-empty ndarrays."""
    if isinstance(obj, np.ndarray):
        return obj.ndim > 0
    mod = type(obj).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        return isinstance(obj, (pd.DataFrame, pd.Series))
    return False


# -- hashing each buffer once ------------------------------------------------------------
#
# Two memories spare work without ever trusting a buffer that could have changed:
# * inside one snapshot (``with one_snapshot():``, e.g. a tracked cell's inputs, taken while
#   no user code runs) an object or a column buffer met twice (``dfa = df0``, ``X = df[cols]``)
#   is hashed once;
# * Arrow string and binary arrays are immutable (an edit through pandas makes a new array,
#   and no pandas or pyarrow conversion lays them over memory that Python code can write), so
#   the digest of such a column is kept for as long as that very array is alive, across cells.
# Nothing else is trusted across fingerprints, because something can write it in place at the
# same address: NumPy buffers through ``Series.array[i] = v`` (even under pandas 3's
# copy-on-write), the array a frame was built from with ``copy=False``, pandas 2's
# ``df.values`` views, or a ``to_numpy()`` view made writeable again; numeric Arrow arrays
# through the NumPy array ``pa.array`` took without copying. The kernel offers no cheaper
# proof (no soft-dirty page bits), and xxh3 reads memory as fast as ``numpy.sum`` does, so a
# column that cannot be proven unchanged is simply hashed again at memory speed.

_snapshot = threading.local()
_ARROW_DIGESTS: dict[int, tuple[weakref.ref[Any], bytes]] = {}
_ARROW_DIGESTS_MAX = 4096
_arrow_lock = threading.Lock()


@contextlib.contextmanager
def one_snapshot() -> Iterator[None]:
    """Fingerprints taken inside share work: each object and column buffer is hashed once.
    Only for moments when no user code runs between the fingerprints."""
    if getattr(_snapshot, "memo", None) is not None:
        yield
        return
    _snapshot.memo = {}
    _snapshot.keep = []  # keeps memoised objects alive so their ids are not reused
    try:
        yield
    finally:
        _snapshot.memo = None
        _snapshot.keep = None


def _memo() -> dict[Any, Any] | None:
    return getattr(_snapshot, "memo", None)


def _remember_arrow(chunked: Any, digest: bytes) -> None:
    with _arrow_lock:
        if len(_ARROW_DIGESTS) >= _ARROW_DIGESTS_MAX:
            for key in [k for k, (ref, _) in _ARROW_DIGESTS.items() if ref() is None]:
                del _ARROW_DIGESTS[key]
            if len(_ARROW_DIGESTS) >= _ARROW_DIGESTS_MAX:
                _ARROW_DIGESTS.clear()
        try:
            _ARROW_DIGESTS[id(chunked)] = (weakref.ref(chunked), digest)
        except TypeError:
            pass


def _known_arrow(chunked: Any) -> bytes | None:
    with _arrow_lock:
        entry = _ARROW_DIGESTS.get(id(chunked))
    if entry is None or entry[0]() is not chunked:
        return None
    return entry[1]


def describe(obj: Any) -> dict[str, Any]:
    """Fingerprint plus the schema of an in-memory data object (what the registry stores)."""
    memo = _memo()
    if memo is None:
        return _describe(obj)
    key = ("object", id(obj))
    if key not in memo:
        memo[key] = _describe(obj)
        _snapshot.keep.append(obj)
    return dict(memo[key])


def _describe(obj: Any) -> dict[str, Any]:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        schema = {
            "columns": [str(c) for c in obj.columns],
            "dtypes": [str(t) for t in obj.dtypes],
            "index": str(type(obj.index).__name__),
        }
        return {
            "id": fingerprint_frame(obj),
            "kind": "dataframe",
            "schema": schema,
            "n_rows": int(obj.shape[0]),
            "n_cols": int(obj.shape[1]),
            "nbytes": int(obj.memory_usage(index=False, deep=False).sum()),
        }
    if isinstance(obj, pd.Series):
        return {
            "id": fingerprint_series(obj),
            "kind": "series",
            "schema": {"name": str(obj.name), "dtype": str(obj.dtype)},
            "n_rows": int(obj.shape[0]),
            "n_cols": 1,
            "nbytes": int(obj.memory_usage(index=False, deep=False)),
        }
    if isinstance(obj, np.ndarray):
        return {
            "id": fingerprint_array(obj),
            "kind": "ndarray",
            "schema": {"dtype": str(obj.dtype), "shape": list(obj.shape)},
            "n_rows": int(obj.shape[0]) if obj.ndim else 1,
            "n_cols": int(obj.shape[1]) if obj.ndim > 1 else 1,
            "nbytes": int(obj.nbytes),
        }
    raise ValidationError(
        f"cannot version an object of type {type(obj).__name__}: expected a pandas DataFrame "
        "or Series, a numpy array, or a path to a file or folder."
    )


def fingerprint(obj: Any, file_cache: FileHashCache | None = None) -> str:
    """The data version id of a DataFrame, Series, ndarray, file or folder (nothing recorded)."""
    if isinstance(obj, (str, os.PathLike)):
        return fingerprint_path(obj, file_cache)
    return str(describe(obj)["id"])


# -- in-memory objects -------------------------------------------------------------------


def fingerprint_frame(df: Any) -> str:
    h = xxhash.xxh3_128()
    update_text(h, "frame")
    update_text(h, repr(df.shape))
    _hash_index(h, df.index)
    for name, dtype in zip(df.columns, df.dtypes, strict=True):
        update_text(h, repr(name))
        update_text(h, str(dtype))
    for i in range(df.shape[1]):
        h.update(_column_digest(df.iloc[:, i]))
    return PREFIX + h.hexdigest()


def _column_digest(s: Any) -> bytes:
    """The 128-bit digest of one column's values, from memory when provably unchanged."""
    chunked = _immutable_arrow(s)
    if chunked is not None:
        known = _known_arrow(chunked)
        if known is not None:
            return known
        digest = _fresh_column_digest(s)
        _remember_arrow(chunked, digest)
        return digest
    memo = _memo()
    key = _buffer_key(s) if memo is not None else None
    if key is None or memo is None:
        return _fresh_column_digest(s)
    if key not in memo:
        memo[key] = _fresh_column_digest(s)
        _snapshot.keep.append(s)
    return bytes(memo[key])


def _immutable_arrow(s: Any) -> Any:
    """The Arrow array behind a string or binary column (immutable), else None."""
    array = s.array
    if "Arrow" not in type(array).__name__ or not hasattr(array, "__arrow_array__"):
        return None
    import pyarrow as pa

    chunked = array.__arrow_array__()
    t = chunked.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return chunked
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return chunked
    return None


def _buffer_key(s: Any) -> tuple[Any, ...] | None:
    """Where a NumPy-backed column's values live (address, shape, strides, dtype)."""
    if not isinstance(s.dtype, np.dtype):
        return None
    values = s.to_numpy(copy=False)
    data = values.__array_interface__["data"][0]
    return ("buffer", data, values.shape, values.strides, values.dtype.str)


def _fresh_column_digest(s: Any) -> bytes:
    h = xxhash.xxh3_128()
    _hash_column(h, s)
    return bytes(h.digest())


def fingerprint_series(s: Any) -> str:
    h = xxhash.xxh3_128()
    update_text(h, "series")
    update_text(h, repr(s.name))
    update_text(h, str(s.dtype))
    update_text(h, repr(s.shape))
    _hash_index(h, s.index)
    _hash_column(h, s)
    return PREFIX + h.hexdigest()


def fingerprint_array(a: np.ndarray) -> str:
    h = xxhash.xxh3_128()
    update_text(h, "ndarray")
    update_text(h, str(a.dtype))
    update_text(h, repr(a.shape))
    _hash_ndarray(h, a)
    return PREFIX + h.hexdigest()


def _hash_index(h: Any, index: Any) -> None:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        update_text(h, f"range:{index.start}:{index.stop}:{index.step}:{index.name!r}")
        return
    update_text(h, f"index:{type(index).__name__}:{index.names!r}")
    if isinstance(index, pd.MultiIndex):
        for level in range(index.nlevels):
            _hash_column(h, pd.Series(index.get_level_values(level)))
    else:
        _hash_column(h, pd.Series(index))


def _hash_ndarray(h: Any, a: np.ndarray) -> None:
    if a.dtype.kind == "O":
        _hash_objects(h, a.ravel(order="C"))
        return
    if not a.flags.c_contiguous and a.ndim and a.size:
        _hash_in_row_chunks(h, a)
        return
    a = np.ascontiguousarray(a)
    h.update(a.data.cast("B") if a.dtype.kind in "US" else a.view(np.uint8).data.cast("B"))


_CHUNK_BYTES = 1 << 20


def _hash_in_row_chunks(h: Any, a: np.ndarray) -> None:
    """The C-order bytes of a strided or Fortran-order array (``df.to_numpy()``), a slab of
    rows at a time: the same digest as one contiguous copy, without that copy's memory."""
    row_bytes = max(1, a.nbytes // a.shape[0])
    rows = max(1, _CHUNK_BYTES // row_bytes)
    for start in range(0, a.shape[0], rows):
        slab = np.ascontiguousarray(a[start : start + rows])
        h.update(
            slab.data.cast("B") if a.dtype.kind in "US" else slab.view(np.uint8).data.cast("B")
        )


def _hash_column(h: Any, s: Any) -> None:
    """Hash one column's values (not its name) by the cheapest exact route for its dtype."""
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(s.cat.codes)
        update_text(h, f"cat:{dtype.ordered}")
        _hash_column(h, pd.Series(dtype.categories))
        _hash_ndarray(h, codes)
        return
    if isinstance(dtype, np.dtype):
        values = s.to_numpy(copy=False)
        if dtype.kind == "M" or dtype.kind == "m":
            values = values.view(np.int64)
        _hash_ndarray(h, values)
        return
    arrow_arr = _as_arrow(s)
    if arrow_arr is not None:
        _hash_arrow(h, arrow_arr)
        return
    array = s.array
    if hasattr(array, "_data") and hasattr(array, "_mask"):  # masked extension arrays (Int64...)
        mask = np.asarray(array._mask)
        data = np.where(mask, np.zeros(1, dtype=array._data.dtype), array._data)
        _hash_ndarray(h, np.ascontiguousarray(data))
        _hash_ndarray(h, mask)
        return
    _hash_objects(h, np.asarray(s, dtype=object))


def _as_arrow(s: Any) -> Any:
    """The column as one pyarrow Array when it is Arrow-backed (pandas' str dtype), else None."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    array = s.array
    if not hasattr(array, "__arrow_array__"):
        return None
    kind = type(array).__name__
    if "Arrow" not in kind:
        return None
    chunked = array.__arrow_array__()
    if isinstance(chunked, pa.ChunkedArray):
        chunked = chunked.combine_chunks()
    return chunked


def _hash_arrow(h: Any, arr: Any) -> None:
    """Hash an Arrow array canonically: the same values give the same bytes whatever the
    chunking, slicing or 32/64-bit offset width."""
    import pyarrow as pa

    t = arr.type
    update_text(h, f"arrow:{len(arr)}:{arr.null_count}")
    if arr.null_count:
        nulls = arr.is_null().to_numpy(zero_copy_only=False)
        _hash_ndarray(h, np.flatnonzero(nulls).astype(np.int64))
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    ):
        bufs = arr.buffers()
        wide = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)
        offsets = offsets[arr.offset : arr.offset + len(arr) + 1]
        if len(offsets) == 0:
            return
        start, end = int(offsets[0]), int(offsets[-1])
        _hash_ndarray(h, (offsets - offsets[0]).astype(np.int64, copy=False))
        if bufs[2] is not None and end > start:
            h.update(memoryview(bufs[2])[start:end])
        return
    if pa.types.is_null(t):
        return  # nothing but nulls: the length and null count above say it all
    if pa.types.is_boolean(t):
        values = arr.fill_null(False) if arr.null_count else arr
        _hash_ndarray(h, values.to_numpy(zero_copy_only=False).astype(np.uint8))
        return
    if pa.types.is_primitive(t):
        values = arr.fill_null(0) if arr.null_count else arr
        _hash_ndarray(h, values.to_numpy(zero_copy_only=False))
        return
    _hash_reprs(h, arr.to_pylist())


# Python types whose values Arrow converts exactly (no rounding, no time-zone folding).
_ARROW_EXACT = (str, int, float, bool, bytes)
_TYPE_OF = np.frompyfunc(type, 1, 1)  # the type of every value, in one C loop
_FEW_TYPES = 8  # up to this many types in a column, one comparison pass per type


def _hash_objects(h: Any, values: np.ndarray) -> None:
    """Object arrays: one Arrow conversion when the values share a type (fast); mixed types
    are split by type, each group hashed as (type, positions, values) so no value of one type
    can pass for another (1 vs 1.0 vs "1"), with no per-value repr for the common types."""
    groups = _positions_by_type(values)
    kinds = set(groups)
    real = kinds - {type(None)}
    if len(real) <= 1 and float not in real and real <= set(_ARROW_EXACT):
        arr = _exact_arrow(values)
        if arr is not None:
            update_text(h, f"objects-as:{arr.type}")
            _hash_arrow(h, arr)
            return
    if len(kinds) == 1:
        update_text(h, "objects-repr")
        _hash_reprs(h, values)
        return
    update_text(h, f"objects-by-type:{len(values)}")
    for kind in sorted(kinds, key=lambda k: (_type_name(k), int(groups[k][0]))):
        positions = groups[kind]
        update_text(h, _type_name(kind))
        _hash_ndarray(h, positions)
        if kind is type(None):
            continue
        _hash_group(h, kind, values[positions])


def _positions_by_type(values: np.ndarray) -> dict[type, np.ndarray]:
    """Where each Python type occurs among ``values`` (int64 positions, ascending): one C loop
    for the types, then integer comparisons of the type objects' addresses."""
    if len(values) == 0:
        return {}
    import pandas as pd

    types = _TYPE_OF(values)
    addresses = np.asarray(_AddressesOf(types))
    distinct = pd.unique(addresses)
    found: Iterator[np.ndarray]
    if len(distinct) <= _FEW_TYPES:
        found = (np.flatnonzero(addresses == a) for a in distinct)
    else:  # many types: one stable sort instead of a pass per type
        order = np.argsort(addresses, kind="stable")
        cuts = np.flatnonzero(np.diff(addresses[order])) + 1
        found = iter(np.split(order, cuts))
    groups: dict[type, np.ndarray] = {}
    for positions in found:
        positions = positions.astype(np.int64, copy=False)
        groups[types[positions[0]]] = positions
    return groups


class _AddressesOf:
    """A read-only integer view of an object array's pointers (one per element: equal
    pointers are the same object), so grouping by type is vectorised; keeps the array alive."""

    def __init__(self, objects: np.ndarray) -> None:
        objects = np.ascontiguousarray(objects)
        self.objects = objects
        self.__array_interface__ = {
            "version": 3,
            "shape": objects.shape,
            "typestr": np.dtype(np.intp).str,
            "data": (objects.__array_interface__["data"][0], True),
        }


def _hash_group(h: Any, kind: type, group: np.ndarray) -> None:
    """Values that all have the Python type ``kind``, by the fastest exact route."""
    if kind is float or kind is bool:
        typed = group.astype(np.float64 if kind is float else np.uint8)
        if kind is float:
            typed[np.isnan(typed)] = np.nan  # one NaN, whatever its sign or payload
        _hash_ndarray(h, typed)
        return
    if kind is int:
        try:
            _hash_ndarray(h, group.astype(np.int64))
            return
        except OverflowError:  # beyond 64 bits: exact through repr
            _hash_reprs(h, group)
            return
    arr = _exact_arrow(group) if kind in _ARROW_EXACT else None
    if arr is None:
        _hash_reprs(h, group)
    else:
        _hash_arrow(h, arr)


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _exact_arrow(values: Any) -> Any:
    """``values`` as an Arrow array when the conversion is exact, else None."""
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return None


def _hash_reprs(h: Any, values: Any) -> None:
    """The slow exact route for values Arrow cannot hold: each value's type and repr."""
    for v in values:
        update_text(h, f"{type(v).__name__}:{v!r}")
