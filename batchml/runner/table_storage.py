"""Tables in storage (Azure storage, or a public http(s) server that honours Range requests),
split by rows: which files a table is (a folder's listing, or an MLTable file in storage and
the paths it names, relative to its folder, a pattern matched over the folder's listing as glob
matches local files), and the fetcher that stages each row range into the input cache for the
workers (batchml.store.blob_ranges).

Local workers never open storage (Ray actors stage their own, batchml.backends.ray_actor): a
row range of a blob goes to its worker as a row range of a local file in the cache, keyed by the blob's content key and the span (and the CSV header line put
before it), so a retry or a resume downloads nothing again. Errors and failures name the blob
as the user named its folder, never the cache.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from batchml.core import mltable
from batchml.core.errors import NotFoundError, UsageError
from batchml.core.failures import map_paths
from batchml.core.row_ranges import parse
from batchml.core.storage_urls import StorageAccess
from batchml.runner.inputs import storage_names
from batchml.runner.staging import Fetcher
from batchml.store import remote
from batchml.store.blob_ranges import (
    AzureBlob,
    Blob,
    HttpFile,
    each,
    http_file,
    http_get,
    local_item,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from batchml.core.batch_job import DataInput
    from batchml.store.input_cache import InputCache
    from batchml.store.workspace import Workspace


def open_table(workspace: Workspace, data: DataInput) -> tuple[mltable.Table | None, list[Blob]]:
    """The MLTable of an `mltable` input in storage (None for a folder or file of tabular
    files) and the table's files in order: blobs in Azure storage, or files at an http(s)
    URL, each asked its size (an index page gives none). A path it names that is not there is
    exit 3."""
    located = data.remote
    assert located is not None
    shown = storage_names(data)
    container = (
        remote.data_container(workspace, located) if located.protocol == remote.AZURE else None
    )

    def blob(path: str, key: str, size: int) -> Blob:
        if container is not None:
            return AzureBlob(container, path, key, size, map_paths(path, shown))
        with remote.storage_errors(map_paths(path, shown)):
            return http_file(path, map_paths(path, shown))

    def blobs_under(
        path: str, url: str, *, folder: bool, keep: Callable[[str], bool] | None = None
    ) -> list[Blob]:
        """The files of the folder or file `path`, `url` naming it (those of a folder whose
        relative paths `keep` keeps, if given)."""
        root = path.rstrip("/")
        if container is None and not folder:
            return [blob(root, "", 0)]
        where = dataclasses.replace(located, root=root)
        base = root if folder else root.rsplit("/", 1)[0]
        listed = sorted(remote.listing(workspace, where, url, folder=folder))
        kept = [item for item in listed if keep is None or keep(item[0])]
        # An http file is asked its size, each a request: a few at once.
        return each(lambda item: blob(f"{base}/{item[0]}", item[1], item[2]), kept)

    if data.type != "mltable":
        return None, _ranged(blobs_under(located.root, data.path, folder=data.type != "uri_file"))
    root = located.root.rstrip("/")
    top, rest = _top(root, container is not None)
    url = f"{data.path.rstrip('/')}/{mltable.FILE_NAME}"
    if container is not None:
        name = f"{rest}/{mltable.FILE_NAME}".lstrip("/")
        table = _read_table(lambda: container.download_blob(name).readall(), data.path)
    else:
        table = _read_table(lambda: http_get(f"{root}/{mltable.FILE_NAME}"), data.path)
    blobs: dict[str, Blob] = {}
    for index, item in enumerate(table.paths):
        relative = posixpath.normpath(f"{rest}/{item.value}").lstrip("/")
        if relative == ".." or relative.startswith("../"):
            raise UsageError(f"{url}: paths[{index}].{item.kind} {item.value} leaves {top}")
        path = f"{top}/{relative}"
        if item.kind == "pattern":
            folder, keep = _pattern(path, len(top.split("/")))
            found = blobs_under(folder, map_paths(folder, shown), folder=True, keep=keep)
        else:
            shown_path = map_paths(path, shown)
            found = blobs_under(path, shown_path, folder=item.kind == "folder")
            if not found:
                raise NotFoundError(
                    f"{url}: paths[{index}].{item.kind} {shown_path} holds no files"
                )
        blobs.update((blob.path, blob) for blob in found)
    if not blobs:  # patterns that match nothing, as on this machine
        raise mltable.no_files(table)
    return table, _ranged(list(blobs.values()))


def check_ranges(workspace: Workspace, data: DataInput) -> None:
    """Refuse, before any job exists, a folder or file of tabular files at an http server
    that ignores Range requests (exit 2, naming the file): one of its files is asked for a
    byte. The folder is listed, but its files are not asked their sizes (open_table does
    that when the job plans; an MLTable's are at invoke, as it looks up every path)."""
    located = data.remote
    if located is None or located.protocol != remote.HTTP:
        return  # Azure storage serves ranges
    root = located.root.rstrip("/")
    if data.type != "uri_file":
        listed = remote.listing(workspace, located, data.path, folder=True)
        first = next(iter(listed), None)
        if first is None:
            return  # an empty folder: invoke says so itself
        root = f"{root}/{first[0]}"
    shown = map_paths(root, storage_names(data))
    with remote.storage_errors(shown):
        _ranged([http_file(root, shown)])


def _ranged(files: list[Blob]) -> list[Blob]:
    """`files`, once the first of them at an http URL answered a Range request as it must (a
    server that ignores ranges is refused before any job exists, or when a job plans)."""
    first = next(iter(files), None)
    if isinstance(first, HttpFile):
        with remote.storage_errors(first.shown):
            first.read(0, 1)
    return files


def _top(root: str, azure: bool) -> tuple[str, str]:
    """(what a table's paths may not leave, the rest of `root`): an Azure container, else
    an http server (its scheme and host)."""
    if azure:
        container, _, rest = root.partition("/")
        return container, rest
    parts = urlsplit(root)
    return f"{parts.scheme}://{parts.netloc}", parts.path.strip("/")


def _pattern(pattern: str, top: int) -> tuple[str, Callable[[str], bool]]:
    """The folder to list for the glob `pattern` (normalised): the part before its first
    wildcard, never above its first `top` components (the container or server); and whether a
    path listed under it matches, as a local pattern matches files."""
    parts = pattern.split("/")
    literal = max(top, mltable.pattern_folder(parts))
    rest = parts[literal:]
    return "/".join(parts[:literal]), lambda relative: mltable.matches(rest, relative.split("/"))


def _read_table(read: Callable[[], bytes], folder: str) -> mltable.Table:
    """The MLTable file that `read` downloads, in the `folder` (as the user named it)."""
    import urllib.error

    import yaml
    from azure.core.exceptions import ResourceNotFoundError

    folder = folder.rstrip("/")
    url = f"{folder}/{mltable.FILE_NAME}"
    with remote.storage_errors(url):
        try:
            text = read()
        except (ResourceNotFoundError, urllib.error.HTTPError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code != 404:
                raise
            raise UsageError(
                f"{url} is not there; an mltable input is a folder with an MLTable file",
                hint="pass --input-type uri_folder to score the folder's files as they are",
            ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{url}: not YAML: {str(exc).splitlines()[0]}") from None
    return mltable.parse(data, url, folder)


class RangeFetcher(Fetcher):
    """Stages row ranges of blobs: each item comes back as the same rows of a local file."""

    def __init__(
        self, access: StorageAccess, blobs: dict[str, Blob], cache: InputCache,
        log: Callable[[str], None],
    ) -> None:  # fmt: skip
        super().__init__(access, {path: blob.key for path, blob in blobs.items()}, cache, log)
        self._blobs = blobs

    def local(self, files: Sequence[str]) -> tuple[str, ...]:
        return tuple(local_item(self.cache, self._blobs[parse(item).path], item) for item in files)
