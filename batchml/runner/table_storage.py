"""Tables in Azure storage, split by rows: which blobs a table is (a folder's listing, or an
MLTable file in storage and the paths it names, relative to its folder, a pattern matched over
the container's listing as glob matches local files), and the fetcher that
stages each row range into the input cache for the workers (batchml.store.blob_ranges).

Workers never open storage: a row range of a blob goes to its worker as a row range of a local
file in the cache, keyed by the blob's content key and the span (and the CSV header line put
before it), so a retry or a resume downloads nothing again. Errors and failures name the blob
as the user named its folder, never the cache.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import TYPE_CHECKING

from batchml.core import mltable
from batchml.core.errors import NotFoundError, UsageError
from batchml.core.failures import map_paths
from batchml.core.row_ranges import RowRange, parse
from batchml.core.storage_urls import StorageAccess
from batchml.runner.inputs import storage_names
from batchml.runner.staging import Fetcher
from batchml.store import remote
from batchml.store.blob_ranges import Blob, cached_range

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from azure.storage.blob import ContainerClient

    from batchml.core.batch_job import DataInput
    from batchml.store.input_cache import InputCache
    from batchml.store.workspace import Workspace


def refuse_http(data: DataInput) -> None:
    """A table at a public http(s) URL is refused (exit 2): its rows are read from Azure
    storage by ranged downloads only."""
    if data.remote is not None and data.remote.protocol != remote.AZURE:
        raise UsageError(
            f"the tabular input {data.path} is at an http URL; batchml splits tables into rows "
            "from local files or Azure storage (a datastore path, a storage account URL)"
        )


def open_table(workspace: Workspace, data: DataInput) -> tuple[mltable.Table | None, list[Blob]]:
    """The MLTable of an `mltable` input in storage (None for a folder or file of tabular
    files) and the table's blobs in order. A path it names that is not there is exit 3."""
    located = data.remote
    assert located is not None
    refuse_http(data)
    shown = storage_names(data)
    container = remote.data_container(workspace, located)

    def blobs_under(path: str, url: str, *, folder: bool) -> list[Blob]:
        """The blobs of the folder or file `path` (`<container>/...`), `url` naming it."""
        root = path.rstrip("/")
        where = dataclasses.replace(located, root=root)
        base = root if folder else root.rsplit("/", 1)[0]
        listed = sorted(remote.listing(workspace, where, url, folder=folder))
        return [
            Blob(container, f"{base}/{relative}", key, size, map_paths(f"{base}/{relative}", shown))
            for relative, key, size in listed
        ]

    if data.type != "mltable":
        return None, blobs_under(located.root, data.path, folder=data.type != "uri_file")
    root = located.root.rstrip("/")
    url = f"{data.path.rstrip('/')}/{mltable.FILE_NAME}"
    table = _read_table(container, root, data.path.rstrip("/"))
    blobs: dict[str, Blob] = {}
    for index, item in enumerate(table.paths):
        path = posixpath.normpath(f"{root}/{item.value}")
        if not path.startswith(root.split("/", 1)[0] + "/"):
            raise UsageError(f"{url}: paths[{index}].{item.kind} {item.value} leaves its container")
        if item.kind == "pattern":
            found = _matching(
                path, lambda folder: blobs_under(folder, map_paths(folder, shown), folder=True)
            )
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
    return table, list(blobs.values())


def _matching(pattern: str, listed: Callable[[str], list[Blob]]) -> list[Blob]:
    """The blobs whose paths match the glob `pattern` (`<container>/...`, normalised), as a
    local pattern matches files: those `listed` under its folder before the first wildcard."""
    parts = pattern.split("/")
    literal = max(1, mltable.pattern_folder(parts))  # never above the container
    folder = "/".join(parts[:literal])
    return [
        blob
        for blob in listed(folder)
        if mltable.matches(parts[literal:], blob.path[len(folder) + 1 :].split("/"))
    ]


def _read_table(container: ContainerClient, root: str, folder: str) -> mltable.Table:
    """The MLTable file in the folder `root` of `container` (`folder`, as the user named it)."""
    import yaml
    from azure.core.exceptions import ResourceNotFoundError

    url = f"{folder}/{mltable.FILE_NAME}"
    name = f"{root.partition('/')[2]}/{mltable.FILE_NAME}".lstrip("/")
    with remote.storage_errors(url):
        try:
            text = container.download_blob(name).readall()
        except ResourceNotFoundError:
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


def local_item(cache: InputCache, blob: Blob, item: str) -> str:
    """The row range `item` of `blob` as the same rows of a file in the cache: a CSV or JSON
    lines range as the whole of a file of its bytes (after the header line), a parquet range
    as the same rows of the whole blob, cached once."""
    part = parse(item)
    options = {key: value for key, value in part.options.items() if key != "head"}
    options["shown"] = blob.shown  # the Path column names the blob, not the cache
    if part.format == "parquet" or part.span is None:
        path = cached_range(cache, blob, None)
        return RowRange(path, part.format, options, part.span, part.where).item()
    _, start, end = part.span
    path = cached_range(cache, blob, (start, end), int(part.options.get("head", "0")))
    return RowRange(path, part.format, options, None, part.where).item()
