"""The scoring script of a deployment of an MLflow model without code_configuration.

Azure generates one for such deployments; this is batchml's. init() loads the model once per
worker with MLflow's pyfunc loader; run() calls predict() once per file (batchml.mlflow.inputs
says how each file type is read) and returns the append_row lines of batchml.mlflow.predictions.
A tabular mini-batch (a DataFrame of row ranges) is predicted range by range, each range
named by its file. A file (or row range) that cannot be read or scored fails alone: it is logged, and counted as one failed file
against the error threshold, while the rest of the mini-batch goes on.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.row_ranges import parse
from batchml.mlflow.inputs import kind_of, read_image, read_table, typed
from batchml.mlflow.mlmodel import model_folder
from batchml.mlflow.predictions import image_line, table_lines
from batchml.worker.rows import FileResults

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("batchml.mlflow")
model: Any = None
schema: Any = None


def init() -> None:
    """Load the model once per worker."""
    global model, schema
    import mlflow.pyfunc

    model_dir = os.environ.get("AZUREML_MODEL_DIR")
    if not model_dir:
        raise RuntimeError("AZUREML_MODEL_DIR is not set: the deployment has no model folder")
    folder = model_folder(model_dir)
    try:
        model = mlflow.pyfunc.load_model(str(folder))
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(_missing(exc.name or str(exc), folder)) from exc
    signature = model.metadata.signature
    schema = signature.inputs if signature is not None else None
    if schema is None:
        logger.warning("the model has no signature: input types are not enforced")
    logger.info("loaded the MLflow model in %s", folder)


def _missing(module: str, folder: Path) -> str:
    """What to do when loading the model needs a module the job's environment lacks."""
    why, install = "", "install the package that provides it there"
    if module.split(".")[0] == "skops":
        # MLflow 3 saves scikit-learn models with skops unless told otherwise.
        why = " (its sklearn flavor is saved with serialization_format skops)"
        install = "install it there: pip install skops"
    return (
        f"loading the MLflow model in {folder} needs the module {module}{why}, which the job's "
        f"environment ({sys.prefix}) does not have: run the job with env_manager=uv, so that "
        f"the model's own requirements are installed, or {install}"
    )


def run(mini_batch: Any) -> FileResults:
    """Score each file of the mini-batch, or each row range of a tabular mini-batch (a
    DataFrame); the lines of those that worked, and why the others failed."""
    lines: list[str] = []
    failed: dict[str, str] = {}
    for name, score in _parts(mini_batch):
        try:
            lines.extend(score())
        # Anything predict() raises is this input's failure only, as in Azure's scorer.
        except Exception as exc:
            failed[name] = _describe(exc)
            logger.error("Error processing input file: '%s'. %s", name, failed[name])
    return FileResults(lines, failed)


def _parts(mini_batch: Any) -> list[tuple[str, Callable[[], list[str]]]]:
    """(input, what scores it) for each file, or each row range of a DataFrame (whose rows
    are counted from 0 in the range, and named by its file)."""
    if not hasattr(mini_batch, "attrs"):
        return [(path, functools.partial(_score, path)) for path in mini_batch]
    parts: list[tuple[str, Callable[[], list[str]]]] = []
    at = 0
    for item, rows in mini_batch.attrs["row_ranges"]:
        frame = mini_batch.iloc[at : at + rows].reset_index(drop=True)
        parts.append((item, functools.partial(_score_rows, frame, parse(item).path)))
        at += rows
    return parts


def _score_rows(frame: Any, path: str) -> list[str]:
    frame = typed(frame, schema)
    return table_lines(model.predict(frame), len(frame), path)


def _score(path: str) -> list[str]:
    if kind_of(path) == "tabular":
        frame = read_table(path, schema)
        return table_lines(model.predict(frame), len(frame), path)
    return [image_line(model.predict(read_image(path, schema)), path)]


def _describe(exc: Exception) -> str:
    text = str(exc)
    # MLflow's schema errors quote the whole input before the part that says what is wrong.
    if "Failed to enforce schema" in text and "Error: " in text:
        text = text.rsplit("Error: ", 1)[1]
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(exc, ValueError) and first else f"{type(exc).__name__}: {first}"
