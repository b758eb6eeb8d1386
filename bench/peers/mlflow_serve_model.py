"""Save the bench's churn pipeline as an MLflow model (run inside .venv-peers).

    .venv-peers/bin/python bench/peers/mlflow_serve_model.py MODEL.pkl SAMPLE.csv OUT_DIR

The pipeline is the one bench/bench_serve.py fitted (same scikit-learn version on both
sides); SAMPLE.csv gives MLflow the input example its signature is inferred from.
"""

from __future__ import annotations

import pickle
import sys

import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature


def main(model_path: str, sample_path: str, out_dir: str) -> None:
    with open(model_path, "rb") as f:
        model = pickle.load(f)  # noqa: S301 - the bench's own file
    sample = pd.read_csv(sample_path)
    signature = infer_signature(sample, model.predict(sample))
    # MLflow 3 stores scikit-learn models with skops and asks which extra types to trust.
    mlflow.sklearn.save_model(
        model, out_dir, signature=signature, skops_trusted_types=["numpy.dtype"]
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
