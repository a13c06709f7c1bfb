"""The workspace lock: one writer at a time, and a waiting command learns who holds it; and
the one way batchml takes a file lock or says it could not (WorkspaceLockedError)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from batchml.core.errors import WorkspaceLockedError
from batchml.store.fs import write_atomic

DEFAULT_TIMEOUT = 30.0
# How often a lock held by another process is asked for again.
_RETRY_SECONDS = 0.02


def lock_timeout() -> float:
    """Seconds to wait for the lock: BATCHML_LOCK_TIMEOUT, else 30."""
    raw = os.environ.get("BATCHML_LOCK_TIMEOUT")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


def _describe_holder(info_path: Path) -> str:
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return "another batchml command"
    since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
    return f"pid {info.get('pid')} ({info.get('command', '?')}), since {since}"


@contextlib.contextmanager
def file_lock(
    path: Path, timeout: float | None, locked: Callable[[float], WorkspaceLockedError]
) -> Iterator[None]:
    """Hold the OS-level lock at `path` (released by the kernel if the holder dies), waiting up
    to `timeout` seconds (lock_timeout() when None; as long as it takes when negative);
    `locked(waited)` is raised if it is not had in time.

    An flock(2) of the file, as filelock takes it (they exclude each other), without importing
    filelock (a dozen modules: a tenth of the start of a command that writes)."""
    wait = lock_timeout() if timeout is None else timeout
    deadline = time.monotonic() + wait
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if wait >= 0 else 0))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise locked(wait) from None
                time.sleep(_RETRY_SECONDS)
        yield
    finally:
        os.close(fd)  # lets go of the lock


@contextlib.contextmanager
def workspace_lock(root: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive write lock of the workspace at `root`.

    Next to the lock, a small file names the holder so that a waiting command can say who it
    waited for.
    """
    info_path = root / ".lock.holder"

    def locked(wait: float) -> WorkspaceLockedError:
        return WorkspaceLockedError(
            f"the workspace {root} is locked by {_describe_holder(info_path)}; waited {wait:g} s",
            hint="retry when that command has finished, or raise BATCHML_LOCK_TIMEOUT",
        )

    with file_lock(root / ".lock", timeout, locked):
        try:
            holder = {"pid": os.getpid(), "command": " ".join(sys.argv[1:4]), "since": time.time()}
            write_atomic(info_path, json.dumps(holder).encode())
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                info_path.unlink()
