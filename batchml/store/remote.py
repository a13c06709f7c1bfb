"""Data in storage, as fsspec filesystems: Azure storage behind a datastore (adlfs, the `azure`
extra) or a public http(s) URL (fsspec's http, with aiohttp), for downloads; and a blob
container client (azure-storage-blob, which adlfs depends on) for the rest of Azure storage:
the up-front check, the listing and uploads. That client is what `invoke` and a runner that
has not fetched anything yet import: adlfs's own import (its async clients, fsspec, aiohttp)
costs about as much again.

Only the runner, the services and Ray actors (for their own mini-batches) open one; local
workers never do (they see local files). The secrets are read here and go only to the storage
client, never into a log. Storage errors become batchml errors naming the URL: exit 3 for
what is not there, 4 for credentials that the storage refuses.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from batchml.core.batch_job import RemoteData
from batchml.core.datastores import Datastore
from batchml.core.errors import BatchmlError, CredentialsError, NotFoundError, UnreachableError
from batchml.core.failures import map_paths
from batchml.core.records import from_state
from batchml.core.storage_urls import StorageAccess

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from azure.storage.blob import ContainerClient
    from fsspec import AbstractFileSystem

    from batchml.store.workspace import Workspace

AZURE = "az"
HTTP = "http"
# Downloads at once, as fsspec's get() does them.
_DOWNLOADS = 128
_FIRST_PAGE = 100  # blobs in the first page of a listing (the service's default: 5,000)
_AZURE_HINT = "pip install 'batchml[azure]'"


def read_datastore(workspace: Workspace, name: str) -> Datastore:
    """Registered datastore `name` (NotFoundError, exit 3, if there is none)."""
    try:
        state = workspace.read_state(workspace.datastore_file(name), "datastore", name)
    except NotFoundError:
        raise NotFoundError(
            f"datastore '{name}' not found in workspace {workspace.root}",
            hint="list them with: batchml datastore list",
        ) from None
    return from_state(Datastore, state)


def read_secrets(workspace: Workspace, name: str) -> dict[str, str]:
    """The secrets of datastore `name` ({} for one without): for reading its storage only."""
    path = workspace.datastore_secret_file(name)
    if not path.is_file():
        return {}
    return workspace.read_state(path, "datastore secrets", name)


def open_filesystem(
    datastore: Datastore, secrets: dict[str, str], *, retries: int = 2
) -> AbstractFileSystem:
    """An adlfs filesystem on `datastore`'s account (paths are `<container>/<path>`)."""
    return filesystem(_access(datastore, secrets), retries=retries)


def _access(datastore: Datastore, secrets: dict[str, str]) -> StorageAccess:
    """How to reach `datastore`'s account: adlfs's arguments, its secrets among them."""
    options: dict[str, Any]
    if "client_secret" in secrets:
        options = {
            "account_name": datastore.account_name,
            "account_host": datastore.blob_url.split("://", 1)[1],
            "tenant_id": datastore.credentials.get("tenant_id"),
            "client_id": datastore.credentials.get("client_id"),
            "client_secret": secrets["client_secret"],
        }
        return StorageAccess(AZURE, options, datastore.name)
    options = {
        "connection_string": _connection_string(datastore, secrets),
        "anon": "account_key" not in secrets and "sas_token" not in secrets,
    }
    return StorageAccess(AZURE, options, datastore.name)


def _connection_string(datastore: Datastore, secrets: dict[str, str]) -> str:
    """A connection string carries any endpoint, http (an emulator) included."""
    parts = [f"BlobEndpoint={datastore.blob_url}", f"AccountName={datastore.account_name}"]
    if "account_key" in secrets:
        parts.append(f"AccountKey={secrets['account_key']}")
    elif "sas_token" in secrets:
        parts.append(f"SharedAccessSignature={secrets['sas_token'].lstrip('?')}")
    return ";".join(parts) + ";"


def filesystem(access: StorageAccess, *, retries: int = 2) -> AbstractFileSystem:
    """A filesystem on the storage `access` names, whose client tries a request `retries`
    more times after a failure, a second apart and more."""
    if access.protocol == HTTP:
        try:
            from fsspec.implementations.http import HTTPFileSystem
        except ImportError:
            raise BatchmlError(f"{access.name} is an http URL, which needs aiohttp") from None
        # trust_env: the proxy the environment names (http_proxy, https_proxy, no_proxy), as
        # the ranged reads of batchml.store.http_connections take it; aiohttp ignores it else.
        return HTTPFileSystem(skip_instance_cache=True, client_kwargs={"trust_env": True})
    try:
        from adlfs import AzureBlobFileSystem
    except ImportError:
        raise BatchmlError(
            f"datastore '{access.name}' is Azure storage, which needs adlfs", hint=_AZURE_HINT
        ) from None
    fs = AzureBlobFileSystem(**access.options, skip_instance_cache=True)
    _retry(fs, retries)
    return fs


def _retry(fs: AbstractFileSystem, retries: int) -> None:
    # The storage client's own retry policy waits 15 s, then 18 s, then 24 s, ... between
    # tries: over a minute before a refused connection is an error. It has no public knob.
    policy = getattr(getattr(fs.service_client, "_config", None), "retry_policy", None)
    if policy is not None:
        policy.initial_backoff, policy.increment_base = 1, 2
        for name in ("total_retries", "connect_retries", "read_retries", "status_retries"):
            setattr(policy, name, retries)


def open_container(
    datastore: Datastore, secrets: dict[str, str], *, retries: int | None = None
) -> ContainerClient:
    """A client of `datastore`'s container, for what fsspec does not offer (staged blocks) or
    does slowly; `retries`, how often it tries a request again (default: the client's)."""
    return container_client(_access(datastore, secrets), datastore.container, retries=retries)


def container_client(
    access: StorageAccess, container: str, *, retries: int | None = None
) -> ContainerClient:
    """A client of `container` in the Azure storage `access` reaches (see open_container): a
    Ray actor, which gets the access and not the datastore, reads row ranges with one."""
    try:
        from azure.storage.blob import ContainerClient
    except ImportError:
        raise BatchmlError(
            f"datastore '{access.name}' is Azure storage, which needs azure-storage-blob",
            hint=_AZURE_HINT,
        ) from None
    options: dict[str, Any] = {} if retries is None else {"retry_total": retries}
    given = access.options
    if "client_secret" in given:
        from azure.identity import ClientSecretCredential

        credential = ClientSecretCredential(
            given.get("tenant_id") or "", given.get("client_id") or "", given["client_secret"]
        )
        # adlfs reads the account over https://<account_host> too.
        url = f"https://{given['account_host']}"
        return ContainerClient(url, container, credential=credential, **options)
    return ContainerClient.from_connection_string(given["connection_string"], container, **options)


def container_path(datastore: Datastore, path: str) -> str:
    """`path` (relative to the datastore) as adlfs names it: `<container>/<path>`."""
    return f"{datastore.container}/{path.lstrip('/')}".rstrip("/")


def data_access(workspace: Workspace, data: RemoteData) -> StorageAccess:
    """How to read `data`: with its datastore's secrets, or anonymously."""
    if data.protocol == HTTP:
        return StorageAccess(HTTP, {}, data.root)
    return _access(*_datastore_of(workspace, data))


def _datastore_of(workspace: Workspace, data: RemoteData) -> tuple[Datastore, dict[str, str]]:
    """The datastore Azure storage `data` is read through, and its secrets: the one it names,
    or an anonymous one on its account and container."""
    if data.datastore is not None:
        return read_datastore(workspace, data.datastore), read_secrets(workspace, data.datastore)
    anonymous = Datastore(
        name=str(data.account_name),
        type="azure_blob",
        created_at="",
        account_name=str(data.account_name),
        container=data.root.split("/", 1)[0],
        account_url=data.account_url,
    )
    return anonymous, {}


def data_container(
    workspace: Workspace, data: RemoteData, *, retries: int | None = None
) -> ContainerClient:
    """A client of the container Azure storage `data` is in (see open_container)."""
    return open_container(*_datastore_of(workspace, data), retries=retries)


def open_data(workspace: Workspace, data: RemoteData, *, retries: int = 2) -> AbstractFileSystem:
    """A filesystem that reads `data`: with its datastore's secrets, or anonymously."""
    return filesystem(data_access(workspace, data), retries=retries)


@contextlib.contextmanager
def storage_errors(url: str, where: str | None = None) -> Iterator[None]:
    """Turn what storage raises into a one-line batchml error about `url`; storage that
    cannot be reached is named `where` (default: the server of an http(s) `url`)."""
    try:
        yield
    except FileNotFoundError as exc:
        cause = exc.__cause__  # fsspec's http says FileNotFoundError for any failure
        status = getattr(cause, "status", None) or getattr(cause, "status_code", None)
        if isinstance(cause, Exception) and status != 404:
            raise _storage_error(url, cause, where) from None
        missing = "container" if "No such container" in str(exc) else "path"
        raise NotFoundError(f"{url}: no such {missing} in storage") from None
    except BatchmlError:
        raise
    except Exception as exc:  # the storage clients' own errors (azure.core, aiohttp)
        raise _storage_error(url, exc, where) from None


def _storage_error(url: str, exc: Exception, where: str | None = None) -> BatchmlError:
    why = unreachable(exc)
    if why is not None:
        proxy = getattr(exc, "proxy", None)  # http_connections.ProxyError's
        where = f"the proxy {proxy}" if isinstance(proxy, str) else where or _server(url)
        return UnreachableError(f"{url}: storage error: {where} cannot be reached ({why})")
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if status in (401, 403) or "authenticate" in text or "Authorization" in text:
        return CredentialsError(
            f"{url}: the storage refused the credentials ({text})",
            hint="check the datastore's account_key or sas_token (batchml datastore create)",
        )
    if status == 404:
        return NotFoundError(f"{url}: not found in storage (404)")
    return BatchmlError(f"{url}: storage error: {text}")


def _server(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return f"the server {parts.scheme}://{parts.netloc}"
    return "the storage"


def unreachable(exc: BaseException) -> str | None:
    """Why `exc` (any storage client's: azure.core's, aiohttp's, http.client's) says its
    server was not reached, in a few words, or None if it was (or it is not known)."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        found = pending.pop()
        if not isinstance(found, BaseException) or id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, socket.gaierror):
            return "name not resolved"
        if isinstance(found, OSError) and found.errno in _UNREACHABLE:
            return _UNREACHABLE[found.errno]
        # What wraps the cause: azure.core's inner_exception, aiohttp's os_error, urllib's
        # reason, and the chain.
        pending += [getattr(found, name, None) for name in ("inner_exception", "os_error")]
        pending += [getattr(found, "reason", None), found.__cause__, found.__context__]
    return None


_UNREACHABLE = {
    errno.ECONNREFUSED: "connection refused",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}


def check(workspace: Workspace, data: RemoteData, url: str) -> str:
    """ "file" or "directory": what `data` is, asked of the storage at once, with no retry
    (an Azure container first, which checks the credentials). Raises NotFoundError or
    CredentialsError naming `url`, or BatchmlError if the storage cannot be reached."""
    if data.protocol == HTTP:
        fs = open_data(workspace, data, retries=0)
        with storage_errors(url):
            if data.root.endswith("/"):
                fs.ls(data.root)  # an index page: a folder
                return "directory"
            info = fs.info(data.root)
        return "directory" if info.get("type") == "directory" else "file"
    from azure.core.exceptions import ResourceNotFoundError

    datastore, secrets = _datastore_of(workspace, data)
    container = open_container(datastore, secrets, retries=0)
    path = data.root.partition("/")[2].strip("/")
    where = f"datastore '{datastore.name}' at {datastore.blob_url}" if data.datastore else None
    with storage_errors(url, where), _anonymously(url, data, datastore, secrets):
        try:
            container.get_container_properties()
        except ResourceNotFoundError:
            raise NotFoundError(f"{url}: no such container in storage") from None
        if not path:
            return "directory"
        if container.get_blob_client(path).exists():
            return "file"
        if _first(container.list_blobs(name_starts_with=path + "/", results_per_page=1)):
            return "directory"
    raise NotFoundError(f"{url}: no such path in storage")


@contextlib.contextmanager
def _anonymously(
    url: str, data: RemoteData, datastore: Datastore, secrets: dict[str, str]
) -> Iterator[None]:
    """For storage read with no credentials (a URL of an account no datastore is registered
    for, or a datastore without any), what the storage says, told as that: an account that
    cannot be reached (a URL's) is exit 3, one that refuses anonymous reads exit 4, each with a hint to
    register the credentials (or check the account's name); a container that seems missing
    may be private. A registered datastore that cannot be reached is a storage error (exit 1),
    with credentials or without."""
    if secrets:
        yield
        return
    from azure.core.exceptions import HttpResponseError, ServiceRequestError

    if data.datastore is None:
        where = f"account '{datastore.account_name}' and container '{datastore.container}'"
        hint = (
            f"no datastore is registered for {where}, so it was read anonymously: check the "
            "account's name, or register it with its credentials (account_key or sas_token): "
            "batchml datastore create -f <datastore.yml>"
        )
    else:
        hint = (
            f"datastore '{datastore.name}' has no credentials, so it was read anonymously: "
            f"give it an account_key or sas_token: batchml datastore create -f <{datastore.name}.yml>"
        )
    try:
        yield
    except ServiceRequestError as exc:  # no answer at all: a name that does not resolve, say
        if data.datastore is not None:  # a registered address, as with credentials (exit 1)
            raise
        raise NotFoundError(
            f"{url}: the storage account {datastore.blob_url} cannot be reached "
            f"({unreachable(exc) or reason(exc)})",
            hint=hint,
        ) from None
    except HttpResponseError as exc:
        if exc.status_code not in (401, 403, 409):  # 409: PublicAccessNotPermitted
            raise
        raise CredentialsError(
            f"{url}: the storage refused to be read anonymously ({reason(exc)})", hint=hint
        ) from None
    except NotFoundError as exc:
        # Azure answers an anonymous read of a private container as if it were not there.
        raise NotFoundError(exc.message, hint=hint) from None


def _first(blobs: Iterable[Any]) -> bool:
    return next(iter(blobs), None) is not None


def listing(
    workspace: Workspace, data: RemoteData, url: str, *, folder: bool
) -> Iterator[tuple[str, str, int]]:
    """Every file under the `folder` `data` as (path relative to it, cache key, size in
    bytes), in any order, as the storage lists them, page by page; a file alone as its name.
    The key names the content: its MD5 where the storage gives one, else its path with its
    etag (or size and time). A storage error is a BatchmlError naming `url`."""
    root = data.root.rstrip("/")
    if data.protocol == HTTP:
        fs = open_data(workspace, data)
        with storage_errors(url):
            if not folder:
                info = fs.info(root)
                yield root.rsplit("/", 1)[-1], content_key(root, info), _size(info)
                return
            found: dict[str, dict[str, Any]] = fs.find(root, detail=True)
        for path, info in found.items():
            yield path[len(root) + 1 :], content_key(path, info), _size(info)
        return
    container = data_container(workspace, data)
    name, _, prefix = root.partition("/")
    with storage_errors(url):
        if not folder:
            info = blob_info(container.get_blob_client(prefix).get_blob_properties())
            yield root.rsplit("/", 1)[-1], content_key(root, info), _size(info)
            return
        for blob in _blobs(container, f"{prefix}/" if prefix else None):
            if (blob.metadata or {}).get("hdi_isfolder") == "true":
                continue  # a folder's marker (a hierarchical namespace's), not a file
            path = f"{name}/{blob.name}"
            yield path[len(root) + 1 :], content_key(path, blob_info(blob)), int(blob.size or 0)


def _blobs(container: ContainerClient, prefix: str | None) -> Iterator[Any]:
    """The blobs under `prefix`, page by page: a small page first, so that the job plans its
    first mini-batches while the rest is listed (a page of 5,000 takes a while to come)."""
    # A PageIterator: its continuation_token says where the next page starts.
    pages: Any = container.list_blobs(
        name_starts_with=prefix, include=["metadata"], results_per_page=_FIRST_PAGE
    ).by_page()
    yield from next(pages, [])
    if pages.continuation_token:
        rest = container.list_blobs(name_starts_with=prefix, include=["metadata"])
        for page in rest.by_page(continuation_token=pages.continuation_token):
            yield from page


def blob_info(blob: Any) -> dict[str, Any]:
    """What content_key reads of a blob's properties, as adlfs gives them. The ETag as a
    listing gives it: a response's header quotes it."""
    md5 = blob.content_settings.content_md5 if blob.content_settings else None
    return {
        "content_settings": {"content_md5": md5},
        "etag": blob.etag and blob.etag.strip('"'),
        "size": blob.size,
        "last_modified": blob.last_modified,
    }


def _size(info: dict[str, Any]) -> int:
    return int(info.get("size") or 0)


def content_key(path: str, info: dict[str, Any]) -> str:
    """A file's cache key from what the storage said of it (see `listing`)."""
    md5 = (info.get("content_settings") or {}).get("content_md5")
    if md5:
        return "md5-" + bytes(md5).hex()
    tag = info.get("etag") or info.get("ETag") or f"{info.get('size')}-{info.get('last_modified')}"
    return "tag-" + hashlib.sha256(f"{path}\0{tag}".encode()).hexdigest()[:32]


def download(
    fs: AbstractFileSystem,
    files: Sequence[tuple[str, str]],
    targets: Sequence[str],
    shown: Mapping[str, str],
) -> None:
    """Copy `files` (path in storage, cache key from the listing) to local `targets`,
    concurrently. From Azure storage, a file whose key is not the one it was listed with (it
    changed since) is a BatchmlError naming it as `shown` maps its folder (see map_paths),
    and is not written: its new bytes must not be cached under the listing's key."""
    if AZURE not in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol):
        fs.get([path for path, _ in files], list(targets))
        return
    from fsspec.asyn import sync

    failures = sync(fs.loop, _download_listed, fs, files, targets)
    failure = next((failure for failure in failures if failure is not None), None)
    if isinstance(failure, _Changed):
        raise changed(map_paths(failure.path, shown))
    if failure is not None:
        raise failure


def changed(shown: str) -> BatchmlError:
    """The error of a file (named `shown`) whose bytes are not the ones it was listed with."""
    return BatchmlError(
        f"{shown} changed since the job listed it (a new job scores it as it is now)"
    )


class _Changed(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


async def _download_listed(
    fs: Any, files: Sequence[tuple[str, str]], targets: Sequence[str]
) -> list[BaseException | None]:
    """Each of `files` downloaded to its target by adlfs's own client (`fs`), unless the
    blob's key, from the properties of the very response that carries its bytes, is not the
    listed one; what each download raised (all of them end before this returns)."""
    import asyncio

    limit = asyncio.Semaphore(_DOWNLOADS)

    async def one(path: str, key: str, target: str) -> None:
        container, blob, _ = fs.split_path(path)
        async with limit, fs.service_client.get_blob_client(container, blob) as client:
            # As adlfs's own get(): one connection per blob, many blobs at once.
            stream = await client.download_blob(max_concurrency=fs.max_concurrency or 1)
            if content_key(path, blob_info(stream.properties)) != key:
                raise _Changed(path)
            with open(target, "wb") as out:
                await stream.readinto(out)

    return await asyncio.gather(
        *(one(path, key, target) for (path, key), target in zip(files, targets, strict=True)),
        return_exceptions=True,
    )


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
    has no such container (exit 3); unreachable storage fails (exit 1, saying why)."""
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
        raise CredentialsError(
            f"{where} refused its credentials: {reason(exc)}", hint=fix
        ) from None
    except ResourceNotFoundError:
        raise NotFoundError(
            f"{where}: the container does not exist",
            hint="create it in the storage account, or point the datastore at another one",
        ) from None
    except AzureError as exc:
        if getattr(exc, "status_code", None) == 403:
            raise CredentialsError(
                f"{where} refused its credentials: {reason(exc)}", hint=fix
            ) from None
        raise UnreachableError(
            f"{where} cannot be reached: {unreachable(exc) or reason(exc)}"
        ) from None
