"""Model files across the MLflow boundary, through the MLflow client (the ``mlflow`` extra,
``pip install 'mlnb[mlflow]'``, which brings ``mlflow-skinny``: no server, no pandas pin).

Upload: an mlnb model version becomes an MLflow sklearn model in a run's artifacts, so
``mlflow.sklearn.load_model("models:/churn/2")`` loads it anywhere. Download: an MLflow
model version loads back as the estimator mlnb registers. The client reads the server's
credentials from ``MLFLOW_TRACKING_TOKEN`` or ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` itself, as the REST calls of :mod:`mlnb.sync.mlflow` do.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from typing import Any

from mlnb.errors import RegistryError, ValidationError
from mlnb.lifecycle.versions import load_model
from mlnb.store.registry import Registry

MODELS_FOLDER = "mlnb-models"


def require_mlflow() -> Any:
    """The ``mlflow`` package with its sklearn flavour, or a clear error saying how to get it."""
    try:
        importlib.import_module("mlflow.sklearn")
        return importlib.import_module("mlflow")
    except ImportError as exc:
        raise ValidationError(
            "copying model files to or from MLflow needs the MLflow client: "
            "pip install 'mlnb[mlflow]' (mlflow-skinny, no server needed); "
            f"importing it failed: {exc}."
        ) from exc


def artifact_path(v: dict[str, Any]) -> str:
    """Where a version's model goes inside its MLflow run's artifacts."""
    return f"{MODELS_FOLDER}/{v['model']}-v{v['version']}"


def upload_model(
    uri: str, run_id: str, run_artifact_uri: str, reg: Registry, v: dict[str, Any]
) -> str:
    """Save the version's model as an MLflow sklearn model in run ``run_id``; returns the
    artifact URI to register as the model version's source."""
    mlflow = require_mlflow()
    model = load_model(f"{v['model']}/{v['version']}", registry=reg)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    path = artifact_path(v)
    with tempfile.TemporaryDirectory(prefix="mlnb-mlflow-") as folder:
        local = os.path.join(folder, "model")
        mlflow.sklearn.save_model(model, local)
        try:
            client.log_artifacts(run_id, local, artifact_path=path)
        except Exception as exc:
            raise RegistryError(
                f"uploading {v['model']}/{v['version']} to MLflow at {uri} failed "
                f"({type(exc).__name__}: {exc}). The server must accept artifact uploads "
                "(`mlflow server` serves them by default; --no-serve-artifacts turns it off)."
            ) from exc
    return f"{run_artifact_uri.rstrip('/')}/{path}"


def download_model(uri: str, name: str, version: str) -> Any:
    """MLflow's model version ``name``/``version`` as a Python object (sklearn flavour)."""
    mlflow = require_mlflow()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    source = client.get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory(prefix="mlnb-mlflow-") as folder:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=folder, tracking_uri=uri
        )
        try:
            return mlflow.sklearn.load_model(local)
        except Exception as exc:
            raise ValidationError(
                f"MLflow model {name}/{version} is not a scikit-learn model mlnb can register "
                f"({type(exc).__name__}: {exc})."
            ) from exc
