"""A registry written by an earlier mlnb opens unchanged, reads the same, and still takes writes.

``tests/fixtures/registry-main`` was written by ``tests/fixtures/make_registry_v_main.py``
with the code of commit 119fa7e (before the store was split by feature);
``tests/fixtures/EXPECTED.json`` is what that version read back from it. Every store method
here also returns records whose keys match their ``TypedDict`` in ``mlnb.store.records``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.store import records
from mlnb.store.registry import Registry
from mlnb.store.schema import SCHEMA_VERSION

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())


@pytest.fixture()
def old(tmp_path: Path) -> Registry:
    """A private copy of the fixture registry, opened by today's code."""
    home = tmp_path / "registry"
    shutil.copytree(FIXTURES / "registry-main", home)
    reg = Registry(home, create=False)
    yield reg
    reg.close()


def test_the_fixture_is_untouched_by_the_tests() -> None:
    assert sorted(p.name for p in (FIXTURES / "registry-main").iterdir()) == [
        "objects",
        "registry.db",
    ]


def test_runs_read_back_as_they_were_written(old: Registry) -> None:
    # Written at schema 1 and migrated forward on open.
    assert EXPECTED["schema_version"] == 1
    assert old.db.schema_version() == SCHEMA_VERSION
    runs = {r["id"]: r for r in old.runs.find(limit=None)}
    assert len(runs) == EXPECTED["n_runs"]
    for want in EXPECTED["runs"]:
        got = old.runs.get(want["id"])
        for key in ("name", "experiment", "status", "error", "uuid", "params", "metrics", "tags"):
            assert got[key] == want[key], (want["id"], key)
        history = {
            k: [{"step": p["step"], "value": p["value"]} for p in v]
            for k, v in got["metric_history"].items()
        }
        assert history == want["metric_history"]
        assert [(d["id"], d["role"], d["name"]) for d in got["data"]] == [
            (d["id"], d["role"], d["name"]) for d in want["data"]
        ]
        assert [(m["id"], m["object_hash"]) for m in got["models"]] == [
            (m["id"], m["object_hash"]) for m in want["models"]
        ]
    assert {e["name"]: e["n_runs"] for e in old.runs.experiments()} == {
        e["name"]: e["n_runs"] for e in EXPECTED["experiments"]
    }


def test_models_stages_aliases_and_gates_read_back(old: Registry) -> None:
    for want in EXPECTED["models"]:
        got = old.models.get(want["name"])
        assert got["aliases"] == want["aliases"]
        assert got["production_version"] == want["production_version"]
        assert [(v["version"], v["stage"], v["object_hash"]) for v in got["versions"]] == [
            (v["version"], v["stage"], v["object_hash"]) for v in want["versions"]
        ]
        assert [(t["version"], t["from_stage"], t["to_stage"]) for t in got["transitions"]] == [
            (t["version"], t["from_stage"], t["to_stage"]) for t in want["transitions"]
        ]
        assert [(g["gate"], bool(g["passed"])) for g in got["gate_results"]] == [
            (g["gate"], g["passed"]) for g in want["gate_results"]
        ]


def test_stored_objects_keep_their_hashes_and_the_production_model_loads(old: Registry) -> None:
    for digest, size in EXPECTED["objects"].items():
        data = old.objects.get_bytes(digest)
        assert len(data) == size and hashlib.sha256(data).hexdigest() == digest
    model = mlnb.load_model("churn@production", registry=old)
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(5, 3)),
        columns=["tenure", "monthly_charges", "support_calls"],
    )
    assert len(model.predict(frame)) == 5


def test_monitors_alerts_and_pipelines_read_back(old: Registry) -> None:
    monitors = {m["name"]: m for m in old.monitors.find()}
    for want in EXPECTED["monitors"]:
        assert monitors[want["name"]]["n_batches"] == want["batches"]
        assert monitors[want["name"]]["open_alerts"] == want["open_alerts"]
    alerts = old.alerts.find(limit=None)
    assert len(alerts) == EXPECTED["alert_count"]
    assert sorted((a["kind"], a["status"]) for a in alerts) == sorted(
        (a["kind"], a["status"]) for a in EXPECTED["alerts"]
    )
    assert sorted((p["name"], p["status"]) for p in old.pipelines.find()) == sorted(
        (p["name"], p["status"]) for p in EXPECTED["pipelines"]
    )


def test_an_old_monitor_scores_with_its_stored_profile_and_shows_its_old_reports(
    old: Registry,
) -> None:
    """Profiles and reports are stored as JSON with a format tag: the tag must not change."""
    monitor = mlnb.Monitor.load("churn", registry=old)
    history = monitor.history()
    assert len(history) == EXPECTED["monitors"][0]["batches"]
    assert "<img" in monitor.panel()._repr_html_()  # old batch reports parse and render
    rng = np.random.default_rng(1)
    batch = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, 300),
            "monthly_charges": rng.normal(65, 20, 300),
            "support_calls": rng.integers(0, 5, 300),
        }
    )
    report = monitor.score(batch)  # the stored profile parses
    assert {c.column for c in report.columns} >= {"tenure", "monthly_charges", "support_calls"}


def test_an_old_registry_takes_new_runs(old: Registry) -> None:
    before = len(old.runs.find(limit=None))
    with mlnb.track("after-upgrade", registry=old) as run:
        run.log_metric("accuracy", 0.9)
    assert len(old.runs.find(limit=None)) == before + 1
    assert old.db.integrity_check() == "ok"


# -- records match their TypedDicts ---------------------------------------------------------


def record_problems(kind: type, record: typing.Mapping[str, object]) -> list[str]:
    """What is wrong with ``record`` as a ``kind``: required keys missing, keys undeclared."""
    hints = typing.get_type_hints(kind, include_extras=True)
    missing = set(kind.__required_keys__) - set(record)
    extra = set(record) - set(hints)
    if missing or extra:
        return [f"{kind.__name__}: missing {sorted(missing)}, undeclared {sorted(extra)}"]
    return []


def check_record(kind: type, record: typing.Mapping[str, object]) -> None:
    problems = record_problems(kind, record)
    assert not problems, problems


def test_store_records_have_the_keys_their_types_declare(old: Registry) -> None:
    run = old.runs.find(limit=None)[0]
    samples: list[tuple[type, object]] = [
        (records.RunRecord, old.runs.get(run["id"])),
        (records.RunRecord, run),
        (records.RunRecord, old.runs.row(run["id"])),
        (records.ExperimentRecord, old.runs.experiments()[0]),
        (records.DataVersionRecord, old.data.find()[0]),
        (records.DataVersionRecord, old.data.get(old.data.find()[0]["id"])),
        (records.DataLinkRecord, old.runs.get(1)["data"][0]),
        (records.ArtifactRecord, old.models.artifact(1)),
        (records.ModelVersionRecord, old.models.resolve("churn@production")),
        (records.ModelVersionRecord, old.models.version("churn", 1)),
        (records.TransitionRecord, old.models.get("churn")["transitions"][0]),
        (records.GateResultRecord, old.models.get("churn")["gate_results"][0]),
        (records.AlertRecord, old.alerts.find()[0]),
        (records.AlertRecord, old.alerts.get(old.alerts.find()[0]["id"])),
        (records.MonitorRecord, old.monitors.find()[0]),
        (records.MonitorRecord, old.monitors.get("churn")),
        (records.BatchRecord, old.monitors.batches(old.monitors.find()[0]["id"])[0]),
        (records.PipelineRecord, old.pipelines.find()[0]),
        (records.PipelineRecord, old.pipelines.get("churn-train")),
    ]
    problems = [p for kind, record in samples for p in record_problems(kind, record)]
    assert not problems, "\n".join(problems)


def test_pipeline_run_records_have_their_declared_keys(old: Registry) -> None:
    pipeline = old.pipelines.get("churn-train")
    run_id = old.pipelines.enqueue_run(pipeline["id"], "manual", "record check")
    assert run_id is not None
    check_record(records.PipelineRunRecord, old.pipelines.run(run_id))
    check_record(records.PipelineRunRecord, old.pipelines.runs(pipeline["id"])[0])


def test_an_old_registry_migrates_to_take_interrupted_runs(old: Registry) -> None:
    run_id = old.runs.start(experiment="after-upgrade", name="stopped")
    old.runs.end(run_id, "interrupted", "KeyboardInterrupt")
    assert old.runs.get(run_id)["status"] == "interrupted"
    assert [r["id"] for r in old.runs.find(status="interrupted", limit=None)] == [run_id]
    assert [tuple(r) for r in old.db.query("PRAGMA integrity_check")] == [("ok",)]
    reopened = Registry(old.home, create=False)  # a second connection sees the new schema
    try:
        second = reopened.runs.start(experiment="after-upgrade", name="again")
        reopened.runs.end(second, "interrupted")
        with pytest.raises(Exception, match="CHECK"):
            with reopened.db.transaction() as c:
                c.execute("UPDATE runs SET status = 'bogus' WHERE id = ?", (second,))
    finally:
        reopened.close()
