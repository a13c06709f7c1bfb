"""Versioned assets: models and data. Local files are snapshotted into the workspace at create
time (Azure uploads them), so later edits to the user's files change nothing registered."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from batchml.core import refs
from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, Problem
from batchml.core.resources import Asset, from_state, to_state
from batchml.mlflow import mlmodel
from batchml.mlflow.mlmodel import MLmodel
from batchml.services import versioned
from batchml.services.common import as_strings, current_user, local_path
from batchml.store.workspace import DEFAULT_DATASTORE, Workspace, now_iso

SCHEMAS = {"model": "model.schema.json", "data": "data.schema.json"}
STATE_FILES = {"model": "model.json", "data": "data.json"}


def _folder(workspace: Workspace, kind: str, name: str, version: str | None = None) -> Path:
    return (
        workspace.model_dir(name, version) if kind == "model" else workspace.data_dir(name, version)
    )


def versions(workspace: Workspace, kind: str, name: str) -> list[str]:
    """Existing versions of an asset, oldest first by creation time (the last is `latest`)."""
    return versioned.versions(workspace, _folder(workspace, kind, name), STATE_FILES[kind], kind)


def create(workspace: Workspace, kind: str, spec: specs.Spec) -> dict[str, Any]:
    """Register a new version of a model or data asset."""
    data = specs.validate(spec, SCHEMAS[kind])
    name = data["name"]
    asset_type = data.get("type", "custom_model" if kind == "model" else "uri_folder")
    source = local_path(workspace, data["path"], spec.base_dir, f"{kind} path")
    mlflow_model = _check_type(kind, asset_type, source, spec.source)
    with workspace.transaction() as txn:
        existing = versions(workspace, kind, name)
        version = str(data["version"]) if "version" in data else versioned.next_version(existing)
        if version in existing:
            raise versioned.conflict(kind, name, version, existing)
        folder = _folder(workspace, kind, name, version)
        if kind == "model":
            stored = str(txn.snapshot(source, folder / "files"))
        elif refs.parse_datastore(data["path"]) is not None:
            # Already in a datastore: registered by reference, as Azure does (only local files
            # are uploaded). Copying it into LocalUpload could copy a folder into itself.
            stored = data["path"]
        else:
            upload = workspace.datastore_dir(DEFAULT_DATASTORE) / "LocalUpload" / uuid.uuid4().hex
            copied = txn.snapshot(source, upload)
            relative = copied.relative_to(workspace.datastore_dir(DEFAULT_DATASTORE)).as_posix()
            stored = f"azureml://datastores/{DEFAULT_DATASTORE}/paths/{relative}"
        asset = Asset(
            kind=kind,
            name=name,
            version=version,
            type=asset_type,
            path=stored,
            created_at=now_iso(),
            created_by=current_user(),
            description=data.get("description", ""),
            tags=as_strings(data.get("tags")),
            properties=data.get("properties", {}),
            flavors=data.get("flavors") or (mlflow_model.flavors if mlflow_model else None),
            stage=data.get("stage"),
            signature=mlflow_model.signature if mlflow_model else None,
        )
        txn.write_json(folder / STATE_FILES[kind], workspace.stamp(kind, to_state(asset)))
    return asset.view(workspace.name)


def _check_type(kind: str, asset_type: str, source: Path, where: str) -> MLmodel | None:
    """Check the path fits the type; for an MLflow model, return what its MLmodel file says."""
    problem = None
    if asset_type == "uri_file" and not source.is_file():
        problem = f"type is uri_file but {source} is a folder; use type uri_folder"
    elif asset_type == "uri_folder" and not source.is_dir():
        problem = f"type is uri_folder but {source} is a file; use type uri_file"
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
    path = _folder(workspace, kind, name, chosen) / STATE_FILES[kind]
    return from_state(Asset, workspace.read_state(path, kind, f"{name}:{chosen}"))


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
    names = versioned.names(workspace.assets_dir(kind), STATE_FILES[kind])
    return [show(workspace, kind, n, None, "latest") for n in names]
