"""Data inputs in storage: which storage a URL names, read with which datastore's credentials,
and whether it is there, asked once before any job exists.

A datastore path names a registered datastore. An Azure storage URL (https, wasbs, abfss) is
read with the secrets of the registered datastore on its account and container, if there is
one, else anonymously; so is an http URL under a datastore's own `account_url` (an emulator).
Any other http(s) URL is a public file or folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchml.core import storage_urls
from batchml.core.batch_job import RemoteData
from batchml.core.errors import UsageError

if TYPE_CHECKING:
    from batchml.core.datastores import Datastore
    from batchml.store.workspace import Workspace


def resolve(workspace: Workspace, value: str) -> RemoteData | None:
    """Where in storage `value` is, or None if it is local (a path, a workspace folder
    datastore, an asset reference)."""
    url = storage_urls.parse(value)
    if url is None:
        return None
    # Here, not at the top: an input that is local (most) needs no storage client code.
    from batchml.store import remote

    if url.kind == storage_urls.DATASTORE:
        name = str(url.datastore)
        if not workspace.datastore_file(name).is_file():
            return None  # the default datastore (a folder), or none: see common.local_path
        datastore = remote.read_datastore(workspace, name)
        return RemoteData(remote.AZURE, remote.container_path(datastore, url.path), name)
    found = in_datastore(workspace, url)
    if found is not None:
        datastore, path = found
        return RemoteData(remote.AZURE, remote.container_path(datastore, path), datastore.name)
    if url.kind == storage_urls.AZURE:
        root = f"{url.container}/{url.path}".rstrip("/")
        account_url = f"https://{url.account}.blob.{url.endpoint}"
        return RemoteData(remote.AZURE, root, account_name=url.account, account_url=account_url)
    return RemoteData(remote.HTTP, value)


def in_datastore(
    workspace: Workspace, url: storage_urls.StorageUrl
) -> tuple[Datastore, str] | None:
    """The registered datastore a storage URL (not a datastore path) is in, on its account and
    container or under its own account_url, and the path in it; None if there is none."""
    for datastore in _registered(workspace):
        if url.kind == storage_urls.AZURE:
            if (datastore.account_name, datastore.container) == (url.account, url.container):
                return datastore, url.path
            continue
        base = f"{datastore.blob_url}/{datastore.container}"
        if url.url == base or url.url.startswith(base + "/"):
            return datastore, url.url[len(base) :].strip("/")
    return None


def _registered(workspace: Workspace) -> list[Datastore]:
    from batchml.store import remote

    folder = workspace.root / "datastores"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [remote.read_datastore(workspace, path.stem) for path in files]


def check(workspace: Workspace, data: RemoteData, value: str, kind: str | None) -> str:
    """The input's type (`kind`, or uri_file/uri_folder as the storage says), once the storage
    said it is there and of that type. Raises NotFoundError, CredentialsError or UsageError,
    each naming `value`."""
    from batchml.store import remote

    # Asked once, at once: a storage that cannot be reached is an error now, not in a minute.
    found = remote.check(workspace, data, value)
    is_file = found == "file"
    if kind == "uri_file" and not is_file:
        raise UsageError(f"input {value} is a folder, but the input type is uri_file")
    if kind == "uri_folder" and is_file:
        raise UsageError(
            f"input {value} is a file, but the input type is uri_folder",
            hint="pass --input-type uri_file",
        )
    return kind or ("uri_file" if is_file else "uri_folder")
