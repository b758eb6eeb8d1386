"""Child-process bodies shared by tests/reliability and bench/bench_reliability.py.

Each function runs in its own process (spawned) against one registry folder, the way a
notebook, a pipeline run and the CLI share a registry on a real machine.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time

MODEL_EVERY = 10  # every 10th run also logs and registers a model version
READ_EVERY = 20  # every 20th run also lists runs through the CLI, like a user watching


def tiny_model(seed: int):  # type: ignore[no-untyped-def]
    """A small fitted scikit-learn model; different seeds give different bytes."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=40) > 0).astype(int)
    return LogisticRegression().fit(X, y)


def write_runs(home: str, worker: int, n: int, errors_path: str) -> None:
    """Write ``n`` runs (params, 3 metrics each, a model version every MODEL_EVERY runs) and
    read through the CLI now and then; every exception is appended to ``errors_path``."""
    os.environ["MLNB_HOME"] = home
    import mlnb
    from mlnb.cli import main as cli

    errors: list[str] = []
    for i in range(n):
        try:
            with mlnb.track(f"w{worker}-{i}", experiment=f"load-{worker % 3}") as run:
                mlnb.log_params({"worker": worker, "i": i})
                mlnb.log_metrics({"loss": 1.0 / (i + 1), "acc": i / n})
                mlnb.log_metric("acc", (i + 1) / n)
                if i % MODEL_EVERY == 0:
                    model = tiny_model(worker * 100_000 + i)
                    run.log_model(model, name="model")
                    mlnb.register_model(model, f"load-model-{worker % 2}")
            if i % READ_EVERY == 0:
                with contextlib.redirect_stdout(io.StringIO()):
                    code = cli(["--registry", home, "runs", "--limit", "5"])
                if code != 0:
                    errors.append(f"w{worker} i{i}: `mlnb runs` exited {code}")
        except Exception as exc:  # counted, never hidden
            errors.append(f"w{worker} i{i}: {type(exc).__name__}: {exc}")
    with open(errors_path, "a") as f:
        for line in errors:
            f.write(line + "\n")


def expected_counts(workers: int, n: int) -> dict[str, int]:
    """Rows the concurrency load must leave behind, exactly."""
    models = workers * len(range(0, n, MODEL_EVERY))
    return {
        "runs": workers * n,
        "params": workers * n * 2,
        "metrics": workers * n * 3,
        "model_versions": models,
    }


def run_concurrency(home: str, workers: int, n: int, timeout: float = 1800.0) -> dict:
    """Start ``workers`` writer processes at once; return errors, counts and integrity."""
    import multiprocessing as mp

    from mlnb.store.registry import Registry

    Registry(home).close()
    errors_path = os.path.join(home, "errors.txt")
    ctx = mp.get_context("spawn")
    started = time.perf_counter()
    procs = [ctx.Process(target=write_runs, args=(home, w, n, errors_path)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
    seconds = time.perf_counter() - started
    exit_codes = [p.exitcode for p in procs]
    errors = []
    if os.path.exists(errors_path):
        errors = [line for line in open(errors_path).read().splitlines() if line]
    reg = Registry(home)
    try:
        actual = {
            "runs": reg.db.query("SELECT COUNT(*) FROM runs")[0][0],
            "finished_runs": reg.db.query("SELECT COUNT(*) FROM runs WHERE status = 'finished'")[0][
                0
            ],
            "params": reg.db.query("SELECT COUNT(*) FROM params")[0][0],
            "metrics": reg.db.query("SELECT COUNT(*) FROM metrics")[0][0],
            "model_versions": reg.db.query("SELECT COUNT(*) FROM model_versions")[0][0],
        }
        integrity = reg.db.integrity_check()
    finally:
        reg.close()
    expected = expected_counts(workers, n)
    lost = sum(max(0, expected[k] - actual[k]) for k in expected)
    return {
        "workers": workers,
        "runs_per_worker": n,
        "seconds": round(seconds, 1),
        "exit_codes": exit_codes,
        "errors": errors,
        "expected": expected,
        "actual": actual,
        "lost_rows": lost,
        "integrity": integrity,
    }


if __name__ == "__main__":  # pragma: no cover - used by hand
    print(run_concurrency(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
