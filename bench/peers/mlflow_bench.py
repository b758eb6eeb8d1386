"""MLflow 3 side of the mlnb benchmarks; runs inside .venv-peers, started by bench/run.py.

Usage: .venv-peers/bin/python bench/peers/mlflow_bench.py SPEC.json
The spec names the tasks to run and the shared data files; the results are printed as one
JSON object on the last line of stdout. Everything MLflow writes goes into spec["workdir"].

Tasks:
  runs     mean ms per run logging 2 params + 2 metrics into a SQLite tracking store,
           measured after warm-up runs (excludes the one-time store creation)
  digest   time of mlflow.data.from_pandas(df).digest on the shared frames, and whether an
           edit at a given row changes the digest
  autolog  LogisticRegression.fit on the shared fit data with and without
           mlflow.sklearn.autolog() inside a run
  import   time to import mlflow in a fresh interpreter
  model_io mlflow.sklearn.save_model / load_model of a 100-tree RandomForest fitted on the
           shared fit data (best of 3 after a warm-up)
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text())
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)  # MLflow writes default artifact folders relative to the cwd
    quiet_mlflow()
    results: dict[str, Any] = {"versions": versions()}
    tasks = {
        "runs": bench_runs,
        "digest": bench_digest,
        "autolog": bench_autolog,
        "import": bench_import,
        "model_io": bench_model_io,
    }
    for name in spec["tasks"]:
        started = time.perf_counter()
        results[name] = tasks[name](spec, workdir)
        results[name]["task_seconds"] = time.perf_counter() - started
    print(json.dumps(results))
    return 0


def quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)


def versions() -> dict[str, str]:
    import mlflow
    import pandas
    import sklearn

    return {
        "python": sys.version.split()[0],
        "mlflow": mlflow.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
    }


def use_sqlite_store(workdir: Path, name: str) -> str:
    """Point MLflow at a fresh SQLite store in workdir; returns the experiment id."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir / (name + '.db')}")
    artifacts = (workdir / f"{name}-artifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=artifacts)


def bench_runs(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import mlflow

    started = time.perf_counter()
    experiment_id = use_sqlite_store(workdir, "runs")
    store_creation = time.perf_counter() - started

    def one_run(i: int) -> None:
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"run-{i}"):
            mlflow.log_param("alpha", 0.1 * i)
            mlflow.log_param("solver", "lbfgs")
            mlflow.log_metric("accuracy", 0.8 + i * 1e-4)
            mlflow.log_metric("loss", 1.0 / (i + 1))

    for i in range(spec.get("warmup_runs", 5)):
        one_run(i)
    n = spec.get("n_runs", 100)
    started = time.perf_counter()
    for i in range(n):
        one_run(i)
    elapsed = time.perf_counter() - started
    return {"ms_per_run": elapsed / n * 1000, "n_runs": n, "store_creation_s": store_creation}


def digest_seconds(df: Any, repeats: int) -> tuple[float, str]:
    import mlflow

    times, digest = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        digest = mlflow.data.from_pandas(df).digest
        times.append(time.perf_counter() - started)
    return statistics.median(times), digest


def bench_digest(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import pandas as pd

    out: dict[str, Any] = {}
    repeats = spec.get("digest_repeats", 3)
    for label, path in spec["frames"].items():
        df = pd.read_parquet(path)
        for column in spec.get("object_columns", {}).get(label, []):
            df[column] = df[column].astype(object)
        seconds, digest = digest_seconds(df, repeats)
        out[label] = {"seconds": seconds, "rows": len(df), "cols": df.shape[1]}
        if label == spec.get("edit_frame"):
            out[label]["edits_detected"] = edits_detected(df, digest, spec["edit_rows"])
    return out


def edits_detected(df: Any, digest: str, rows: list[int]) -> dict[str, bool]:
    """For each row: does changing one value there change MLflow's digest?"""
    import mlflow

    detected = {}
    for row in rows:
        edited = df.copy()
        edited.iloc[row, 0] = edited.iloc[row, 0] + 1.0
        detected[str(row)] = mlflow.data.from_pandas(edited).digest != digest
    return detected


def bench_autolog(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import mlflow
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    data = pd.read_parquet(spec["fit_data"])
    X, y = data.drop(columns="target"), data["target"]
    repeats = spec.get("fit_repeats", 3)

    def fit() -> None:
        LogisticRegression(max_iter=1000).fit(X, y)

    fit()  # warm-up: first fit pays for imports and caches
    plain = []
    for _ in range(repeats):
        started = time.perf_counter()
        fit()
        plain.append(time.perf_counter() - started)

    experiment_id = use_sqlite_store(workdir, "autolog")
    mlflow.sklearn.autolog(silent=True)
    with mlflow.start_run(experiment_id=experiment_id):  # warm-up: store creation, imports
        fit()
    logged = []
    for _ in range(repeats):
        started = time.perf_counter()
        with mlflow.start_run(experiment_id=experiment_id):
            fit()
        logged.append(time.perf_counter() - started)
    mlflow.sklearn.autolog(disable=True)
    fit_s, autolog_s = statistics.median(plain), statistics.median(logged)
    return {"fit_s": fit_s, "autolog_fit_s": autolog_s, "overhead_s": autolog_s - fit_s}


def bench_import(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    code = "import time; t = time.perf_counter(); import mlflow; print(time.perf_counter() - t)"
    times = []
    for _ in range(spec.get("import_repeats", 3)):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return {"seconds": statistics.median(times)}


def bench_model_io(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import shutil

    import mlflow.sklearn
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    data = pd.read_parquet(spec["fit_data"])
    X, y = data.drop(columns="target").to_numpy(), data["target"].to_numpy()
    model = RandomForestClassifier(n_estimators=spec.get("forest_trees", 100), random_state=0)
    model.fit(X, y)
    target = workdir / "mlflow-forest"
    # MLflow 3 stores scikit-learn models with skops and refuses types it was not told to
    # trust (a forest's Tree): pass the model's own untrusted types, as a user must.
    import skops.io as sio

    trusted = sio.get_untrusted_types(data=sio.dumps(model))

    def save() -> None:
        shutil.rmtree(target, ignore_errors=True)
        mlflow.sklearn.save_model(model, str(target), skops_trusted_types=trusted)

    def best(func: Any) -> float:
        func()
        times = []
        for _ in range(3):
            started = time.perf_counter()
            func()
            times.append(time.perf_counter() - started)
        return min(times)

    save_s = best(save)
    load_s = best(lambda: mlflow.sklearn.load_model(str(target)))
    return {"save_s": save_s, "load_s": load_s}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
