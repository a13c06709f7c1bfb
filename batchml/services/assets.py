"""Versioned assets: models and data. Local files are snapshotted into the workspace at create
time (Azure uploads them), so later edits to the user's files change nothing registered."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchml.core import names, refs
from batchml.core import spec as specs
from batchml.core.errors import BatchmlError, InvalidSpecError, Problem
from batchml.core.resources import Asset
from batchml.core.tracking import DATABASE, STORE_DIR
from batchml.mlflow import mlmodel
from batchml.mlflow.mlmodel import MLmodel
from batchml.services import storage_inputs
from batchml.services.common import as_strings, local_path
from batchml.store import assets as stored
from batchml.store import versioned
from batchml.store.transaction import Transaction
from batchml.store.workspace import DEFAULT_DATASTORE, Workspace, current_user, now_iso

SCHEMAS = {"model": "model.schema.json", "data": "data.schema.json"}


def versions(workspace: Workspace, kind: str, name: str) -> list[str]:
    """Existing versions of an asset, oldest first by creation time (the last is `latest`)."""
    return stored.versions(workspace, kind, name)


def create(
    workspace: Workspace, kind: str, spec: specs.Spec, warn: Callable[[str], None]
) -> dict[str, Any]:
    """Register a new version of a model or data asset. An MLflow model is also registered in
    the workspace's MLflow registry when tracking is on (batchml.mlflow.registry); what fails
    there is said to `warn` and leaves the version as created."""
    data = specs.validate(spec, SCHEMAS[kind])
    name = data["name"]
    asset_type = data.get("type", "custom_model" if kind == "model" else "uri_folder")
    in_storage = storage_inputs.resolve(workspace, data["path"]) if kind == "data" else None
    mlflow_model = source = None
    if in_storage is not None:
        # Registered by reference, as Azure does, once the storage said it is there.
        asset_type = storage_inputs.check(workspace, in_storage, data["path"], asset_type)
    else:
        source = local_path(workspace, data["path"], spec.base_dir, f"{kind} path")
        mlflow_model = _check_type(kind, asset_type, source, spec.source)

    def make(txn: Transaction, folder: Path, version: str) -> Asset:
        stored_path = (
            data["path"]
            if source is None
            else _store(workspace, txn, kind, data["path"], source, folder)
        )
        return Asset(
            kind=kind,
            name=name,
            version=version,
            type=asset_type,
            path=stored_path,
            created_at=now_iso(),
            created_by=current_user(),
            description=data.get("description", ""),
            tags=as_strings(data.get("tags")),
            properties=data.get("properties", {}),
            flavors=data.get("flavors") or (mlflow_model.flavors if mlflow_model else None),
            stage=data.get("stage"),
            signature=mlflow_model.signature if mlflow_model else None,
        )

    given = str(data["version"]) if "version" in data else None
    asset = stored.add_version(workspace, kind, name, given, make)
    if mlflow_model is not None:
        _mirror(workspace, asset, warn)
    return asset.view(workspace.name)


def _store(
    workspace: Workspace, txn: Transaction, kind: str, value: str, source: Path, folder: Path
) -> str:
    """Copy the asset's files where the workspace keeps them; the version's `path`."""
    if kind == "model":
        return stored.snapshot_model(txn, source, folder)
    if refs.parse_datastore(value) is not None:
        # Already in a datastore: registered by reference, as Azure does (only local files
        # are uploaded). Copying it into LocalUpload could copy a folder into itself.
        return value
    upload = workspace.datastore_dir(DEFAULT_DATASTORE) / "LocalUpload" / uuid.uuid4().hex
    copied = txn.snapshot(source, upload)
    relative = copied.relative_to(workspace.datastore_dir(DEFAULT_DATASTORE)).as_posix()
    return f"azureml://datastores/{DEFAULT_DATASTORE}/paths/{relative}"


def _mirror(workspace: Workspace, asset: Asset, warn: Callable[[str], None]) -> None:
    """The new MLflow model's version in MLflow's registry too (importing MLflow: seconds)."""
    from batchml.mlflow import tracking  # not on the path of the commands that read assets

    if tracking.unavailable() is not None:
        return
    from batchml.mlflow import registry  # not on every command's start-up path

    tracking.guarded(
        warn,
        lambda: registry.mirror(workspace, asset.name),
        f"registering model {asset.name} version {asset.version} in MLflow's registry",
        after="the version is batchml's only until the next mlflow_model create of this name",
    )


def sync_models(
    workspace: Workspace, name: str | None, warn: Callable[[str], None]
) -> dict[str, Any]:
    """Make batchml's models and the workspace's MLflow registry agree (for model `name`, or
    all): batchml.mlflow.registry.sync. What it imported and what it registered, each a list
    of {name, version, mlflow_version}; a version it could not import is said to `warn`."""
    from batchml.mlflow import tracking

    if name is not None:
        names.check("model", name)
    why = tracking.unavailable()
    if why is not None:
        raise BatchmlError(f"{why}; model sync reads the workspace's MLflow registry")
    result: dict[str, Any] = {"imported": [], "registered": []}
    if not (workspace.root / STORE_DIR / DATABASE).exists() and not stored.names(
        workspace, "model"
    ):
        return result  # nothing on either side: no store or workspace made for nothing
    from batchml.mlflow import registry

    synced = registry.sync(workspace, name, warn)
    for key, done in (("imported", synced.imported), ("registered", synced.registered)):
        result[key] = [
            {"name": d.name, "version": d.version, "mlflow_version": d.mlflow_version} for d in done
        ]
    return result


def _check_type(kind: str, asset_type: str, source: Path, where: str) -> MLmodel | None:
    """Check the path fits the type; for an MLflow model, return what its MLmodel file says."""
    problem = None
    if asset_type == "uri_file" and not source.is_file():
        problem = f"type is uri_file but {source} is a folder; use type uri_folder"
    elif asset_type == "uri_folder" and not source.is_dir():
        problem = f"type is uri_folder but {source} is a file; use type uri_file"
    elif asset_type == "mltable" and not (source / "MLTable").is_file():
        problem = f"type is mltable but {source} has no MLTable file"
    elif asset_type == "mlflow_model":
        try:
            return mlmodel.read(source)
        except mlmodel.MLmodelError as exc:
            problem = f"type is mlflow_model but {exc}"
    if problem:
        raise InvalidSpecError([Problem(where, None, "path", problem)])
    return None


def get(
    workspace: Workspace, kind: str, name: str, version: str | None = None, label: str | None = None
) -> Asset:
    """One version of an asset: `version`, or the newest with label `latest` (or neither)."""
    existing = versions(workspace, kind, name)
    chosen = versioned.pick(existing, version, label, kind=kind, name=name, workspace=workspace)
    return stored.read(workspace, kind, name, chosen)


def resolve(workspace: Workspace, kind: str, reference: str) -> Asset:
    """`azureml:name:version` / `azureml:name@latest` / an ARM id -> the asset version."""
    ref = versioned.parse(reference, kind, f"azureml:{kind}-name:1")
    return get(workspace, kind, ref.name, ref.version, ref.label)


def show(
    workspace: Workspace, kind: str, name: str, version: str | None, label: str | None
) -> dict[str, Any]:
    return get(workspace, kind, name, version, label).view(workspace.name)


def list_all(workspace: Workspace, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """With a name, every version of it (newest first); else the newest version of each."""
    if name is not None:
        return [
            show(workspace, kind, name, v, None) for v in reversed(versions(workspace, kind, name))
        ]
    return [show(workspace, kind, n, None, "latest") for n in stored.names(workspace, kind)]
