"""mlnb side of the notebook benchmarks, run by bench/run.py in a fresh interpreter of the
main environment so that import costs are measured cleanly.

Usage: .venv/bin/python bench/mlnb_magics_bench.py SPEC.json
Tasks (spec["tasks"]):
  load_ext  time of ``%load_ext mlnb`` in a new IPython shell (IPython itself already loaded),
            against an existing registry (spec["registry"])
  track     extra time ``%%track`` adds to a cell that fits LogisticRegression on the shared
            fit data, and how long saving that model takes with ``run.log_model``
Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

FIT_CELL = "model = LogisticRegression(max_iter=1000).fit(X, y)\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text())
    os.environ["MLNB_HOME"] = spec["registry"]
    results: dict[str, Any] = {}
    for task in spec["tasks"]:
        results[task] = {"load_ext": bench_load_ext, "track": bench_track}[task](spec)
    print(json.dumps(results))
    return 0


def new_shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def bench_load_ext(spec: dict[str, Any]) -> dict[str, Any]:
    shell = new_shell()
    with contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        shell.run_line_magic("load_ext", "mlnb")
        seconds = time.perf_counter() - started
    return {"seconds": seconds}


def bench_track(spec: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlnb

    shell = new_shell()
    data = pd.read_parquet(spec["fit_data"])
    shell.user_ns.update(
        X=data.drop(columns="target"), y=data["target"], LogisticRegression=LogisticRegression
    )
    repeats = spec.get("fit_repeats", 5)
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("load_ext", "mlnb")
        run_cell(shell, FIT_CELL)  # warm-up both paths: imports, first run, caches
        run_cell(shell, "%%track\n" + FIT_CELL)
        plain, tracked = [], []
        for _ in range(repeats):  # interleaved so that drifting machine load hits both alike
            plain.append(run_cell(shell, FIT_CELL))
            tracked.append(run_cell(shell, "%%track\n" + FIT_CELL))
        save = model_save_seconds(mlnb, shell.user_ns, repeats)
    plain_s, tracked_s = statistics.median(plain), statistics.median(tracked)
    return {
        "fit_s": plain_s,
        "tracked_fit_s": tracked_s,
        "overhead_s": tracked_s - plain_s,
        "model_save_s": save,
    }


def run_cell(shell: Any, source: str) -> float:
    started = time.perf_counter()
    result = shell.run_cell(source, store_history=True)
    seconds = time.perf_counter() - started
    if not result.success:
        raise RuntimeError(
            f"benchmark cell failed: {result.error_in_exec or result.error_before_exec}"
        )
    return seconds


def model_save_seconds(mlnb: Any, ns: dict[str, Any], repeats: int) -> float:
    """Median time to store the fitted model (signature + safe serialisation + object store)."""
    times = []
    with mlnb.track(name="model-save", experiment="bench-save") as run:
        for _ in range(repeats):
            started = time.perf_counter()
            run.log_model(ns["model"], X=ns["X"])
            times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
