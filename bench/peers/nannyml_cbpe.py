"""NannyML's CBPE on the same reference and analysis rows as mlnb's estimator.

Runs in the peers venv: ``.venv-peers/bin/python bench/peers/nannyml_cbpe.py SPEC.json``
where SPEC names ``reference`` and ``analysis`` parquet files (columns ``y``, ``y_pred``,
``y_pred_proba``) and ``chunk_size``. Prints one JSON object on its last line:
``{"tool", "version", "seconds", "estimated_accuracy": [...], "realized_accuracy": [...]}``;
``seconds`` covers fit and estimate on frames already in memory.
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
    analysis = pd.read_parquet(spec["analysis"])
    started = time.perf_counter()
    estimator = nml.CBPE(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="y",
        problem_type="classification_binary",
        metrics=["accuracy"],
        chunk_size=int(spec["chunk_size"]),
    )
    estimator.fit(reference)
    result = estimator.estimate(analysis.drop(columns=["y"]))
    seconds = time.perf_counter() - started
    frame = result.filter(period="analysis").to_df()
    estimated = [float(v) for v in frame[("accuracy", "value")]]
    print(
        json.dumps(
            {
                "tool": "nannyml",
                "version": nml.__version__,
                "seconds": seconds,
                "estimated_accuracy": estimated,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
