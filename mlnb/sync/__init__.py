"""Copy an mlnb registry to other tools' servers (``mlnb sync --to-mlflow URI``).

Plain Python over HTTP: nothing here imports the peer tool, so mlnb does not need it
installed.
"""

from __future__ import annotations

from mlnb.sync.mlflow import MlflowClient, SyncReport, sync_to_mlflow

__all__ = ["MlflowClient", "SyncReport", "sync_to_mlflow"]
