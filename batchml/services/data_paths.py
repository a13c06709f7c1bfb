"""Where a job's data comes from and where its outputs go, for batch scoring jobs and pipeline
jobs alike.

A data input is a local file or folder (relative to the invocation's or YAML file's folder), a
datastore path (`azureml://datastores/<ds>/paths/<p>`), a storage URL (batchml.core.storage_urls)
or a registered asset (`azureml:name@latest`, `azureml:name:version`). An output with no path of its own goes to `azureml/<job>/<output>/`
in the default datastore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchml.core import refs
from batchml.core.batch_job import RemoteData
from batchml.core.errors import UsageError
from batchml.services import assets, storage_inputs
from batchml.services.common import local_path
from batchml.store.workspace import DEFAULT_DATASTORE, Workspace

if TYPE_CHECKING:
    from pathlib import Path

    from batchml.core.resources import Asset

# The input types whose path is a folder.
FOLDER_TYPES = ("uri_folder", "mlflow_model")


def locate(
    workspace: Workspace,
    value: str,
    base_dir: Path,
    what: str,
    *,
    asset_kind: str = "data",
    asset_what: str | None = None,
) -> tuple[Path | RemoteData, Asset | None]:
    """The local file or folder, or the data in storage, that a data input's path names, and
    the asset it names, if any.

    `what` names the input in errors; `asset_what`, the path of the asset it names (default:
    `what`)."""
    asset = None
    if refs.parse_asset(value) is not None:
        asset = assets.resolve(workspace, asset_kind, value)
        value, what = asset.path, asset_what or what
    found = storage_inputs.resolve(workspace, value)
    if found is not None:
        return found, asset
    return local_path(workspace, value, base_dir, what), asset


def check_type(local: Path, kind: str, label: str, *, folder_hint: str | None = None) -> None:
    """UsageError if a uri_file input is a folder, or a folder input is a file; `label` is the
    input as the error names it, `folder_hint` the hint for a file given as a folder type."""
    if kind == "uri_file" and not local.is_file():
        raise UsageError(f"{label} is a folder, but the input type is uri_file")
    if kind in FOLDER_TYPES and not local.is_dir():
        raise UsageError(f"{label} is a file, but the input type is {kind}", hint=folder_hint)


def output_location(
    workspace: Workspace, job: str, output: str, given: str | None, base_dir: Path, what: str
) -> tuple[str, Path]:
    """Where an output goes, as shown and as a local folder: the path given (a local folder or
    a datastore path), else `azureml/<job>/<output>/` in the default datastore."""
    if given:
        return given, local_path(workspace, given, base_dir, what, must_exist=False)
    relative = f"azureml/{job}/{output}"
    shown = f"azureml://datastores/{DEFAULT_DATASTORE}/paths/{relative}/"
    return shown, workspace.datastore_dir(DEFAULT_DATASTORE) / relative
