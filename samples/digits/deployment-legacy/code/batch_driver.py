"""Scoring script of the digits-legacy deployment: one `file class probability` row per image.

A file that is not a readable image is skipped: run() returns fewer rows than it got files,
and batch counts each missing row as a failed item (see error_threshold).
"""

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
    files, features = [], []
    for path in mini_batch:
        try:
            features.append(load_image(path))
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
            logger.warning("skipping %s: %s", path, exc)
            continue
        files.append(os.path.basename(path))
    if not files:
        return pd.DataFrame(columns=["file", "class", "probability"])
    probabilities = model.predict_proba(np.stack(features))
    best = probabilities.argmax(axis=1)
    logger.info("scored %d of %d files", len(files), len(mini_batch))
    return pd.DataFrame(
        {
            "file": files,
            "class": model.classes_[best],
            "probability": probabilities.max(axis=1).round(4),
        }
    )
