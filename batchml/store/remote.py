"""Azure storage behind a datastore, as an fsspec filesystem (adlfs, the `azure` extra) or a
blob container client (azure-storage-blob, which adlfs depends on).

Only the runner and the services open one; workers never do (they see local files). The secrets
are passed in and go only to the storage client, never into a message or a log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchml.core.datastores import Datastore
from batchml.core.errors import BatchmlError, InvalidSpecError, NotFoundError
from batchml.core.resources import from_state

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient
    from fsspec import AbstractFileSystem

    from batchml.store.workspace import Workspace

_NEEDS_ADLFS = "pip install 'batchml[azure]'"


def registered(workspace: Workspace, name: str) -> Datastore:
    """The record of registered datastore `name` (NotFoundError, exit 3, if there is none)."""
    try:
        state = workspace.read_state(workspace.datastore_file(name), "datastore", name)
    except NotFoundError:
        raise NotFoundError(
            f"datastore '{name}' not found in workspace {workspace.root}",
            hint="list them with: batchml datastore list",
        ) from None
    return from_state(Datastore, state)


def secrets(workspace: Workspace, name: str) -> dict[str, str]:
    """The secrets of datastore `name` ({} for one without): for reading its storage only."""
    path = workspace.datastore_secret_file(name)
    if not path.is_file():
        return {}
    return workspace.read_state(path, "datastore secrets", name)


def _connection_string(datastore: Datastore, secrets: dict[str, str]) -> str:
    """A connection string carries any endpoint, http (an emulator) included."""
    parts = [f"BlobEndpoint={datastore.blob_url}", f"AccountName={datastore.account_name}"]
    if "account_key" in secrets:
        parts.append(f"AccountKey={secrets['account_key']}")
    elif "sas_token" in secrets:
        parts.append(f"SharedAccessSignature={secrets['sas_token'].lstrip('?')}")
    return ";".join(parts) + ";"


def open_filesystem(datastore: Datastore, secrets: dict[str, str]) -> AbstractFileSystem:
    """An adlfs filesystem on `datastore`'s account (paths are `<container>/<path>`)."""
    try:
        from adlfs import AzureBlobFileSystem
    except ImportError:
        raise BatchmlError(
            f"datastore '{datastore.name}' is Azure storage, which needs adlfs", hint=_NEEDS_ADLFS
        ) from None
    if "client_secret" in secrets:
        host = datastore.blob_url.split("://", 1)[1]
        return AzureBlobFileSystem(
            account_name=datastore.account_name,
            account_host=host,
            tenant_id=datastore.credentials.get("tenant_id"),
            client_id=datastore.credentials.get("client_id"),
            client_secret=secrets["client_secret"],
            skip_instance_cache=True,
        )
    return AzureBlobFileSystem(
        connection_string=_connection_string(datastore, secrets),
        anon="account_key" not in secrets and "sas_token" not in secrets,
        skip_instance_cache=True,
    )


def open_container(datastore: Datastore, secrets: dict[str, str]) -> ContainerClient:
    """A client of `datastore`'s container, for what fsspec does not offer (staged blocks)."""
    try:
        from azure.storage.blob import ContainerClient
    except ImportError:
        raise BatchmlError(
            f"datastore '{datastore.name}' is Azure storage, which needs azure-storage-blob",
            hint=_NEEDS_ADLFS,
        ) from None
    if "client_secret" in secrets:
        from azure.identity import ClientSecretCredential

        credential = ClientSecretCredential(
            datastore.credentials.get("tenant_id", ""),
            datastore.credentials.get("client_id", ""),
            secrets["client_secret"],
        )
        return ContainerClient(datastore.blob_url, datastore.container, credential=credential)
    if secrets:
        return ContainerClient.from_connection_string(
            _connection_string(datastore, secrets), datastore.container
        )
    return ContainerClient(datastore.blob_url, datastore.container)


def container_path(datastore: Datastore, path: str) -> str:
    """`path` (relative to the datastore) as adlfs names it: `<container>/<path>`."""
    return f"{datastore.container}/{path.lstrip('/')}".rstrip("/")


def reason(exc: BaseException) -> str:
    """The first line of a storage error, which is what it says (the rest is request detail)."""
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # azure's StorageErrorCode enum, or a string
    text = str(getattr(exc, "reason", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return f"{first} ({code})" if code else first


def probe(datastore: Datastore, secrets: dict[str, str], blob: str | None = None) -> bool:
    """Whether `blob` exists in `datastore`'s container (False if no blob is named); refuses,
    before a job is made, storage that does not take the datastore's credentials (exit 4) or
    has no such container (exit 3); unreachable storage fails (exit 1)."""
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        ResourceNotFoundError,
    )

    where = f"datastore '{datastore.name}' ({datastore.blob_url}/{datastore.container})"
    fix = f"re-create it with the right credentials: batchml datastore create -f <{datastore.name}.yml>"
    try:
        container = open_container(datastore, secrets)
        container.get_container_properties(timeout=30)
        return blob is not None and container.get_blob_client(blob).exists(timeout=30)
    except ClientAuthenticationError as exc:
        raise InvalidSpecError.unplaced(
            [f"{where} refused its credentials: {reason(exc)}"], hint=fix
        ) from None
    except ResourceNotFoundError:
        raise NotFoundError(
            f"{where}: the container does not exist",
            hint="create it in the storage account, or point the datastore at another one",
        ) from None
    except AzureError as exc:
        if getattr(exc, "status_code", None) == 403:
            raise InvalidSpecError.unplaced(
                [f"{where} refused its credentials: {reason(exc)}"], hint=fix
            ) from None
        raise BatchmlError(f"{where} cannot be reached: {reason(exc)}") from None
