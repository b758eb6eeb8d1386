"""Eight processes writing runs, metrics and model versions to one registry at once, with
`mlnb runs` reading in between: zero errors, exact row counts, integrity_check ok.

The long version (8 x 500) is bench/bench_reliability.py; tests/tracking has 3 plain writers.
"""

from __future__ import annotations

from tests.reliability.figures import record_figure
from tests.reliability.workers import run_concurrency

WORKERS = 8
RUNS_EACH = 30


def test_eight_writers_lose_nothing_and_leave_a_sound_database(tmp_path):
    result = run_concurrency(str(tmp_path), WORKERS, RUNS_EACH, timeout=600)
    record_figure("concurrency_test", result)
    assert result["exit_codes"] == [0] * WORKERS
    assert result["errors"] == []
    expected = result["expected"]
    actual = result["actual"]
    assert actual["runs"] == actual["finished_runs"] == expected["runs"]
    for table in ("params", "metrics", "model_versions"):
        assert actual[table] == expected[table], table
    assert result["lost_rows"] == 0
    assert result["integrity"] == "ok"
