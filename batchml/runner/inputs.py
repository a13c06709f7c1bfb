"""A job's input files, listed by its runner (not by `invoke`, which only checks the input is
there): a local folder walked with os.scandir, data in storage listed with fsspec's `find`,
each file with its size (mini-batches by size need them; so does `invoke --dry-run`'s plan).

The first run writes the list (batchml.store.input_list) as it walks; every later run, a
resume, reads it, so that it plans the same mini-batches in the same order: their relative
posix paths'. The runner's plan is read from the list on disk, never held whole in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batchml.core.errors import UsageError
from batchml.runner.plan import ListedBatches, plan_mini_batches
from batchml.store import input_list, remote
from batchml.store import job_files as job_store

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from batchml.core.batch_job import DataInput, RemoteData
    from batchml.store.workspace import Workspace


@dataclass(frozen=True)
class InputFiles:
    """The files to plan from, held in memory: absolute local paths, or paths in storage with
    `keys`, their cache keys (None for local files); `sizes`, their sizes in bytes in the same
    order (None if not known: a job listed before sizes were)."""

    files: list[str]
    keys: dict[str, str] | None = None
    sizes: list[int] | None = None


def job_batches(
    workspace: Workspace, folder: Path, data: DataInput, size: int | str
) -> Sequence[tuple[str, ...]]:
    """The job's mini-batches of `size`, planned from the list of files its first run wrote,
    else listed now (streamed from the walk into the list) and written."""
    if (folder / job_store.INPUTS_FILE).is_file() and not (folder / input_list.LIST_FILE).exists():
        # A job invoked by batchml before 0.2.
        paths = [str(path) for path in job_store.input_files(workspace, folder.name)]
        if not paths:
            raise nothing_to_score(data.path)
        return plan_mini_batches(paths, size)
    if not (folder / input_list.LIST_FILE).is_file():
        root, listed = _listed(workspace, data, sizes=not isinstance(size, int))
        input_list.write(folder, root, listed if data.remote is None else sorted(listed))
    batches = ListedBatches(input_list.ListFile(folder), size, local=data.remote is None)
    if not batches.files_total:
        raise nothing_to_score(data.path)
    return batches


def nothing_to_score(folder: str | Path) -> UsageError:
    """The error for an input folder that holds no files."""
    return UsageError(f"the input folder {folder} holds no files; there is nothing to score")


def listed_files(workspace: Workspace, data: DataInput) -> InputFiles:
    """The files a job of `data` would score, in the order it would, with their sizes, listed
    now and written nowhere: for planning a job that does not exist (`invoke --dry-run`) and
    running some of its mini-batches in the foreground."""
    root, listed = _listed(workspace, data, sizes=True)
    return _files(root, list(listed) if data.remote is None else sorted(listed), data)


def _files(root: str, entries: list[tuple[str, str, int | None]], data: DataInput) -> InputFiles:
    sizes = [size or 0 for _, _, size in entries]  # all listed with their sizes
    if data.remote is None:
        return InputFiles([os.path.join(root, path) for path, _, _ in entries], sizes=sizes)
    files = [f"{root}/{path}" for path, _, _ in entries]
    keys = {file: key for file, (_, key, _) in zip(files, entries, strict=True)}
    return InputFiles(files, keys, sizes)


def _listed(
    workspace: Workspace, data: DataInput, *, sizes: bool
) -> tuple[str, Iterable[tuple[str, str, int | None]]]:
    """(root, (path relative to root, cache key, size) of each file) of the input: a local
    folder's in order, as it is walked, with `sizes` or None; storage's in no order."""
    if data.remote is None:
        if data.type == "uri_file":
            name, size = os.path.basename(data.local), os.stat(data.local).st_size
            return os.path.dirname(data.local), [(name, "", size)]
        paths = input_list.walk(data.local)
        if not sizes:
            return data.local, ((path, "", None) for path in paths)
        return data.local, ((path, "", size) for path, size in input_list.sized(data.local, paths))
    entries = remote.listing(workspace, data.remote, data.path, folder=data.type != "uri_file")
    return _storage_root(data.remote, data.type), entries


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
