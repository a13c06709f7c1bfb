"""A job's input files, listed by its runner (not by `invoke`, which only checks the input is
there): a local folder walked with os.scandir, data in storage listed with fsspec's `find`,
each file with its size (mini-batches by size need them; so does `invoke --dry-run`'s plan).

The first run writes the list (batchml.store.input_list); every later run, a resume, reads it,
so that it plans the same mini-batches in the same order: their relative posix paths'.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batchml.core.errors import UsageError
from batchml.store import input_list, remote
from batchml.store import job_files as job_store

if TYPE_CHECKING:
    from pathlib import Path

    from batchml.core.batch_job import DataInput, RemoteData
    from batchml.store.workspace import Workspace


@dataclass(frozen=True)
class InputFiles:
    """The files to plan from: absolute local paths, or paths in storage with `keys`, their
    cache keys (None for local files); `sizes`, their sizes in bytes in the same order (None
    if the list does not record them: a job listed before sizes were)."""

    files: list[str]
    keys: dict[str, str] | None = None
    sizes: list[int] | None = None


def input_files(workspace: Workspace, folder: Path, data: DataInput) -> InputFiles:
    """The job's files, from the list its first run wrote, else listed now and written."""
    if (folder / input_list.LIST_FILE).is_file():
        root, entries = input_list.read(folder)
    elif (folder / job_store.INPUTS_FILE).is_file():  # a job invoked by batchml before 0.2
        return InputFiles([str(path) for path in job_store.input_files(workspace, folder.name)])
    else:
        root, listed = _listed(workspace, data)
        input_list.write(folder, root, listed)
        entries = sorted(listed)
    if not entries:
        raise nothing_to_score(data.path)
    return _files(root, entries, data)


def nothing_to_score(folder: str | Path) -> UsageError:
    """The error for an input folder that holds no files."""
    return UsageError(f"the input folder {folder} holds no files; there is nothing to score")


def listed_files(workspace: Workspace, data: DataInput) -> InputFiles:
    """The files a job of `data` would score, in the order it would, with their sizes, listed
    now and written nowhere: for planning a job that does not exist (`invoke --dry-run`) and
    running some of its mini-batches in the foreground."""
    root, listed = _listed(workspace, data)
    return _files(root, sorted(listed), data)


def _files(root: str, entries: list[input_list.Entry], data: DataInput) -> InputFiles:
    sizes = [size for _, _, size in entries if size is not None]
    recorded = sizes if len(sizes) == len(entries) else None
    if data.remote is None:
        return InputFiles([os.path.join(root, path) for path, _, _ in entries], sizes=recorded)
    files = [f"{root}/{path}" for path, _, _ in entries]
    keys = {file: key for file, (_, key, _) in zip(files, entries, strict=True)}
    return InputFiles(files, keys, recorded)


def _listed(workspace: Workspace, data: DataInput) -> tuple[str, list[tuple[str, str, int]]]:
    """(root, [(path relative to root, cache key, size)]) of the input, in no order."""
    if data.remote is None:
        if data.type == "uri_file":
            name, size = os.path.basename(data.local), os.stat(data.local).st_size
            return os.path.dirname(data.local), [(name, "", size)]
        return data.local, [(path, "", size) for path, size in input_list.walk(data.local)]
    entries = remote.listing(workspace, data.remote, data.path, folder=data.type != "uri_file")
    return _storage_root(data.remote, data.type), list(entries)


def _storage_root(data: RemoteData, kind: str) -> str:
    """The folder in storage that the files' paths are relative to (a uri_file's folder)."""
    root = data.root.rstrip("/")
    return root.rsplit("/", 1)[0] if kind == "uri_file" else root


def storage_names(data: DataInput) -> dict[str, str]:
    """How to show the paths in storage of the files of `data` as the user named them: the
    folder they are listed under, as the input's path gives it ({} for local files)."""
    if data.remote is None:
        return {}
    given = data.path.rstrip("/")
    shown = given.rsplit("/", 1)[0] if data.type == "uri_file" else given
    return {_storage_root(data.remote, data.type) + "/": shown + "/"}
