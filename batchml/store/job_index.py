"""The index of a workspace's jobs, `jobs/.index`: one JSON line per job, appended when the job
is recorded, so that a listing picks its page without reading every job's record.

A line holds what a listing selects and orders by, none of which changes in a job's life: the
name, when the job was made, whether it is listed on its own (the steps of a pipeline job are
not), its endpoint and deployment, and the output file it writes. Each line is appended in one
write (O_APPEND), by a command that holds the workspace lock. A line whose job has no record
(the command that made it failed after writing the line) is passed over by the readers, which
read records with `get`; of two lines of one name, the later counts. A job folder with no line
(from a batchml before the index, or a line torn by a crash) is read whole, as before.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from batchml.core.batch_job import BatchJob
from batchml.core.errors import (
    BatchmlError,
    CorruptStateError,
    NotFoundError,
    UsageError,
    WorkspaceVersionError,
)
from batchml.core.job_record import JobStatus
from batchml.core.pipeline_job import PipelineJob, StepJob
from batchml.store.job_files import get

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

    from batchml.core.jobs import AnyJob
    from batchml.store.workspace import Workspace

INDEX_FILE = ".index"


@dataclass(frozen=True)
class Entry:
    """A job as its index line has it; output is the append_row file it writes, if any, and
    uploads the datastore folders a pipeline job's outputs are uploaded to (datastore URIs)."""

    name: str
    created_at: str
    listed: bool
    endpoint: str | None = None
    deployment: str | None = None
    output: str | None = None
    uploads: list[str] | None = None


def entry(job: AnyJob) -> Entry:
    endpoint = deployment = output = uploads = None
    if isinstance(job, (BatchJob, PipelineJob)):
        endpoint, deployment = job.endpoint, job.deployment
    if isinstance(job, BatchJob):
        output = job.output.file()
    else:
        uploads = uploaded_outputs(job) or None
    return Entry(
        job.name, job.created_at, not isinstance(job, StepJob), endpoint, deployment, output,
        uploads,
    )  # fmt: skip


def uploaded_outputs(job: AnyJob) -> list[str]:
    """The datastore URIs a pipeline job or step uploads its outputs to."""
    outputs = getattr(job, "outputs", None) or {}
    return [record["remote"] for record in outputs.values() if record.get("remote")]


def writer(workspace: Workspace, paths: list[str]) -> tuple[AnyJob, str] | None:
    """A job that has not completed (running, or Failed or Canceled and so resumable, still
    owning what it writes) and writes in one of the datastore `paths`, or one of them in what
    it writes: (the job, the path it writes); None if there is none."""

    def clash(line: Entry) -> str | None:
        written = [*(line.uploads or []), *([line.output] if line.output else [])]
        return next((path for path in written for mine in paths if _overlap(path, mine)), None)

    for job in jobs(workspace, lambda line: clash(line) is not None, lambda _unreadable: None):
        if job.status != JobStatus.COMPLETED:
            return job, str(clash(entry(job)))
    return None


def _overlap(one: str, other: str) -> bool:
    one, other = one.rstrip("/") + "/", other.rstrip("/") + "/"
    return one.startswith(other) or other.startswith(one)


def add(workspace: Workspace, job: AnyJob) -> None:
    """Index a job just recorded; the caller holds the workspace lock."""
    folder = workspace.jobs_dir()
    line = json.dumps(asdict(entry(job)), separators=(",", ":")) + "\n"
    fd = os.open(folder / INDEX_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


# A job record that cannot be read: garbled, or written by a newer batchml (its format).
UNREADABLE = (CorruptStateError, WorkspaceVersionError)


def entries(
    workspace: Workspace,
) -> tuple[list[tuple[str, str, int | Entry]], list[tuple[str, BatchmlError]]]:
    """Every job of the workspace, newest first (as far as the index and the folders tell), as
    (created_at, name, where its index line starts or, for an unindexed job, its Entry), and
    why the records of unindexed jobs that cannot be read cannot be. Index lines are read again
    and parsed whole only when a listing reaches them (`_line`): a page of 50 parses 50 of
    them, and no line is kept meanwhile, so that a listing holds a few short strings a job."""
    folder = workspace.jobs_dir()
    found: dict[str, tuple[str, str, int | Entry]] = {}
    with contextlib.suppress(FileNotFoundError), open(folder / INDEX_FILE, "rb") as index:
        offset = 0
        for raw in index:
            key = _key(raw.rstrip(b"\n"))
            if key is not None:
                found[key[0]] = (key[1], key[0], offset)
            offset += len(raw)
    unindexed: list[str] = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as names:
        unindexed = [e.name for e in names if e.name not in found and e.is_dir()]
    unreadable: list[tuple[str, BatchmlError]] = []
    for name in sorted(unindexed):
        try:
            line = entry(get(workspace, name))
        except (NotFoundError, UsageError):
            continue
        except UNREADABLE as exc:
            unreadable.append((name, exc))
            continue
        found[name] = (line.created_at, name, line)
    return sorted(found.values(), key=lambda item: item[0], reverse=True), unreadable


def _line(index: BinaryIO | None, where: int | Entry) -> Entry | None:
    """The Entry of an unindexed job, or of the index line that starts at `where`."""
    if isinstance(where, Entry):
        return where
    if index is None:  # the index went between the listing and this read
        return None
    index.seek(where)
    return _parse(index.readline().rstrip(b"\n"))


# How `add` writes a line: its name and creation time first, neither of which needs escaping
# in JSON (batchml.core.names, ISO 8601).
_NAME = b'{"name":"'
_CREATED = b'","created_at":"'


def _key(line: bytes) -> tuple[str, str] | None:
    """(name, created_at) of an index line, read without parsing the rest of it when it is as
    `add` writes it; None for a line that is not a job's (torn by a crash)."""
    if line.startswith(_NAME) and line.endswith(b"}"):
        end = line.find(b'"', len(_NAME))
        if line.startswith(_CREATED, end):
            stamp = line.find(b'"', end + len(_CREATED))
            if stamp > 0:
                return line[len(_NAME) : end].decode(), line[end + len(_CREATED) : stamp].decode()
    parsed = _parse(line)
    return None if parsed is None else (parsed.name, parsed.created_at)


def _parse(line: bytes) -> Entry | None:
    try:
        return Entry(**json.loads(line))
    except (ValueError, TypeError):
        return None


def jobs(
    workspace: Workspace,
    wanted: Callable[[Entry], bool],
    on_unreadable: Callable[[str], None] | None,
) -> Iterator[AnyJob]:
    """The records of the jobs `wanted` picks, newest first, read one at a time. A record that
    cannot be read (garbled, or of a newer batchml) is passed over and said to `on_unreadable`
    (without it, its error is raised); one that is gone (the command that made it failed) is
    passed over."""
    lines, unreadable = entries(workspace)
    for name, exc in unreadable:
        _unreadable(name, exc, on_unreadable)
    with contextlib.ExitStack() as stack:
        index = None
        with contextlib.suppress(FileNotFoundError):
            index = stack.enter_context(open(workspace.jobs_dir() / INDEX_FILE, "rb"))
        yield from _records(workspace, lines, index, wanted, on_unreadable)


def _records(
    workspace: Workspace,
    lines: list[tuple[str, str, int | Entry]],
    index: BinaryIO | None,
    wanted: Callable[[Entry], bool],
    on_unreadable: Callable[[str], None] | None,
) -> Iterator[AnyJob]:
    """The records of `jobs`, from its `lines` and the open `index` they start in."""
    for _created, name, where in lines:
        line, job = _line(index, where), None
        try:
            if line is None:  # its name and time only are as this batchml writes them
                job = get(workspace, name)
                line = entry(job)
            if wanted(line):
                yield job if job is not None else get(workspace, name)
        except NotFoundError:
            continue
        except UNREADABLE as exc:
            _unreadable(name, exc, on_unreadable)


def _unreadable(name: str, exc: BatchmlError, on_unreadable: Callable[[str], None] | None) -> None:
    if on_unreadable is None:
        raise exc
    hint = f"; {exc.hint}" if exc.hint else ""
    on_unreadable(f"job '{name}' is not listed: {exc.message}{hint}")


def all_jobs(
    workspace: Workspace, on_unreadable: Callable[[str], None] | None = None
) -> list[AnyJob]:
    """Every job of the workspace, newest first (see `jobs`)."""
    return list(jobs(workspace, lambda _line: True, on_unreadable))
