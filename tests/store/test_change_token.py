"""The sidebar's change token: one read of a six-row table, moved by triggers on every
change the sidebar shows and by nothing else (heartbeats)."""

from __future__ import annotations

import sqlite3

import pytest

from mlnb.errors import ValidationError
from mlnb.store.registry import Registry


def moved(reg: Registry, before: dict[str, int]) -> set[str]:
    after = reg.change_counters()
    return {k for k in after if after[k] != before.get(k)}


def test_each_feature_moves_its_own_counter(registry) -> None:
    before = registry.change_counters()
    assert set(before) == {
        "runs", "data", "models", "monitors", "alerts", "pipelines",
        "runs.params", "runs.metrics", "runs.tags",
    }  # fmt: skip
    run_id = registry.runs.start(experiment="churn")
    assert moved(registry, before) == {"runs"}

    before = registry.change_counters()
    registry.runs.log_metrics(run_id, {"acc": 0.9})
    assert moved(registry, before) == {"runs.metrics"}

    before = registry.change_counters()
    registry.runs.log_params(run_id, {"C": 1.0})
    registry.runs.log_params(run_id, {"C": 2.0})  # a replaced value moves it again
    assert moved(registry, before) == {"runs.params"}

    before = registry.change_counters()
    registry.runs.end(run_id)
    assert moved(registry, before) == {"runs"}


def test_heartbeats_do_not_move_the_token(registry) -> None:
    run_id = registry.runs.start()
    before = registry.change_counters()
    registry.runs.heartbeat([run_id])
    assert moved(registry, before) == set()


def test_the_token_reads_no_table_that_grows(registry) -> None:
    """The query plan touches only the `changes` table, whatever the registry holds."""
    plan = registry.db.query_tuples("EXPLAIN QUERY PLAN SELECT feature, n FROM changes")
    assert all("changes" in str(step[-1]) for step in plan)
    plan = registry.db.query_tuples("EXPLAIN QUERY PLAN SELECT MAX(id) FROM metrics")
    assert all("SCAN" not in str(step[-1]) for step in plan)


def test_a_full_sync_setting_is_applied_and_a_bad_one_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLNB_SYNCHRONOUS", "full")
    reg = Registry(tmp_path / "full")
    try:
        assert reg.db.query_tuples("PRAGMA synchronous")[0][0] == 2  # FULL
    finally:
        reg.close()
    monkeypatch.setenv("MLNB_SYNCHRONOUS", "sometimes")
    with pytest.raises(ValidationError, match="MLNB_SYNCHRONOUS='sometimes'.*'full'"):
        Registry(tmp_path / "bad")


def test_normal_sync_is_the_default(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLNB_SYNCHRONOUS", raising=False)
    reg = Registry(tmp_path / "normal")
    try:
        assert reg.db.query_tuples("PRAGMA synchronous")[0][0] == 1  # NORMAL
    finally:
        reg.close()


def test_a_schema_1_registry_gets_its_latest_metrics_backfilled(tmp_path) -> None:
    """Migration 1 -> 2 fills latest_metrics from the history: newest step, then newest row."""
    from mlnb.store.schema import MIGRATIONS, split_sql

    path = tmp_path / "old"
    path.mkdir()
    conn = sqlite3.connect(path / "registry.db")
    for statement in split_sql(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO experiments(id, name, created_at) VALUES (1, 'e', 0)")
    conn.execute(
        "INSERT INTO runs(id, uuid, experiment_id, status, started_at, heartbeat_at) "
        "VALUES (1, 'u', 1, 'finished', 0, 0)"
    )
    conn.executemany(
        "INSERT INTO metrics(run_id, key, value, step, timestamp) VALUES (1, 'acc', ?, ?, 0)",
        [(0.7, 3), (0.1, 1), (0.8, 3)],
    )
    conn.commit()
    conn.close()
    reg = Registry(path)
    try:
        assert reg.runs.get(1)["metrics"] == {"acc": 0.8}
        assert reg.runs.find(sort="acc")[0]["id"] == 1
    finally:
        reg.close()


def test_experiment_counts_are_kept_without_scanning_runs(registry) -> None:
    """`experiments()` reads counters kept by triggers; they equal a count of the runs."""
    for i in range(7):
        run_id = registry.runs.start(experiment="a" if i % 3 else "b")
        registry.runs.end(run_id)
    truth = registry.db.query_tuples(
        "SELECT e.name, COUNT(r.id), MAX(r.started_at) FROM experiments e "
        "LEFT JOIN runs r ON r.experiment_id = e.id GROUP BY e.id ORDER BY e.name"
    )
    got = [(e["name"], e["n_runs"], e["last_run_at"]) for e in registry.runs.experiments()]
    assert got == [tuple(t) for t in truth]
    assert [n for _, n, _ in got] == [4, 3]
