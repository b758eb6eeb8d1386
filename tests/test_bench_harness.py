"""Smoke test of the benchmark harness: its row registry and table, on fake numbers.

The benchmarks themselves run with `make bench`, never in the test suite.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("mlnb_bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_every_issue_row_is_registered_with_a_known_peer(bench):
    keys = [b.key for b in bench.BENCHMARKS]
    assert keys == [
        "record_run",
        "fingerprint",
        "track_overhead",
        "model_io",
        "load_ext",
        "list_runs",
        "runs_at_scale",
        "gate_overhead",
        "drift",
        "drift_panel",
        "pipeline_overhead",
        "scheduler_catchup",
    ]
    for b in bench.BENCHMARKS:
        assert b.doc, f"{b.key} needs a one-line docstring for --list"
        assert set(b.peers) <= set(bench.PEER_SCRIPTS), b.key
    for script in bench.PEER_SCRIPTS.values():
        compile(script.read_text(), str(script), "exec")


def test_a_benchmark_key_cannot_be_registered_twice(bench):
    with pytest.raises(ValueError, match="registered twice"):
        bench.benchmark("record_run")(lambda ctx: [])


def test_table_shows_values_ratios_targets_and_outcomes(bench):
    rows = [
        bench.Row("record a run", 0.0008, 0.016, "MLflow", target=">= 20x faster", ok=True),
        bench.Row("fingerprint", 0.012, 2.9, "MLflow", target="< 50 ms", ok=True),
        bench.Row(
            "edit at row 500,000", True, False, "MLflow", target="detected", ok=True, unit="yes/no"
        ),
        bench.Row("list runs", 0.140, target="< 100 ms", ok=False),
        bench.Row("peer missing", 0.002, None, "MLflow", note="no .venv-peers"),
    ]
    lines = bench.format_table(rows).splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "benchmark",
        "mlnb",
        "peer",
        "ratio",
        "target",
        "ok",
    ]
    assert len(lines) == 2 + len(rows)
    assert len({line.index("|") for line in lines if "|" in line}) == 1  # columns line up
    cells = [[c.strip() for c in line.split("|")] for line in lines[2:]]
    assert cells[0] == ["record a run", "800 us", "16 ms (MLflow)", "20x", ">= 20x faster", "ok"]
    assert cells[1][1:4] == ["12 ms", "2.9 s (MLflow)", "242x"]
    assert cells[2][1:4] == ["yes", "no (MLflow)", "-"]
    assert cells[3][1:] == ["140 ms", "-", "-", "< 100 ms", "MISSED"]
    assert cells[4][1:4] == ["2 ms", "n/a (MLflow)", "-"]


def test_ratio_is_peer_time_over_mlnb_time(bench):
    assert bench.Row("x", 0.5, 2.0).ratio == pytest.approx(4.0)
    assert bench.Row("x", 0.5, None).ratio is None
    assert bench.Row("x", True, False, unit="yes/no").ratio is None
    assert bench.format_ratio(4.0) == "4.0x"
    assert bench.format_ratio(1234.4) == "1,234x"


def test_report_names_misses_peer_versions_and_the_command(bench, tmp_path):
    ctx = bench.Context(tmp_path)
    ctx._peer_results["mlflow"] = {"versions": {"mlflow": "3.1.0"}}
    rows = [bench.Row("list runs", 0.2, target="< 100 ms", ok=False, note="slow disk")]
    text = bench.report(rows, ctx, "make bench")
    assert "1 row(s) missed their target: list runs" in text
    assert "mlflow 3.1.0" in text
    assert "list runs: slow disk" in text
    assert "reproduce: make bench" in text
    out = tmp_path / "latest.json"
    bench.write_results(rows, ctx, "make bench", out)
    assert '"ratio": null' in out.read_text()


def test_missing_peer_environment_becomes_a_note_not_a_crash(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "PEERS_PYTHON", tmp_path / "no-venv" / "bin" / "python")
    ctx = bench.Context(tmp_path)
    ctx.run_peers({"mlflow": ["runs"]})
    assert ctx.peer("mlflow", "runs") is None
    assert "setup_peers.sh" in ctx.peer_errors["mlflow"]


def test_json_scripts_report_results_or_their_error(bench, tmp_path):
    good = tmp_path / "good.py"
    good.write_text(
        "import json, sys\nprint('noise')\nprint(json.dumps({'echo': json.load(open(sys.argv[1]))}))\n"
    )
    assert bench.run_json_script(Path(sys.executable), good, {"a": 1}, tmp_path) == {
        "echo": {"a": 1}
    }
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit('peer exploded')\n")
    with pytest.raises(RuntimeError, match="peer exploded"):
        bench.run_json_script(Path(sys.executable), bad, {}, tmp_path)
