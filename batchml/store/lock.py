"""The workspace lock: one writer at a time, and a waiting command learns who holds it."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from batchml.core.errors import WorkspaceLockedError
from batchml.store.fs import write_atomic

DEFAULT_TIMEOUT = 30.0


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
def workspace_lock(root: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive write lock of the workspace at `root`.

    The lock is an OS-level lock (released by the kernel if the holder dies), next to a small
    file naming the holder so that a waiting command can say who it waited for.
    """
    from filelock import FileLock, Timeout

    wait = lock_timeout() if timeout is None else timeout
    lock_path = root / ".lock"
    info_path = root / ".lock.holder"
    lock = FileLock(str(lock_path), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise WorkspaceLockedError(
            f"the workspace {root} is locked by {_describe_holder(info_path)}; waited {wait:g} s",
            hint="retry when that command has finished, or raise BATCHML_LOCK_TIMEOUT",
        ) from None
    try:
        holder = {"pid": os.getpid(), "command": " ".join(sys.argv[1:4]), "since": time.time()}
        write_atomic(info_path, json.dumps(holder).encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            info_path.unlink()
        lock.release()
