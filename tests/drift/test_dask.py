"""Dask DataFrames: fitted and scored per partition on a LocalCluster, same answers as pandas."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip(
    "dask.dataframe", reason="dask[dataframe] is not installed (pip install mlnb[dask])"
)
distributed = pytest.importorskip(
    "distributed", reason="distributed is not installed (pip install mlnb[dask])"
)
import dask  # noqa: E402
import dask.dataframe as dd  # noqa: E402

from mlnb.errors import ValidationError  # noqa: E402
from mlnb.monitoring.drift import fit_profile, score  # noqa: E402
from mlnb.monitoring.monitor import Monitor  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """Two single-threaded workers in this process, talking TCP on 127.0.0.1."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def frame(n: int, seed: int, shift: float = 0.0, new_city: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cities = ["paris", "lyon", "nice"] + (["brest"] if new_city else [])
    df = pd.DataFrame(
        {
            "income": rng.lognormal(3 + shift, 1, n),
            "age": rng.normal(40 + 8 * shift, 12, n),
            "visits": rng.integers(0, 4, n),
            "city": rng.choice(cities, n),
            "plan": pd.Categorical(rng.choice(["a", "b"], n)),
            "flat": np.full(n, 7.0),
        }
    )
    df.loc[df.index % 9 == 0, "age"] = np.nan
    df.loc[df.index % 13 == 0, "city"] = None
    df.loc[5, "income"] = np.inf
    return df


def partitioned(parts: list[pd.DataFrame]) -> dd.DataFrame:
    """A Dask DataFrame whose partitions are exactly ``parts`` (empty ones included), with
    their dtypes: Dask would turn pandas 2's object columns into strings, and then the two
    profiles compared here would differ by the dtype they record, not by their statistics."""
    meta = parts[0].iloc[:0]
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed([dask.delayed(p.copy)() for p in parts], meta=meta)


def split(df: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == len(df)
    return [df.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def comparable(report) -> list[tuple]:
    return [
        (c.column, c.status, c.test, c.drifted, c.n_cur, c.missing_cur, c.unseen_share)
        for c in report.columns
    ]


def assert_same_report(a, b) -> None:
    assert comparable(a) == comparable(b)
    assert a.dataset_drift == b.dataset_drift and a.n_rows_cur == b.n_rows_cur
    for x, y in zip(a.columns, b.columns, strict=True):
        for field in ("score", "p_value", "statistic"):
            u, v = getattr(x, field), getattr(y, field)
            assert (u is None) == (v is None), (x.column, field)
            if u is not None:
                assert u == pytest.approx(v, rel=1e-12, abs=1e-12), (x.column, field)
        assert sorted(x.unseen_categories) == sorted(y.unseen_categories)


def test_fit_on_dask_partitions_equals_the_chunked_pandas_fit(client):
    parts = split(frame(30_000, seed=0), [9_000, 0, 12_000, 9_000])
    from_dask = fit_profile(partitioned(parts), target="visits")
    from_pandas = fit_profile(parts, target="visits")
    a, b = from_dask.to_dict(), from_pandas.to_dict()
    a.pop("created_at"), b.pop("created_at")
    assert json.dumps(a) == json.dumps(b)
    assert from_dask.n_rows == 30_000 and from_dask.target == "visits"


def test_scoring_a_dask_batch_equals_scoring_it_in_pandas(client):
    profile = fit_profile(frame(20_000, seed=1))
    batch = frame(15_000, seed=2, shift=0.5, new_city=True)
    lazy = partitioned(split(batch, [4_000, 0, 6_000, 5_000]))
    expected = score(profile, batch)
    got = score(profile, lazy)
    assert_same_report(got, expected)
    drifted = {c.column for c in got.columns if c.drifted}
    assert {"income", "age", "city"} <= drifted and "plan" not in drifted
    city = next(c for c in got.columns if c.column == "city")
    assert city.unseen_categories == ["brest"]


def test_small_reference_keeps_exact_tests_through_dask(client):
    reference = frame(900, seed=3)
    batch = frame(700, seed=4, shift=0.3)
    profile = fit_profile(partitioned(split(reference, [300, 300, 300])))
    assert profile.is_small
    expected = score(fit_profile(reference), batch)  # one pandas frame, exact KS/chi-square
    got = score(profile, partitioned(split(batch, [200, 500])))
    assert_same_report(got, expected)
    assert next(c for c in got.columns if c.column == "age").test == "ks"


def test_verdicts_match_a_whole_frame_pandas_fit(client):
    reference, batch = frame(40_000, seed=5), frame(20_000, seed=6, shift=0.4)
    whole = score(fit_profile(reference), batch)
    lazy = score(
        fit_profile(dd.from_pandas(reference, npartitions=4)), dd.from_pandas(batch, npartitions=3)
    )
    assert [c.drifted for c in lazy.columns] == [c.drifted for c in whole.columns]
    for x, y in zip(lazy.columns, whole.columns, strict=True):
        if x.score is not None:  # merged partition bins move scores a little (<5%), not verdicts
            assert x.score == pytest.approx(y.score, rel=0.05, abs=1e-3), x.column


def test_monitor_fits_and_logs_dask_frames_like_pandas(client, registry):
    reference, batch = frame(8_000, seed=7), frame(4_000, seed=8, shift=0.5)
    predictions = (batch["visits"] >= 2).astype(int)
    lazy_ref = dd.from_pandas(reference, npartitions=3)
    lazy_batch = dd.from_pandas(batch, npartitions=2)
    eager = Monitor("eager", reference=reference, target="visits", thresholds={"accuracy": 0.9})
    lazy = Monitor("lazy", reference=lazy_ref, target="visits", thresholds={"accuracy": 0.9})
    assert lazy.config["reference_rows"] == 8_000 and lazy.config["task"] == eager.config["task"]
    want = eager.log_batch(batch, predictions=predictions)
    got = lazy.log_batch(lazy_batch, predictions=dd.from_pandas(predictions, npartitions=2))
    assert got.metrics == want.metrics and got.metrics["accuracy"] < 0.9
    assert [a["kind"] for a in got.alerts] == [a["kind"] for a in want.alerts] != []
    assert got.drifted_columns == want.drifted_columns
    stored = lazy.history()[-1]
    assert stored["n_rows"] == 4_000
    with pytest.raises(ValidationError, match="predictions has 3 values but the batch has 4000"):
        lazy.log_batch(lazy_batch, predictions=[1, 0, 1])


def test_unsupported_lazy_types_are_refused_clearly(client, registry):
    ddf = dd.from_pandas(frame(500, seed=9), npartitions=2)
    with pytest.raises(ValidationError, match=r"Dask Series.*to_frame\(\)"):
        fit_profile(ddf["age"])
    profile = fit_profile(frame(500, seed=9))
    with pytest.raises(ValidationError, match="Dask Array.*Dask DataFrames only"):
        score(profile, ddf[["age"]].to_dask_array())
    with pytest.raises(ValidationError, match="learned threshold .* needs a pandas reference"):
        Monitor("m", reference=ddf, thresholds={"drift_share": "learned"})


def test_mlnb_does_not_import_dask_for_pandas_data():
    code = (
        "import sys, pandas as pd; from mlnb.monitoring.drift import fit_profile, score; "
        "df = pd.DataFrame({'x': range(50)}); score(fit_profile(df), df); "
        "print('dask' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
