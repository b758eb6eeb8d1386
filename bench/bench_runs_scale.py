"""Costs that must not grow with the registry: a sorted top-50 run listing, the sidebar's
refresh and its change token, at 1k, 10k and 100k runs (the token also at 1M).

    .venv/bin/python bench/bench_runs_scale.py            # growth table (about 2 minutes)
    .venv/bin/python bench/bench_runs_scale.py --sizes 1000 10000

Each size gets a registry filled in bulk (runs with 3 params and 3 metrics, 10 experiments),
then: top 50 by a metric through ``reg.runs.find`` (what the API, CLI and REST call), the same
order by the plain-SQL floor (one indexed query for the ids, nothing else), the Python sort of
every run that ``find`` used before (for the record), the store calls of one sidebar refresh,
and the change token. Medians of 7 after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMAND = ".venv/bin/python bench/bench_runs_scale.py"
TOP = 50
GOALS = {"sorted_top50": 0.030, "sidebar_refresh": 0.050, "change_token": 0.001}


def median(func: Callable[[], Any], repeats: int = 7) -> float:
    func()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fill(reg: Any, n_runs: int, with_details: bool = True) -> None:
    """Bulk-insert ``n_runs`` finished runs through the registry's own connection (triggers on,
    exactly as runs recorded one by one would leave the tables)."""
    from mlnb.store.connection import now

    t = now()
    with reg.db.transaction() as c:
        c.executemany(
            "INSERT OR IGNORE INTO experiments(name, created_at) VALUES (?, ?)",
            [(f"exp-{i}", t) for i in range(10)],
        )
        exp_ids = [r[0] for r in c.execute("SELECT id FROM experiments ORDER BY id")]
        c.executemany(
            "INSERT INTO runs(uuid, experiment_id, name, status, source, started_at, ended_at, "
            "heartbeat_at) VALUES (?, ?, ?, 'finished', 'script', ?, ?, ?)",
            (
                (uuid.uuid4().hex, exp_ids[i % 10], f"run-{i}", t + i, t + i + 1, t + i)
                for i in range(n_runs)
            ),
        )
        if not with_details:
            return
        ids = [r[0] for r in c.execute("SELECT id FROM runs ORDER BY id")]
        c.executemany(
            "INSERT INTO params(run_id, key, value) VALUES (?, ?, ?)",
            (
                (rid, key, json.dumps(value))
                for rid in ids
                for key, value in (("C", (rid % 97) / 10), ("max_depth", rid % 12), ("kind", "lr"))
            ),
        )
        c.executemany(
            "INSERT INTO metrics(run_id, key, value, step, timestamp) VALUES (?, ?, ?, 0, ?)",
            (
                (rid, key, value, t)
                for rid in ids
                for key, value in (
                    ("accuracy", ((rid * 7919) % 10007) / 10007),
                    ("f1", ((rid * 104729) % 10009) / 10009),
                    ("loss", ((rid * 31) % 1009) / 1009),
                )
            ),
        )


def plain_sql_top(reg: Any) -> list[int]:
    """The floor: one indexed query for the ids of the top 50 by a metric."""
    rows = reg.db.query_tuples(
        "SELECT run_id FROM latest_metrics WHERE key = 'accuracy' "
        "ORDER BY value DESC, run_id DESC LIMIT ?",
        [TOP],
    )
    return [r[0] for r in rows]


def python_sort_top(reg: Any) -> list[int]:
    """What ``find(sort=...)`` did before: read every run with details, sort in Python."""
    from mlnb.store.runs import sort_runs

    runs = reg.runs.find(limit=None)
    return [r["id"] for r in sort_runs(runs, "accuracy", True)[:TOP]]


def sidebar_refresh(reg: Any) -> None:
    """The store calls behind one sidebar refresh: the change token, the top runs by a
    metric, experiments, every model with its versions, pipelines, monitors, open alerts."""
    reg.change_counters()
    reg.runs.find(limit=TOP, sort="accuracy")
    reg.runs.experiments()
    reg.models.find()
    reg.pipelines.find()
    reg.monitors.find()
    reg.alerts.find(status="open")


def measure(n_runs: int, with_python: bool = True) -> dict[str, Any]:
    from mlnb.store.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(Path(tmp) / "registry")
        try:
            fill(reg, n_runs)
            got = [r["id"] for r in reg.runs.find(limit=TOP, sort="accuracy", with_details=False)]
            assert got == plain_sql_top(reg), "find and the floor disagree"
            out: dict[str, Any] = {
                "runs": n_runs,
                "sorted_top50": median(lambda: reg.runs.find(limit=TOP, sort="accuracy")),
                "sorted_top50_by_param": median(lambda: reg.runs.find(limit=TOP, sort="C")),
                "plain_sql_floor": median(lambda: plain_sql_top(reg)),
                "sidebar_refresh": median(lambda: sidebar_refresh(reg)),
                "change_token": median(reg.change_counters, repeats=51),
            }
            if with_python:
                out["python_sort_before"] = median(lambda: python_sort_top(reg), repeats=3)
            return out
        finally:
            reg.close()


def token_at(n_runs: int) -> float:
    """The change token's read time with ``n_runs`` runs (no params or metrics needed)."""
    from mlnb.store.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(Path(tmp) / "registry")
        try:
            fill(reg, n_runs, with_details=False)
            return median(reg.change_counters, repeats=101)
        finally:
            reg.close()


def record_run_seconds(synchronous: str, n: int = 300) -> float:
    """Per-run time of a run with 2 params and 2 metrics under ``MLNB_SYNCHRONOUS``."""
    import mlnb
    from mlnb.store.registry import Registry

    previous = os.environ.get("MLNB_SYNCHRONOUS")
    os.environ["MLNB_SYNCHRONOUS"] = synchronous
    try:
        with tempfile.TemporaryDirectory() as tmp:
            reg = Registry(Path(tmp) / "registry")

            def runs() -> None:
                for i in range(n):
                    with mlnb.track(name=f"r{i}", experiment="bench", registry=reg) as run:
                        run.log_param("alpha", 0.1 * i)
                        run.log_param("solver", "lbfgs")
                        run.log_metric("accuracy", 0.8 + i * 1e-4)
                        run.log_metric("loss", 1.0 / (i + 1))

            try:
                return median(runs, repeats=3) / n
            finally:
                reg.close()
    finally:
        if previous is None:
            os.environ.pop("MLNB_SYNCHRONOUS", None)
        else:
            os.environ["MLNB_SYNCHRONOUS"] = previous


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def table(results: list[dict[str, Any]]) -> str:
    keys = [
        ("sorted_top50", "top 50 by metric"),
        ("sorted_top50_by_param", "top 50 by param"),
        ("plain_sql_floor", "plain-SQL floor"),
        ("python_sort_before", "before: Python sort"),
        ("sidebar_refresh", "sidebar refresh"),
        ("change_token", "change token"),
    ]
    header = ["runs"] + [label for _, label in keys]
    lines = [[f"{r['runs']:,}"] + [fmt(r.get(k)) for k, _ in keys] for r in results]
    widths = [max(len(c) for c in col) for col in zip(header, *lines, strict=True)]
    return "\n".join(
        " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        for row in [header, ["-" * w for w in widths], *lines]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--token-runs", type=int, default=1_000_000)
    args = parser.parse_args()
    results = [measure(n) for n in args.sizes]
    print(table(results))
    token = token_at(args.token_runs)
    print(f"\nchange token at {args.token_runs:,} runs: {fmt(token)} (goal <= 1 ms)")
    normal, full = record_run_seconds("normal"), record_run_seconds("full")
    print(
        f"record a run (2 params + 2 metrics): {fmt(normal)} with MLNB_SYNCHRONOUS=normal, "
        f"{fmt(full)} with full ({full / normal:.1f}x)"
    )
    print(f"load average: {os.getloadavg()[0]:.2f}   command: {COMMAND}")


if __name__ == "__main__":
    main()
