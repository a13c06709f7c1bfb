"""Start a job's runner as a detached process that outlives the command that invoked it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

from batchml.core.job_record import JobRecord, JobStatus
from batchml.store.job_files import job_dir, save
from batchml.store.workspace import Workspace

DRIVER_LOG = Path("azureml-logs") / "70_driver_log.txt"

_Job = TypeVar("_Job", bound=JobRecord)


def start(
    workspace: Workspace, job: _Job, *, resume: bool = False, retry_failed: bool = False
) -> _Job:
    """Start the recorded job's runner (see `launch`); a job whose runner cannot start is
    recorded Failed. Returns the job as recorded."""
    try:
        launch(job_dir(workspace, job.name), resume=resume, retry_failed=retry_failed)
    except OSError as exc:
        job = dataclasses.replace(
            job, status=JobStatus.FAILED, error=f"could not start the runner: {exc}"
        )
        save(workspace, job)
    return job


def launch(job_folder: Path, *, resume: bool = False, retry_failed: bool = False) -> None:
    """Start `python -m batchml.runner --detach JOB_FOLDER` and wait for it to detach.

    The process forks the real runner and exits at once, before its imports, so the runner is nobody's child (no
    zombie is left to the invoking command) and leads a session of its own: Ctrl-C in the
    invoking shell does not reach it, and `job cancel` stops it together with its workers.
    With `resume`, the runner continues the job from its journal (see batchml.runner.journal).
    """
    flags = [flag for flag, on in (("--resume", resume), ("--retry-failed", retry_failed)) if on]
    log = job_folder / DRIVER_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "batchml.runner", "--detach", str(job_folder), *flags],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            close_fds=True,
            # `-m` puts the current folder first on sys.path: the job's own folder, so that a
            # `batchml/` folder where the user typed the command does not stand in for batchml.
            cwd=job_folder,
        )
    if process.wait() != 0:
        raise OSError(f"the job runner exited with code {process.returncode}; see {log}")
