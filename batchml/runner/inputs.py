"""A job's input files, listed by its runner (not by `invoke`, which only checks the input is
there): a local folder walked with os.scandir, data in storage listed with fsspec's `find`,
each file with its size (mini-batches by size need them; so does `invoke --dry-run`'s plan).

The first run writes the list (batchml.store.input_list) as it walks, and plans the
mini-batches as it goes (StreamedBatches: the first are handed out before the listing ends),
of a local folder or of data in storage alike; every later run, a resume, reads it, so that
it plans the same mini-batches in the same order: their relative posix paths' (a listing from
storage in another order is put in that one: input_list.in_order). A list its first run did not finish (the
runner was killed while listing) has no trailer: a resume lists the input again, checks that
it begins with what the cut list holds (the mini-batches journaled came from there) and plans
from the new list. The runner's plan is read from the list on disk, never held in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batchml.core.errors import BatchmlError, UsageError
from batchml.runner.plan import ListedBatches, StreamedBatches, plan_mini_batches
from batchml.store import input_list
from batchml.store import job_files as job_store

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
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
    workspace: Workspace,
    folder: Path,
    data: DataInput,
    size: int | str,
    *,
    output_action: str | None = None,
) -> Sequence[tuple[str, ...]]:
    """The job's mini-batches of `size`, planned from the list of files its first run wrote,
    else listed now (streamed from the walk into the list) and written. With `output_action`
    (the job's runner), an input not listed yet is planned as it is listed: a
    StreamedBatches still `listing`, with its first mini-batch planned, is returned."""
    if (folder / job_store.INPUTS_FILE).is_file() and not (folder / input_list.LIST_FILE).exists():
        # A job invoked by batchml before 0.2.
        paths = [str(path) for path in job_store.input_files(workspace, folder.name)]
        if not paths:
            raise nothing_to_score(data.path)
        return plan_mini_batches(paths, size)
    by_size = not isinstance(size, int)
    if (folder / CUT_LIST).is_file() or (folder / input_list.LIST_FILE).is_file():
        if (folder / CUT_LIST).is_file() or not input_list.ListFile(folder).complete:
            _list_again(workspace, folder, data, by_size)
    else:
        root, listed = _listed(workspace, data, sizes=by_size)
        streamed = StreamedBatches(
            folder, root, listed, size, local=data.remote is None, output_action=output_action or ""
        )
        streamed.start()
        if output_action is None:
            streamed.listed()
        if not streamed.listing and not streamed.files_total:
            raise nothing_to_score(data.path)
        return streamed
    batches = ListedBatches(input_list.ListFile(folder), size, local=data.remote is None)
    if not batches.files_total:
        raise nothing_to_score(data.path)
    return batches


def _list_again(workspace: Workspace, folder: Path, data: DataInput, by_size: bool) -> None:
    """List the input of a job whose first run was cut short while listing it, into a new
    list that must begin with the files of the cut one (its mini-batches may be journaled);
    else the input changed meanwhile, and the job cannot resume."""
    cut = folder / CUT_LIST
    if not cut.is_file():  # else a list again cut short: the first run's is the one kept
        os.replace(folder / input_list.LIST_FILE, cut)
    before = input_list.ListFile(folder, CUT_LIST)
    root, listed = _listed(workspace, data, sizes=by_size)
    if root != before.root:
        raise _changed(data, f"its folder was {before.root}, it is {root} now")
    kept = (entry for _, entry in before.entries())

    def checked() -> Iterator[input_list.Entry]:
        for entry in listed:
            old = next(kept, None)
            if old is not None and old != entry:
                raise _changed(data, f"{old[0]} was listed where {entry[0]} is now")
            yield entry
        missing = next(kept, None)
        if missing is not None:
            raise _changed(data, f"{missing[0]} is gone")

    input_list.write(folder, root, checked())
    cut.unlink()


def _changed(data: DataInput, how: str) -> BatchmlError:
    return BatchmlError(
        f"the input {data.path} changed since the job's first run stopped while listing it "
        f"({how}), so the job cannot resume: invoke it again"
    )


def nothing_to_score(folder: str | Path) -> UsageError:
    """The error for an input folder that holds no files."""
    return UsageError(f"the input folder {folder} holds no files; there is nothing to score")


def listed_files(workspace: Workspace, data: DataInput) -> InputFiles:
    """The files a job of `data` would score, in the order it would, with their sizes, listed
    now and written nowhere: for planning a job that does not exist (`invoke --dry-run`) and
    running some of its mini-batches in the foreground."""
    root, listed = _listed(workspace, data, sizes=True)
    return _files(root, list(listed), data)


# The list of a job's first run cut short, kept while the input is listed again.
CUT_LIST = "inputs.list.cut"


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
    """(root, (path relative to root, cache key, size) of each file) of the input, in the
    order of their paths, as they are listed: a local folder's as it is walked, with `sizes`
    or None; storage's with their sizes, as it lists them (see input_list.in_order)."""
    if data.remote is None:
        if data.type == "uri_file":
            name, size = os.path.basename(data.local), os.stat(data.local).st_size
            return os.path.dirname(data.local), [(name, "", size)]
        paths = input_list.walk(data.local)
        if not sizes:
            return data.local, ((path, "", None) for path in paths)
        return data.local, ((path, "", size) for path, size in input_list.sized(data.local, paths))
    from batchml.store import remote  # not imported by a job of local files

    entries = remote.listing(workspace, data.remote, data.path, folder=data.type != "uri_file")
    return _storage_root(data.remote, data.type), input_list.in_order(entries, data.path)


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
