"""Small helpers the services share: tags, paths and datastore URIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchml.core import refs
from batchml.core.errors import NotFoundError, UsageError
from batchml.store.workspace import Workspace


def as_strings(mapping: dict[str, Any] | None) -> dict[str, str]:
    """Tags and environment variables are strings, whatever YAML typed them as."""
    return {str(k): _to_string(v) for k, v in (mapping or {}).items()}


def _to_string(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def local_path(
    workspace: Workspace, value: str, base_dir: Path, what: str, *, must_exist: bool = True
) -> Path:
    """Resolve a path value: `azureml://datastores/<ds>/paths/<p>` or a local path relative to
    the YAML file's folder (or the current directory)."""
    datastore = refs.parse_datastore(value)
    if datastore is not None:
        folder = workspace.datastore_dir(datastore.datastore)
        if not folder.is_dir() and workspace.datastore_file(datastore.datastore).is_file():
            raise UsageError(
                f"{what} '{value}' is in Azure storage (datastore '{datastore.datastore}'); "
                "only job inputs and data assets are read from storage",
                hint="copy the files to a local folder (or a workspaceblobstore path)",
            )
        if not folder.is_dir():
            raise NotFoundError(
                f"datastore '{datastore.datastore}' not found in workspace {workspace.root}",
                hint="list them with: batchml datastore list",
            )
        path = (folder / datastore.path).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise UsageError(f"{what} '{value}' leaves the datastore '{datastore.datastore}'")
    elif refs.is_remote_uri(value) or value.startswith("azureml://"):
        raise UsageError(
            f"{what} '{value}' is remote storage; only job inputs and data assets are read "
            "from storage",
            hint="copy the files to a local folder (or a datastore path) and give that path",
        )
    else:
        path = (base_dir / Path(value).expanduser()).resolve()
    if must_exist and not path.exists():
        raise NotFoundError(f"{what} not found: {path}")
    return path
