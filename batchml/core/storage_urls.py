"""The storage URLs a data input may be, as Azure takes them (pure parsing, no I/O):

- `azureml://datastores/<ds>/paths/<p>` and its long form (batchml.core.refs),
- `https://<account>.blob.core.windows.net/<container>/<p>` (and `.dfs.`, Data Lake Gen2),
- `wasbs://<container>@<account>.blob.core.windows.net/<p>`,
- `abfss://<filesystem>@<account>.dfs.core.windows.net/<p>`,
- any other `http(s)://` URL: a public file or folder.

Anything else (a local path, an `azureml:name@latest` asset) is not a storage URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from batchml.core import refs

DATASTORE = "datastore"
AZURE = "azure"
HTTP = "http"

# <account>.<blob|dfs>.<endpoint>, the host of an Azure storage account.
_HOST = r"(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.(?P<endpoint>[^/:]+)"
_HTTPS = re.compile(rf"^https?://{_HOST}/(?P<container>[^/]+)/?(?P<path>.*)$")
_AT = re.compile(rf"^(?:wasbs?|abfss?)://(?P<container>[^@/]+)@{_HOST}/?(?P<path>.*)$")
_HTTP = re.compile(r"^https?://[^/]+")


@dataclass(frozen=True)
class StorageUrl:
    """Where a URL points: `kind` DATASTORE (`datastore` and `path` in it), AZURE (`account`,
    `endpoint`, `container` and `path` in it) or HTTP (`url`, the whole URL)."""

    kind: str
    url: str
    path: str = ""
    datastore: str | None = None
    account: str | None = None
    endpoint: str | None = None
    container: str | None = None


def parse(value: str) -> StorageUrl | None:
    """The storage URL `value` is, or None if it is not one (a local path, an asset)."""
    named = refs.parse_datastore(value)
    if named is not None:
        return StorageUrl(DATASTORE, value, path=named.path, datastore=named.datastore)
    match = _HTTPS.match(value) or _AT.match(value)
    if match:
        return StorageUrl(
            AZURE,
            value,
            path=match["path"].strip("/"),
            account=match["account"],
            endpoint=match["endpoint"],
            container=match["container"],
        )
    if _HTTP.match(value):
        return StorageUrl(HTTP, value)
    return None


@dataclass(frozen=True)
class StorageAccess:
    """How to reach the storage a job's inputs are in: an fsspec `protocol` ("az", "http") and
    its filesystem's arguments (secrets among them, so never shown); `name` is what errors
    call it (the input as given, or the datastore)."""

    protocol: str
    options: dict[str, Any] = field(repr=False)
    name: str
