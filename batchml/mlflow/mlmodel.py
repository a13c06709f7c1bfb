"""An MLflow model folder's MLmodel file, read without MLflow (model create needs no MLflow)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchml.core import yaml_text
from batchml.core.errors import BatchmlError

MLMODEL_FILE = "MLmodel"
PYFUNC_FLAVOR = "python_function"


class MLmodelError(ValueError):
    """The folder is not an MLflow model batchml can deploy; the message says why."""


@dataclass(frozen=True)
class MLmodel:
    """What batchml records of an MLflow model: its flavors, as Azure shows them, and its
    signature (`inputs`, `outputs` and `params`, each a list of specs or None), or None."""

    flavors: dict[str, Any]
    signature: dict[str, Any] | None


def model_folder(model_dir: str) -> Path:
    """The MLflow model under AZUREML_MODEL_DIR: the folder itself, or its sub-folder holding
    an MLmodel file (a registered model's own folder)."""
    root = Path(model_dir)
    if (root / MLMODEL_FILE).is_file():
        return root
    found = sorted(path.parent for path in root.glob(f"*/{MLMODEL_FILE}"))
    if not found:
        raise FileNotFoundError(f"no MLflow model (an MLmodel file) under {root}")
    return found[0]


def read(folder: Path) -> MLmodel:
    """Read `folder`/MLmodel; it must declare the python_function flavor (the only one Azure's
    no-code deployments load)."""
    path = folder / MLMODEL_FILE
    if not path.is_file():
        kind = "is a file" if folder.is_file() else "has no MLmodel file"
        raise MLmodelError(f"{folder} {kind}; point path at the MLflow model folder")
    try:
        document = yaml_text.parse(yaml_text.read(path), str(path))
    except BatchmlError as exc:
        raise MLmodelError(f"cannot read {path}: {exc.message}") from None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavors, dict) or PYFUNC_FLAVOR not in flavors:
        found = ", ".join(map(str, flavors)) if isinstance(flavors, dict) and flavors else "none"
        raise MLmodelError(
            f"{path} has no {PYFUNC_FLAVOR} flavor (flavors: {found}); batch deployments load "
            "MLflow models with the pyfunc loader, so save the model with a flavor that adds "
            "it (e.g. mlflow.sklearn.save_model) or deploy it with a scoring script as a "
            "custom_model"
        )
    return MLmodel(flavors=flavors, signature=_signature(document.get("signature"), path))


def _signature(raw: Any, path: Path) -> dict[str, Any] | None:
    # MLmodel keeps each part of the signature as a JSON string.
    if not isinstance(raw, dict):
        return None
    parsed: dict[str, Any] = {}
    for part in ("inputs", "outputs", "params"):
        value = raw.get(part)
        try:
            parsed[part] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as exc:
            raise MLmodelError(f"{path}: signature {part} is not valid JSON: {exc}") from None
    return parsed
