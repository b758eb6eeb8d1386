"""Real papermill executions of tiny notebooks in fresh kernels: parameters and identity
reach the kernel, failures name their cell, a dying kernel, timeouts, retries with backoff,
retention, the concurrency limit and alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlnb
from mlnb.cli import main
from mlnb.errors import ValidationError
from mlnb.pipelines.outcomes import apply_retention
from mlnb.pipelines.runner import RunExecutor
from tests.pipelines.conftest import write_notebook


def test_a_run_injects_parameters_and_links_what_the_notebook_tracks(registry, notebook, capsys):
    mlnb.create_pipeline("train", notebook, params={"n": 21})
    main(["pipeline", "run", "train", "--param", "label='b'"])
    out = capsys.readouterr().out
    assert "finished" in out
    (prun,) = mlnb.pipeline_history("train")
    assert prun["status"] == "finished" and prun["trigger"] == "manual"
    assert prun["started_at"] < prun["ended_at"] and prun["pid"] and prun["host"]
    (tracked,) = registry.runs.find(pipeline_run_id=prun["id"])
    assert tracked["metrics"] == {"score": 42.0}
    assert tracked["notebook_path"] == str(notebook.resolve())
    executed = json.loads(Path(prun["output_path"]).read_text())
    injected = [
        c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    assert "n = 21" in "".join(injected[0]["source"]) and 'label = "b"' in "".join(
        injected[0]["source"]
    )
    assert prun["output_path"].startswith(
        str(registry.home / "pipelines" / "train" / "runs" / f"{prun['id']}-")
    )
    assert "Executing Cell" in prun["log"]
    assert main(["pipeline", "output", str(prun["id"])]) == 0
    assert capsys.readouterr().out.strip() == prun["output_path"]


def test_a_failing_cell_is_named_stored_and_alerted(registry, tmp_path):
    nb = write_notebook(
        tmp_path / "bad.ipynb", ["n = 1", "x = n + 1", "raise ValueError(f'bad x={x}')"]
    )
    mlnb.create_pipeline("bad", nb)
    run = mlnb.run_pipeline("bad")
    assert run["status"] == "failed"
    assert run["failing_cell"] == 2
    assert run["error"].startswith("ValueError: bad x=2 (cell 3")
    (alert,) = registry.alerts.find(pipeline="bad")
    assert alert["kind"] == "pipeline_run_failed" and alert["source"] == "pipeline"
    assert alert["evidence"]["failing_cell"] == 2 and "bad x=2" in alert["message"]
    assert run["details"]["alerts"] == [alert["id"]]


def test_a_kernel_that_dies_mid_run_leaves_a_crashed_run_with_the_reason(registry, tmp_path):
    nb = write_notebook(
        tmp_path / "die.ipynb",
        ["n = 1", "print('before')", "import os\nos.kill(os.getpid(), 9)", "print('never')"],
    )
    mlnb.create_pipeline("die", nb)
    run = mlnb.run_pipeline("die")
    assert run["status"] == "crashed"
    assert run["failing_cell"] == 2
    assert "the kernel died while executing cell 3" in run["error"]
    assert Path(run["output_path"]).exists()
    assert registry.alerts.find(pipeline="die")[0]["kind"] == "pipeline_run_crashed"


def test_a_run_past_its_timeout_is_stopped_and_failed(registry, tmp_path):
    nb = write_notebook(tmp_path / "slow.ipynb", ["n = 1", "import time\ntime.sleep(600)"])
    # 20 s leaves room for a kernel that starts slowly on a busy machine (seen: > 10 s)
    mlnb.create_pipeline("slow", nb, timeout=20)
    run = mlnb.run_pipeline("slow")
    assert run["status"] == "failed"
    assert run["error"].startswith("timed out after 20 s")
    assert "while executing cell 2 ('import time')" in run["error"]
    assert run["failing_cell"] == 1
    assert run["ended_at"] - run["started_at"] < 40


def test_a_retry_recovers_a_flaky_run_and_keeps_the_failed_attempt(registry, tmp_path):
    marker = tmp_path / "attempts.txt"
    nb = write_notebook(
        tmp_path / "flaky.ipynb",
        [
            f"marker = {str(marker)!r}",
            "import pathlib\np = pathlib.Path(marker)\nk = int(p.read_text()) + 1 if p.exists() else 1\n"
            "p.write_text(str(k))\nif k < 2:\n    raise RuntimeError(f'flaky attempt {k}')",
        ],
    )
    mlnb.create_pipeline("flaky", nb, retries=3, retry_delay=10)
    pipeline = registry.pipelines.get("flaky")
    run_id = registry.pipelines.enqueue_run(pipeline["id"], "manual", "test")
    slept = []
    executor = RunExecutor(registry, sleep=slept.append)
    assert executor.claim(run_id, pipeline)
    run = executor.execute(run_id)
    assert run["status"] == "finished" and run["attempt"] == 2
    assert slept == [10]
    (attempt,) = run["details"]["attempts"]
    assert attempt["status"] == "failed" and "flaky attempt 1" in attempt["error"]
    assert Path(attempt["output_path"]).exists() and attempt["output_path"] != run["output_path"]
    assert registry.alerts.find(pipeline="flaky") == []  # it succeeded in the end


def test_retries_back_off_exponentially_then_alert_once(registry, notebook):
    mlnb.create_pipeline("doomed", notebook, retries=3, retry_delay=5)
    notebook.unlink()  # every attempt fails fast, before any kernel starts
    pipeline = registry.pipelines.get("doomed")
    run_id = registry.pipelines.enqueue_run(pipeline["id"], "manual", "test")
    slept = []
    executor = RunExecutor(registry, sleep=slept.append)
    assert executor.claim(run_id, pipeline)
    run = executor.execute(run_id)
    assert run["status"] == "failed" and run["attempt"] == 4
    assert slept == [5, 10, 20]
    assert len(run["details"]["attempts"]) == 3
    (alert,) = registry.alerts.find(pipeline="doomed")
    assert "after 4 attempts" in alert["message"]


def test_retention_keeps_the_last_n_outputs(registry, notebook, capsys):
    p = mlnb.create_pipeline("tiny", notebook, keep=2)
    folder = registry.home / "pipelines" / "tiny" / "runs"
    folder.mkdir(parents=True)
    ids = []
    for i in range(4):
        run_id = registry.pipelines.enqueue_run(p["id"], "manual", f"run {i}")
        out = folder / f"{run_id}-2026010{i}T000000.ipynb"
        out.write_text("{}")
        out.with_suffix(".log").write_text("log")
        registry.pipelines.update_run(run_id, {"status": "finished", "output_path": str(out)})
        ids.append(run_id)
    assert sorted(apply_retention(registry, registry.pipelines.get("tiny"))) == ids[:2]
    assert sorted(f.name for f in folder.iterdir()) == sorted(
        f"{Path(registry.pipelines.run(i)['output_path']).stem}{ext}"
        for i in ids[2:]
        for ext in (".ipynb", ".log")
    )
    oldest = registry.pipelines.run(ids[0])
    assert oldest["details"]["output_removed"] is True and oldest["status"] == "finished"
    assert main(["pipeline", "output", str(ids[0])]) == 1
    assert "removed by retention" in capsys.readouterr().err


def test_a_notebook_gone_at_run_time_fails_with_the_reason(registry, notebook):
    mlnb.create_pipeline("gone", notebook)
    notebook.unlink()
    run = mlnb.run_pipeline("gone")
    assert run["status"] == "failed" and "does not exist" in run["error"]


def test_a_manual_run_respects_the_concurrency_limit(registry, notebook):
    p = mlnb.create_pipeline("busy", notebook)
    blocking = registry.pipelines.enqueue_run(p["id"], "schedule", "x", "cron:x")
    assert RunExecutor(registry).claim(blocking, registry.pipelines.get("busy"))
    with pytest.raises(ValidationError, match=f"concurrency limit .* #{blocking}"):
        mlnb.run_pipeline("busy")


def test_the_default_kernel_runs_the_python_that_has_mlnb(
    registry, notebook, tmp_path, monkeypatch
):
    elsewhere = tmp_path / "jupyter-data" / "kernels" / "python3"
    elsewhere.mkdir(parents=True)
    (elsewhere / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    "/nonexistent/python",
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "Python 3 (somewhere else)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(elsewhere.parent.parent))  # first in Jupyter's search
    mlnb.create_pipeline("pinned", notebook)
    run = mlnb.run_pipeline("pinned")
    assert run["status"] == "finished", run["error"]
    assert "the python3 kernelspec would start /nonexistent/python" in run["log"]
    assert registry.runs.find(pipeline_run_id=run["id"])  # mlnb was importable in the kernel
