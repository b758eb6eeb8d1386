"""Input checks and column decoding shared by fitting and scoring.

Families: ``numeric`` (int/float), ``bool``, ``string`` (str/object/category of text),
``datetime``, and ``empty`` (an object column holding nothing but missing values, whose type
cannot be told). Values are decoded into float64 arrays (numeric) or category counts keyed by
canonical, JSON-serializable Python values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from mlnb.errors import ValidationError

_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal"}
_ARROW_TEXT = {"string", "large_string"}
# String columns are counted by looking up the distinct values of this many leading rows,
# when there are few of them (see _arrow_string_counts).
PREFIX_ROWS = 16_384
PREFIX_MAX_DISTINCT = 2_000
_DATETIME_INFERRED = {"datetime64", "datetime", "date", "timedelta64", "timedelta", "period"}


def iter_frames(data: Any, what: str) -> Iterator[Any]:
    """Yield DataFrames from one DataFrame or an iterable of them; clear errors otherwise."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        yield check_frame(data, what)
        return
    if isinstance(data, pd.Series):
        raise ValidationError(
            f"{what} must be a pandas DataFrame, got a Series; use series.to_frame() "
            "to make a one-column DataFrame"
        )
    array_like = isinstance(data, np.ndarray) or hasattr(data, "to_pandas")
    if (
        data is None
        or array_like
        or isinstance(data, str | bytes | dict)
        or not isinstance(data, Iterable)
    ):
        hint = ""
        if isinstance(data, str):
            hint = " (read the file first, e.g. pd.read_parquet(path))"
        elif hasattr(data, "to_pandas"):
            hint = " (convert it with .to_pandas())"
        elif isinstance(data, np.ndarray):
            hint = " (wrap it: pd.DataFrame(array, columns=[...]))"
        elif isinstance(data, dict):
            hint = " (wrap it: pd.DataFrame(data))"
        raise ValidationError(
            f"{what} must be a pandas DataFrame or an iterable of DataFrame chunks, "
            f"got {type(data).__name__}{hint}"
        )
    for i, chunk in enumerate(data):
        if not isinstance(chunk, pd.DataFrame):
            raise ValidationError(
                f"{what}: chunk {i} is a {type(chunk).__name__}; every chunk must be a "
                "pandas DataFrame"
            )
        yield check_frame(chunk, f"{what} chunk {i}")


def check_frame(df: Any, what: str) -> Any:
    """Reject frames whose columns cannot be named unambiguously."""
    import pandas as pd

    if isinstance(df.columns, pd.MultiIndex):
        raise ValidationError(
            f"{what} has MultiIndex columns; flatten them first, e.g. "
            "df.columns = ['_'.join(map(str, c)) for c in df.columns]"
        )
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError(f"{what} has duplicate column names {dupes}; rename them")
    return df


# Families of dtypes that decide it alone (not object, not categorical), asked per chunk
_FAMILY_OF_DTYPE: dict[Any, tuple[str, bool]] = {}


def column_family(series: Any) -> tuple[str, bool]:
    """(family, is_category_dtype) of a pandas Series."""
    dtype = series.dtype
    try:
        known = _FAMILY_OF_DTYPE.get(dtype)
    except TypeError:  # an unhashable extension dtype
        return _column_family(series)
    if known is not None:
        return known
    family = _column_family(series)
    if str(dtype) not in ("object", "category") and len(_FAMILY_OF_DTYPE) < 256:
        _FAMILY_OF_DTYPE[dtype] = family
    return family


def _column_family(series: Any) -> tuple[str, bool]:
    import pandas as pd
    from pandas.api import types as pdt

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        family = column_family(pd.Series(cats))[0] if len(cats) else "empty"
        return family, True
    if pdt.is_bool_dtype(dtype):
        return "bool", False
    if pdt.is_complex_dtype(dtype):
        return "string", False
    if pdt.is_numeric_dtype(dtype):
        return "numeric", False
    if pdt.is_datetime64_any_dtype(dtype) or pdt.is_timedelta64_dtype(dtype):
        return "datetime", False
    if pdt.is_string_dtype(dtype) and not pdt.is_object_dtype(dtype):
        return "string", False
    inferred = pdt.infer_dtype(series, skipna=True)
    if inferred == "empty":
        return "empty", False
    if inferred in _NUMERIC_INFERRED:
        return "numeric", False
    if inferred == "boolean":
        return "bool", False
    if inferred in _DATETIME_INFERRED:
        return "datetime", False
    return "string", False


def numeric_values(series: Any) -> np.ndarray:
    """Float64 values of a numeric (or numeric-object) Series; missing values become NaN."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if dtype == np.float64:
            return series.to_numpy()
        if dtype.kind in "iufb":
            return series.to_numpy().astype(np.float64)
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(dtype, pd.CategoricalDtype):
        return numeric_values(series.astype(dtype.categories.dtype))
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def canonical_key(value: Any, family: str) -> Any:
    """A JSON-serializable key for a category value, equal across dtypes for equal values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if family in ("numeric", "bool") and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, str):
        return value
    return str(value)


def category_counts(
    series: Any, family: str, expected: list[Any] | None = None
) -> tuple[dict[Any, int], int]:
    """({canonical value: count}, missing count) for a Series. ``expected``: the values the
    caller has seen before (the reference's, the previous chunk's), looked up directly in
    text columns instead of first collecting the distinct values of a prefix."""
    import pandas as pd

    n = len(series)
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        counts = np.bincount(codes + 1, minlength=len(series.cat.categories) + 1)
        table: dict[Any, int] = {}
        for key, count in zip(series.cat.categories.tolist(), counts[1:].tolist(), strict=True):
            if count:
                _add(table, canonical_key(key, family), count)
        return table, int(counts[0])
    arrow = _arrow_strings(series)
    if arrow is not None:
        found = _arrow_string_counts(arrow, expected)
        if found is not None:
            keys, counts = found
            table = {}
            for key, count in zip(keys, counts.tolist(), strict=True):
                _add(table, key, count)
            return table, arrow.null_count
    try:
        vc = series.value_counts(dropna=True)
    except TypeError:  # unhashable cells (lists, dicts): compare their text
        present = series[~series.isna()]
        vc = present.astype(str).value_counts()
    table = {}
    for key, count in zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True):
        _add(table, canonical_key(key, family), int(count))
    return table, n - int(vc.sum())


def _arrow_strings(series: Any) -> Any:
    """The Arrow array of a pyarrow-backed string Series (pandas' ``str``), else None."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        pass
    elif not (isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype) in _ARROW_TEXT):
        return None
    import pyarrow as pa

    return pa.array(series.array)


def _arrow_string_counts(
    arr: Any, expected: list[Any] | None = None
) -> tuple[list[str], np.ndarray] | None:
    """(values, counts) of the present strings, ordered as ``Series.value_counts`` orders them
    (most frequent first, ties in order of first appearance); None for columns with many
    distinct values, which hashing every value at once counts faster.

    The distinct values of a prefix (or the ``expected`` ones, when known) are looked up in
    every row (a lookup in a small set costs half of counting into a growing table); values
    absent from them are counted apart and, first appearing later, listed after them.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = [v for v in expected or () if isinstance(v, str)]
    if strings and len(strings) <= PREFIX_MAX_DISTINCT:
        known = pa.array(strings, type=arr.type)
    else:
        head = arr.slice(0, PREFIX_ROWS)
        known = pc.unique(head).drop_null()
        if len(known) > PREFIX_MAX_DISTINCT or 4 * len(known) > len(head):
            return None
    idx = pc.index_in(arr, value_set=known)
    codes = pc.fill_null(idx, len(known)).to_numpy()
    counts = np.bincount(codes, minlength=len(known) + 1)
    keys: list[str] = known.to_pylist()
    later = int(counts[-1]) - arr.null_count  # present values missing from the prefix
    counts = counts[:-1]
    if later:
        rest = pc.value_counts(arr.filter(pc.and_(pc.is_null(idx), pc.is_valid(arr))))
        keys += rest.field(0).to_pylist()
        counts = np.concatenate([counts, rest.field(1).to_numpy()])
    order = np.argsort(-counts, kind="stable")
    return [keys[i] for i in order], counts[order]


def _add(table: dict[Any, int], key: Any, count: int) -> None:
    table[key] = table.get(key, 0) + count


def split_finite(x: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """(finite values, #NaN, #+inf, #-inf) of a float64 array; no copy when all are finite."""
    finite = np.isfinite(x)
    if finite.all():
        return x, 0, 0, 0
    n_nan = int(np.isnan(x).sum())
    n_pos = int(np.count_nonzero(x == np.inf))
    n_neg = int(np.count_nonzero(x == -np.inf))
    return x[finite], n_nan, n_pos, n_neg


def category_hashes(keys: list[Any]) -> np.ndarray:
    """Stable 64-bit hashes of canonical category keys (SipHash with pandas' fixed key, so
    equal in every process); the type is part of the hash, so 1 and "1" differ."""
    import pandas as pd

    if not keys:
        return np.empty(0, dtype=np.uint64)
    tagged = np.array([f"{type(k).__name__}:{k}" for k in keys], dtype=object)
    return np.asarray(pd.util.hash_array(tagged, categorize=False), dtype=np.uint64)
