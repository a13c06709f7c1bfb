"""Azure storage behind a datastore, as an fsspec filesystem (adlfs, the `azure` extra).

Only the runner and the services open one; workers never do (they see local files). The secrets
are passed in and go only to the storage client, never into a message or a log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchml.core.errors import BatchmlError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from batchml.core.datastores import Datastore


def open_filesystem(datastore: Datastore, secrets: dict[str, str]) -> AbstractFileSystem:
    """An adlfs filesystem on `datastore`'s account (paths are `<container>/<path>`)."""
    try:
        from adlfs import AzureBlobFileSystem
    except ImportError:
        raise BatchmlError(
            f"datastore '{datastore.name}' is Azure storage, which needs adlfs",
            hint="pip install 'batchml[azure]'",
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
    # A connection string carries any endpoint, http (an emulator) included.
    parts = [f"BlobEndpoint={datastore.blob_url}", f"AccountName={datastore.account_name}"]
    if "account_key" in secrets:
        parts.append(f"AccountKey={secrets['account_key']}")
    elif "sas_token" in secrets:
        parts.append(f"SharedAccessSignature={secrets['sas_token'].lstrip('?')}")
    return AzureBlobFileSystem(
        connection_string=";".join(parts) + ";",
        anon="account_key" not in secrets and "sas_token" not in secrets,
        skip_instance_cache=True,
    )


def container_path(datastore: Datastore, path: str) -> str:
    """`path` (relative to the datastore) as adlfs names it: `<container>/<path>`."""
    return f"{datastore.container}/{path.lstrip('/')}".rstrip("/")
