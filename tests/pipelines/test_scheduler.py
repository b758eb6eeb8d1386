"""The scheduler driven by an injected clock, with runs that finish at once: cron slots,
idempotency, catch-up policies, time zones, pause/resume, new data, monitor alerts,
concurrency, the one-scheduler lock, a locked registry and crash recovery."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlnb
from mlnb.monitoring.alerts import raise_alert
from mlnb.pipelines.api import set_pipeline_status
from mlnb.pipelines.scheduler import Scheduler, SchedulerLocked
from tests.pipelines.conftest import FakeClock, InstantRuns

T0 = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)  # a Monday


def _scheduler(registry, clock, **kw):
    runs = kw.pop("runs", None) or InstantRuns(registry)
    s = Scheduler(registry, clock=clock, sleep=clock.sleep, execute=runs, threaded=False, **kw)
    return s, runs


def _create(registry, notebook, clock, name="nightly", **options):
    """Create a pipeline as if at the fake clock's time (its cron anchor)."""
    p = mlnb.create_pipeline(name, notebook, registry=registry, **options)
    config = {**p["config"], "schedule_anchor": clock().timestamp()}
    registry.pipelines.update(p["id"], config=config)
    return p


def _runs(registry, name="nightly"):
    return list(reversed(mlnb.pipeline_history(name, limit=None, registry=registry)))


def test_a_cron_slot_runs_once_however_often_the_scheduler_ticks(registry, notebook):
    clock = FakeClock(T0)
    _create(registry, notebook, clock, schedule="0 3 * * *")
    s, runs = _scheduler(registry, clock)
    assert s.tick() == {"queued": [], "started": []}
    clock.advance(hours=3)
    first = s.tick()
    assert len(first["started"]) == 1
    for _ in range(3):
        assert s.tick() == {"queued": [], "started": []}
    clock.advance(minutes=1)
    assert s.tick()["queued"] == []
    (run,) = _runs(registry)
    assert run["trigger"] == "schedule" and run["status"] == "finished"
    assert run["due_key"] == "cron:2026-03-02T03:00:00+00:00"
    assert "schedule '0 3 * * *' (UTC) due at 2026-03-02T03:00:00+00:00" in run["reason"]


def test_the_same_due_time_never_runs_twice_even_from_two_schedulers(registry, notebook):
    clock = FakeClock(T0 + dt.timedelta(hours=3))
    _create(registry, notebook, clock, schedule="0 3 * * *")
    clock.advance(days=1)
    a, _ = _scheduler(registry, clock)
    b, _ = _scheduler(registry, clock)
    assert len(a.enqueue_due()) == 1
    assert b.enqueue_due() == []  # due_key UNIQUE per pipeline
    assert len(_runs(registry)) == 1


def test_catchup_once_runs_one_run_for_all_missed_slots(registry, notebook):
    clock = FakeClock(T0)
    _create(registry, notebook, clock, schedule="0 * * * *", catchup="once")
    clock.advance(hours=5, minutes=30)  # the scheduler was down: 5 hourly slots missed
    s, runs = _scheduler(registry, clock)
    s.tick()
    (run,) = _runs(registry)
    assert run["due_key"] == "cron:2026-03-02T05:00:00+00:00"
    assert "catch-up policy 'once': one run for 5 slot(s)" in run["reason"]
    assert run["details"]["slots"] == 5
    clock.advance(minutes=30)
    s.tick()
    assert [r["due_key"] for r in _runs(registry)][-1] == "cron:2026-03-02T06:00:00+00:00"


def test_catchup_skip_records_the_missed_slots_and_waits_for_the_next(registry, notebook):
    clock = FakeClock(T0)
    _create(registry, notebook, clock, schedule="0 * * * *", catchup="skip")
    clock.advance(hours=5, minutes=30)
    s, runs = _scheduler(registry, clock)
    s.tick()
    (skipped,) = _runs(registry)
    assert skipped["status"] == "skipped" and runs.executed == []
    assert "missed while no scheduler ran (catch-up policy 'skip')" in skipped["reason"]
    clock.advance(minutes=30, seconds=5)  # 06:00:05: on time
    s.tick()
    assert [r["status"] for r in _runs(registry)] == ["skipped", "finished"]


def test_schedule_follows_the_pipelines_time_zone(registry, notebook):
    clock = FakeClock(dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.UTC))
    _create(registry, notebook, clock, schedule="0 3 * * *", timezone="Europe/Berlin")
    s, runs = _scheduler(registry, clock)
    clock.advance(hours=1, minutes=59)
    s.tick()
    assert runs.executed == []
    clock.advance(minutes=1)  # 02:00 UTC == 03:00 in Berlin
    s.tick()
    (run,) = _runs(registry)
    assert run["due_key"] == "cron:2026-01-05T03:00:00+01:00"


def test_run_forever_sleeps_until_each_slot(registry, notebook):
    clock = FakeClock(T0)
    _create(registry, notebook, clock, schedule="0 3 * * *")
    started_at = []
    instant = InstantRuns(registry)

    def execute(run_id):
        started_at.append(clock())
        return instant(run_id)

    s, _ = _scheduler(registry, clock, poll_seconds=3600, runs=execute)
    s.run_forever(max_ticks=80)  # sleeps of at most an hour: over three days of schedule
    due = [dt.datetime.fromisoformat(r["due_key"][5:]) for r in _runs(registry)]
    assert len(due) >= 3
    assert due == [T0.replace(hour=3) + dt.timedelta(days=i) for i in range(len(due))]
    assert clock() < due[-1] + dt.timedelta(days=1)
    assert all(
        dt.timedelta(0) <= t - d <= dt.timedelta(seconds=1)
        for t, d in zip(started_at, due, strict=True)
    )
    assert max(clock.slept) <= 3600


def test_paused_pipelines_do_not_run_and_resume_does_not_catch_up(registry, notebook):
    clock = FakeClock(T0)
    _create(registry, notebook, clock, schedule="0 * * * *")
    set_pipeline_status("nightly", "paused", registry=registry)
    s, runs = _scheduler(registry, clock)
    clock.advance(hours=3, minutes=10)
    s.tick()
    assert runs.executed == []
    set_pipeline_status("nightly", "active", registry=registry)
    p = registry.pipelines.get("nightly")
    registry.pipelines.update(
        p["id"], config={**p["config"], "schedule_anchor": clock().timestamp()}
    )
    s.tick()
    assert runs.executed == []
    clock.advance(minutes=50)
    s.tick()
    assert len(runs.executed) == 1


def test_new_data_triggers_one_run_per_change(registry, notebook, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "jan.csv").write_text("x\n1\n")
    clock = FakeClock(T0)
    _create(registry, notebook, clock, on_new_data=[str(data)])
    s, runs = _scheduler(registry, clock)
    s.tick()
    assert runs.executed == []  # nothing changed since the pipeline was created
    (data / "feb.csv").write_text("x\n2\n")
    s.tick()
    s.tick()
    (run,) = _runs(registry)
    assert run["trigger"] == "new_data"
    assert (
        f"{data.resolve()} changed" in run["reason"]
        and "since the pipeline was created" in run["reason"]
    )
    assert run["details"]["data_hashes"] == {str(data.resolve()): mlnb.fingerprint(data)}
    s.tick()
    assert len(runs.executed) == 1
    (data / "jan.csv").write_text("x\n1\n3\n")
    s.tick()
    assert len(runs.executed) == 2
    assert f"since run #{run['id']}" in _runs(registry)[-1]["reason"]


def test_new_data_does_not_loop_when_the_run_fails(registry, notebook, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    clock = FakeClock(T0)
    _create(registry, notebook, clock, on_new_data=[str(data)])
    s, runs = _scheduler(registry, clock, runs=InstantRuns(registry, status="failed"))
    data.write_text("x\n2\n")
    for _ in range(3):
        s.tick()
    assert len(runs.executed) == 1


def test_a_monitor_alert_triggers_one_run_and_stays_open_without_a_promotion(registry, notebook):
    clock = FakeClock(T0)
    import pandas as pd

    reference = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]})
    monitor_id = mlnb.Monitor(name="churn", reference=reference, target="y").monitor_id
    old = raise_alert(registry, "monitor", "accuracy_below_threshold", "old", monitor_id=monitor_id)
    handled_elsewhere = raise_alert(
        registry, "monitor", "accuracy_below_threshold", "seen", monitor_id=monitor_id
    )
    registry.alerts.acknowledge(handled_elsewhere["id"], by="alice")
    _create(registry, notebook, clock, on_alert="churn:accuracy_below_threshold")
    s, runs = _scheduler(registry, clock)
    s.tick()
    s.tick()
    # an alert still open when the pipeline is created is unhandled work: it triggers a run
    (first,) = _runs(registry)
    assert first["due_key"] == f"alert:{old['id']}"
    # the run promoted nothing: the alert stays open (only a promotion acknowledges it)
    assert registry.alerts.get(old["id"])["status"] == "open"
    assert registry.alerts.get(handled_elsewhere["id"])["handled_by"] == "alice"
    drift = raise_alert(registry, "monitor", "dataset_drift", "drift", monitor_id=monitor_id)
    s.tick()
    assert len(_runs(registry)) == 1  # not one of the kinds it watches
    acc = raise_alert(
        registry,
        "monitor",
        "accuracy_below_threshold",
        "accuracy 0.71 below 0.82",
        monitor_id=monitor_id,
    )
    s.tick()
    s.tick()
    run = [r for r in _runs(registry) if r["id"] != first["id"]][0]
    assert run["trigger"] == "alert" and run["due_key"] == f"alert:{acc['id']}"
    assert run["reason"].startswith(
        f"alert #{acc['id']} from monitor churn (accuracy_below_threshold)"
    )
    assert registry.alerts.get(acc["id"])["status"] == "open"
    assert registry.alerts.get(drift["id"])["status"] == "open"
    s.tick()
    assert len(_runs(registry)) == 2  # an open alert already taken on does not run again


def test_concurrency_limit_holds_queued_runs_back(registry, notebook):
    clock = FakeClock(T0)
    p = _create(registry, notebook, clock, max_concurrent=1)
    first = registry.pipelines.enqueue_run(p["id"], "manual", "a")
    second = registry.pipelines.enqueue_run(p["id"], "manual", "b")
    s, runs = _scheduler(registry, clock)
    assert s.executor.claim(first, registry.pipelines.get("nightly"))
    assert s.start_queued() == []  # #1 is running, the limit is one
    registry.pipelines.update_run(first, {"status": "finished"})
    assert s.start_queued() == [second]


def test_one_scheduler_per_registry(registry, notebook):
    clock = FakeClock(T0)
    a, _ = _scheduler(registry, clock)
    b, _ = _scheduler(registry, clock)
    with a.lock:
        with pytest.raises(SchedulerLocked) as err:
            b.run_once()
        assert f"pid {os.getpid()}" in str(err.value) and "since" in str(err.value)
        assert err.value.holder["pid"] == os.getpid()
    assert b.run_once()["started"] == []  # free again once the first let go


def test_the_lock_of_a_killed_scheduler_is_free(registry, registry_home):
    code = (
        "import sys, time; from mlnb.pipelines.scheduler import SchedulerLock; "
        f"l = SchedulerLock({str(registry_home)!r}); l.acquire(); print('locked', flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        from mlnb.pipelines.scheduler import SchedulerLock

        with pytest.raises(SchedulerLocked, match=f"pid {proc.pid}"):
            SchedulerLock(registry_home).acquire()
    finally:
        proc.kill()
        proc.wait()
    with SchedulerLock(registry_home):
        pass


def test_a_registry_locked_by_another_writer_does_not_stop_the_scheduler(
    registry, notebook, monkeypatch
):
    clock = FakeClock(T0)
    _create(registry, notebook, clock, schedule="0 * * * *")
    s, runs = _scheduler(registry, clock)
    blocker = sqlite3.connect(registry.db_path)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    registry.db.conn.execute("PRAGMA busy_timeout = 100")
    clock.advance(hours=1)
    try:
        assert s.tick() == {"queued": [], "started": []}
        assert "locked" in s.errors[-1]
    finally:
        blocker.rollback()
        blocker.close()
        registry.db.conn.execute("PRAGMA busy_timeout = 60000")
    assert len(s.tick()["started"]) == 1  # the next tick catches up


def test_recover_marks_runs_of_dead_processes_crashed(registry, notebook):
    clock = FakeClock(T0)
    p = _create(registry, notebook, clock)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = registry.pipelines.enqueue_run(p["id"], "manual", "x")
    gone = registry.pipelines.enqueue_run(p["id"], "manual", "y")
    queued = registry.pipelines.enqueue_run(p["id"], "manual", "z")
    registry.pipelines.update_run(
        stale,
        {
            "status": "running",
            "pid": os.getpid(),
            "host": "elsewhere",
            "heartbeat_at": time.time() - 3600,
        },
    )
    registry.pipelines.update_run(
        gone,
        {
            "status": "running",
            "pid": dead.pid,
            "host": __import__("mlnb._runtime", fromlist=["host"]).host(),
            "heartbeat_at": time.time(),
        },
    )
    s, runs = _scheduler(registry, clock)
    assert sorted(s.recover()) == sorted([stale, gone])
    assert "no heartbeat for" in registry.pipelines.run(stale)["error"]
    assert f"pid {dead.pid}" in registry.pipelines.run(gone)["error"]
    assert registry.pipelines.run(queued)["status"] == "queued"
    kinds = {a["kind"] for a in registry.alerts._rows()}
    assert kinds == {"pipeline_run_crashed"}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=st.sampled_from(
        ["*/7 * * * *", "0 * * * *", "30 2 * * *", "0 0 * * 1", "15,45 9-17 * * 1-5"]
    ),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    catchup=st.sampled_from(["once", "skip"]),
    gaps=st.lists(st.integers(1, 3 * 24 * 60), min_size=1, max_size=12),
)
def test_any_tick_pattern_runs_each_due_time_at_most_once(expr, tz, catchup, gaps):
    """However irregularly the scheduler wakes (downtime included), due keys are unique cron
    slots in order, and after each tick the newest slot so far has been taken."""
    import tempfile

    from mlnb.pipelines.config import cron_slots
    from mlnb.store.registry import Registry
    from tests.pipelines.conftest import write_notebook

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(Path(tmp) / "reg")
        try:
            nb = write_notebook(Path(tmp) / "nb.ipynb", ["n = 1"])
            clock = FakeClock(T0)
            _create(reg, nb, clock, schedule=expr, timezone=tz, catchup=catchup)
            s, runs = _scheduler(reg, clock)
            for minutes in gaps:
                clock.advance(minutes=minutes)
                s.tick()
                slots = cron_slots(expr, tz, T0, clock())
                keys = [r["due_key"] for r in _runs(reg)]
                assert len(keys) == len(set(keys))
                due = [dt.datetime.fromisoformat(k[5:]) for k in keys]
                assert due == sorted(due) and set(due) <= set(slots)
                if slots:
                    assert due[-1] == slots[-1]
            assert len(runs.executed) == len([r for r in _runs(reg) if r["status"] != "skipped"])
        finally:
            reg.close()


def test_a_broken_pipeline_does_not_stop_the_others(registry, notebook, tmp_path):
    clock = FakeClock(T0)
    broken = _create(registry, notebook, clock, name="broken", schedule="@hourly")
    registry.pipelines.update(broken["id"], config={**broken["config"], "schedule": "61 * * * *"})
    _create(registry, notebook, clock, name="fine", schedule="@hourly")
    s, runs = _scheduler(registry, clock, poll_seconds=7200)
    s.run_forever(max_ticks=2)  # sleeps until the next slot of "fine", then takes it
    assert [r["pipeline"] for r in mlnb.pipeline_history("fine", registry=registry)] == ["fine"]
    assert any("pipeline broken: cannot check its triggers" in e for e in s.errors)


def test_cli_scheduler_respects_the_lock(registry, registry_home, capsys):
    from mlnb.cli import main
    from mlnb.pipelines.scheduler import SchedulerLock

    with SchedulerLock(registry_home):
        assert main(["scheduler", "--once"]) == 0  # cron's --once leaves the work to it
        assert "another mlnb scheduler is running" in capsys.readouterr().err
        assert main(["scheduler"]) == 1
        err = capsys.readouterr().err
        assert f"pid {os.getpid()}" in err
        assert "Ctrl-C stops it" not in err  # refused before announcing it runs
    assert main(["scheduler", "--once"]) == 0
    assert "0 run(s) executed" in capsys.readouterr().out


def test_triggers_due_in_the_same_pass_make_one_run_recording_every_reason(registry, notebook):
    import pandas as pd

    clock = FakeClock(T0)
    reference = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]})
    monitor_id = mlnb.Monitor(name="churn", reference=reference, target="y").monitor_id
    _create(registry, notebook, clock, schedule="0 * * * *", on_alert="churn")
    alert = raise_alert(registry, "monitor", "dataset_drift", "drift on x", monitor_id=monitor_id)
    clock.advance(hours=1)  # the cron slot and the alert are due in the same pass
    s, runs = _scheduler(registry, clock)
    s.tick()
    s.tick()
    executed = [r for r in _runs(registry) if r["status"] != "skipped"]
    assert len(executed) == 1 and runs.executed == [executed[0]["id"]]
    run = executed[0]
    assert "2 triggers due together" in run["reason"]
    assert "schedule '0 * * * *'" in run["reason"] and f"alert #{alert['id']}" in run["reason"]
    reasons = run["details"]["reasons"]
    assert [r["trigger"] for r in reasons] == ["schedule", "alert"]
    assert run["details"]["alert_ids"] == [alert["id"]]
    (marker,) = [r for r in _runs(registry) if r["status"] == "skipped"]
    assert marker["due_key"] == f"alert:{alert['id']}"
    assert f"coalesced into run #{run['id']}" in marker["reason"]
    clock.advance(minutes=5)
    s.tick()
    assert len(_runs(registry)) == 2  # neither the slot nor the alert runs again


def test_scheduler_once_exits_non_zero_when_a_run_failed(registry, registry_home, tmp_path, capsys):
    from mlnb.cli import main
    from tests.pipelines.conftest import write_notebook

    nb = write_notebook(tmp_path / "bad.ipynb", ["n = 1", "raise ValueError('no data for May')"])
    p = mlnb.create_pipeline("bad", nb, registry=registry)
    registry.pipelines.enqueue_run(p["id"], "manual", "queued by hand")
    assert main(["scheduler", "--once"]) == 1
    out = capsys.readouterr().out
    assert "1 run(s) executed" in out
    assert "failed: ValueError: no data for May" in out
    assert main(["scheduler", "--once"]) == 0  # nothing due any more
