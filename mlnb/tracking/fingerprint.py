"""Data fingerprints: a version id from the full content plus the schema.

Unlike digests that sample the first rows, every value counts: a change anywhere gives a new
id, and identical content gives the same id in any session. Columns are hashed straight from
their memory buffers with xxh3-128 (near memory speed); strings go through Arrow buffers.
File hashes are cached by (inode, size, mtime) so an unchanged file is not read twice.
"""

from __future__ import annotations

import os
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


def describe(obj: Any) -> dict[str, Any]:
    """Fingerprint plus the schema of an in-memory data object (what the registry stores)."""
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
        _hash_column(h, df.iloc[:, i])
    return PREFIX + h.hexdigest()


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
    if a.dtype.kind in "US":
        a = np.ascontiguousarray(a)
        h.update(a.data.cast("B"))
        return
    a = np.ascontiguousarray(a)
    h.update(a.view(np.uint8).data.cast("B"))


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
    if pa.types.is_primitive(t) and not pa.types.is_boolean(t):
        values = arr.fill_null(0) if arr.null_count else arr
        _hash_ndarray(h, values.to_numpy(zero_copy_only=False))
        return
    _hash_objects(h, np.asarray(arr.to_pylist(), dtype=object))


def _hash_objects(h: Any, values: np.ndarray) -> None:
    """Object arrays: Arrow-convert when the values are uniform (fast), else per-value repr."""
    import pyarrow as pa

    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        arr = None
    if arr is not None and (len(values) == 0 or not pa.types.is_null(arr.type)):
        update_text(h, f"objects-as:{arr.type}")
        _hash_arrow(h, arr)
        return
    update_text(h, "objects-repr")
    for v in values:
        update_text(h, f"{type(v).__name__}:{v!r}")
