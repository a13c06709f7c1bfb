"""A batch scoring job's failed items (the runner's logs/failures.jsonl): `job failures`, its
`--copy-to` quarantine of the failed input files, and the summary `job show` and the end of
`job stream` give of them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.batch_job import BatchJob
from batchml.core.errors import ConflictError, UsageError
from batchml.core.job_record import JobStatus
from batchml.store.job_files import get, job_dir

if TYPE_CHECKING:
    from batchml.core.failures import Group
    from batchml.store.workspace import Workspace

# The files and errors `job show` names; the rest are in `job failures`.
SHOWN_FILES = 5
SHOWN_ERRORS = 3


def _job(workspace: Workspace, name: str) -> BatchJob:
    job = get(workspace, name)
    if not isinstance(job, BatchJob):
        raise UsageError(f"job '{name}' is not a batch scoring job; failures lists theirs")
    return job


def read(workspace: Workspace, name: str) -> list[dict[str, Any]]:
    """Every failure record of the job, oldest first (none if nothing failed)."""
    from batchml.core import failures as records

    return records.read(job_dir(workspace, name) / "logs" / records.FAILURES_FILE)


def _group_view(group: Group) -> dict[str, Any]:
    first = group.first
    return {
        "kind": first["kind"],
        "exception": first["exception"],
        "message": first["message"],
        "where": first.get("where"),
        "attempts": group.attempts,
        "mini_batches_failed": len(group.mini_batches),
        "files_failed": group.files_failed,
        "files": list(group.files),
        "first": {
            key: first[key] for key in ("mini_batch", "attempt", "worker", "time", "traceback")
        },
    }


def listing(workspace: Workspace, name: str, every: bool = False) -> list[dict[str, Any]]:
    """The job's distinct errors with their counts, first first; with `every`, each record."""
    from batchml.core import failures as records

    _job(workspace, name)
    found = read(workspace, name)
    return found if every else [_group_view(group) for group in records.group(found)]


def failed_files(workspace: Workspace, name: str) -> list[str]:
    """The input files that failed in the end (not those a retry got through), in input
    order."""
    files: dict[str, None] = {}
    final = [failure for failure in read(workspace, name) if failure["final"]]
    for failure in sorted(final, key=lambda failure: failure["mini_batch"] or 0):
        if failure["final"]:
            files.update(dict.fromkeys(failure["files"]))
    return list(files)


def copy_to(workspace: Workspace, name: str, target: Path) -> list[Path]:
    """Copy the job's failed input files into `target`, keeping their paths relative to the
    job's input folder, so that a job on `target` runs exactly those. Nothing is copied if a
    file would be overwritten."""
    job = _job(workspace, name)
    files = [Path(path) for path in failed_files(workspace, name)]
    if not files:
        raise UsageError(f"job '{name}' has no failed files to copy")
    root = Path(job.input.local)
    if job.input.type == "uri_file" or not root.is_dir():
        root = root.parent
    plan = []
    for source in files:
        relative = source.relative_to(root) if source.is_relative_to(root) else Path(source.name)
        plan.append((source, target / relative))
    missing = [str(source) for source, _ in plan if not source.is_file()]
    if missing:
        raise UsageError(f"failed input files no longer exist: {', '.join(missing[:3])}")
    existing = [str(copy) for _, copy in plan if copy.exists()]
    if existing:
        raise ConflictError(
            f"--copy-to {target}: {existing[0]} already exists"
            + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""),
            hint="give an empty or new folder",
        )
    from batchml.store.snapshot import copy_file

    for source, copy in plan:
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy_file(source, copy)
    return [copy for _, copy in plan]


def summary(workspace: Workspace, job: BatchJob) -> dict[str, Any] | None:
    """What `job show` and the end of `job stream` say of a job's failures: the first error
    (exception, message, last frames of its traceback, user paths) when the job Failed, the
    failed files and why when any failed; None when nothing failed."""
    failed_job = job.status == JobStatus.FAILED
    if not (failed_job or job.counts.files_failed):
        return None
    # Here and in each function that reads failures: `job show` and `job stream` of a job that
    # failed nothing import none of it.
    from batchml.core import failures as records

    groups = records.group(read(workspace, job.name))
    if not groups:
        return None
    logs = job_dir(workspace, job.name) / "logs"
    first = groups[0].first
    shape: dict[str, Any] = {
        "first_error": {
            "kind": first["kind"],
            "exception": first["exception"],
            "message": first["message"],
            "where": first.get("where"),
            "mini_batch": first["mini_batch"],
            "attempt": first["attempt"],
            "traceback": records.tail(first["traceback"]),
        },
        "errors": [records.describe(group) for group in groups[:SHOWN_ERRORS]],
        "errors_not_shown": max(0, len(groups) - SHOWN_ERRORS),
        "log": str(logs / "job_error.txt"),
        "list": f"batchml job failures -n {job.name}",
    }
    if job.counts.files_failed:
        files = failed_files(workspace, job.name)
        shape["files_failed"] = job.counts.files_failed
        shape["files"] = [_shown(path, job) for path in files[:SHOWN_FILES]]
    return shape


def _shown(path: str, job: BatchJob) -> str:
    """A failed file as the user named it: relative to the input folder when inside it (in
    storage, to the input's path as given)."""
    data = job.input
    folder = os.path.join(data.local, "") if data.remote is None else data.path.rstrip("/") + "/"
    return path[len(folder) :] if path.startswith(folder) else path
