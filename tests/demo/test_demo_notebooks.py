"""The churn story of demo_notebooks/, executed headless as `make demo` does, checked
through the registry: the alert fired, the pipeline retrained and production moved."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mlnb.lifecycle.versions import lineage_record
from mlnb.store.registry import Registry

DEMO = Path(__file__).resolve().parents[2] / "demo_notebooks"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    for name in (
        "churn_data.py",
        "gates.yaml",
        "run_demo.py",
        "01_train.ipynb",
        "02_monitor.ipynb",
        "03_pipeline.ipynb",
    ):
        shutil.copy(DEMO / name, work / name)
    done = subprocess.run(
        [sys.executable, str(work / "run_demo.py")],
        capture_output=True,
        text=True,
        timeout=1200,  # the notebooks, then the served-model section (two papermill runs)
        cwd=work,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, done.stdout


def test_demo_report_tells_the_story(demo_run):
    _, out = demo_run
    for heading in (
        "== runs ==",
        "== model versions ==",
        "== monitoring ==",
        "== alerts ==",
        "== pipeline runs ==",
        "== lineage of production models ==",
    ):
        assert heading in out
    assert "make lab" in out


def test_alert_fired_below_82_percent_and_pipeline_retrained(demo_run):
    work, _ = demo_run
    reg = Registry(work / ".mlnb")
    alerts = reg.alerts.find()
    accuracy_alerts = [a for a in alerts if a["kind"] == "accuracy_below_threshold"]
    # the months below 82% are one incident: the pipeline handled it, month 7 resolved it
    [incident] = accuracy_alerts
    assert incident["evidence"]["value"] < 0.82 and incident["breach_count"] >= 2
    assert incident["handled_by"] == "pipeline:churn-train"
    assert incident["status"] == "resolved"
    assert incident["evidence"]["recovery"].startswith("recovered: accuracy")
    [prun] = reg.db.query("SELECT * FROM pipeline_runs")
    assert prun["trigger"] == "alert" and prun["status"] == "finished"
    batches = reg.monitors.batches(reg.monitors.get("churn")["id"], with_reports=False)
    accuracy = [b["metrics"]["accuracy"] for b in batches]
    assert accuracy[0] > 0.88 and min(accuracy) < 0.65  # ~93% sliding towards ~55%
    assert accuracy[-1] > 0.84  # month 7, scored by the retrained model


def test_production_moved_to_the_retrained_version_with_lineage_to_new_data(demo_run):
    work, _ = demo_run
    reg = Registry(work / ".mlnb")
    lineage = lineage_record(reg, "churn@production")
    assert lineage["version"] == 2
    assert lineage["run"]["pipeline_run_id"] is not None
    inputs = [d for d in lineage["run"]["data"] if d["role"] == "input" and d["kind"] == "file"]
    assert sorted(Path(d["source_path"]).name for d in inputs) == [
        "customers_2026_06.csv",
        "customers_2026_07.csv",
    ]
    month0 = lineage_record(reg, "churn/1")
    first_inputs = {d["id"] for d in month0["run"]["data"] if d["role"] == "input"}
    assert not first_inputs & {d["id"] for d in inputs}  # a genuinely new data version
    stages = {
        v["version"]: v["stage"] for v in reg.db.query("SELECT version, stage FROM model_versions")
    }
    assert stages == {1: "archived", 2: "production"}


def test_output_notebooks_carry_static_panels(demo_run):
    work, _ = demo_run
    monitor_nb = nbformat.read(work / "out" / "02_monitor.ipynb", as_version=4)
    html = "".join(
        o.get("data", {}).get("text/html", "")
        for c in monitor_nb.cells
        for o in c.get("outputs", [])
    )
    assert "data:image/svg+xml;base64," in html  # the drift charts, as images
    assert "drift" in html


def test_the_served_model_swaps_after_the_alert_retrains(demo_run):
    work, out = demo_run
    assert "serving: mlnb serve churn@production" in out
    assert "month 1: 2000 customers, 40 requests by v1" in out
    assert "alerts: accuracy_below_threshold" in out
    assert "pipeline churn-train run #1 (alert): finished -> production is now v2" in out
    month8 = [line for line in out.splitlines() if line.strip().startswith("month 8:")][0]
    assert "40 requests by v2" in month8  # the running server swapped to the retrained v2
    story = out[out.rindex("serving: mlnb serve churn@production") :]  # the story's last print
    assert story.count("pipeline churn-train run #") == 1  # one incident, one retrain
    assert "estimated accuracy 0." in out  # before labels, from the logged probabilities
    assert "month 4's labels sent to /feedback" in out  # labels arrive a month late
    reg = Registry(work / "out" / "serving" / ".mlnb")
    deployment = reg.deployments.find()[0]
    assert deployment["status"] == "stopped" and deployment["rows_dropped"] == 0
    assert deployment["rows_logged"] == 8 * 2000


def test_the_estimate_alerts_before_the_labels_and_the_labels_confirm_it(demo_run):
    """Estimated accuracy first (at traffic time), realized after (a month later, when the
    labels come): the same window, one incident, one retrain."""
    work, out = demo_run
    story = out[out.rindex("serving: mlnb serve churn@production") :].splitlines()
    estimated_line = next(i for i, s in enumerate(story) if "estimated_accuracy_below" in s)
    realized_line = next(i for i, s in enumerate(story) if "alerts: accuracy_below" in s)
    labels_line = next(i for i, s in enumerate(story) if "month 4's labels sent" in s)
    assert story[estimated_line - 1].strip().startswith("month 4:")  # month 4's own traffic
    assert estimated_line < labels_line < realized_line
    assert "(v1)" in story[realized_line]  # the labels judge the version that served them

    reg = Registry(work / "out" / "serving" / ".mlnb")
    alerts = reg.alerts.find(status=None, limit=200)
    [estimated] = [a for a in alerts if a["kind"] == "estimated_accuracy_below_threshold"]
    [realized] = [a for a in alerts if a["kind"] == "accuracy_below_threshold"]
    assert estimated["first_batch_id"] == realized["first_batch_id"]  # the same window
    assert estimated["id"] < realized["id"]
    assert estimated["evidence"]["value"] < 0.80 and realized["evidence"]["value"] < 0.80
    window = next(
        w for w in reg.deployments.windows(1) if w["batch_id"] == estimated["first_batch_id"]
    )
    requests = reg.deployments.window_requests(window)
    assert {r["version"] for r in requests} == {1}
    assert estimated["created_at"] < min(r["labelled_at"] for r in requests)  # before labels
    assert realized["created_at"] > max(r["labelled_at"] for r in requests)
    assert realized["evidence"]["confirms"] == estimated["id"]
    assert realized["handled_by"] == estimated["handled_by"] == "pipeline:churn-train"
    [prun] = reg.db.query("SELECT * FROM pipeline_runs")
    assert prun["trigger"] == "alert" and f"alert #{estimated['id']} " in prun["reason"]


def test_the_retrained_version_holds_with_its_own_calibration(demo_run):
    """v2 serves months 5-8 above the bar, estimated with v2's calibration (re-fitted on its
    gate's holdout after the swap) and realized: no second incident."""
    work, _ = demo_run
    reg = Registry(work / "out" / "serving" / ".mlnb")
    monitor = reg.monitors.get("churn")
    assert monitor["config"]["estimator"]["model_version"] == 2
    by_v2 = [
        reg.monitors.batch(w["batch_id"])
        for w in reg.deployments.windows(1)
        if {r["version"] for r in reg.deployments.window_requests(w)} == {2}
    ]
    assert len(by_v2) == 4  # months 5-8
    assert all(b["estimates"]["accuracy"]["value"] > 0.84 for b in by_v2)
    assert all(b["metrics"]["accuracy"] > 0.84 for b in by_v2[:-1])  # month 8: no labels yet
    later = [a for a in reg.alerts.find(status=None, limit=200) if "accuracy" in a["kind"]]
    assert len(later) == 2  # the estimated incident and its confirmation, nothing after
