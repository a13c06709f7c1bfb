"""Start a job's runner as a detached process that outlives the command that invoked it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRIVER_LOG = Path("azureml-logs") / "70_driver_log.txt"


def launch(job_folder: Path) -> int:
    """Start `python -m batchml.runner.process JOB_FOLDER` in its own session; returns its pid.

    Its own session (and process group) means Ctrl-C in the invoking shell does not reach it,
    and `job cancel` can stop it together with its workers.
    """
    log = job_folder / DRIVER_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "batchml.runner.process", str(job_folder)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return process.pid
