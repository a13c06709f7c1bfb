"""Which processes are still alive: the checks that tests leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Collection

# Runs a command as the leader of a new session, and not as a child of the test process (whose
# tests check that they leave no child behind), its output appended to a log; prints its pid.
_DETACH = """\
import os, sys
pid = os.fork()
if pid:
    print(pid, flush=True)
    os._exit(0)
os.setsid()
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(log, 1)
os.dup2(log, 2)
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.execv(sys.argv[2], sys.argv[2:])
"""


def start_detached(command: list[str], log: Path) -> int:
    """Start `command` (its first item a path) in a session of its own; its pid, which is the
    session's id."""
    launched = subprocess.run(
        [sys.executable, "-c", _DETACH, str(log), *command],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(launched.stdout)


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid`: a runner leads one, its workers stay in it."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def wait_sessions_gone(sids: Collection[int]) -> None:
    """Wait until the sessions `sids` (each a runner with its workers) have no live process."""

    def left() -> list[int]:
        return [pid for sid in sids for pid in session_members(sid)]

    wait_for(lambda: not left(), lambda: f"the sessions {sorted(sids)} to end: {left()} left")


def stop_session(sid: int, what: str, grace: float = 30.0) -> None:
    """Stop the session `sid` started by start_detached (a server and what it runs): SIGTERM to
    its leader, then, after `grace` seconds, SIGKILL to whatever of it is left; wait until
    nothing of it is. `what` names it in the failure."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(sid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if session_members(sid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGKILL)
    wait_for(
        lambda: not session_members(sid),
        lambda: f"{what} (session {sid}) to end: {session_members(sid)} left",
    )
