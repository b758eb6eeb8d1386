"""mlnb and MLflow: copy a registry to an MLflow server (``mlnb sync --to-mlflow URI``) and
bring an MLflow server's runs and models into a registry (``mlnb import --from-mlflow URI``).

Metadata travels over MLflow's REST API; model files through the MLflow client, the
``mlflow`` extra (``pip install 'mlnb[mlflow]'``), imported only when a model is copied.
"""

from __future__ import annotations

from mlnb.sync.mlflow import MlflowClient, SyncReport, check_uri, sync_to_mlflow
from mlnb.sync.mlflow_import import ImportReport, import_from_mlflow

__all__ = [
    "ImportReport",
    "MlflowClient",
    "SyncReport",
    "check_uri",
    "import_from_mlflow",
    "sync_to_mlflow",
]
