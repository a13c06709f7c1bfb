"""Where a workspace's MLflow tracking store and model registry are, as Azure's workspace is
an MLflow tracking server: one SQLite database (MLflow's file store is deprecated) and a folder
of run artifacts, under `<workspace>/mlflow/`. batchml.mlflow.tracking opens it; `mlflow ui
--backend-store-uri URI` shows it."""

from __future__ import annotations

from pathlib import Path

STORE_DIR = "mlflow"
DATABASE = "mlflow.db"
ARTIFACTS = "artifacts"


def tracking_uri(workspace_root: Path) -> str:
    """The store's URI, as MLFLOW_TRACKING_URI takes it: sqlite:////abs/path/mlflow.db."""
    return f"sqlite:///{(workspace_root / STORE_DIR / DATABASE).absolute()}"


def artifact_root(workspace_root: Path) -> Path:
    """Where runs' artifacts (and registered models logged by runs) are written."""
    return (workspace_root / STORE_DIR / ARTIFACTS).absolute()
