"""Runs one job whose input is in storage in this process, as its runner would (planned as
the storage lists it, fetched through the input cache), with a hook that sees each blob as it
is listed, for test_remote_listing_streams.py: `storage_listing.py <workspace> <input>
<job folder> <files> <records>` lists <files> blobs, then waits until the journal holds
<records> records (mini-batches scored while the listing went on) and SIGKILLs itself."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.backends.local import LocalBackend
from batchml.runner import RunSettings, ScoringSpec, run_job
from batchml.runner.inputs import job_batches, storage_names
from batchml.runner.journal import HEADER_SIZE, RECORD_SIZE
from batchml.runner.staging import Fetcher
from batchml.services.invocations import resolve_input
from batchml.store import remote
from batchml.store.input_cache import InputCache
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from batchml.runner.events import JobResult

SETTINGS = RunSettings(mini_batch_size=2, max_concurrency_per_instance=2, max_retries=0)
DEADLINE_SECONDS = 60


def run_storage_job(
    ws: Path,
    url: str,
    job: Path,
    listed: Callable[[int], None] = lambda _: None,
    *,
    settings: RunSettings = SETTINGS,
    resume: bool = False,
) -> JobResult:
    """Score the blobs at `url` (a datastore path of workspace `ws`) with logged.py in job
    folder `job`; `listed(count)` is called before the listing hands on its count-th blob."""
    workspace = Workspace(ws)
    data = resolve_input(workspace, url)
    assert data.remote is not None, url
    listing = remote.listing

    def watched(*args: Any, **kwargs: Any) -> Iterator[tuple[str, str, int]]:
        for count, entry in enumerate(listing(*args, **kwargs)):
            listed(count)
            yield entry

    job.mkdir(parents=True, exist_ok=True)
    remote.listing = watched  # type: ignore[assignment]
    try:
        batches = job_batches(
            workspace, job, data, settings.mini_batch_size, output_action="append_row"
        )
        access = dataclasses.replace(remote.data_access(workspace, data.remote), name=url)
        fetcher = Fetcher(access, batches.keys(), InputCache(), lambda _: None)  # type: ignore[attr-defined]
        return run_job(
            batches,
            ScoringSpec(Path(__file__).parent, "logged.py"),
            settings,
            output_dir=job / "out",
            logs_dir=job / "logs",
            backend=functools.partial(LocalBackend, start_method="spawn"),
            fetcher=fetcher,
            shown=storage_names(data),
            resume=resume,
        )
    finally:
        remote.listing = listing


def main() -> None:
    ws, url, job = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    files, records = int(sys.argv[4]), int(sys.argv[5])
    journal = job / "journal" / "journal.bin"

    def die_when_journaled(count: int) -> None:
        if count < files:
            return
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if journal.exists() and journal.stat().st_size >= HEADER_SIZE + records * RECORD_SIZE:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.01)
        raise SystemExit("no mini-batch was journaled while the input was listed")

    run_storage_job(ws, url, job, die_when_journaled)


if __name__ == "__main__":
    main()
