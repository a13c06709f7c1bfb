"""A job's failures as data: one record per failed item, written by the runner as JSON lines to
`logs/failures.jsonl`, and grouped by distinct error for `job failures`, `job show`, the end of
`job stream` and `job_error.txt`.

A record says which mini-batch and files failed, on which attempt and worker, of what `kind`
(below), the exception's type and message, its traceback with the paths of the job's snapshot
of the code mapped back to the folder the user gave, whether a retry followed (`final` is
False then), and when.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

FAILURES_FILE = "failures.jsonl"

ERROR = "error"  # run() raised, or returned something that is not a list of items
INIT = "init"  # the script could not be imported, or init() raised
TIMEOUT = "timeout"  # run() exceeded the timeout
DEAD_WORKER = "dead_worker"  # the worker process died (killed, out of memory, os._exit)
FILE = "file"  # run() said the file failed (FileResults), in a mini-batch that succeeded
SHORT = "short_return"  # run() returned fewer items than it was given files

# The traceback frames `job show` and the end of `job stream` keep.
TAIL_FRAMES = 3
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_FRAME_LINE = re.compile(r'^  File "(.*)", line (\d+), in (.*)$')
_WORKER_PREFIX = re.compile(r"^worker \d+ ")


def read(path: Path) -> list[dict[str, Any]]:
    """The records of a failures.jsonl, oldest first; none if there is no such file. A line a
    killed runner left half-written is passed over."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def map_paths(text: str, folders: Mapping[str, str]) -> str:
    """`text` with every snapshot folder in `folders` replaced by the folder it was copied
    from (a traceback's `File "/ws/jobs/J/snapshot/code/score.py"` becomes the user's path)."""
    for copy, source in sorted(folders.items(), key=lambda item: -len(item[0])):
        text = text.replace(copy.rstrip("/") + "/", source.rstrip("/") + "/")
    return text


def _exception(error: str, traceback: str | None) -> tuple[str | None, str]:
    """(exception type, message) from a traceback's last line, or from the one-line error."""
    lines = (traceback or "").rstrip("\n").splitlines()
    if lines and not lines[-1].startswith(" "):
        found = _EXCEPTION_LINE.match(lines[-1])
        if found:
            return found.group(1), (found.group(2) or "").strip()
    return None, error


def _innermost(traceback: str | None) -> str | None:
    """`path:line in function` of a traceback's last frame."""
    frames = [_FRAME_LINE.match(line) for line in (traceback or "").splitlines()]
    found = [frame for frame in frames if frame]
    if not found:
        return None
    path, line, function = found[-1].groups()
    return f"{path}:{line} in {function}"


def record(
    kind: str,
    *,
    mini_batch: int | None,
    files: list[str],
    attempt: int,
    worker: int,
    error: str,
    traceback: str | None,
    final: bool,
    folders: dict[str, str],
    files_failed: int | None = None,
) -> dict[str, Any]:
    """One failure record; `error` is the scheduler's one line, `traceback` the worker's.
    `files_failed` is how many of `files` count as failed when that is not all of them and
    which ones is not known (short_return: the record names every file of the mini-batch)."""
    traceback = map_paths(traceback, folders) if traceback else None
    exception, message = _exception(error, traceback)
    if kind == DEAD_WORKER:
        message = _WORKER_PREFIX.sub("the worker ", message)
    counted = {} if files_failed is None else {"files_failed": files_failed}
    return {
        "mini_batch": mini_batch,
        "files": [map_paths(path, folders) for path in files],
        **counted,
        "attempt": attempt,
        "worker": worker,
        "kind": kind,
        "exception": exception,
        "message": message,
        "where": _innermost(traceback),
        "traceback": traceback,
        "final": final,
        "time": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def tail(traceback: str | None, frames: int = TAIL_FRAMES) -> str | None:
    """The last `frames` frames of a traceback and its exception line."""
    if not traceback:
        return None
    lines = traceback.rstrip("\n").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    if len(starts) <= frames:
        return "\n".join(lines)
    return "\n".join(["Traceback (most recent call last, last frames):", *lines[starts[-frames] :]])


@dataclass
class Group:
    """One distinct error: its first record, how many attempts failed with it, and the items
    (mini-batches, files) that failed with it in the end. `files` are those its records name;
    for short_return, every file of the mini-batches, of which `files_failed` count as failed
    (as in the job's counts): which ones got no item is not known."""

    first: dict[str, Any]
    attempts: int = 0
    mini_batches: set[int] = field(default_factory=set)
    files: dict[str, None] = field(default_factory=dict)
    # The records' own counts of failed files (short_return's), where they have one.
    _counted: int | None = None

    def add(self, failure: dict[str, Any]) -> None:
        self.attempts += 1
        if failure["final"]:
            if failure["mini_batch"] is not None:
                self.mini_batches.add(failure["mini_batch"])
            self.files.update(dict.fromkeys(failure["files"]))
            if "files_failed" in failure:
                self._counted = (self._counted or 0) + failure["files_failed"]

    @property
    def files_failed(self) -> int:
        return len(self.files) if self._counted is None else self._counted


def key(failure: dict[str, Any]) -> tuple[str, str | None, str]:
    """What makes two failures the same error: the same kind and exception raised at the same
    line (a KeyError for another key is the same bug), or, without a traceback, the same
    message."""
    return failure["kind"], failure["exception"], failure.get("where") or failure["message"]


def group(failures: list[dict[str, Any]]) -> list[Group]:
    """The distinct errors of `failures`, in the order they first happened."""
    groups: dict[tuple[str, str | None, str], Group] = {}
    for failure in failures:
        groups.setdefault(key(failure), Group(failure)).add(failure)
    return list(groups.values())


def describe(group_: Group) -> str:
    """One line: `KeyError: 'x'` (an error in run()), with its counts."""
    first = group_.first
    what = f"{first['exception']}: {first['message']}" if first["exception"] else first["message"]
    if first.get("where"):
        what += f" at {first['where']}"
    counts = f"{group_.attempts} attempt{'s' if group_.attempts != 1 else ''}"
    failed, named = group_.files_failed, len(group_.files)
    if named:
        counts += f", {failed} file{'s' if failed != 1 else ''} failed"
    if failed != named:
        counts += f", not known which of {named}"
    return f"[{first['kind']}] {what} ({counts})"
