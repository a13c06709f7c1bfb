"""A job's input files, listed by its runner (not by `invoke`, which only checks the input is
there): a local folder walked with os.scandir, data in storage listed with fsspec's `find`.

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

    from batchml.core.batch_job import DataInput
    from batchml.store.workspace import Workspace


@dataclass(frozen=True)
class InputFiles:
    """The files to plan from: absolute local paths, or paths in storage with `keys`, their
    cache keys (None for local files)."""

    files: list[str]
    keys: dict[str, str] | None = None


def input_files(workspace: Workspace, folder: Path, data: DataInput) -> InputFiles:
    """The job's files, from the list its first run wrote, else listed now and written."""
    if (folder / input_list.LIST_FILE).is_file():
        root, entries = input_list.read(folder)
    elif (folder / job_store.INPUTS_FILE).is_file():  # a job invoked by batchml before 0.2
        return InputFiles([str(path) for path in job_store.input_files(workspace, folder.name)])
    else:
        root, listed = _listed(workspace, data)
        entries = sorted((path, key) for path, key, _size in listed)
        input_list.write(folder, root, entries)
    if not entries:
        raise UsageError(f"the input folder {data.path} holds no files; there is nothing to score")
    if data.remote is None:
        return InputFiles([os.path.join(root, path) for path, _ in entries])
    files = [f"{root}/{path}" for path, _ in entries]
    return InputFiles(files, {file: key for file, (_, key) in zip(files, entries, strict=True)})


def local_files(workspace: Workspace, data: DataInput) -> list[str]:
    """The files of a local input, in the order a job scores them (without writing a list):
    for running some of them in the foreground. UsageError for an input in storage."""
    if data.remote is not None:
        raise UsageError(
            f"{data.path} is in storage; running mini-batches in the foreground reads local "
            "files only",
            hint="copy a few of its files to a local folder and give that",
        )
    root, entries = _listed(workspace, data)
    return [os.path.join(root, path) for path, _, _ in sorted(entries)]


def sized_files(workspace: Workspace, data: DataInput) -> list[tuple[str, int]]:
    """The files a job of `data` would score, in the order it would, with their sizes in
    bytes (os.stat for local files, the storage listing's for files in storage); writes no
    list: for planning a job before it exists."""
    root, entries = _listed(workspace, data)
    entries.sort()
    if data.remote is None:
        paths = [os.path.join(root, path) for path, _, _ in entries]
        return [(path, os.stat(path).st_size) for path in paths]
    return [(f"{root}/{path}", size or 0) for path, _, size in entries]


def _listed(workspace: Workspace, data: DataInput) -> tuple[str, list[tuple[str, str, int | None]]]:
    """(root, [(path relative to root, cache key, size)]) of the input, in no order; the size
    of a local file is not looked at (None)."""
    if data.remote is None:
        if data.type == "uri_file":
            return os.path.dirname(data.local), [(os.path.basename(data.local), "", None)]
        return data.local, [(path, "", None) for path in input_list.walk(data.local)]
    fs = remote.open_data(workspace, data.remote)
    listed = remote.listing(fs, data.remote, data.path, folder=data.type != "uri_file")
    root = data.remote.root.rstrip("/")
    return (root.rsplit("/", 1)[0] if data.type == "uri_file" else root), [*listed]
