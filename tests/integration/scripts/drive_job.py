"""Runs one job in this process, for orphan tests:
`drive_job.py <input folder> <job folder> <start method>`."""

import functools
import sys
from pathlib import Path

from batchml.backends.local import LocalBackend
from batchml.runner import RunSettings, ScoringSpec, run_job

if __name__ == "__main__":
    inputs, job, start_method = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    run_job(
        sorted(inputs.glob("*.txt")),
        ScoringSpec(Path(__file__).parent, "behave.py"),
        RunSettings(mini_batch_size=1, max_concurrency_per_instance=2, timeout=60),
        output_dir=job / "out",
        logs_dir=job / "logs",
        backend=functools.partial(LocalBackend, start_method=start_method),
    )
