"""Reliability benchmarks: the long versions of tests/reliability (not part of `make test`).

  python bench/bench_reliability.py concurrency [--workers 8] [--runs 500]
      8 processes each writing 500 runs (params, 3 metrics, a model version every 10th run,
      `mlnb runs` reads every 20th) into one registry: errors, lost rows, seconds, integrity.
  python bench/bench_reliability.py soak [--runs 200]
      `mlnb scheduler` runs N short pipeline runs back to back while another process logs
      monitor batches; RSS and open fds of the scheduler are sampled: first/last/max and the
      slope over the second half, and every run must be accounted for.

Results print as JSON and are written to bench/results/reliability-<name>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"


def concurrency(workers: int, runs: int) -> dict:
    from tests.reliability.workers import run_concurrency

    with tempfile.TemporaryDirectory(prefix="mlnb-rel-") as home:
        result = run_concurrency(home, workers, runs)
    result["errors_count"] = len(result.pop("errors"))
    return result


TINY_NOTEBOOK_CELLS = [
    "n = 1",
    "import mlnb\nwith mlnb.track('soak'):\n    mlnb.log_metric('n', n)",
]


def _write_notebook(path: Path, cells: list[str]) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {"tags": ["parameters"]} if i == 0 else {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


def _monitor_loop(home: str, stop_after: float, done_path: str) -> None:
    """Log a monitor batch every ~0.5 s until ``stop_after`` seconds pass or ``done_path``
    exists; writes the number of batches logged to ``done_path + '.count'``."""
    os.environ["MLNB_HOME"] = home
    import numpy as np
    import pandas as pd

    from mlnb import Monitor

    rng = np.random.default_rng(0)

    def frame(n: int, shift: float = 0.0) -> pd.DataFrame:
        return pd.DataFrame(
            {"a": rng.normal(shift, 1, n), "b": rng.integers(0, 5, n), "y": rng.integers(0, 2, n)}
        )

    mon = Monitor(name="soak", reference=frame(2000), target="y")
    count, errors = 0, 0
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline and not os.path.exists(done_path):
        try:
            mon.log_batch(frame(500, shift=count % 3 * 0.2))
            count += 1
        except Exception:
            errors += 1
        time.sleep(0.5)
    Path(done_path + ".count").write_text(json.dumps({"batches": count, "errors": errors}))


def _sample(pid: int) -> tuple[float, int] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss_kb = int(
            next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
        )
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None
    return rss_kb / 1024, fds


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (units per minute) over the second half of the samples."""
    half = points[len(points) // 2 :]
    if len(half) < 2:
        return 0.0
    n = len(half)
    mx = sum(t for t, _ in half) / n
    my = sum(v for _, v in half) / n
    den = sum((t - mx) ** 2 for t, _ in half) or 1.0
    return sum((t - mx) * (v - my) for t, v in half) / den * 60


def soak(runs: int) -> dict:
    import mlnb
    from mlnb.store.registry import Registry

    with tempfile.TemporaryDirectory(prefix="mlnb-soak-") as tmp:
        home = Path(tmp) / "registry"
        reg = Registry(home)
        nb = _write_notebook(Path(tmp) / "tiny.ipynb", TINY_NOTEBOOK_CELLS)
        p = mlnb.create_pipeline("soak", nb, registry=reg)
        queued = [reg.pipelines.enqueue_run(p["id"], "manual", f"soak {i}") for i in range(runs)]
        done_path = str(Path(tmp) / "stop")
        monitor = mp.get_context("spawn").Process(
            target=_monitor_loop, args=(str(home), runs * 30.0, done_path)
        )
        monitor.start()
        env = {**os.environ, "MLNB_HOME": str(home), "PYTHONPATH": str(ROOT)}
        sched = subprocess.Popen(
            [sys.executable, "-m", "mlnb", "scheduler", "--poll", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        rss: list[tuple[float, float]] = []
        fds: list[tuple[float, float]] = []
        try:
            while True:
                s = _sample(sched.pid)
                t = time.monotonic() - started
                pending, finished = reg.db.query(
                    "SELECT SUM(status IN ('queued', 'running')), SUM(status = 'finished') "
                    "FROM pipeline_runs"
                )[0]
                if s and finished:  # sampled from the end of the first run on (warm)
                    rss.append((t, s[0]))
                    fds.append((t, s[1]))
                if pending == 0 or sched.poll() is not None or t > runs * 30:
                    break
                time.sleep(1.0)
        finally:
            seconds = time.monotonic() - started
            sched.terminate()
            sched.wait(60)
            Path(done_path).touch()
            monitor.join(120)
        statuses = dict(reg.db.query("SELECT status, COUNT(*) FROM pipeline_runs GROUP BY status"))
        tracked = reg.db.query("SELECT COUNT(*) FROM runs WHERE name = 'soak'")[0][0]
        integrity = reg.db.integrity_check()
        reg.close()
        monitor_counts = json.loads(Path(done_path + ".count").read_text())
    return {
        "runs_queued": len(queued),
        "seconds": round(seconds, 1),
        "pipeline_runs_by_status": statuses,
        "tracked_runs_from_notebooks": tracked,
        "all_accounted_for": statuses.get("finished", 0) == runs and tracked == runs,
        "monitor": monitor_counts,
        "scheduler_rss_mb": {
            "after_first_run": round(rss[0][1], 1),
            "last": round(rss[-1][1], 1),
            "max": round(max(v for _, v in rss), 1),
            "slope_mb_per_min_second_half": round(_slope(rss), 3),
        },
        "scheduler_open_fds": {
            "after_first_run": int(fds[0][1]),
            "last": int(fds[-1][1]),
            "max": int(max(v for _, v in fds)),
            "slope_per_min_second_half": round(_slope(fds), 3),
        },
        "samples": len(rss),
        "integrity": integrity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("concurrency")
    c.add_argument("--workers", type=int, default=8)
    c.add_argument("--runs", type=int, default=500)
    s = sub.add_parser("soak")
    s.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if args.what == "concurrency":
        result = concurrency(args.workers, args.runs)
    else:
        result = soak(args.runs)
    result["command"] = "python bench/bench_reliability.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"reliability-{args.what}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
