"""A data version never misses an in-place edit, whatever route wrote it, even when the same
object was fingerprinted before (the memories that spare work must never answer stale)."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlnb
from mlnb.tracking import fingerprint as fp


def make_frame(n: int) -> pd.DataFrame:
    """Float, int, bool, str and mixed-object columns (the str one is Arrow-backed on pandas 3)."""
    return pd.DataFrame(
        {
            "f": np.linspace(0.5, 9.5, n),
            "i": np.arange(n, dtype=np.int64) * 3,
            "b": np.arange(n) % 2 == 0,
            "s": pd.Series([f"v{k}" for k in range(n)], dtype="str"),
            "o": pd.Series([[k, f"k{k}", k + 0.5][k % 3] for k in range(n)], dtype=object),
        }
    )


def fresh_version(obj: Any) -> str:
    """The version of a brand-new copy (new objects, new buffers): what no memory can know."""
    return mlnb.fingerprint(pickle.loads(pickle.dumps(obj)))


def writeable(a: np.ndarray) -> np.ndarray:
    """A view pandas handed out read-only (pandas 3), made writeable again as a user may."""
    if not a.flags.writeable:
        a.flags.writeable = True
    return a


def new_value(df: pd.DataFrame, col: str, row: int) -> Any:
    """A value unlike the one at (row, col), of the column's own kind."""
    old = df[col].iloc[row]
    if col == "f":
        return float(old) + 1.25
    if col == "i":
        return int(old) + 7
    if col == "b":
        return not bool(old)
    if col == "s":
        return f"{old}-edited"
    return "edited" if not isinstance(old, str) else 12345


Edit = Callable[[pd.DataFrame, str, int], None]


def iloc_set(df: pd.DataFrame, col: str, row: int) -> None:
    df.iloc[row, df.columns.get_loc(col)] = new_value(df, col, row)


def loc_set(df: pd.DataFrame, col: str, row: int) -> None:
    df.loc[df.index[row], col] = new_value(df, col, row)


def at_set(df: pd.DataFrame, col: str, row: int) -> None:
    df.at[df.index[row], col] = new_value(df, col, row)


def column_assignment(df: pd.DataFrame, col: str, row: int) -> None:
    column = df[col].copy()
    column.iloc[row] = new_value(df, col, row)
    df[col] = column


def series_array_set(df: pd.DataFrame, col: str, row: int) -> None:
    """``Series.array[i] = v`` writes a NumPy column in place even under copy-on-write."""
    value = new_value(df, col, row)
    df[col].array[row] = value


def numpy_view_write(df: pd.DataFrame, col: str, row: int) -> None:
    if df[col].dtype.kind not in "fib":
        return loc_set(df, col, row)
    view = writeable(df[col].to_numpy())
    view[row] = new_value(df, col, row)
    return None


def values_write(df: pd.DataFrame, col: str, row: int) -> None:
    """``df.values[...] =`` on a single-dtype frame (a view of the block; read-only on pandas 3)."""
    numeric = df[[col]] if df[col].dtype.kind in "fib" else None
    if numeric is None:
        return loc_set(df, col, row)
    block = df.loc[:, df.dtypes == df[col].dtype]
    view = writeable(block.values)
    view[row, list(block.columns).index(col)] = new_value(df, col, row)
    df[block.columns] = block
    return None


def fillna_inplace(df: pd.DataFrame, col: str, row: int) -> None:
    if col != "f":
        return iloc_set(df, col, row)
    df.loc[df.index[row], "f"] = np.nan
    df.fillna({"f": -1.0}, inplace=True)
    return None


def arithmetic_inplace(df: pd.DataFrame, col: str, row: int) -> None:
    if col not in ("f", "i"):
        return at_set(df, col, row)
    df.iloc[row : row + 1, df.columns.get_loc(col)] += 1
    return None


EDITS: list[Edit] = [
    iloc_set,
    loc_set,
    at_set,
    column_assignment,
    series_array_set,
    numpy_view_write,
    values_write,
    fillna_inplace,
    arithmetic_inplace,
]


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(1, 30),
    col=st.sampled_from(["f", "i", "b", "s", "o"]),
    edit=st.sampled_from(EDITS),
    data=st.data(),
    in_snapshot=st.booleans(),
)
def test_every_in_place_edit_changes_the_version(n, col, edit, data, in_snapshot):
    df = make_frame(n)
    row = data.draw(st.integers(0, n - 1))
    if in_snapshot:
        with fp.one_snapshot():
            before = mlnb.fingerprint(df)
            assert mlnb.fingerprint(df) == before
    else:
        before = mlnb.fingerprint(df)
        assert mlnb.fingerprint(df) == before  # the memories' answer, taken a second time
    original = df.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edit(df, col, row)
    after = mlnb.fingerprint(df)
    assert after == fresh_version(df), f"{edit.__name__} on {col}: a stale version"
    if not df.equals(original):
        assert after != before, f"{edit.__name__} on {col}: the edit was missed"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_writes_through_an_array_the_frame_was_built_from_change_the_version(n, data):
    """``copy=False`` shares the user's array: writing it edits the frame behind pandas' back."""
    base = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    df = pd.DataFrame(base, columns=["a", "b", "c"], copy=False)
    series = pd.Series(base[:, 0], copy=False)
    before = (mlnb.fingerprint(df), mlnb.fingerprint(series), mlnb.fingerprint(base))
    row, col = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, 2))
    base[row, col] += 0.5
    after = (mlnb.fingerprint(df), mlnb.fingerprint(series), mlnb.fingerprint(base))
    assert after[0] != before[0] if np.shares_memory(df.to_numpy(), base) else True
    assert after[0] == fresh_version(df)
    assert after[1] == fresh_version(series)
    assert (after[1] != before[1]) == (col == 0 and np.shares_memory(series.to_numpy(), base))
    assert after[2] != before[2]


@pytest.mark.parametrize("route", ["pa.array over numpy", "series from frame"])
def test_numeric_arrow_columns_over_numpy_memory_are_never_remembered(route):
    """``pa.array`` takes a NumPy array without copying: editing that array edits the column."""
    pa = pytest.importorskip("pyarrow")
    base = np.arange(50, dtype=np.int64)
    column = pd.arrays.ArrowExtensionArray(pa.array(base))
    df = pd.DataFrame({"x": column, "y": np.arange(50.0)})
    obj = df if route == "pa.array over numpy" else df["x"]
    before = mlnb.fingerprint(obj)
    assert mlnb.fingerprint(obj) == before
    base[17] = -1
    assert mlnb.fingerprint(obj) != before
    assert mlnb.fingerprint(obj) == fresh_version(obj)


def test_an_unchanged_arrow_string_column_comes_from_memory_and_an_edit_does_not(monkeypatch):
    s = pd.Series([f"v{i}" for i in range(300)], dtype="str")
    if "Arrow" not in type(s.array).__name__:
        pytest.skip("this pandas does not back str columns with Arrow")
    df = pd.DataFrame({"s": s})
    before = mlnb.fingerprint(df)
    calls: list[int] = []
    fresh = fp._fresh_column_digest
    monkeypatch.setattr(fp, "_fresh_column_digest", lambda c: calls.append(1) or fresh(c))
    assert mlnb.fingerprint(df) == before
    assert calls == []
    df.iloc[5, 0] = "changed"
    assert mlnb.fingerprint(df) != before
    assert calls == [1]


def test_ndarray_edits_through_views_change_the_version():
    a = np.zeros((20, 4))
    before = mlnb.fingerprint(a)
    a[::3, 1][2] = 1.0
    assert mlnb.fingerprint(a) != before
    assert mlnb.fingerprint(a) == fresh_version(a)


def test_tracked_cells_see_an_edit_made_between_them_in_place(ip, registry):
    """A frame mentioned by two tracked cells, edited in place in between (``s.array[i] = v``
    keeps the buffer's address), gets a new input version in the second run; unchanged, the
    same one."""
    ip.user_ns["df"] = make_frame(200)

    def input_version(cell: str) -> str:
        result = ip.run_cell(f"%%track --name {cell}\npeek = df.head()", store_history=True)
        assert result.error_in_exec is None
        run = registry.runs.get(registry.runs.find()[0]["id"])
        return next(d["id"] for d in run["data"] if d["role"] == "input" and d["name"] == "df")

    first = input_version("first")
    assert input_version("again") == first
    ip.run_cell('df["f"].array[150] = -1.0')
    edited = input_version("edited")
    assert edited != first
    assert edited == mlnb.fingerprint(ip.user_ns["df"]) == fresh_version(ip.user_ns["df"])
