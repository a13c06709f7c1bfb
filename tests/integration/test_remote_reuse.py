"""Reuse for inputs in storage (a real Azure Blob Storage emulator): a second job on the same
blobs takes every mini-batch from the result cache, keyed by the blobs' cache keys (their MD5
or ETag), downloading and scoring nothing; a blob that changed is fetched and scored again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from test_remote_inputs import DRIVER_LOG, files_of, upload

from batchml.services import datastores
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from collections import Counter

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(120)]

INPUT = "azureml://datastores/blobs/paths/in"


def run(jobs: Any) -> tuple[dict[str, int], bytes, Counter[str], str]:
    """Invoke on the blobs, wait; (mini_batches counts, output bytes, files scored so far in
    all jobs, driver log)."""
    name = jobs.invoke("--input", INPUT)
    job = jobs.wait(name, "Completed", "Failed")
    assert job["status"] == "Completed", job.get("error")
    log = (jobs.folder(name) / DRIVER_LOG).read_text()
    return job["batch"]["mini_batches"], jobs.output(name).read_bytes(), jobs.scored(), log


def counts(reused: int) -> dict[str, int]:
    return {"total": 2, "succeeded": 2, "failed": 0, "resumed": 0, "reused": reused}


def test_a_job_on_the_same_blobs_reuses_and_a_changed_blob_is_scored(
    jobs: Any, azurite: Any
) -> None:
    files = files_of(["a", "b", "c", "d"])
    container = upload(jobs, azurite, files)
    first, output, scored, log = run(jobs)
    assert first == counts(0)
    assert sum(scored.values()) == 4
    assert "input files from storage: 4 downloaded" in log

    again, same_output, scored, log = run(jobs)
    assert again == counts(2)
    assert same_output == output
    assert sum(scored.values()) == 4  # nothing scored again
    assert "input files from storage:" not in log  # nothing fetched

    _, storage = datastores.filesystem(Workspace(jobs.ws), "blobs")
    storage.pipe({f"{container}/in/sub/in03.txt": b"D"})
    partly, changed_output, scored, log = run(jobs)
    assert partly == counts(1)
    assert scored["in03.txt"] == 2 and scored["in02.txt"] == 2 and scored["in00.txt"] == 1
    assert "input files from storage: 1 downloaded" in log
    assert changed_output == output.replace(b"in03.txt d", b"in03.txt D")
