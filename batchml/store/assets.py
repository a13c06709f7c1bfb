"""Model and data versions on disk: where each is, reading its record, and the one way a
version is added. Both creators of models write through `add_version`, so that a version is
stored the same way whoever makes it: `model create` (batchml.services.assets) and a job that
registered a model with MLflow (batchml.mlflow.registry).

    <root>/models/<name>/<version>/model.json   + files/<the model's folder or file>
    <root>/data/<name>/<version>/data.json
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from batchml.core.records import from_state, to_state
from batchml.core.resources import Asset
from batchml.store import versioned
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace

STATE_FILES = {"model": "model.json", "data": "data.json"}
# Under a model version's folder: the snapshot of the model's files.
MODEL_FILES = "files"


def folder(workspace: Workspace, kind: str, name: str, version: str | None = None) -> Path:
    """The folder of asset `name` (all its versions), or of one version of it."""
    return (
        workspace.model_dir(name, version) if kind == "model" else workspace.data_dir(name, version)
    )


def versions(workspace: Workspace, kind: str, name: str) -> list[str]:
    """Existing versions of an asset, oldest first by creation time (the last is `latest`)."""
    return versioned.versions(workspace, folder(workspace, kind, name), STATE_FILES[kind], kind)


def names(workspace: Workspace, kind: str) -> list[str]:
    """The names of the workspace's assets of `kind`."""
    return versioned.names(workspace.assets_dir(kind), STATE_FILES[kind])


def read(workspace: Workspace, kind: str, name: str, version: str) -> Asset:
    """The record of one version (NotFoundError if it has none)."""
    path = folder(workspace, kind, name, version) / STATE_FILES[kind]
    return from_state(Asset, workspace.read_state(path, kind, f"{name}:{version}"))


def add_version(
    workspace: Workspace,
    kind: str,
    name: str,
    version: str | None,
    make: Callable[[Transaction, Path, str], Asset],
) -> Asset:
    """Add version `version` of asset `name` (None: the next number), in one transaction under
    the workspace's lock: `make(txn, folder, version)` writes the version's files into its
    folder through `txn` and returns its record, which is written beside them. ConflictError
    if the version exists: versions never change."""
    with workspace.transaction() as txn:
        existing = versions(workspace, kind, name)
        chosen = version if version is not None else versioned.next_version(existing)
        if chosen in existing:
            raise versioned.conflict(kind, name, chosen, existing)
        where = folder(workspace, kind, name, chosen)
        asset = make(txn, where, chosen)
        txn.write_json(where / STATE_FILES[kind], workspace.stamp(kind, to_state(asset)))
    return asset


def snapshot_model(txn: Transaction, source: Path, version_folder: Path) -> str:
    """Copy a model's folder or file into its version's folder; the copy's path, the version's
    `path`."""
    return str(txn.snapshot(source, version_folder / MODEL_FILES))
