"""Runs one job in this process as its runner would, planning its input folder as it lists it,
and SIGKILLs itself while still listing, for the resume tests: `crash_listing.py <input folder>
<job folder> <records> <files>` lists <files> files, then waits until the journal holds
<records> records (mini-batches handed out while the listing went on) and dies."""

import functools
import os
import signal
import sys
import time
from pathlib import Path

from batchml.backends.local import LocalBackend
from batchml.core.batch_job import DataInput
from batchml.runner import RunSettings, ScoringSpec, run_job
from batchml.runner.inputs import job_batches
from batchml.runner.journal import HEADER_SIZE, RECORD_SIZE
from batchml.store import input_list

# As test_listing_streams.py runs the job.
SETTINGS = RunSettings(mini_batch_size=2, max_concurrency_per_instance=2, max_retries=0)
DEADLINE_SECONDS = 60


def main() -> None:
    inputs, job = sys.argv[1], Path(sys.argv[2])
    records, files = int(sys.argv[3]), int(sys.argv[4])
    walk = input_list.walk

    def walk_then_die(root: str):
        for count, path in enumerate(walk(root)):
            if count == files:
                journal = job / "journal" / "journal.bin"
                deadline = time.monotonic() + DEADLINE_SECONDS
                while time.monotonic() < deadline:
                    if (
                        journal.exists()
                        and journal.stat().st_size >= HEADER_SIZE + records * RECORD_SIZE
                    ):
                        os.kill(os.getpid(), signal.SIGKILL)
                    time.sleep(0.01)
                raise SystemExit("no mini-batch was journaled while the input was listed")
            yield path

    input_list.walk = walk_then_die
    job.mkdir(parents=True, exist_ok=True)
    batches = job_batches(
        None, job, DataInput("uri_folder", inputs, inputs), 2, output_action="append_row"
    )
    run_job(
        batches,
        ScoringSpec(Path(__file__).parent, "logged.py"),
        SETTINGS,
        output_dir=job / "out",
        logs_dir=job / "logs",
        backend=functools.partial(LocalBackend, start_method="spawn"),
    )


if __name__ == "__main__":
    main()
