"""Job records on disk: `jobs/<name>/job.json` (+ inputs.json, logs/). Once a job's runner has
started it is the only writer of job.json; every write is atomic, so readers never see half."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from batchml.core.errors import NotFoundError
from batchml.core.jobs import Job
from batchml.store.fs import read_json, write_json
from batchml.store.workspace import Workspace

JOB_FILE = "job.json"
INPUTS_FILE = "inputs.json"
CANCEL_FILE = "cancel-requested"


def job_dir(workspace: Workspace, name: str) -> Path:
    return workspace.jobs_dir() / name


def get(workspace: Workspace, name: str) -> Job:
    try:
        state = workspace.read_state(job_dir(workspace, name) / JOB_FILE, "job", name)
    except NotFoundError:
        raise NotFoundError(
            f"job '{name}' not found in workspace {workspace.root}",
            hint="list jobs with: batchml job list",
        ) from None
    return Job.from_state(state)


def document(workspace: Workspace, job: Job) -> dict[str, object]:
    return workspace.stamp("job", dataclasses.asdict(job))


def save(workspace: Workspace, job: Job) -> None:
    write_json(job_dir(workspace, job.name) / JOB_FILE, document(workspace, job))


def input_files(workspace: Workspace, name: str) -> list[Path]:
    return [Path(p) for p in read_json(job_dir(workspace, name) / INPUTS_FILE)["files"]]


def all_jobs(workspace: Workspace) -> list[Job]:
    """Every job of the workspace, newest first."""
    folder = workspace.jobs_dir()
    names = [p.parent.name for p in folder.glob(f"*/{JOB_FILE}")] if folder.is_dir() else []
    return sorted((get(workspace, n) for n in names), key=lambda j: j.created_at, reverse=True)
