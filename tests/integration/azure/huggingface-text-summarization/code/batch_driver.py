# Azure's batch_driver.py with stand-ins for what cannot be downloaded or installed here: a
# word-count "summarizer" whose settings are the model folder's config.json, in place of BART
# (transformers, torch, optimum), and pandas in place of `datasets` to read the CSV files. The
# init()/run() contract, the model's path and the MLflow calls are Azure's.
import json
import os
import time

import mlflow
import pandas as pd


class Summarizer:
    """The first `max_length` words of a text."""

    def __init__(self, model_path):
        with open(os.path.join(model_path, "config.json")) as config:
            self.max_length = json.load(config)["max_length"]

    def summarize(self, text):
        return " ".join(text.split()[: self.max_length])


def init():
    global model
    global device

    device = "cpu"
    print(
        "[WARN] CUDA acceleration is not available. This model takes hours to run on medium size data."
    )

    # AZUREML_MODEL_DIR is an environment variable created during deployment
    model_path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model")

    # Load the model
    model = Summarizer(model_path)

    mlflow.log_param("device", device)
    mlflow.log_param("model", type(model).__name__)


def run(mini_batch):
    resultList = []

    print(f"[INFO] Reading new mini-batch of {len(mini_batch)} file(s).")
    ds = {"score": pd.concat(pd.read_csv(path) for path in mini_batch)}

    start_time = time.perf_counter()
    for idx, text in enumerate(ds["score"]["text"]):
        # perform inference
        summary = model.summarize(text)

        # Get results:
        resultList.append(summary)
        rps = idx / (time.perf_counter() - start_time + 00000.1)
        print("Rows per second:", rps)

    mlflow.log_metric("rows_per_second", rps)
    return resultList
