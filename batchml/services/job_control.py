"""Jobs: show, list, cancel, resume, download, and the updates `job stream` follows (jobs are
made by services/invocations.py and services/pipeline_plan.py).

A batch scoring job (model deployments) and a pipeline job (pipeline deployments, `job create`)
share these commands; a pipeline job's steps are child jobs, listed with its name as parent."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.batch_job import BatchJob
from batchml.core.errors import ConflictError, NotFoundError, UsageError
from batchml.core.job_record import STARTING, JobStatus
from batchml.core.jobs import AnyJob
from batchml.core.pipeline_job import PipelineJob, StepJob
from batchml.store.job_files import (
    CANCEL_FILE,
    HEARTBEAT_TIMEOUT,
    JOB_FILE,
    get,
    job_dir,
    job_lock,
    runner_pid,
    save,
    silence,
)
from batchml.store.workspace import Workspace, now_iso

if TYPE_CHECKING:
    from batchml.store.job_index import Entry

# How often `job stream` looks for a change of the job's record or log: two stat calls, about
# 0.5% of a core; it exits this long at most after the job's last record.
CHANGE_POLL = 0.005


def observe(workspace: Workspace, job: AnyJob, parent: AnyJob | None = None) -> AnyJob:
    """The job as it is now: NotResponding if its runner is gone without saying how the job
    ended, or has given no sign of life for HEARTBEAT_TIMEOUT seconds. A step of a pipeline
    job that ended without it is shown as its parent (observed, if the caller has it) ended."""
    if job.is_terminal():
        return job
    if isinstance(job, StepJob):
        parent = parent or observe(workspace, get(workspace, job.parent_job_name))
        if not parent.is_terminal():
            return job
        gone = parent.status == JobStatus.NOT_RESPONDING
        return dataclasses.replace(
            job, status=JobStatus.NOT_RESPONDING if gone else JobStatus.CANCELED
        )
    if runner_pid(workspace, job.name) is None:
        # A runner records how its job ended before it lets go of the job: read that again.
        job = get(workspace, job.name)
        if job.is_terminal():
            return job
        gone = job.status not in STARTING or silence(workspace, job.name) > HEARTBEAT_TIMEOUT
    else:
        gone = silence(workspace, job.name) > HEARTBEAT_TIMEOUT
    if not gone:
        return job
    error = f"the job's runner stopped without finishing; continue it with: batchml job resume -n {job.name}"
    return dataclasses.replace(job, status=JobStatus.NOT_RESPONDING, error=job.error or error)


def show(workspace: Workspace, name: str) -> dict[str, Any]:
    """The `job show` shape; a batch scoring job with failures says what failed, and why."""
    from batchml.services import failures  # here, not at the top: `job list` needs none of it

    job = observe(workspace, get(workspace, name))
    view = job.view(workspace.name, str(job_dir(workspace, name)))
    failed = failures.summary(workspace, job) if isinstance(job, BatchJob) else None
    if failed is not None:
        view["failures"] = failed
    return view


def list_all(
    workspace: Workspace, max_results: int | None, warn: Callable[[str], None]
) -> Iterator[dict[str, Any]]:
    """Top-level jobs, newest first (the steps of pipeline jobs are listed by their parent);
    a job whose record cannot be read is left out and said to `warn`. Only the records of the
    jobs shown are read, one at a time, as the caller takes them."""
    # Here, not at the top: following or showing a job reads none of the index.
    from batchml.store.job_index import jobs

    listed = _observed(workspace, jobs(workspace, lambda line: line.listed, warn))
    for job in itertools.islice(listed, max_results):
        yield job.view(workspace.name, str(job_dir(workspace, job.name)))


def _observed(workspace: Workspace, found: Iterator[AnyJob]) -> Iterator[AnyJob]:
    """The jobs `found`, as they are now (`observe`); a job gone since its record was read
    (the command that made it failed, and took it back) is passed over, as when it is gone
    before."""
    for job in found:
        try:
            yield observe(workspace, job)
        except NotFoundError:
            continue


def list_children(
    workspace: Workspace, parent: str, max_results: int | None = None
) -> list[dict[str, Any]]:
    """The steps of a pipeline job, in the order they run (the first `max_results`, as az
    has them); none for other jobs."""
    job = get(workspace, parent)
    if not isinstance(job, PipelineJob):
        return []
    now = observe(workspace, job)
    return [
        observe(workspace, get(workspace, child), now).view(
            workspace.name, str(job_dir(workspace, child))
        )
        for child in itertools.islice(job.steps.values(), max_results)
    ]


def list_for(
    workspace: Workspace,
    endpoint: str,
    deployment: str | None,
    warn: Callable[[str], None],
    max_results: int | None = None,
) -> Iterator[dict[str, Any]]:
    """`list-jobs` of an endpoint or deployment: Azure's BatchJob shape, newest first, made
    one at a time as the caller takes them."""
    found = _observed(workspace, _endpoint_jobs(workspace, endpoint, deployment, warn))
    for job in itertools.islice(found, max_results):
        folder = str(job_dir(workspace, job.name))
        yield job.batch_view(workspace.name, folder)  # type: ignore[union-attr]


def _endpoint_jobs(
    workspace: Workspace, endpoint: str, deployment: str | None, warn: Callable[[str], None]
) -> Iterator[AnyJob]:
    from batchml.store.job_index import jobs

    def wanted(line: Entry) -> bool:
        return line.endpoint == endpoint and deployment in (None, line.deployment)

    return jobs(workspace, wanted, warn)


def unfinished(workspace: Workspace, endpoint: str, deployment: str | None = None) -> list[str]:
    """The jobs of an endpoint (or one of its deployments) that have not ended."""
    jobs = _endpoint_jobs(workspace, endpoint, deployment, lambda _message: None)
    return [job.name for job in _observed(workspace, jobs) if not job.is_terminal()]


def still_running(jobs: list[str]) -> str:
    """The warning of a delete under running jobs."""
    return (
        f"jobs still running on it: {', '.join(jobs)}; they go on with their own copy of its "
        "code and model"
    )


# -- cancel, resume, download, follow -------------------------------------------------------------
def _signal(pid: int, sig: signal.Signals, *, group: bool = False) -> None:
    # pid 0 is a runner that has not written its pid yet; kill(0) would signal our own group.
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(pid, sig)


def _wait_for_runner(workspace: Workspace, name: str, seconds: float) -> int | None:
    """Wait until no runner holds the job, up to `seconds`; the pid of one that still does."""
    deadline = time.monotonic() + seconds
    pid = runner_pid(workspace, name)
    while pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        pid = runner_pid(workspace, name)
    return pid


def cancel(workspace: Workspace, name: str, wait: float = 10.0) -> AnyJob:
    """Stop the job's runner and workers and mark the job Canceled, keeping what was done
    (`job resume` goes on from there). A job that had ended is returned as it is."""
    job = get(workspace, name)
    if isinstance(job, StepJob):
        raise UsageError(
            f"job '{name}' is step {job.display_name} of pipeline job {job.parent_job_name}; "
            "cancel the pipeline job",
            hint=f"batchml job cancel -n {job.parent_job_name}",
        )
    if job.is_terminal():
        return job
    (job_dir(workspace, name) / CANCEL_FILE).touch()
    pid = runner_pid(workspace, name)
    # A runner that responds stops its workers, commits its journal and records the job
    # Canceled; one that gives no sign of life would not answer SIGTERM either.
    if pid is not None and observe(workspace, job).status != JobStatus.NOT_RESPONDING:
        _signal(pid, signal.SIGTERM)
        pid = _wait_for_runner(workspace, name, wait)
    if pid is not None:
        # Its session: the runner and every worker of it.
        _signal(pid, signal.SIGKILL, group=True)
        _wait_for_runner(workspace, name, wait)
    with job_lock(workspace, name):
        job = get(workspace, name)
        if not job.is_terminal():
            job = dataclasses.replace(job, status=JobStatus.CANCELED, end_time=now_iso())
            save(workspace, job)
    for child in job.steps.values() if isinstance(job, PipelineJob) else ():
        with job_lock(workspace, child):
            step = get(workspace, child)
            if not step.is_terminal():
                ended = dataclasses.replace(step, status=JobStatus.CANCELED, end_time=now_iso())
                save(workspace, ended)
    return job


# The statuses a job resumes from.
RESUMABLE = (JobStatus.FAILED, JobStatus.CANCELED, JobStatus.NOT_RESPONDING)


def resume(workspace: Workspace, name: str, retry_failed: bool = False) -> AnyJob:
    """Start a new runner on a Failed, Canceled or NotResponding job, which goes on from its
    journal: done mini-batches are kept, the others run (with `retry_failed`, also those that
    failed). Returns the job as recorded."""
    from batchml.runner.launch import start

    with job_lock(workspace, name):
        job = observe(workspace, get(workspace, name))
        if isinstance(job, StepJob):
            raise UsageError(
                f"job '{name}' is a step of pipeline job {job.parent_job_name}; resume that",
                hint=f"batchml job resume -n {job.parent_job_name}",
            )
        status = job.status
        if status == JobStatus.COMPLETED:
            raise ConflictError(f"job '{name}' is Completed: there is nothing to resume")
        if status not in RESUMABLE:
            raise ConflictError(
                f"job '{name}' is {status}: only a Failed, Canceled or NotResponding job resumes",
                hint=f"wait for it, or stop it with: batchml job cancel -n {name}",
            )
        pid = runner_pid(workspace, name)
        if pid is not None and status != JobStatus.NOT_RESPONDING:
            # Its runner has recorded how the job ended and is on its way out.
            pid = _wait_for_runner(workspace, name, 10.0)
        if pid is not None:
            raise ConflictError(
                f"job '{name}' is {status}, but its runner (pid {pid}) still holds it",
                hint=f"stop the runner with: batchml job cancel -n {name}; then resume",
            )
        folder = job_dir(workspace, name)
        (folder / CANCEL_FILE).unlink(missing_ok=True)
        job = dataclasses.replace(job, status=JobStatus.PREPARING, error=None, end_time=None)
        save(workspace, job)
        return start(workspace, job, resume=True, retry_failed=retry_failed)


# The folders of a job's logs: Azure's layout of a batch scoring job, and a step's user_logs/.
LOG_FOLDERS = ("logs", "azureml-logs", "user_logs")


def _copy_into(source: Path, destination: Path) -> list[str]:
    """Copy what is in `source` into `destination`; the paths copied."""
    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for item in sorted(source.iterdir()) if source.is_dir() else []:
        target = destination / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
        copied.append(str(target))
    return copied


def download(
    workspace: Workspace,
    name: str,
    destination: Path,
    include_logs: bool,
    output_name: str | None = None,
) -> list[str]:
    """Download a finished job's outputs. A batch scoring job's `score` output goes straight
    into `destination` (as the SDK does for model deployments); a pipeline or step job's named
    outputs go to `destination/named-outputs/<output>/` (only `output_name`, if given). With
    `include_logs`, the job's logs go to `destination/artifacts/` (a pipeline's steps' logs to
    `artifacts/steps/<step>/`)."""
    job = observe(workspace, get(workspace, name))
    if destination.exists() and not destination.is_dir():
        raise UsageError(
            f"--download-path {destination} is a file; give a folder (it is created if missing)"
        )
    if not job.is_terminal():
        raise ConflictError(
            f"This job is in state {job.status}. Download is allowed only in states "
            "Completed, Failed, Canceled, NotResponding"
        )
    if isinstance(job, BatchJob):
        outputs = {"score": job.output.local_dir}
    else:
        outputs = {n: record["local"] for n, record in job.outputs.items()}
    if output_name is not None and output_name not in outputs:
        raise NotFoundError(
            f"job '{name}' has no output {output_name}",
            hint=f"its outputs: {', '.join(outputs) or 'none'}",
        )
    copied = []
    for output, local in outputs.items():
        if output_name not in (None, output):
            continue
        if isinstance(job, BatchJob):
            copied += _copy_into(Path(local), destination)
        else:
            copied += _copy_into(Path(local), destination / "named-outputs" / output)
    if include_logs:
        copied += _copy_logs(workspace, name, destination / "artifacts")
        for step, child in job.steps.items() if isinstance(job, PipelineJob) else ():
            copied += _copy_logs(workspace, child, destination / "artifacts" / "steps" / step)
    return copied


def _copy_logs(workspace: Workspace, name: str, destination: Path) -> list[str]:
    folder = job_dir(workspace, name)
    return [
        path
        for logs in LOG_FOLDERS
        if (folder / logs).is_dir()
        for path in _copy_into(folder / logs, destination / logs)
    ]


@dataclass(frozen=True)
class Update:
    """What `job stream` learns on one poll: the job, and new lines of each log."""

    job: AnyJob
    lines: list[tuple[str, str]]  # (log name, line)


def follow(workspace: Workspace, name: str, poll: float = 0.5) -> Iterator[Update]:
    """Yield updates until the job ends; the last update has a terminal job.

    Between updates, at most `poll` seconds; sooner when the job's record or its log change
    (looked at every CHANGE_POLL seconds, which costs two stat calls).
    """
    logs = (get(workspace, name).streamed_log,)
    offsets = dict.fromkeys(logs, 0)
    folder = job_dir(workspace, name)
    watched = [folder / JOB_FILE, *(folder / log for log in logs)]
    while True:
        seen = _stamps(watched)
        job = observe(workspace, get(workspace, name))
        lines: list[tuple[str, str]] = []
        for log in logs:
            path = folder / log
            if not path.is_file():
                continue
            with path.open("rb") as handle:
                handle.seek(offsets[log])
                chunk = handle.read()
            complete = chunk if job.is_terminal() else chunk[: chunk.rfind(b"\n") + 1]
            offsets[log] += len(complete)
            lines.extend((log, line) for line in complete.decode(errors="replace").splitlines())
        yield Update(job, lines)
        if job.is_terminal():
            return
        deadline = time.monotonic() + poll
        while time.monotonic() < deadline and _stamps(watched) == seen:
            time.sleep(CHANGE_POLL)


def _stamps(paths: list[Path]) -> list[tuple[int, int] | None]:
    """What tells that a file changed: its size and modification time (None: absent)."""
    stamps: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((stat.st_size, stat.st_mtime_ns))
    return stamps
