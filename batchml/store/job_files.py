"""Job records on disk: `jobs/<name>/job.json` (+ inputs.list, snapshot/, logs/, journal/).

Every write of job.json is atomic (readers never see half of it) and made under the job's lock
(`.lock`), so that writers never undo each other. While a runner lives it holds `runner.lock`
(the kernel lets go of it when the runner dies, however it dies) and is the only writer;
`job cancel` and `job resume` write only when no runner holds the job. The runner beats
`heartbeat` every HEARTBEAT_INTERVAL seconds (`beat`, `silence`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core.errors import (
    ConflictError,
    CorruptStateError,
    NotFoundError,
    WorkspaceLockedError,
)
from batchml.core.jobs import AnyJob, from_state
from batchml.store.fs import read_json, write_json
from batchml.store.lock import file_lock
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator

    from batchml.core.job_record import JobRecord

JOB_FILE = "job.json"
INPUTS_FILE = "inputs.json"
CANCEL_FILE = "cancel-requested"
JOURNAL_DIR = "journal"
# The job's own copy of its deployment's code and model.
SNAPSHOT_DIR = "snapshot"
# Where an output to a registered datastore is assembled before it is uploaded.
STAGING_DIR = "outputs"
# Where a pipeline job's inputs in storage are fetched for its steps, which read local folders.
FETCHED_DIR = "inputs"
HEARTBEAT_FILE = "heartbeat"
RUNNER_LOCK = "runner.lock"
JOB_LOCK = ".lock"
HEARTBEAT_INTERVAL = 2.0
# A job none of whose files (job.json, heartbeat) changed for this long is not responding.
HEARTBEAT_TIMEOUT = 30.0
# How long a starting runner waits for a command that is only looking at runner.lock.
_RUNNER_LOCK_WAIT = 5.0


def job_dir(workspace: Workspace, name: str) -> Path:
    return workspace.job_dir(name)


def get(workspace: Workspace, name: str) -> AnyJob:
    try:
        state = workspace.read_state(job_dir(workspace, name) / JOB_FILE, "job", name)
    except NotFoundError:
        raise NotFoundError(
            f"job '{name}' not found in workspace {workspace.root}",
            hint="list jobs with: batchml job list",
        ) from None
    try:
        return from_state(state)
    except (
        TypeError,
        KeyError,
        ValueError,
        AttributeError,
    ) as exc:  # fields missing or of another type
        path = job_dir(workspace, name) / JOB_FILE
        raise CorruptStateError(path, f"it is not a job record ({exc})") from None


def kind(folder: Path) -> str | None:
    """The `type` of the job recorded in `folder` (None for a batch scoring job)."""
    value = read_json(folder / JOB_FILE).get("type")
    return str(value) if value is not None else None


def document(workspace: Workspace, job: JobRecord) -> dict[str, object]:
    return workspace.stamp("job", dataclasses.asdict(job))


def save(workspace: Workspace, job: JobRecord) -> None:
    """Write job.json; the caller holds job_lock()."""
    write_json(job_dir(workspace, job.name) / JOB_FILE, document(workspace, job))


@contextlib.contextmanager
def job_lock(workspace: Workspace, name: str) -> Iterator[None]:
    """Hold the lock of one job's record, for a read-modify-write of job.json.

    Held for moments only; a command that waits longer than BATCHML_LOCK_TIMEOUT fails.
    """

    def locked(wait: float) -> WorkspaceLockedError:
        return WorkspaceLockedError(
            f"the record of job '{name}' is locked by another command; waited {wait:g} s",
            hint="retry in a moment, or raise BATCHML_LOCK_TIMEOUT",
        )

    with file_lock(job_dir(workspace, name) / JOB_LOCK, None, locked):
        yield


def input_files(workspace: Workspace, name: str) -> list[Path]:
    return [Path(p) for p in read_json(job_dir(workspace, name) / INPUTS_FILE)["files"]]


def hold_runner_lock(folder: Path) -> None:
    """Take the job's runner lock for the rest of this process's life, with its pid in it.

    The kernel lets go of it when the process ends, however it ends, so a job whose lock is
    free has no runner. Raises ConflictError if another runner holds the job.
    """
    fd = os.open(folder / RUNNER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + _RUNNER_LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                pid = _holder(fd, folder)
                os.close(fd)
                raise ConflictError(
                    f"job '{folder.name}' already has a runner (pid {pid})"
                ) from None
            time.sleep(0.02)
    # One write of a fixed width, so that a reader sees the old pid or the new one. The start
    # time tells this process from a later one given the same pid; a runner forked from the
    # command that invoked it has that command's command line (batchml.runner.launch).
    pid = os.getpid()
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid:>10} {_start_time(pid) or '':>20}\n".encode(), 0)


def runner_pid(workspace: Workspace, name: str) -> int | None:
    """The pid of the runner that holds the job (0 if it has not written it yet), or None if
    no runner does: it ended (the kernel lets go of the lock of a process that ends)."""
    folder = job_dir(workspace, name)
    try:
        fd = os.open(folder / RUNNER_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd, folder)
        return None
    finally:
        os.close(fd)


def _holder(fd: int, folder: Path) -> int:
    # A runner writes its pid just after it takes the lock: until then, the file is empty or
    # names an earlier runner of the job, whose pid may be another program's by now.
    for _ in range(100):
        fields = os.pread(fd, 32, 0).split()
        if fields and _runs(int(fields[0]), fields[1:], folder):
            return int(fields[0])
        time.sleep(0.01)
    return 0


def _runs(pid: int, started: list[bytes], folder: Path) -> bool:
    """Whether process `pid` is a runner of the job in `folder` (as far as can be told):
    the process that started at `started` (the runner's start time, if it wrote one)."""
    if not Path("/proc/self").exists():
        return True
    if started:
        return _start_time(pid) == started[0].decode()
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    names = {os.path.basename(arg) for arg in command}
    # batchml.runner.process: a runner that an earlier batchml started, before an upgrade.
    entry = {b"batchml.runner", b"batchml.runner.process"}.intersection(command)
    return bool(entry) and os.fsencode(folder.name) in names


def _start_time(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (/proc's stat); None if it is
    gone or there is no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def beat(folder: Path) -> None:
    """A sign of life from the job's runner: the heartbeat file, modified now, holds the
    monotonic clock's time and the boot it counts from, so that a reader on this machine
    judges the silence with a clock that steps of the wall clock do not move. One write of a
    fixed width at the start of the file: a reader sees the old beat or the new one."""
    fd = os.open(folder / HEARTBEAT_FILE, os.O_WRONLY | os.O_CREAT, 0o666)
    try:
        os.pwrite(fd, f"{time.monotonic_ns():>20} {_boot_id():>36}\n".encode(), 0)
    finally:
        os.close(fd)


def keep_beating(folder: Path) -> None:
    """Give a sign of life every HEARTBEAT_INTERVAL seconds, for as long as the process lives
    (a runner runs it in a daemon thread). A beat that fails (the folder briefly unwritable, a
    full disk for the file's first touch) is tried again at the next: an error must not end
    the heartbeat, or the job would read NotResponding HEARTBEAT_TIMEOUT later while it runs."""
    while True:
        with contextlib.suppress(OSError):
            beat(folder)
        time.sleep(HEARTBEAT_INTERVAL)


def silence(workspace: Workspace, name: str) -> float:
    """Seconds since the job last gave a sign of life (its heartbeat, or a write of job.json).

    A heartbeat of this boot is judged by the monotonic clock, so that a step of the wall
    clock (NTP, a suspended VM set right) does not make a live job look silent; a write of
    job.json, and the heartbeat of a runner that wrote none (an earlier batchml), by their
    modification times and the wall clock."""
    folder = job_dir(workspace, name)
    silences = []
    for path in (folder / HEARTBEAT_FILE, folder / JOB_FILE):
        with contextlib.suppress(FileNotFoundError):
            silences.append(time.time() - path.stat().st_mtime)
    with contextlib.suppress(OSError, ValueError):
        beaten, boot = (folder / HEARTBEAT_FILE).read_bytes().split()
        since = (time.monotonic_ns() - int(beaten)) / 1e9  # in whole ns: never ahead
        if boot.decode() == _boot_id() and since >= 0:
            silences[0] = since  # the heartbeat's wall-clock silence, replaced
    return min(silences, default=time.time())


@functools.cache
def _boot_id() -> str:
    """This boot of the machine (the monotonic clock counts from it); "-" without /proc."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or "-"
    except OSError:
        return "-"
