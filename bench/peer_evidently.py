"""Evidently's DataDriftPreset on two parquet files, for side-by-side runs with mlnb.drift.

Runs in the separate peers venv (pandas<3 and evidently>=0.7), never in the project venv:

    .venv-peers/bin/python bench/peer_evidently.py reference.parquet current.parquet

Prints one JSON object: ``{"tool", "version", "seconds", "rows_ref", "rows_cur",
"drifted": {column: bool}, "scores": {column: float}, "methods": {column: str},
"share_drifted"}``. ``seconds`` covers building the Evidently datasets and running the report
on frames already in memory (file reading is excluded, as it is for mlnb).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def _definition(df: Any) -> Any:
    from evidently import DataDefinition
    from pandas.api import types as pdt

    numerical = [
        c for c in df.columns if pdt.is_numeric_dtype(df[c]) and not pdt.is_bool_dtype(df[c])
    ]
    categorical = [c for c in df.columns if c not in numerical]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)


def run_evidently(reference_path: str, current_path: str) -> dict[str, Any]:
    """Run DataDriftPreset on the two parquet files and return timings and verdicts."""
    import evidently
    import pandas as pd
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(reference_path)
    cur = pd.read_parquet(current_path)
    started = time.perf_counter()
    definition = _definition(ref)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    seconds = time.perf_counter() - started
    drifted: dict[str, bool] = {}
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    share = None
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        kind = config.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
        elif kind.endswith("ValueDrift"):
            column, method = config["column"], config["method"]
            value, threshold = float(metric["value"]), float(config["threshold"])
            p_value = "p_value" in method.lower()
            drifted[column] = value < threshold if p_value else value >= threshold
            scores[column] = value
            methods[column] = method
    return {
        "tool": "evidently",
        "version": evidently.__version__,
        "seconds": seconds,
        "rows_ref": len(ref),
        "rows_cur": len(cur),
        "share_drifted": share,
        "drifted": drifted,
        "scores": scores,
        "methods": methods,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: peer_evidently.py REFERENCE.parquet CURRENT.parquet", file=sys.stderr)
        return 2
    print(json.dumps(run_evidently(argv[0], argv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
