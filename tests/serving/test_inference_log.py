"""The inference log's storage: one columnar record per request, read back row by row and
window by window, and rows logged one at a time before schema 6 still readable."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import mlnb
from mlnb.serving.inference_log import Entry, encode
from mlnb.store.schema import MIGRATIONS, split_sql

from .conftest import Served, cd, records


def _table_rows(home: Path, request_id: str) -> int:
    con = sqlite3.connect(home / "registry.db")
    try:
        (n,) = con.execute(
            "SELECT COUNT(*) FROM inference_requests WHERE request_id = ?", (request_id,)
        ).fetchone()
    finally:
        con.close()
    return int(n)


def test_a_1000_row_request_is_one_record_that_reads_back_exactly(server: Served):
    frame = cd.make_customers(1000, month=3, seed=21)
    rows = records(frame)
    rows[7]["monthly_charges"] = None  # a missing number is logged as NaN, not lost
    answer = server.post(
        "/invocations", json={"dataframe_records": rows}, headers={"x-request-id": "big"}
    )
    assert answer.status_code == 200
    predictions = answer.json()["predictions"]
    labels = frame[cd.TARGET].tolist()
    joined = server.post("/feedback", json={"request_id": "big", "labels": labels})
    assert joined.json() == {"joined": len(rows), "unknown_request_ids": []}

    assert _table_rows(server.home, "big") == 1  # one record, however many rows
    reg = mlnb.Registry(server.home, create=False)
    logged = [r for r in reg.deployments.rows(1) if r["request_id"] == "big"]
    reg.close()
    assert [r["row_index"] for r in logged] == list(range(len(rows)))
    assert [r["prediction"] for r in logged] == predictions
    assert [r["label"] for r in logged] == labels
    assert logged[3]["features"]["total_charges"] == rows[3]["total_charges"]  # exact floats
    assert logged[3]["features"]["plan"] == rows[3]["plan"]
    assert math.isnan(logged[7]["features"]["monthly_charges"])
    assert all(0 <= r["probability"] <= 1 for r in logged)


def test_a_null_label_is_refused_saying_what_to_send(shared_server: Served):
    answer = shared_server.post("/feedback", json={"request_id": "x", "labels": [1, None]})
    assert answer.status_code == 400
    assert "labels[1] is null" in answer.json()["message"]


def _entry(request_id: str, n: int, error: str | None = None) -> Entry:
    values = np.arange(n, dtype=float)
    return Entry(
        request_id,
        1000.0 + n,
        1,
        ["x", "kind"],
        {"x": values, "kind": ["a"] * n},
        [int(v) % 2 for v in values],
        values / max(n, 1),
        2.0,
        error,
    )


def test_windows_hold_whole_requests_and_labels_join_row_by_row(registry):
    deployment = registry.deployments.start(
        {"model_name": "m", "alias": "production", "url": "u", "bind_host": "h", "port": 1}
    )
    sizes = [(f"r{i}", n) for i, n in enumerate([3, 40, 1, 5])]
    logged = [encode(deployment, _entry(rid, n)) for rid, n in sizes]
    logged.append(encode(deployment, _entry("refused", 0, error="missing column 'x'")))
    assert registry.deployments.append_requests(logged) == 3 + 40 + 1 + 5 + 1
    assert registry.deployments.count_rows(deployment, ok=True) == 49

    after, _, pending = registry.deployments.first_unwindowed(deployment)
    assert (after, pending) == (0, 50)
    window = registry.deployments.requests(deployment, after_id=0, min_rows=10)
    assert [r["request_id"] for r in window] == ["r0", "r1"]  # whole requests up to 10 rows
    assert window[1]["features"]["x"] == list(map(float, range(40)))  # stored as binary floats
    assert window[0]["features"] == {"x": [0.0, 1.0, 2.0], "kind": ["a", "a", "a"]}

    joined, unknown = registry.deployments.add_labels(
        [("r0", 0, 1), ("r0", 2, 0), ("r0", 9, 1), ("nobody", 0, 1)]
    )
    assert joined == 2 and unknown == ["r0", "nobody"]  # r0 has no row 9
    r0 = registry.deployments.requests(deployment)[0]
    assert r0["labels"] == [1, None, 0] and r0["n_labelled"] == 2
    registry.deployments.add_labels([("r0", 1, 1)])
    assert registry.deployments.requests(deployment)[0]["n_labelled"] == 3


def _schema_5_registry(home: Path) -> None:
    """A registry.db as schema 5 wrote it, with a deployment that logged row by row."""
    home.mkdir(parents=True)
    con = sqlite3.connect(home / "registry.db")
    for script in MIGRATIONS[:5]:
        for statement in split_sql(script):
            con.execute(statement)
    con.execute("PRAGMA user_version = 5")
    con.execute(
        "INSERT INTO deployments(id, model_name, alias, url, bind_host, port, status, "
        "started_at, heartbeat_at) VALUES (1, 'churn', 'production', 'u', 'h', 1, 'stopped', 1, 1)"
    )
    old = [
        (1, "a", 0, '{"tenure": 3.0, "plan": "basic"}', "1", 0.8, 1, None, "1", 5.0, None),
        (2, "a", 1, '{"tenure": NaN, "plan": "pro"}', "0", 0.1, 1, None, None, None, None),
        (3, "b", 0, None, None, None, 0, "missing column 'plan'", None, None, None),
        (4, "c", 0, '{"tenure": 7.0, "plan": "pro"}', "1", 0.9, 1, None, None, None, None),
    ]
    con.executemany(
        "INSERT INTO inference_log(id, deployment_id, request_id, row_index, logged_at, "
        "version, features, prediction, probability, latency_ms, ok, error, label, "
        "labelled_at, window_id) VALUES (?, 1, ?, ?, 100, 1, ?, ?, ?, 2.5, ?, ?, ?, ?, ?)",
        old,
    )
    con.execute(
        "INSERT INTO deployment_windows(id, deployment_id, first_log_id, last_log_id, n_rows, "
        "n_requests, n_errors, created_at) VALUES (1, 1, 1, 3, 2, 2, 1, 101)"
    )
    con.execute("UPDATE inference_log SET window_id = 1 WHERE id <= 3")
    con.commit()
    con.close()


def test_rows_logged_before_schema_6_stay_readable_and_take_labels(tmp_path):
    home = tmp_path / "old"
    _schema_5_registry(home)
    reg = mlnb.Registry(home, create=False)  # migrates
    rows = reg.deployments.rows(1)
    assert [(r["id"], r["request_id"], r["row_index"]) for r in rows] == [
        (1, "a", 0),
        (2, "a", 1),
        (3, "b", 0),
        (4, "c", 0),
    ]
    assert rows[0]["features"] == {"tenure": 3.0, "plan": "basic"} and rows[0]["label"] == 1
    assert math.isnan(rows[1]["features"]["tenure"]) and rows[1]["label"] is None
    assert rows[2]["ok"] is False and rows[2]["error"] == "missing column 'plan'"
    assert rows[3]["prediction"] == 1 and rows[3]["probability"] == 0.9
    assert reg.deployments.count_rows(1) == 4

    window = reg.deployments.windows(1)[0]  # the recorded window still names its rows
    assert [r["id"] for r in reg.deployments.window_requests(window)] == [1, 2]
    assert reg.deployments.first_unwindowed(1)[::2] == (3, 1)

    joined, unknown = reg.deployments.add_labels([("a", 1, 0), ("c", 0, 1)])
    assert (joined, unknown) == (2, [])
    by_row = {(r["request_id"], r["row_index"]): r["label"] for r in reg.deployments.rows(1)}
    assert by_row[("a", 1)] == 0 and by_row[("c", 0)] == 1
    reg.close()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 60),
    classes=st.integers(3, 6),
    seed=st.integers(0, 2**31),
    with_nan=st.booleans(),
)
def test_a_multiclass_requests_class_probabilities_read_back_exactly(
    rows, classes, seed, with_nan, tmp_path_factory
):
    """Each row's probability of every class is logged (binary when the request is long, JSON
    numbers when short), read back as one row per logged row, bit for bit; ``probabilities``
    keeps each row's top probability, as for every other model."""
    reg = mlnb.Registry(tmp_path_factory.mktemp("multiclass") / "registry")
    deployment = reg.deployments.start(
        {"model_name": "m", "alias": "production", "url": "u", "bind_host": "h", "port": 1}
    )
    proba = np.random.default_rng(seed).dirichlet(np.ones(classes), size=rows)
    if with_nan:
        proba[0, 0] = np.nan  # a broken model's output is logged as it was
    entry = Entry("r", 1.0, 1, ["x"], {"x": np.arange(rows, dtype=float)}, [0] * rows, proba, 1.0)
    reg.deployments.append_requests([encode(deployment, entry)])
    [logged] = reg.deployments.requests(deployment)
    back = np.array(logged["class_probabilities"])
    assert back.shape == (rows, classes)
    np.testing.assert_array_equal(back, proba)  # NaN equal to NaN, floats bit for bit
    tops = np.array([max(r) for r in proba.tolist()])
    np.testing.assert_array_equal(np.array(logged["probabilities"], dtype=float), tops)
    by_row = [row["probability"] for row in reg.deployments.rows(deployment)]
    np.testing.assert_array_equal(np.array(by_row, dtype=float), tops)
    reg.close()
