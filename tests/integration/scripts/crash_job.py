"""Runs one job in this process with logged.py and SIGKILLs itself at a chosen point, for the
resume tests: `crash_job.py <input folder> <job folder> <event kind>[:<n>]` dies when the
scheduler reports that event (the n-th one of that kind)."""

import functools
import os
import signal
import sys
from pathlib import Path

from batchml.backends.local import LocalBackend
from batchml.runner import JobEvent, RunSettings, ScoringSpec, run_job


def main() -> None:
    inputs, job, point = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    kind, _, nth = point.partition(":")
    seen = []

    def on_event(event: JobEvent) -> None:
        if event.kind == kind:
            seen.append(event)
            if len(seen) == int(nth or 1):
                os.kill(os.getpid(), signal.SIGKILL)

    run_job(
        sorted(inputs.glob("*.txt")),
        ScoringSpec(Path(__file__).parent, "logged.py"),
        # As test_resume.py runs the job.
        RunSettings(mini_batch_size=2, max_concurrency_per_instance=2, max_retries=0, timeout=30),
        output_dir=job / "out",
        logs_dir=job / "logs",
        on_event=on_event,
        backend=functools.partial(LocalBackend, start_method="spawn"),
    )


if __name__ == "__main__":
    main()
