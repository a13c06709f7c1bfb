"""A fork of the invoking command made a job's detached runner: at once (batchml.runner.launch),
or ahead of its job (fork_ahead), to be handed the job once the command has recorded it.

Only the standard library is imported here: `batchml batch-endpoint invoke` forks its runner
ahead as its first instruction (batchml.cli.app), before the CLI's own modules are imported,
so that on a machine of two cores the runner imports itself while the command does. What both
need (SHARED) is imported once, before the fork.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import json
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from pathlib import Path

    from batchml.backends.fork_server import ForkServer

# The modules that both the invoking command and its runner import (the job records and the
# workspace's files): imported before the runner is forked ahead, once for both, they are half
# of what the runner imports (compiled from source, about 0.08 s of CPU); typer, click and the
# runner's own modules are imported by each process on its own core.
SHARED = ("batchml.store.job_files", "batchml.store.input_list")
# Signals whose handlers the invoking process may have set (a test runner's alarms too); the
# forked runner starts from Python's own defaults, then sets its own (batchml.runner.process).
_RESET = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
          signal.SIGALRM, signal.SIGCHLD)  # fmt: skip


def single_threaded() -> bool:
    """Whether this process runs one thread only, counting the threads that C code started
    (pyarrow's pool after a tabular check, for one), which `threading` does not know of.
    Without /proc the count is unknown, and so the answer is no."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def detached(out: int, keep: int | None = None) -> None:
    """Make this fork of the caller a runner's process: the leader of a new session, with
    Python's own signal handlers, `out` as its stdout and stderr, and no other descriptor
    than those (and `keep`, moved to descriptor 3)."""
    os.setsid()
    # What the caller's objects hold (a workspace lock's file among them) is not the
    # runner's: every descriptor but the log is closed. Those objects are never collected
    # (frozen, and this process never returns to them), so none closes a reused number.
    gc.freeze()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    if keep is not None:
        os.dup2(keep, 3)
    os.closerange(3 if keep is None else 4, os.sysconf("SC_OPEN_MAX"))
    _forget_multiprocessing()
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in _RESET:
        signal.signal(signum, signal.SIG_DFL)


def _forget_multiprocessing() -> None:
    """Drop what multiprocessing knows of the caller's helpers, children and temporary folder
    (if the caller imported it at all).

    Those are the caller's: its resource tracker's pipe is closed here (a descriptor number a
    later file may reuse, which the tracker's liveness probe would write to), its children are
    not this process's, and its temporary folder goes when the caller exits. The runner's
    workers start a resource tracker and a folder of their own (batchml.backends.fork_server).
    """
    process = sys.modules.get("multiprocessing.process")
    if process is not None:
        process._children.clear()
        process.current_process()._config.pop("tempdir", None)
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    if tracker is not None:
        tracker._resource_tracker._fd = None
        tracker._resource_tracker._pid = None
    server = sys.modules.get("multiprocessing.forkserver")
    if server is not None:
        server._forkserver.__init__()


def end(code: int) -> NoReturn:
    """Exit with `code` once the output is flushed, never returning into the caller's code."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


class Ahead:
    """A runner forked before its job is recorded (see fork_ahead): it imports itself and
    starts its workers' fork server (a fifth of a second of CPU and more, compiled from source)
    while the invoking command validates and records the job, then runs the job that hand()
    gives it. Given none (close(), or the invoking process ends), it exits."""

    def __init__(self, pipe: int) -> None:
        self._pipe: int | None = pipe

    def hand(self, job_folder: Path, argv: list[str]) -> bool:
        """Give the runner its job (see batchml.runner.launch); False if the runner is gone."""
        pipe, self._pipe = self._pipe, None
        if pipe is None:
            return False
        try:
            os.write(pipe, json.dumps([str(job_folder), *argv]).encode())
        except OSError:
            return False
        finally:
            os.close(pipe)
        return True

    def close(self) -> None:
        """Let the runner go without a job, if it has none."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            os.close(pipe)


def fork_ahead() -> Ahead | None:
    """A runner forked now, detached, to be handed its job later; None in a process with other
    threads (forking with threads running is not safe: a lock one holds stays held in the
    child; see batchml.runner.launch)."""
    if not single_threaded():
        return None
    for module in SHARED:
        importlib.import_module(module)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    given, giver = os.pipe()
    try:
        child = os.fork()
        if child == 0:
            _ahead(given)
    finally:
        os.close(given)
    if os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) != 0:
        os.close(giver)
        return None
    return Ahead(giver)


def _ahead(given: int) -> NoReturn:
    """Fork the runner ahead (see Ahead), which waits for its job on `given`."""
    code = 1
    try:
        if os.fork() > 0:
            os._exit(0)
        detached(os.open(os.devnull, os.O_WRONLY), keep=given)
        prepared = _prepared()
        with os.fdopen(3, "rb") as pipe:
            job = pipe.read()
        if job:
            from batchml.runner.launch import run_given

            code = run_given(prepared, *json.loads(job))
        else:
            code = 0
            if prepared is not None:
                prepared[0].close()
    except BaseException:
        traceback.print_exc()
    finally:
        end(code)


def _prepared() -> tuple[ForkServer, int] | None:
    """What a job of local workers needs before its first worker is forked, made ready while
    the runner waits for its job: the runner's modules, and its workers' fork server (forked
    now, when no thread runs yet) with theirs; with the read end of a pipe that is the server's
    stdout and stderr (and its workers', until they open their logs), which the runner relays
    to the job's log once it knows the job (batchml.runner.launch.run_given). None if any of
    it fails: the runner given its job then imports or starts it again, and the job's log says
    why it cannot."""
    with contextlib.suppress(Exception):
        from batchml.backends.fork_server import ForkServer
        from batchml.runner import process  # noqa: F401

        output, into = os.pipe()
        os.dup2(into, 1)
        os.dup2(into, 2)
        os.close(into)
        server = ForkServer()
        server.fork_now()
        return server, output
    return None
