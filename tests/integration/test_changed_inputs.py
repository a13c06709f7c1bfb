"""A file that changes in storage (the `azurite` fixture) between the job's listing and the fetch
of its mini-batch: the fetch fails that mini-batch with one line naming the file as the user
named it, and the new bytes are never cached under the key the listing gave the old ones (a
later job, or a resume, would read them as the listed file). Whether the blob has an MD5 (a
single upload) or only an ETag (a block list, as batchml's own uploads are)."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_remote_inputs import DRIVER_LOG, files_of, upload

from batchml.core.batch_job import DataInput
from batchml.core.errors import BatchmlError
from batchml.runner.inputs import storage_names
from batchml.services import datastores, storage_inputs
from batchml.store import input_cache, remote
from batchml.store.input_cache import InputCache
from batchml.store.workspace import Workspace

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(120)]

GIVEN = "azureml://datastores/blobs/paths/in"
CHANGED = f"{GIVEN}/in01.txt changed since the job listed it (a new job scores it as it is now)"


def put_blocks(jobs: Any, blob: str, data: bytes) -> None:
    """Write `blob` as a committed block list: its properties have no MD5, only an ETag."""
    datastore = remote.read_datastore(Workspace(jobs.ws), "blobs")
    container, _, name = blob.partition("/")
    secrets = remote.read_secrets(Workspace(jobs.ws), "blobs")
    client = remote.open_container(datastore, secrets).get_blob_client(name)
    assert container == datastore.container
    block = base64.b64encode(b"block-0").decode()
    client.stage_block(block, data, length=len(data))
    client.commit_block_list([block])


@pytest.mark.parametrize("kind", ["md5", "etag"])
def test_a_file_changed_since_listed_is_refused_and_not_cached(
    jobs: Any, azurite: Any, kind: str
) -> None:
    container = upload(jobs, azurite, files_of(["a", "b", "c"]))
    if kind == "etag":
        for name, text in files_of(["a", "b", "c"]).items():
            put_blocks(jobs, f"{container}/in/{name}", text.encode())
    workspace = Workspace(jobs.ws)
    data = storage_inputs.resolve(workspace, GIVEN)
    assert data is not None
    listed = sorted(remote.listing(workspace, data, GIVEN, folder=True))
    assert all(key.startswith("md5-" if kind == "md5" else "tag-") for _, key, _ in listed)
    files = [(f"{data.root}/{path}", key) for path, key, _ in listed]
    change(jobs, container, kind)
    cache = InputCache()
    fs = remote.open_data(workspace, data)
    shown = storage_names(DataInput("uri_folder", GIVEN, "", data))

    with pytest.raises(BatchmlError) as raised:
        input_cache.fetch(cache, fs, files, GIVEN, shown)

    assert raised.value.message == CHANGED
    assert not cache.path(files[1][1], "in01.txt").parent.exists()
    assert list((cache.root / "tmp").iterdir()) == []
    # The files that did not change are fetched as listed.
    unchanged = [files[0], files[2]]
    fetched = input_cache.fetch(cache, fs, unchanged, GIVEN, shown)
    assert [Path(path).read_text() for path in fetched] == ["a", "c"]


def change(jobs: Any, container: str, kind: str = "md5") -> None:
    """Write new bytes to in/in01.txt, uploaded whole (it gets an MD5) or as blocks."""
    if kind == "etag":
        put_blocks(jobs, f"{container}/in/in01.txt", b"changed")
        return
    _, storage = datastores.filesystem(Workspace(jobs.ws), "blobs")
    storage.pipe({f"{container}/in/in01.txt": b"changed"})


def test_a_retried_mini_batch_whose_file_changed_fails_naming_it(jobs: Any, azurite: Any) -> None:
    # [in00 ok, in01 fail once] fails, which fails the job; [sub/in02 ok] succeeds.
    container = upload(jobs, azurite, files_of(["ok", "fail once", "ok"]))
    name = jobs.invoke("--input", GIVEN, "--set", "error_threshold=0")
    assert jobs.wait(name, "Completed", "Failed")["status"] == "Failed"
    change(jobs, container)
    # As on another machine, or once the cache dropped them: the retry fetches them again.
    shutil.rmtree(InputCache().root)

    jobs.cli.ok("job", "resume", "-n", name, "--retry-failed")
    job = jobs.wait(name, "Completed", "Failed")

    # Before, the retry scored the new bytes, as if they were the listed file's.
    assert job["status"] == "Failed"
    assert job["batch"]["mini_batches"]["failed"] == 1
    failures = jobs.cli.ok("job", "failures", "-n", name)
    assert [(failure["message"], failure["files"]) for failure in failures] == [
        (CHANGED, [f"{GIVEN}/in00.txt", f"{GIVEN}/in01.txt"])
    ]
    assert CHANGED in (jobs.folder(name) / DRIVER_LOG).read_text()
    assert list(InputCache().root.glob("??/*/in01.txt")) == []
