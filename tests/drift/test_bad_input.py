"""Bad input gets a structured result or a clear error naming the column, never NaN
verdicts or a scipy traceback."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlnb.errors import ValidationError
from mlnb.monitoring.drift import DriftConfig, DriftReport, Profile, drift, fit_profile, score
from tests.drift.frames import reference_frame


def _finite_or_none(report: DriftReport) -> None:
    for c in report.columns:
        for value in (c.score, c.p_value, c.statistic, c.threshold):
            assert value is None or math.isfinite(value), (c.column, value)
        assert isinstance(c.drifted, bool)
    json.dumps(report.to_dict(), allow_nan=False)


@pytest.mark.parametrize("n", [400, 4000])
def test_nan_and_inf_are_counted_and_excluded(n):
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"v": rng.normal(size=n)})
    cur = pd.DataFrame({"v": rng.normal(size=n)})
    ref.loc[:9, "v"] = np.inf
    cur.loc[:19, "v"] = np.nan
    cur.loc[20:24, "v"] = -np.inf
    cur.loc[25:26, "v"] = np.inf
    report = drift(ref, cur)
    _finite_or_none(report)
    res = report.column("v")
    assert res.status == "ok"
    assert res.n_inf_ref == 10 and res.n_inf_cur == 7
    assert res.missing_cur == pytest.approx(20 / n)
    assert res.n_cur == n - 27
    assert "infinite" in res.note


def test_empty_batch_is_a_clear_error():
    profile = fit_profile(reference_frame(100))
    with pytest.raises(ValidationError, match="empty"):
        score(profile, reference_frame(100).iloc[:0])
    with pytest.raises(ValidationError, match="empty"):
        score(profile, iter([]))
    with pytest.raises(ValidationError, match="no rows"):
        fit_profile(reference_frame(10).iloc[:0])


def test_missing_and_extra_columns_get_their_own_status():
    ref = reference_frame(3000)
    cur = reference_frame(2000, seed=3).drop(columns=["x2", "plan"])
    cur["brand_new"] = 1.0
    report = drift(ref, cur)
    by = {c.column: c for c in report.columns}
    assert by["x2"].status == by["plan"].status == "missing_column"
    assert by["brand_new"].status == "extra_column"
    assert not by["x2"].drifted and by["brand_new"].score is None
    assert report.n_columns == 6  # only the measured reference columns count
    _finite_or_none(report)


def test_numeric_column_that_became_text_is_dtype_changed():
    ref = pd.DataFrame({"amount": np.arange(2000, dtype=float), "n": np.arange(2000)})
    cur = pd.DataFrame({"amount": [f"{v:.2f}" for v in range(500)], "n": ["a", "b"] * 250})
    report = drift(ref, cur)
    amount, n = report.column("amount"), report.column("n")
    assert amount.status == n.status == "dtype_changed"
    assert amount.drifted and amount.score is None
    assert "numbers" in amount.note and "pd.to_numeric" in amount.note
    assert "pd.to_numeric" not in n.note
    _finite_or_none(report)


def test_text_column_that_became_numbers_is_dtype_changed():
    ref = pd.DataFrame({"zip": ["10001", "94105", "60601"] * 400})
    cur = pd.DataFrame({"zip": [10001, 94105, 60601] * 100})
    res = drift(ref, cur).column("zip")
    assert res.status == "dtype_changed"
    assert "text" in res.note


@pytest.mark.parametrize("n", [500, 5000])
def test_constant_reference_columns_score_the_share_that_differs(n):
    ref = pd.DataFrame({"c": np.full(n, 3.0), "s": ["same"] * n})
    same = pd.DataFrame({"c": np.full(200, 3.0), "s": ["same"] * 200})
    changed = pd.DataFrame({"c": [3.0] * 150 + [4.0] * 50, "s": ["same"] * 150 + ["new"] * 50})
    quiet, loud = drift(ref, same), drift(ref, changed)
    for report in (quiet, loud):
        _finite_or_none(report)
        assert {c.kind for c in report.columns} == {"constant"}
    assert quiet.n_drifted == 0
    assert [c.score for c in quiet.columns] == [0.0, 0.0]
    assert loud.column("c").score == pytest.approx(0.25) and loud.column("c").drifted
    assert loud.column("s").score == pytest.approx(0.25) and loud.column("s").drifted
    assert loud.column("s").unseen_categories == ["new"]


def test_all_missing_current_column():
    ref = reference_frame(2000)
    cur = reference_frame(1000, seed=2)
    cur["x0"] = np.nan
    cur["plan"] = None
    report = drift(ref, cur)
    for name in ("x0", "plan"):
        res = report.column(name)
        assert res.status == "all_missing" and res.drifted
        assert res.missing_cur == 1.0 and res.missing_change == pytest.approx(1.0)
    _finite_or_none(report)


def test_all_missing_reference_column_is_reported_as_empty():
    ref = pd.DataFrame({"v": [np.nan] * 300, "w": np.arange(300.0)})
    cur = pd.DataFrame({"v": np.arange(100.0), "w": np.arange(100.0)})
    res = drift(ref, cur).column("v")
    assert res.kind == "empty" and res.status == "empty" and not res.drifted
    assert "no values" in res.note


def test_unseen_categories_are_listed_and_count_as_drift_evidence():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"city": rng.choice(["paris", "rome", "oslo"], 5000)})
    few = pd.DataFrame({"city": list(rng.choice(["paris", "rome", "oslo"], 1995)) + ["lima"] * 5})
    many = pd.DataFrame(
        {"city": list(rng.choice(["paris", "rome", "oslo"], 1800)) + ["lima"] * 150 + ["kyiv"] * 50}
    )
    small = drift(ref, few).column("city")
    assert small.unseen_categories == ["lima"] and small.unseen_share == pytest.approx(5 / 2000)
    assert not small.drifted  # 0.25% unseen stays below the 1% default
    big = drift(ref, many).column("city")
    assert big.unseen_categories == ["lima", "kyiv"] and big.drifted
    assert "never seen" in big.note
    strict = drift(ref, few, unseen_share_threshold=0.0).column("city")
    assert strict.drifted
    # small reference: chi-square on known categories, unseen ones still evidence
    small_ref = drift(ref.iloc[:600], many).column("city")
    assert small_ref.test == "chisquare" and small_ref.drifted
    only_new = drift(ref.iloc[:600], pd.DataFrame({"city": ["lima"] * 40})).column("city")
    assert only_new.drifted and only_new.score is None and only_new.unseen_share == 1.0


def test_a_single_row_works_on_both_sides():
    ref = reference_frame(3000)
    report = drift(ref, ref.iloc[[5]])
    _finite_or_none(report)
    assert report.n_rows_cur == 1
    one = drift(ref.iloc[[0]], ref.iloc[:50])
    _finite_or_none(one)
    assert {c.kind for c in one.columns} == {"constant"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((3, 2)), "DataFrame.*ndarray"),
        (pd.Series([1.0, 2.0]), "Series.*to_frame"),
        ("data.parquet", "str.*read_parquet"),
        ({"a": [1, 2]}, "DataFrame.*dict"),
        (None, "DataFrame.*NoneType"),
        ([pd.DataFrame({"x0": [1.0]}), [1, 2]], "chunk 1"),
    ],
)
def test_non_dataframe_input_says_what_was_expected(bad, message):
    profile = fit_profile(reference_frame(100))
    with pytest.raises(ValidationError, match=message):
        score(profile, bad)
    with pytest.raises(ValidationError, match=message):
        fit_profile(bad)


def test_score_needs_a_profile():
    with pytest.raises(ValidationError, match="fit_profile"):
        score(reference_frame(10), reference_frame(10))


def test_duplicate_and_multiindex_columns_are_rejected():
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(ValidationError, match="duplicate column names"):
        fit_profile(dup)
    multi = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    with pytest.raises(ValidationError, match="MultiIndex"):
        fit_profile(multi)


def test_chunks_with_different_columns_are_rejected():
    profile = fit_profile(reference_frame(100))
    chunks = [reference_frame(50), reference_frame(50).drop(columns=["x3"])]
    with pytest.raises(ValidationError, match="chunk 1"):
        score(profile, chunks)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold_share": 0}, "threshold_share"),
        ({"method": "magic"}, "unknown drift method 'magic'"),
        ({"per_column": {"x0": "nope"}}, r"per_column\['x0'\]"),
        ({"per_column": {"x0": {"method": "psi", "limit": 1}}}, "unknown keys"),
        ({"threshold": -1}, "threshold"),
        ({"n_bins": 3}, "n_bins"),
        ({"treshold_share": 0.5}, "unknown drift option.*treshold_share"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        drift(reference_frame(100), reference_frame(100), **kwargs)


def test_method_that_does_not_fit_the_column_names_it():
    ref = reference_frame(2000)
    with pytest.raises(ValidationError, match="'plan' is categorical.*'ks'"):
        drift(ref, ref, per_column={"plan": "ks"})
    with pytest.raises(ValidationError, match="'x0' is numeric.*'ztest'"):
        drift(ref, ref, per_column={"x0": "ztest"})
    with pytest.raises(ValidationError, match="'plan'.*ztest.*3"):
        drift(ref, ref, per_column={"plan": "ztest"})
    with pytest.raises(ValidationError, match="not in the profile.*typo"):
        drift(ref, ref, per_column={"typo": "psi"})
    # a monitor-wide method applies where it can and leaves the other columns on defaults
    report = drift(ref, ref, method="ks")
    assert {c.test for c in report.columns} == {"ks", "jensenshannon"}


def test_roles_must_name_reference_columns():
    with pytest.raises(ValidationError, match="target column 'label' is not in"):
        fit_profile(reference_frame(10), target="label")


def test_profile_from_something_else_is_rejected():
    with pytest.raises(ValidationError, match="not a drift profile"):
        Profile.from_dict({"columns": []})
    with pytest.raises(ValidationError, match="not a drift report"):
        DriftReport.from_dict({"columns": []})


def test_mixed_dtypes_and_unusual_columns_do_not_crash():
    n = 1500
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "nullable_int": pd.array(rng.integers(0, 1000, n), dtype="Int64"),
            "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "mixed": [1, "one", 2.5] * (n // 3),
            "lists": [[1, 2]] * n,
            "f32": rng.normal(size=n).astype(np.float32),
            "obj_num": pd.Series(rng.normal(size=n), dtype=object),
        }
    )
    ref.loc[::7, "nullable_int"] = pd.NA
    report = drift(ref, ref.iloc[::-1].reset_index(drop=True))
    _finite_or_none(report)
    by = {c.column: c for c in report.columns}
    assert by["when"].status == "skipped"
    assert by["nullable_int"].kind == "numeric" and by["nullable_int"].missing_ref > 0.1
    assert by["cat"].kind == "categorical"
    assert by["obj_num"].kind == "numeric"
    assert report.n_drifted == 0


def test_config_round_trip():
    cfg = DriftConfig(per_column={"a": {"method": "js", "threshold": 0.2}}, thresholds={"psi": 0.2})
    again = DriftConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.per_column == {"a": "jensenshannon"} and again.per_column_threshold == {"a": 0.2}


def test_integer_column_names_and_nullable_booleans():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame(
        {0: rng.normal(size=2000), 1: pd.array(rng.random(2000) < 0.4, dtype="boolean")}
    )
    cur = pd.DataFrame(
        {0: rng.normal(1, 1, size=1000), 1: pd.array(rng.random(1000) < 0.4, dtype="boolean")}
    )
    cur.loc[::10, 1] = pd.NA
    report = drift(ref, cur)
    assert [c.column for c in report.columns] == ["0", "1"]
    assert report.column("0").drifted and not report.column("1").drifted
    assert report.column("1").missing_cur == pytest.approx(0.1)


@pytest.mark.parametrize(
    "as_text",
    [
        lambda d: d.dt.strftime("%Y-%m-%d"),
        lambda d: d.dt.strftime("%d/%m/%Y %H:%M"),
        lambda d: d.astype(str),
    ],
)
def test_a_datetime_column_arriving_as_text_is_a_type_change(as_text):
    dates = pd.Series(pd.date_range("2024-01-01", periods=500, freq="h"))
    ref = pd.DataFrame({"when": dates, "x": np.arange(500.0)})
    cur = pd.DataFrame({"when": as_text(dates.iloc[:200]), "x": np.arange(200.0)})
    res = drift(ref, cur).column("when")
    assert res.status == "dtype_changed" and res.drifted
    assert "dates stored as text" in res.note and "pd.to_datetime" in res.note
    same = drift(ref, ref.iloc[:200]).column("when")
    assert same.status == "skipped" and not same.drifted
