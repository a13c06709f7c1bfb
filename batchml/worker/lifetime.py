"""Processes that must not outlive the job that started them.

The job's runner is the owner of the whole process tree under it: it becomes a "child
subreaper" (Linux), so that a process a worker started and then left behind (a daemon, a
`setsid` child, an `os.fork` copy) becomes the runner's child instead of init's, and when the
job ends the runner ends every process still under it. Workers ask to die with their parent.
Elsewhere these do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# How long end_descendants() waits for killed processes to be gone, in all.
_END_WAIT = 5.0
# Whether Linux lists each thread's children (CONFIG_PROC_CHILDREN), which descendants() reads.
_LISTS_CHILDREN = Path(f"/proc/self/task/{os.getpid()}/children").exists()


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process as soon as its parent ends, however the parent ends.

    Kept across exec, so a shell that execs its command passes it on.
    """
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper() -> bool:
    """Make the orphaned descendants of this process its children (not init's)."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def descendants(pid: int) -> list[int]:
    """The processes under `pid` (children first): from the children lists of its threads and
    theirs (a few reads), or where Linux keeps no such lists, from one read of all of /proc."""
    children: Callable[[int], list[int]] = _children if _LISTS_CHILDREN else _parents().__getitem__
    found, queue = [], list(children(pid))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children(child))
    return found


def _children(pid: int) -> list[int]:
    """The children of `pid`, each listed by the thread that forked it (or took it in)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found  # it ended while we looked
    for thread in threads:
        with contextlib.suppress(OSError):
            found.extend(map(int, Path(f"/proc/{pid}/task/{thread}/children").read_text().split()))
    return found


def _parents() -> defaultdict[int, list[int]]:
    """The children of each process, from its parent's pid in /proc/PID/stat (none elsewhere
    than Linux)."""
    parents: defaultdict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        # The command name is in parentheses and may hold spaces: the fields follow the last ")".
        parents[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    return parents


def kill_descendants(pid: int) -> None:
    """SIGKILL the processes under `pid`, not `pid` itself (one look: what they start while
    dying is left to end_descendants)."""
    for child in descendants(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)


def end_descendants() -> int:
    """SIGKILL every process under this one and reap those that are its children, until none
    is left (a killed process's children come to this one when it is a subreaper). Returns how
    many were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + _END_WAIT
    while time.monotonic() < deadline:
        alive = [pid for pid in descendants(os.getpid()) if not _reaped(pid)]
        if not alive:
            break
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        # Killed, they end within moments; then the children they leave come to this one.
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if not _reaped(pid)]
            if alive:
                time.sleep(0.001)
    return len(killed)


def alive(pid: int) -> bool:
    """Whether a process `pid` exists (another user's too; a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _reaped(pid: int) -> bool:
    """Reap `pid` if it is this process's child and has ended; whether it is gone (a zombie
    that is not ours counts as gone: its parent reaps it)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")
