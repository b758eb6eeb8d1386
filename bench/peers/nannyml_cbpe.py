"""NannyML's CBPE on the same reference and analysis rows as mlnb's estimator.

Runs in the peers venv: ``.venv-peers/bin/python bench/peers/nannyml_cbpe.py SPEC.json``
where SPEC names ``reference`` and ``analysis`` parquet files (columns ``y``, ``y_pred``,
``y_pred_proba``) and ``chunk_size``. Prints one JSON object on its last line:
``{"tool", "version", "seconds", "seconds_accuracy_only", "estimated_accuracy": [...]}``.
``seconds`` covers fit and estimate on frames already in memory, best of ``repeat`` (spec, default 3),
with the metrics mlnb's estimate computes (accuracy, precision, recall, F1, ROC AUC: the
same work); ``seconds_accuracy_only`` the same with accuracy alone. Dropping the label
column from the analysis frame happens before the clock starts. ``cpu_seconds`` and
``cpu_seconds_accuracy_only`` are the process CPU times of the same runs (steadier than wall
time on a loaded machine).
"""

from __future__ import annotations

import json
import sys
import time
import warnings


def main(spec_path: str) -> None:
    import nannyml as nml
    import pandas as pd

    warnings.filterwarnings("ignore")
    spec = json.loads(open(spec_path).read())
    reference = pd.read_parquet(spec["reference"])
    analysis = pd.read_parquet(spec["analysis"]).drop(columns=["y"])
    same_work = ["accuracy", "precision", "recall", "f1", "roc_auc"]
    seconds, cpu, frame = _best(reference, analysis, same_work, spec)
    seconds_accuracy, cpu_accuracy, _ = _best(reference, analysis, ["accuracy"], spec)
    estimated = [float(v) for v in frame[("accuracy", "value")]]
    print(
        json.dumps(
            {
                "tool": "nannyml",
                "version": nml.__version__,
                "seconds": seconds,
                "seconds_accuracy_only": seconds_accuracy,
                "cpu_seconds": cpu,
                "cpu_seconds_accuracy_only": cpu_accuracy,
                "metrics": same_work,
                "estimated_accuracy": estimated,
            }
        )
    )


def _best(reference, analysis, metrics, spec):
    """Best-of-``repeat`` seconds of fit + estimate, and the analysis results."""
    import nannyml as nml

    best, best_cpu, frame = float("inf"), float("inf"), None
    for _ in range(int(spec.get("repeat", 3))):
        started, started_cpu = time.perf_counter(), time.process_time()
        estimator = nml.CBPE(
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true="y",
            problem_type="classification_binary",
            metrics=metrics,
            chunk_size=int(spec["chunk_size"]),
        )
        estimator.fit(reference)
        result = estimator.estimate(analysis)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
        frame = result.filter(period="analysis").to_df()
    return best, best_cpu, frame


if __name__ == "__main__":
    main(sys.argv[1])
