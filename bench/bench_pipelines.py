"""mlnb's pipeline overhead on top of plain papermill, on the same small training notebook.

Both sides are timed from the shell, wall clock, as a user would run them:

    papermill train.ipynb out.ipynb -p n_rows 5000            (the peer)
    mlnb pipeline run bench-train --param n_rows=5000         (mlnb: registry rows, a worker
                                                              process, the run's identity in
                                                              the kernel, log, retention)

Target (issue #19): the overhead stays within +0.15 s of plain papermill.

It also measures the scheduler's first pass after downtime (catch-up): every-minute
pipelines whose scheduler was down for an hour, a day and 30 days, against stepping through
every missed cron slot (what the scheduler did before). Target: constant time per pipeline
whatever the downtime.

    python bench/bench_pipelines.py [--repeats 7] [--catchup-only]

Registered in ``bench/run.py`` as the ``pipeline_overhead`` and ``scheduler_catchup`` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python bench/bench_pipelines.py"
OVERHEAD_LIMIT_S = 0.15
DOWNTIMES = {"1 hour": 3600.0, "1 day": 86_400.0, "30 days": 30 * 86_400.0}

NOTEBOOK_CELLS = [
    "n_rows = 1000\nseed = 0",
    "from sklearn.datasets import make_classification\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.model_selection import train_test_split",
    "X, y = make_classification(n_samples=n_rows, n_features=20, random_state=seed)\n"
    "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=seed)",
    "model = LogisticRegression(max_iter=500).fit(X_train, y_train)\n"
    "accuracy = model.score(X_test, y_test)\naccuracy",
]


def write_notebook(path: Path) -> Path:
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{i}",
            "metadata": {"tags": ["parameters"]} if i == 0 else {},
            "outputs": [],
            "source": source,
        }
        for i, source in enumerate(NOTEBOOK_CELLS)
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


def _script(name: str, module: str) -> list[str]:
    """The installed console script next to this Python, else ``python -m module``."""
    found = Path(sys.executable).with_name(name)
    if found.exists():
        return [str(found)]
    which = shutil.which(name)
    return [which] if which else [sys.executable, "-m", module]


CPU_SECONDS: dict[str, list[float]] = {}


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of ``cmd``; the CPU seconds of its whole process tree (worker and kernel
    included, less disturbed by other load than the wall clock) go to CPU_SECONDS."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU_SECONDS.setdefault(cmd[0] if "papermill" in cmd[0] else "mlnb", []).append(cpu)
    return elapsed


def measure(workdir: Path, repeats: int = 7, n_rows: int = 5000) -> dict[str, Any]:
    """Median wall-clock seconds of both commands, run alternately after one warm-up each."""
    workdir.mkdir(parents=True, exist_ok=True)
    notebook = write_notebook(workdir / "train.ipynb")
    env = dict(os.environ)
    env["MLNB_HOME"] = str(workdir / "registry")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    mlnb = _script("mlnb", "mlnb")
    plain_cmd = [
        *_script("papermill", "papermill"),
        str(notebook),
        str(workdir / "out.ipynb"),
        "-p",
        "n_rows",
        str(n_rows),
        "--no-progress-bar",
    ]
    run_cmd = [*mlnb, "pipeline", "run", "bench-train", "--param", f"n_rows={n_rows}"]
    subprocess.run(
        [*mlnb, "pipeline", "create", "bench-train", str(notebook), "--keep", "3", "--replace"],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    plain, piped = [], []
    _timed(plain_cmd, env, workdir)
    _timed(run_cmd, env, workdir)
    for _ in range(repeats):
        plain.append(_timed(plain_cmd, env, workdir))
        piped.append(_timed(run_cmd, env, workdir))
    p, m = statistics.median(plain), statistics.median(piped)
    cpu_plain = statistics.median(next(v for k, v in CPU_SECONDS.items() if k != "mlnb"))
    cpu_mlnb = statistics.median(CPU_SECONDS["mlnb"])
    overhead = m - p
    allowed = OVERHEAD_LIMIT_S
    return {
        "papermill_min_s": min(plain),
        "mlnb_min_s": min(piped),
        "papermill_s": p,
        "mlnb_pipeline_run_s": m,
        "overhead_s": overhead,
        "overhead_pct": 100 * overhead / p,
        "allowed_s": allowed,
        "ok": overhead <= allowed,
        "repeats": repeats,
        "papermill_cpu_s": cpu_plain,
        "mlnb_cpu_s": cpu_mlnb,
        "cpu_overhead_s": cpu_mlnb - cpu_plain,
        "papermill_runs": plain,
        "mlnb_runs": piped,
        "commands": {"peer": " ".join(plain_cmd), "mlnb": " ".join(run_cmd)},
    }


def measure_catchup(workdir: Path, pipelines: int = 20) -> dict[str, Any]:
    """Seconds per pipeline of the first scheduler pass (queue the catch-up run) after each
    downtime, and of listing every missed slot one by one for the same downtime."""
    import datetime as dt

    sys.path.insert(0, str(ROOT))
    from mlnb.pipelines.api import create_pipeline
    from mlnb.pipelines.config import cron_slots
    from mlnb.pipelines.scheduler import Scheduler
    from mlnb.store.registry import Registry

    notebook = write_notebook(workdir / "train.ipynb")
    now = dt.datetime.now(dt.UTC)
    out: dict[str, Any] = {"pipelines": pipelines, "downtimes": {}}
    for label, seconds in DOWNTIMES.items():
        reg = Registry(workdir / f"catchup-{int(seconds)}")
        try:
            for i in range(pipelines):
                p = create_pipeline(f"p{i}", notebook, schedule="* * * * *", registry=reg)
                config = {**p["config"], "schedule_anchor": now.timestamp() - seconds}
                reg.pipelines.update(p["id"], config=config)
            sched = Scheduler(reg, clock=lambda: now, execute=lambda run_id: None, threaded=False)
            start = time.perf_counter()
            queued = sched.enqueue_due()
            first_pass = (time.perf_counter() - start) / pipelines
            assert len(queued) == pipelines, queued
        finally:
            reg.close()
        after = now - dt.timedelta(seconds=seconds)
        start = time.perf_counter()
        stepped = len(cron_slots("* * * * *", "UTC", after, now, limit=10**9))
        stepping = time.perf_counter() - start
        out["downtimes"][label] = {
            "mlnb_s_per_pipeline": first_pass,
            "stepping_s_per_pipeline": stepping,
            "missed_slots": stepped,
        }
    times = [d["mlnb_s_per_pipeline"] for d in out["downtimes"].values()]
    out["growth_30d_over_1h"] = times[-1] / times[0]
    out["ok"] = out["growth_30d_over_1h"] < 2.0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5000, help="n_rows parameter of the notebook")
    parser.add_argument("--catchup-only", action="store_true", help="only the catch-up rows")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlnb-bench-catchup-") as tmp:
        c = measure_catchup(Path(tmp))
    print(f"scheduler catch-up, first pass, {c['pipelines']} every-minute pipelines:")
    for label, d in c["downtimes"].items():
        print(
            f"  down {label:>7}: {1000 * d['mlnb_s_per_pipeline']:6.2f} ms per pipeline; "
            f"stepping through its {d['missed_slots']:>6} slots {1000 * d['stepping_s_per_pipeline']:8.1f} ms"
        )
    print(
        f"  30 days / 1 hour: {c['growth_30d_over_1h']:.2f}x (target: constant, < 2x): "
        f"{'ok' if c['ok'] else 'MISSED'}"
    )
    if args.catchup_only:
        return 0 if c["ok"] else 1
    with tempfile.TemporaryDirectory(prefix="mlnb-bench-pipelines-") as tmp:
        r = measure(Path(tmp), repeats=args.repeats, n_rows=args.rows)
    print(f"plain papermill:       {r['papermill_s']:.2f} s  (median of {r['repeats']})")
    print(f"mlnb pipeline run:     {r['mlnb_pipeline_run_s']:.2f} s")
    print(
        f"overhead:              {r['overhead_s']:+.2f} s ({r['overhead_pct']:+.1f}%); target "
        f"<= +{r['allowed_s']:.2f} s: "
        f"{'ok' if r['ok'] else 'MISSED'}"
    )
    print(
        f"fastest of each:       papermill {r['papermill_min_s']:.2f} s, mlnb "
        f"{r['mlnb_min_s']:.2f} s ({r['mlnb_min_s'] - r['papermill_min_s']:+.2f} s; the least "
        "disturbed by other load)"
    )
    print(
        f"CPU of the process tree: papermill {r['papermill_cpu_s']:.2f} s, mlnb "
        f"{r['mlnb_cpu_s']:.2f} s ({r['cpu_overhead_s']:+.2f} s)"
    )
    print(f"reproduce: {COMMAND} --repeats {args.repeats} --rows {args.rows}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
