"""Publishing a job's output to a registered datastore: the folder assembled locally (in the
job's staging folder) goes up so that no reader ever sees a partial file.

Each file goes up as a block blob in two phases: first every block of every file is staged
(Put Block; staged blocks are invisible), then each blob's block list is committed (Put Block
List), which makes the whole blob appear at once. Files go up CONNECTIONS at a time. A blob that exists is replaced only if this
job committed it (its `batchml_job` metadata), as a local output file is. Block ids depend only
on the job and the block's place, so an upload run again (`job resume` after a failure or a
crash mid-upload) stages the same blocks again and commits each blob once, complete.

`BATCHML_TEST_UPLOAD_GATE` is a seam for the tests only: when it names a file, the uploader
creates that file after staging its first block and waits until the file is removed, so a
test can kill the runner mid-upload at a known point.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core import refs
from batchml.core.errors import BatchmlError, ConflictError
from batchml.store import remote

if TYPE_CHECKING:
    from collections.abc import Callable

    from azure.storage.blob import BlobBlock, ContainerClient

    from batchml.store.workspace import Workspace

BLOCK_SIZE = 4 * 1024 * 1024
# Requests in flight at once: small files are round trips, not bandwidth (bench/remote_output.py).
CONNECTIONS = 8
OWNER = "batchml_job"  # the metadata key naming the job that committed a blob
GATE = "BATCHML_TEST_UPLOAD_GATE"


def upload(
    workspace: Workspace, folder: Path, target: str, job: str, say: Callable[[str], None]
) -> int:
    """Publish every file under `folder` to datastore URI `target`; the number of files.

    Raises BatchmlError naming `target` and the reason when the storage refuses or fails."""
    from azure.core.exceptions import AzureError

    where = refs.parse_datastore(target)
    if where is None:
        raise BatchmlError(f"output {target} is not a datastore path")
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".batchml.tmp")),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    prefix = where.path.strip("/")
    try:
        datastore = remote.read_datastore(workspace, where.datastore)
        container = remote.open_container(
            datastore, remote.read_secrets(workspace, where.datastore)
        )
        blobs = [(f"{prefix}/{p.relative_to(folder).as_posix()}".lstrip("/"), p) for p in files]
        _refuse_foreign(container, prefix, [name for name, _ in blobs], job, target)
        pool = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="upload")
        try:
            staged = list(pool.map(lambda b: _stage(container, b[0], b[1], job), blobs))
            say(f"output: {len(staged)} file(s) staged in {target}; committing")
            for _ in pool.map(lambda b: _commit(container, b[0], b[1], job), staged):
                pass
        finally:
            # After a failure, the files not yet begun are not begun.
            pool.shutdown(cancel_futures=True)
    except AzureError as exc:
        raise BatchmlError(
            f"uploading the output to {target} failed: {remote.reason(exc)}",
            hint=f"fix the storage, then publish it with: batchml job resume -n {job}",
        ) from None
    except OSError as exc:
        raise BatchmlError(f"uploading the output to {target} failed: {exc}") from None
    return len(staged)


def _refuse_foreign(
    container: ContainerClient, prefix: str, names: list[str], job: str, target: str
) -> None:
    """ConflictError if one of blobs `names` exists and is not this job's (one listing of the
    output's folder, not a request per file)."""
    listed = container.list_blobs(
        name_starts_with=f"{prefix}/" if prefix else None, include=["metadata"]
    )
    owners = {blob.name: (blob.metadata or {}).get(OWNER) for blob in listed}
    foreign = [name for name in names if name in owners and owners[name] != job]
    if foreign:
        raise ConflictError(
            f"uploading the output to {target} failed: {foreign[0]} already exists in the "
            "container (batchml never overwrites a file another job or anyone else wrote)",
            hint="delete it, or invoke again with another --output-path",
        )


def _stage(
    container: ContainerClient, name: str, path: Path, job: str
) -> tuple[str, list[BlobBlock]]:
    """Stage `path`'s blocks for blob `name`; the blocks, in order."""
    from azure.storage.blob import BlobBlock

    client = container.get_blob_client(name)
    # Ids of one length for all of a blob's blocks, at most 64 bytes whatever the job's name.
    tag = hashlib.sha256(job.encode()).hexdigest()[:16]
    blocks: list[BlobBlock] = []
    with path.open("rb") as data:
        while chunk := data.read(BLOCK_SIZE):
            block = base64.b64encode(f"{tag}{len(blocks):08d}".encode()).decode()
            client.stage_block(block, chunk, length=len(chunk))
            blocks.append(BlobBlock(block_id=block))
            _gate()
    return name, blocks


def _commit(container: ContainerClient, name: str, blocks: list[BlobBlock], job: str) -> None:
    """Make blob `name` its staged `blocks`, all at once, as this job's."""
    container.get_blob_client(name).commit_block_list(blocks, metadata={OWNER: job})


def _gate() -> None:
    """The tests' seam (see the module's docstring); nothing when GATE is not set."""
    gate = os.environ.pop(GATE, None)
    if gate is None:
        return
    Path(gate).touch()
    while Path(gate).exists():
        time.sleep(0.05)
