"""Scoring script of the classifier-parquet deployment: a custom script on an MLflow model.

For each input CSV file it writes `<file stem>.parquet` to the job's output folder
(AZUREML_BI_OUTPUT_PATH): the file's rows with a `prediction` column. The deployment's
output_action is summary_only, so what run() returns is only counted: one item per file.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

logger = logging.getLogger("batch_driver")
model = None
input_types: dict[str, object] = {}
output_path = ""


def init() -> None:
    """Runs once per worker process: load the MLflow model and its input types."""
    global model, input_types, output_path
    # AZUREML_MODEL_DIR holds the registered model's own folder (here `model/`).
    model_path = glob.glob(os.environ["AZUREML_MODEL_DIR"] + "/*/")[0]
    output_path = os.environ["AZUREML_BI_OUTPUT_PATH"]
    model = mlflow.pyfunc.load_model(model_path)
    signature = model.metadata.signature
    if signature is not None:
        schema = signature.inputs
        input_types = dict(zip(schema.input_names(), schema.pandas_types(), strict=True))
    else:
        logger.warning("the model has no signature: input types are not enforced")
    logger.info("loaded the MLflow model in %s", model_path)


def run(mini_batch: list[str]) -> list[str]:
    """Runs once per mini-batch (a list of file paths); each returned element is one success."""
    written = []
    for file_path in mini_batch:
        data = pd.read_csv(file_path)
        if input_types:
            data = data.astype(input_types)
        data["prediction"] = model.predict(data)
        # Named after the input: every worker writes to the same folder, and a retried
        # mini-batch overwrites its own files.
        target = Path(output_path) / f"{Path(file_path).stem}.parquet"
        data.to_parquet(target)
        written.append(target.name)
    return written
