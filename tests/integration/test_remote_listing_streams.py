"""A job whose input is in storage (a real Azure Blob Storage emulator) hands out mini-batches
while the storage still lists it, in the order of the blobs' names whichever order the
listing comes in; a run killed while listing resumes to the output of a clean run, scoring
each blob once (batchml.runner.plan.StreamedBatches, batchml.store.input_list.in_order)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from batchml.core.errors import BatchmlError
from batchml.runner.journal import PENDING, Journal
from batchml.store import input_list
from tests.integration.scripts.storage_listing import DEADLINE_SECONDS, run_storage_job
from tests.integration.test_remote_inputs import upload

if TYPE_CHECKING:
    from collections.abc import Iterable

pytestmark = [
    pytest.mark.azurite,
    pytest.mark.timeout(150),
    pytest.mark.usefixtures("no_worker_left"),
]

SCRIPT = Path(__file__).parent / "scripts" / "storage_listing.py"
URL = "azureml://datastores/blobs/paths/in"


def blobs(count: int, *, astral: Iterable[str] = ()) -> dict[str, str]:
    """f000.txt ... with their index as content; then `astral` names, each its own content."""
    files = {f"f{index:03d}.txt": f"c{index}" for index in range(count)}
    return files | {name: name[-1] for name in astral}


def scored(jobs: Any) -> collections.Counter[str]:
    log = jobs.root / "scored.log"
    return collections.Counter(log.read_text().split() if log.exists() else [])


def test_the_first_mini_batch_is_scored_before_the_storage_listing_ends(
    jobs: Any, azurite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Azurite lists these in UTF-16 order (the astral one before U+FF01): once mini-batches
    # ran, the rest must still come in the order of the same files on a local disk.
    # More than the listing's first page (remote._FIRST_PAGE): the rest comes in another.
    files = blobs(150, astral=["z/\U0001f600", "z/\uff01"])
    upload(jobs, azurite, files)
    monkeypatch.setenv("SCORED_LOG", str(jobs.root / "scored.log"))
    let_go: list[int] = []

    def listed(count: int) -> None:
        # After 30 blobs, the listing waits for the first mini-batch to be scored.
        if count != 30:
            return
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not scored(jobs):
            if time.monotonic() > deadline:
                raise BatchmlError("no mini-batch ran while the storage listed the input")
            time.sleep(0.01)
        let_go.append(count)

    job = jobs.root / "job"
    result = run_storage_job(jobs.ws, URL, job, listed)

    assert result.status == "Completed", result.error
    assert let_go == [30]
    assert (result.counts.mini_batches_total, result.counts.files_total) == (76, 152)
    assert result.output_file is not None
    names = sorted(files)  # a local folder's order: the UTF-8 byte order of the paths
    assert names[-2:] == ["z/\uff01", "z/\U0001f600"]
    expected = [f"{os.path.basename(name)} {files[name]}" for name in names]
    assert result.output_file.read_text().splitlines() == expected
    assert [path for _, (path, _, _) in input_list.ListFile(job).entries()] == names
    assert set(scored(jobs).values()) == {1}


def test_a_storage_job_killed_while_listing_resumes_scoring_every_blob_once(
    jobs: Any, azurite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = blobs(100)
    upload(jobs, azurite, files)
    log = jobs.root / "scored.log"
    monkeypatch.setenv("SCORED_LOG", str(log))
    job = jobs.root / "job"
    command = [sys.executable, str(SCRIPT), str(jobs.ws), URL, str(job), "40", "3"]
    process = subprocess.run(command, env=os.environ, timeout=DEADLINE_SECONDS)
    assert process.returncode == -signal.SIGKILL
    assert not input_list.ListFile(job).complete
    kept = {**Journal.reopen(job / "journal", PENDING).outcomes}
    assert len(kept) >= 3 and max(kept) < 20  # all of them from the 40 blobs listed
    before = scored(jobs)

    result = run_storage_job(jobs.ws, URL, job, resume=True)

    assert result.status == "Completed", result.error
    assert result.counts.mini_batches_resumed == len(kept)
    assert (result.counts.mini_batches_succeeded, result.counts.files_succeeded) == (50, 100)
    assert result.output_file is not None
    names = sorted(files)
    assert result.output_file.read_text().splitlines() == [f"{n} {files[n]}" for n in names]
    after = scored(jobs)
    for index, name in enumerate(names):
        assert after[name] - before[name] == (0 if index // 2 in kept else 1), (name, kept)
    assert input_list.ListFile(job).complete
