"""batchml and MLflow: no-code MLflow deployments (the model's MLmodel file, and the scorer
batchml runs for them), jobs as MLflow runs (tracking), and one model registry (registry).

A deployment of an MLflow model may omit code_configuration and environment, as in Azure: its
jobs run the scoring script in driver/, which loads the model with MLflow's pyfunc loader, in
the workers. Besides that script, only runners import mlflow (tracking, registry), and `model
create` of an MLflow model (registry); the other commands never do.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# The scoring script of no-code MLflow deployments, in a folder of its own: a job's code folder
# goes first on the workers' sys.path, where nothing else may shadow an installed module.
DRIVER_DIR = Path(__file__).resolve().parent / "driver"
DRIVER_SCRIPT = "mlflow_score.py"
INSTALL_HINT = "pip install 'batchml[mlflow]' (or pip install mlflow-skinny)"


def missing_mlflow() -> str | None:
    """Why a no-code MLflow deployment cannot run here, or None when it can."""
    if importlib.util.find_spec("mlflow") is not None:
        return None
    return (
        "the model is an MLflow model and the deployment gives no scoring script, so batchml "
        f"scores it with MLflow, which is not installed; install it with: {INSTALL_HINT}"
    )
