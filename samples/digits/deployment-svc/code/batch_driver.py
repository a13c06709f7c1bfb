"""Scoring script of the digits-svc deployment: one `file class` row per image."""

from __future__ import annotations

import glob
import logging
import os
import pickle

import numpy as np
import pandas as pd
from PIL import Image

logger = logging.getLogger("batch_driver")
model = None


def init() -> None:
    """Runs once per worker process: load the registered model."""
    global model
    model_dir = os.environ["AZUREML_MODEL_DIR"]
    # A model registered from a folder (--path model) sits in AZUREML_MODEL_DIR/model/.
    found = glob.glob(os.path.join(model_dir, "**", "digits.pkl"), recursive=True)
    if not found:
        raise FileNotFoundError(f"no digits.pkl under AZUREML_MODEL_DIR={model_dir}")
    with open(found[0], "rb") as handle:
        model = pickle.load(handle)
    logger.info("loaded model %s", found[0])


def load_image(path: str) -> np.ndarray:
    """The model's 64 features: the image as 8x8 grayscale, scaled to 0-1."""
    with Image.open(path) as image:
        small = image.convert("L").resize((8, 8), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64).reshape(-1) / 255.0


def run(mini_batch: list[str]) -> pd.DataFrame:
    """Runs once per mini-batch (a list of file paths); each returned row is one success."""
    features = np.stack([load_image(path) for path in mini_batch])
    classes = model.predict(features)
    logger.info("scored a mini-batch of %d files", len(mini_batch))
    return pd.DataFrame({"file": [os.path.basename(p) for p in mini_batch], "class": classes})
