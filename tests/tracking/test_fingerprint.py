"""Data fingerprints: full-content, schema-aware, stable across sessions, fast paths exact."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.extra.pandas import column, data_frames

import mlnb
from mlnb.errors import ValidationError
from mlnb.tracking.fingerprint import FileHashCache, fingerprint, fingerprint_path


def big_frame(rows: int = 1_000_000, cols: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(rng.normal(size=(rows, cols)), columns=[f"c{i}" for i in range(cols)])


def test_edit_deep_inside_a_million_rows_is_a_new_version():
    df = big_frame()
    before = mlnb.fingerprint(df)
    edited = df.copy()
    edited.iloc[987_654, 13] += 1e-9
    assert mlnb.fingerprint(edited) != before
    assert mlnb.fingerprint(df.copy()) == before


def test_same_content_same_id_in_another_process(tmp_path):
    df = pd.DataFrame(
        {
            "x": np.arange(1000, dtype="float64"),
            "s": [f"name {i}" for i in range(1000)],
            "cat": pd.Categorical(["a", "b"] * 500),
            "when": pd.date_range("2026-01-01", periods=1000, freq="h"),
            "n": pd.array([1, None] * 500, dtype="Int64"),
        }
    )
    df.to_pickle(tmp_path / "df.pkl")
    code = (
        "import pandas as pd, mlnb; "
        f"print(mlnb.fingerprint(pd.read_pickle(r'{tmp_path / 'df.pkl'}')))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == mlnb.fingerprint(df)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pd.DataFrame({"s": pd.Series([f"v{i}" for i in range(5000)], dtype="str")}),
        lambda: pd.DataFrame({"s": pd.Series([f"v{i}" for i in range(5000)], dtype=object)}),
        lambda: pd.DataFrame(
            {"s": pd.Series([f"v{i}" if i % 7 else None for i in range(5000)], dtype="str")}
        ),
        lambda: pd.DataFrame(
            {"mixed": pd.Series([1, "a", 2.5, None, (1, 2)] * 1000, dtype=object)}
        ),
        lambda: pd.DataFrame({"c": pd.Categorical([f"k{i % 9}" for i in range(5000)])}),
        lambda: pd.DataFrame({"b": np.arange(5000) % 2 == 0}),
    ],
    ids=["arrow-str", "object-str", "str-with-nulls", "mixed-objects", "categorical", "bool"],
)
def test_any_single_value_change_is_detected_for_every_column_kind(make):
    df = make()
    base = mlnb.fingerprint(df)
    assert mlnb.fingerprint(make()) == base
    col = df.columns[0]
    changed = df.copy()
    original = changed[col].iloc[4321]
    if isinstance(changed[col].dtype, pd.CategoricalDtype):
        changed[col] = changed[col].cat.add_categories(["zz"])
        changed.loc[4321, col] = "zz"
    elif changed[col].dtype == bool:
        changed.loc[4321, col] = not original
    else:
        changed[col] = changed[col].astype(object)
        changed.loc[4321, col] = "something else"
        changed[col] = changed[col].astype(df[col].dtype)
    assert mlnb.fingerprint(changed) != base


def test_schema_is_part_of_the_version():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    ids = {
        mlnb.fingerprint(df),
        mlnb.fingerprint(df.rename(columns={"a": "z"})),
        mlnb.fingerprint(df[["b", "a"]]),
        mlnb.fingerprint(df.astype("float32")),
        mlnb.fingerprint(df.set_index(pd.Index([10, 11]))),
    }
    assert len(ids) == 5


def test_series_and_arrays():
    s = pd.Series(np.arange(100.0), name="y")
    assert mlnb.fingerprint(s) != mlnb.fingerprint(s.rename("z"))
    a = np.arange(12.0).reshape(3, 4)
    assert mlnb.fingerprint(a) != mlnb.fingerprint(a.reshape(4, 3))
    assert mlnb.fingerprint(a) == mlnb.fingerprint(a.copy(order="F"))
    b = a.copy()
    b[2, 3] = -1
    assert mlnb.fingerprint(b) != mlnb.fingerprint(a)


def test_unsupported_objects_are_refused_clearly():
    with pytest.raises(ValidationError, match="expected a pandas DataFrame"):
        fingerprint({"not": "data"})
    with pytest.raises(ValidationError, match="no such file"):
        fingerprint("/definitely/not/here.csv")


def test_file_hash_cache_is_used_until_the_file_changes(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    store: dict = {}
    reads = []

    def get(*key):
        return store.get(key)

    def put(*args):
        reads.append(args[0])
        store[args[:4]] = args[4]

    cache = FileHashCache(get, put)
    first = fingerprint_path(path, cache)
    assert fingerprint_path(path, cache) == first
    assert len(reads) == 1
    path.write_text("a,b\n1,3\n")
    assert fingerprint_path(path, cache) != first
    assert len(reads) == 2


def test_folder_fingerprint_covers_names_and_contents(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "jan.csv").write_text("1")
    v1 = fingerprint_path(tmp_path / "d")
    (tmp_path / "d" / "feb.csv").write_text("2")
    v2 = fingerprint_path(tmp_path / "d")
    (tmp_path / "d" / "feb.csv").write_text("3")
    v3 = fingerprint_path(tmp_path / "d")
    assert len({v1, v2, v3}) == 3


def test_registry_caches_file_hashes(registry, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    v = mlnb.fingerprint(str(path), registry=registry)
    rows = registry.db.query("SELECT digest FROM file_hashes")
    assert [r[0] for r in rows] == [v]


frames = data_frames(
    columns=[
        column("f", dtype=float),
        column("i", dtype=int),
        column("s", elements=st.text(max_size=5)),
    ]
)


@settings(max_examples=60, deadline=None)
@given(frames)
def test_equal_frames_have_equal_ids(df):
    assert mlnb.fingerprint(df) == mlnb.fingerprint(df.copy(deep=True))


@settings(max_examples=60, deadline=None)
@given(frames.filter(lambda d: len(d) > 0), st.data())
def test_changing_one_integer_changes_the_id(df, data):
    row = data.draw(st.integers(0, len(df) - 1))
    changed = df.copy()
    changed.iloc[row, 1] = changed.iloc[row, 1] + 1 if changed.iloc[row, 1] < 2**62 else 0
    assert mlnb.fingerprint(changed) != mlnb.fingerprint(df)


# -- empty, all-null and single-row data of every dtype ---------------------------------------

DTYPE_COLUMNS = {
    "int64": (lambda n: pd.Series(range(n), dtype="int64"), None),
    "float64": (lambda n: pd.Series([0.5] * n, dtype="float64"), np.nan),
    "bool": (lambda n: pd.Series([True] * n, dtype="bool"), None),
    "object-str": (lambda n: pd.Series(["a"] * n, dtype=object), None),
    "object-mixed": (lambda n: pd.Series([1, "1", 1.0][:n] * (n // 3 + 1), dtype=object)[:n], None),
    "str": (lambda n: pd.Series(["a"] * n, dtype="str"), None),
    "string": (lambda n: pd.Series(["a"] * n, dtype="string"), pd.NA),
    "category": (lambda n: pd.Series(["a"] * n, dtype="category"), np.nan),
    "datetime": (lambda n: pd.Series(pd.date_range("2026-01-01", periods=n)), pd.NaT),
    "datetime-tz": (lambda n: pd.Series(pd.date_range("2026-01-01", periods=n, tz="UTC")), pd.NaT),
    "timedelta": (lambda n: pd.Series(pd.to_timedelta(range(n), unit="s")), pd.NaT),
    "Int64": (lambda n: pd.Series(range(n), dtype="Int64"), pd.NA),
    "Float64": (lambda n: pd.Series([0.5] * n, dtype="Float64"), pd.NA),
    "boolean": (lambda n: pd.Series([True] * n, dtype="boolean"), pd.NA),
    "int64[pyarrow]": (lambda n: pd.Series(range(n), dtype="int64[pyarrow]"), pd.NA),
}


def null_column(kind: str, n: int) -> pd.Series | None:
    make, null = DTYPE_COLUMNS[kind]
    column_ = make(n)
    if kind.startswith("object"):
        return pd.Series([None] * n, dtype=object)
    if null is None:
        return None
    column_[:] = null
    return column_


@pytest.mark.parametrize("kind", sorted(DTYPE_COLUMNS))
def test_empty_all_null_and_single_row_data_of_every_dtype(kind):
    """Every shape of little data gets a stable version (no RecursionError), and the empty,
    the null and the one-row versions of a column are all different."""
    make, _ = DTYPE_COLUMNS[kind]
    shapes = {"empty": make(0), "one row": make(1), "three rows": make(3)}
    nulls = null_column(kind, 3)
    if nulls is not None:
        shapes["all null"] = nulls
    ids = {}
    for name, series in shapes.items():
        ids[name] = mlnb.fingerprint(series)
        assert ids[name] == mlnb.fingerprint(series.copy()), name
        frame = pd.DataFrame({"x": series})
        assert mlnb.fingerprint(frame) == mlnb.fingerprint(frame.copy()), name
        assert mlnb.fingerprint(series.to_numpy()) == mlnb.fingerprint(series.to_numpy().copy())
    assert len(set(ids.values())) == len(ids), ids


def test_an_empty_object_series_and_a_frame_filtered_to_no_rows(ip, registry):
    """Issue 17: pd.Series([], dtype=object) recursed forever, and a %%track cell that
    filtered a pandas-2 style (object strings) frame to zero rows lost that data version."""
    assert mlnb.fingerprint(pd.Series([], dtype=object)).startswith("dv-")
    ip.user_ns["df"] = pd.DataFrame({"s": pd.Series(["a", "b"], dtype=object), "x": [1, 2]})
    result = ip.run_cell("%%track --name filter\nnone_left = df[df.x > 5]", store_history=True)
    assert result.error_in_exec is None
    run = registry.runs.get(registry.runs.find()[0]["id"])
    outputs = {d["name"]: d for d in run["data"] if d["role"] == "output"}
    assert outputs["none_left"]["id"] == mlnb.fingerprint(ip.user_ns["none_left"])


# -- hashing each buffer once, never missing an edit -------------------------------------------


def test_shared_buffers_are_hashed_once_per_snapshot(monkeypatch):
    from mlnb.tracking import fingerprint as fp

    calls = []
    fresh = fp._fresh_column_digest
    monkeypatch.setattr(fp, "_fresh_column_digest", lambda s: calls.append(1) or fresh(s))
    df0 = big_frame(rows=10_000, cols=4)
    dfa = df0
    selection = df0[["c0", "c1"]]
    with fp.one_snapshot():
        ids = [fp.describe(df0)["id"], fp.describe(dfa)["id"], fp.describe(selection)["id"]]
    # four column buffers, however many names and selections share them (pandas before
    # copy-on-write copies a column selection: two more buffers then)
    shared = np.shares_memory(selection["c0"].to_numpy(), df0["c0"].to_numpy())
    assert len(calls) == (4 if shared else 6)
    assert ids[0] == ids[1] == mlnb.fingerprint(df0)
    assert ids[2] == mlnb.fingerprint(df0[["c0", "c1"]].copy())


def test_arrow_columns_are_remembered_while_unchanged_and_every_edit_counts(monkeypatch):
    from mlnb.tracking import fingerprint as fp

    s = pd.Series([f"v{i}" for i in range(5000)], dtype="str")
    if "Arrow" not in type(s.array).__name__:
        pytest.skip("this pandas does not back str columns with Arrow")
    df = pd.DataFrame({"s": s, "x": np.arange(5000.0)})
    before = mlnb.fingerprint(df)
    calls = []
    fresh = fp._fresh_column_digest
    monkeypatch.setattr(fp, "_fresh_column_digest", lambda c: calls.append(1) or fresh(c))
    assert mlnb.fingerprint(df) == before
    assert len(calls) == 1  # the float column again; the immutable Arrow column from memory
    df.loc[4321, "s"] = "edited"
    assert mlnb.fingerprint(df) != before
    df.loc[4321, "s"] = "v4321"
    assert mlnb.fingerprint(df) == before
    df.loc[10, "x"] += 1  # NumPy buffers are never trusted across fingerprints
    assert mlnb.fingerprint(df) != before


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=4), st.none(), st.booleans()
        ),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_mixed_object_columns_change_version_on_any_edit(values, data):
    s = pd.Series(values, dtype=object)
    before = mlnb.fingerprint(s)
    assert before == mlnb.fingerprint(pd.Series(list(values), dtype=object))
    i = data.draw(st.integers(0, len(values) - 1))
    new = data.draw(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=4)))
    old = values[i]
    same = type(new) is type(old) and (new == old or (new != new and old != old))
    edited = s.copy()
    edited[i] = new
    if not same:
        assert mlnb.fingerprint(edited) != before


def test_mixed_types_with_equal_values_stay_distinct():
    variants = [[1, "a"], [1.0, "a"], ["1", "a"], [True, "a"], [None, "a"], [float("nan"), "a"]]
    ids = {mlnb.fingerprint(pd.Series(v, dtype=object)) for v in variants}
    assert len(ids) == len(variants)


def look_alikes(value: object) -> list[object]:
    """Values equal or similar to ``value`` in another type: 1, 1.0, "1", True, np.int64(1)..."""
    number = 1 if value is None or isinstance(value, str) else value
    forms: list[object] = [str(value), repr(value), np.str_(str(value))]
    if isinstance(number, (bool, int, float)) and number == number:
        forms += [int(number), float(number), bool(number), np.int64(int(number))]
        forms += [np.float64(number), np.bool_(bool(number))]
    return [f for f in forms if type(f) is not type(value)]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-(2**40), 2**40),
            st.floats(-1e9, 1e9, width=32),
            st.sampled_from(["1", "0", "1.0", "True", ""]),
            st.booleans(),
            st.none(),
        ),
        min_size=1,
        max_size=25,
    ),
    st.data(),
)
def test_a_value_never_passes_for_its_look_alike_of_another_type(values, data):
    """1, 1.0, "1", True and np.int64(1) are different data: swapping one in is a new version."""
    i = data.draw(st.integers(0, len(values) - 1))
    alike = data.draw(st.sampled_from(look_alikes(values[i])))
    swapped = list(values)
    swapped[i] = alike
    original = pd.Series(values, dtype=object)
    assert mlnb.fingerprint(pd.Series(swapped, dtype=object)) != mlnb.fingerprint(original)
    as_array = np.array(swapped + [object()], dtype=object)[:-1]
    assert mlnb.fingerprint(as_array) != mlnb.fingerprint(
        np.array(values + [object()], dtype=object)[:-1]
    )


def test_numpy_scalars_among_python_objects_are_versioned():
    """A mixed column holding numpy scalars (np.str_, np.int64) was skipped with a TypeError."""
    s = pd.Series(["a", np.str_("a"), np.int64(1), 1, np.float64(2.5), 2.5], dtype=object)
    first = mlnb.fingerprint(s)
    assert first == mlnb.fingerprint(s.copy())
    edited = s.copy()
    edited[2] = np.int64(2)
    assert mlnb.fingerprint(edited) != first


def test_a_column_of_many_types_is_grouped_the_same_way_as_a_few():
    """Past a handful of types the grouping sorts instead of scanning once per type: the
    version is the same as the per-type scan's, and moving a value between types counts."""
    from mlnb.tracking import fingerprint as fp

    classes = [type(f"K{i}", (), {"__repr__": lambda self: "k"}) for i in range(30)]
    values = [classes[i % 30]() for i in range(300)] + [1, "1", 1.0]
    column = pd.Series(values, dtype=object)
    sorted_id = mlnb.fingerprint(column)
    few = fp._FEW_TYPES
    try:
        fp._FEW_TYPES = 10_000
        assert mlnb.fingerprint(column) == sorted_id
    finally:
        fp._FEW_TYPES = few
    swapped = list(values)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert mlnb.fingerprint(pd.Series(swapped, dtype=object)) != sorted_id


@settings(max_examples=80, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.float64, np.int32, np.uint8, np.dtype("U3"), np.bool_]),
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
    ),
    st.data(),
)
def test_strided_and_fortran_arrays_have_the_version_of_their_contiguous_copy(a, data):
    """``df.to_numpy()`` (Fortran order), transposes and steps are hashed a slab of rows at a
    time: the version is the contiguous copy's, and an edit anywhere still counts."""
    from mlnb.tracking import fingerprint as fp

    axes = data.draw(st.permutations(range(a.ndim)))
    step = data.draw(st.integers(1, 3))
    view = a.transpose(axes)[::step]
    chunk = fp._CHUNK_BYTES
    try:
        fp._CHUNK_BYTES = data.draw(st.sampled_from([1, 7, 64, 1 << 20]))
        version = mlnb.fingerprint(view)
        assert version == mlnb.fingerprint(np.ascontiguousarray(view))
        if view.size and view.dtype.kind in "fiu":
            edited = view.copy(order="F")
            at = data.draw(st.integers(0, view.size - 1))
            edited.flat[at] = 1 if edited.flat[at] != 1 else 2
            assert mlnb.fingerprint(edited) != version
    finally:
        fp._CHUNK_BYTES = chunk
