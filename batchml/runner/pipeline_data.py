"""A pipeline job's data in storage, for steps that read and write local folders.

An input in storage (a datastore path, a storage URL, a data asset or job output there) is
fetched, before the first step that reads it runs, through the per-user input cache
(batchml.store.input_cache: a resumed job or another job on the same data downloads nothing
again) and copied into the job's folder, so that a step that writes into its input changes no
cached file. An output to a registered datastore, which its step writes in the job's staging
folder, is uploaded once the pipeline completed (batchml.runner.upload: whole files or none,
and a resume uploads again without running a step).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.batch_job import DataInput, RemoteData
from batchml.core.errors import BatchmlError
from batchml.core.records import from_state
from batchml.runner.inputs import storage_names
from batchml.runner.upload import upload
from batchml.store import input_cache, remote

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from batchml.store.workspace import Workspace


class PipelineData:
    """Fetches the inputs in storage of the steps it is given, each once, and uploads the
    outputs to datastores."""

    def __init__(self, workspace: Workspace, job: str, say: Callable[[str], None]) -> None:
        self._workspace, self._job, self._say = workspace, job, say
        self._fetched: set[str] = set()
        self._cache: input_cache.InputCache | None = None

    def fetch(self, inputs: dict[str, Any], say: Callable[[str], None]) -> None:
        """Fetch the inputs in storage among a step's `inputs` records, saying so with `say`
        (a BatchmlError naming the input's path if the storage fails)."""
        for name, record in inputs.items():
            if "remote" not in record or record["local"] in self._fetched:
                continue
            if self._cache is None:
                self._cache = input_cache.InputCache()
            try:
                count = _fetch(self._workspace, record, self._cache)
            except OSError as exc:
                raise BatchmlError(
                    f"input {name}: fetching {record['path']} failed: {exc}"
                ) from None
            self._fetched.add(record["local"])
            say(f"input {name}: {count} file(s) fetched from {record['path']}")

    def upload(self, outputs: Iterable[dict[str, Any]]) -> None:
        """Upload the outputs to datastores among `outputs` records, each once (a BatchmlError
        naming the URL and the reason if the storage refuses)."""
        done: set[str] = set()
        for record in outputs:
            if not record.get("remote") or record["local"] in done:
                continue
            done.add(record["local"])
            self._say(f"uploading the output to {record['path']}")
            count = upload(
                self._workspace, Path(record["local"]), record["remote"], self._job, self._say
            )
            self._say(f"output: {count} file(s) published in {record['path']}")


def _fetch(workspace: Workspace, record: dict[str, Any], cache: input_cache.InputCache) -> int:
    """Fetch one input into its local path, as the storage holds it now; the file count."""
    data = from_state(RemoteData, record["remote"])
    folder = record["type"] != "uri_file"
    local = Path(record["local"])
    entries = list(remote.listing(workspace, data, record["path"], folder=folder))
    fs = remote.open_data(workspace, data)
    root = data.root.rstrip("/")
    if folder:
        sources = [(f"{root}/{path}", key) for path, key, _ in entries]
        targets = [local / path for path, _, _ in entries]
    else:
        sources, targets = [(root, entries[0][1])], [local]
    shown = storage_names(DataInput(record["type"], record["path"], "", data))
    cached = input_cache.fetch(cache, fs, sources, record["path"], shown)
    base = local if folder else local.parent
    shutil.rmtree(base, ignore_errors=True)  # what an earlier run fetched
    base.mkdir(parents=True)
    for source, target in zip(cached, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return len(targets)
