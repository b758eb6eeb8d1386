"""Defining pipelines from Python, the shell and the notebook: the parameters cell,
refusals with reasons, and the list/show/pause/resume/delete/export commands."""

from __future__ import annotations

import json

import pytest

import mlnb
from mlnb.cli import main
from mlnb.errors import NotFoundError, ValidationError
from mlnb.pipelines.api import (
    create_pipeline,
    delete_pipeline,
    describe_pipeline,
    list_pipelines,
    pipeline_history,
    set_pipeline_status,
)
from tests.conftest import run_cell
from tests.pipelines.conftest import write_notebook


def test_create_stores_the_pipeline_with_its_triggers(registry, notebook, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    p = mlnb.create_pipeline(
        "churn-train",
        notebook,
        schedule="0 3 * * *",
        timezone="Europe/Berlin",
        params={"n": 5},
        on_new_data=[str(data)],
        on_alert="churn:accuracy_below_threshold",
    )
    assert p["status"] == "active"
    assert p["triggers"] == ["schedule", "new_data", "alert"]
    assert p["next_run_at"].endswith(("+01:00", "+02:00"))  # Berlin time, stated
    cfg = registry.pipelines.get("churn-train")["config"]
    assert cfg["params"] == {"n": 5}
    assert cfg["alert_kinds"] == ["accuracy_below_threshold"]
    assert cfg["data_baseline"][str(data.resolve())] == mlnb.fingerprint(data)
    assert "no monitor named 'churn' yet" in " ".join(p["messages"])


def test_missing_notebook_and_invalid_cron_are_refused(registry, notebook, tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        mlnb.create_pipeline("x", tmp_path / "nope.ipynb")
    with pytest.raises(ValidationError, match="minute field"):
        mlnb.create_pipeline("x", notebook, schedule="99 * * * *")
    with pytest.raises(ValidationError, match="not set in the parameters cell"):
        mlnb.create_pipeline("x", notebook, params={"n_estimator": 3})
    with pytest.raises(ValidationError, match="no such file or folder"):
        mlnb.create_pipeline("x", notebook, on_new_data=[str(tmp_path / "missing.csv")])
    assert registry.pipelines.find() == []


def test_without_parameters_cell_it_names_the_cell_it_would_tag(registry, tmp_path):
    nb = write_notebook(
        tmp_path / "untagged.ipynb",
        ["import math", "n_estimators = 100\nseed = 7", "print(n_estimators)"],
        tag_first=False,
    )
    with pytest.raises(ValidationError) as err:
        mlnb.create_pipeline("t", nb)
    assert "cell 2 (n_estimators = 100, seed = 7)" in str(err.value)
    assert "--tag-parameters" in str(err.value)
    p = mlnb.create_pipeline("t", nb, tag_parameters=True)
    assert p["messages"][0].startswith("tagged cell 2")
    cells = json.loads(nb.read_text())["cells"]
    assert cells[1]["metadata"]["tags"] == ["parameters"]
    assert "tags" not in cells[0]["metadata"]


def test_a_notebook_without_any_literal_cell_is_refused(registry, tmp_path):
    nb = write_notebook(tmp_path / "bare.ipynb", ["import os\nx = os.getcwd()"], tag_first=False)
    with pytest.raises(ValidationError, match="no cell made only of literal assignments"):
        mlnb.create_pipeline("bare", nb, tag_parameters=True)


def test_same_create_twice_changes_nothing_but_a_different_one_needs_replace(registry, notebook):
    mlnb.create_pipeline("p", notebook, schedule="@daily")
    again = mlnb.create_pipeline("p", notebook, schedule="@daily")
    assert "nothing changed" in again["messages"][0]
    with pytest.raises(ValidationError, match="different schedule"):
        mlnb.create_pipeline("p", notebook, schedule="@hourly")
    assert (
        mlnb.create_pipeline("p", notebook, schedule="@hourly", replace=True)["config"]["schedule"]
        == "@hourly"
    )


def test_cli_create_list_show_pause_resume_export_delete(registry_home, notebook, capsys):
    r = ["--registry", str(registry_home)]
    assert (
        main(
            [
                *r,
                "pipeline",
                "create",
                "nightly",
                str(notebook),
                "--schedule",
                "30 2 * * *",
                "--timezone",
                "America/New_York",
                "-p",
                "n=4",
                "--retries",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "pipeline nightly (active)" in out and "30 2 * * * (America/New_York)" in out
    assert main([*r, "pipeline", "create", "bad", str(notebook), "--schedule", "0 3 * *"]) == 1
    assert "expected 5 fields" in capsys.readouterr().err
    assert main([*r, "pipeline", "list"]) == 0
    assert "nightly" in capsys.readouterr().out
    assert main([*r, "pipeline", "pause", "nightly"]) == 0
    assert "paused" in capsys.readouterr().out
    assert main([*r, "--json", "pipeline", "show", "nightly"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "paused" and shown["next_run_at"] is None
    assert main([*r, "pipeline", "resume", "nightly"]) == 0
    assert "next scheduled run" in capsys.readouterr().out
    assert main([*r, "pipeline", "export", "nightly", "--crontab"]) == 0
    cron = capsys.readouterr().out
    assert "scheduler --once" in cron and f"MLNB_HOME={registry_home}" in cron
    assert main([*r, "pipeline", "export", "nightly", "--systemd"]) == 0
    unit = capsys.readouterr().out
    assert "ExecStart=" in unit and "scheduler" in unit and "Restart=on-failure" in unit
    assert main([*r, "pipeline", "history", "nightly"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert main([*r, "pipeline", "delete", "nightly"]) == 0
    assert main([*r, "pipeline", "show", "nightly"]) == 1
    assert "no pipeline named 'nightly'" in capsys.readouterr().err


def test_magic_creates_the_pipeline_of_this_notebook(ip, notebook, monkeypatch, capsys):
    monkeypatch.setenv("MLNB_NOTEBOOK_PATH", str(notebook))
    result = run_cell(ip, '%pipeline create churn-train --schedule "0 3 * * *" --param n=9')
    assert result.success, result.error_in_exec
    from mlnb.store.registry import get_registry

    stored = get_registry().pipelines.get("churn-train")
    assert stored["notebook_path"] == str(notebook.resolve())
    assert stored["config"]["params"] == {"n": 9}
    bad = run_cell(ip, '%pipeline create other --schedule "0 3 * * * * * *"')
    assert not bad.success and "expected 5 fields" in str(bad.error_in_exec)
    assert run_cell(ip, "%pipeline list").success
    assert "churn-train" in capsys.readouterr().out


def test_magic_inside_a_pipeline_run_leaves_the_definition_alone(ip, notebook, monkeypatch, capsys):
    monkeypatch.setenv("MLNB_NOTEBOOK_PATH", str(notebook))
    assert run_cell(ip, "%pipeline create p --schedule @daily").success
    monkeypatch.setenv("MLNB_PIPELINE_RUN_ID", "12")
    assert run_cell(ip, "%pipeline create p --schedule @hourly").success
    assert "inside pipeline run #12" in capsys.readouterr().out
    from mlnb.store.registry import get_registry

    assert get_registry().pipelines.get("p")["config"]["schedule"] == "@daily"


def test_registry_facade_reads_and_changes_pipelines(registry, notebook):
    create_pipeline("p", notebook, schedule="@hourly", registry=registry)
    assert [p["name"] for p in list_pipelines(registry=registry)] == ["p"]
    assert set_pipeline_status("p", "paused", registry=registry)["status"] == "paused"
    assert describe_pipeline("p", registry=registry)["next_run_at"] is None
    assert set_pipeline_status("p", "active", registry=registry)["next_run_at"] is not None
    assert pipeline_history("p", registry=registry) == []
    delete_pipeline("p", registry=registry)
    assert list_pipelines(registry=registry) == []


def test_magic_shows_history_and_one_run(ip, notebook, monkeypatch):
    from mlnb.store.registry import get_registry

    reg = get_registry()
    p = mlnb.create_pipeline("p", notebook, registry=reg)
    run_id = reg.pipelines.enqueue_run(p["id"], "alert", "alert #4 from monitor churn")
    reg.pipelines.update_run(
        run_id,
        {
            "status": "failed",
            "started_at": 100.0,
            "ended_at": 103.5,
            "error": "ValueError: <bad> (cell 3)",
            "failing_cell": 2,
        },
    )
    history = run_cell(ip, "%pipeline history p").result
    html = history._repr_html_()
    assert "alert" in html and "&lt;bad&gt;" in html and "<bad>" not in html
    assert "3.5 s" in repr(history)
    shown = repr(run_cell(ip, f"%pipeline show p {run_id}").result)
    assert "trigger:      alert: alert #4 from monitor churn" in shown
    assert "failing cell: 3" in shown
    assert not run_cell(ip, "%pipeline frobnicate").success
