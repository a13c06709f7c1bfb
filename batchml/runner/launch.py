"""Start a job's runner as a detached process that outlives the command that invoked it."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from batchml.core.batch_job import BatchJob, LocalWorkers
from batchml.core.job_environment import LOCAL
from batchml.core.job_record import JobRecord, JobStatus
from batchml.store.job_files import job_dir, save
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from batchml.backends.fork_server import ForkServer

DRIVER_LOG = Path("azureml-logs") / "70_driver_log.txt"
# The runner's flag for a job whose workers are local processes of batchml's own interpreter:
# their fork server is started first, so that its interpreter starts and imports while the
# runner imports the rest of itself (see fork_server_first).
FORK_SERVER = "--fork-server"

# Signals whose handlers the invoking process may have set (a test runner's alarms too); the
# forked runner starts from Python's own defaults, then sets its own (batchml.runner.process).
_RESET = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
          signal.SIGALRM, signal.SIGCHLD)  # fmt: skip

_Job = TypeVar("_Job", bound=JobRecord)


def start(
    workspace: Workspace,
    job: _Job,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    ahead: Ahead | None = None,
) -> _Job:
    """Start the recorded job's runner (see `launch`; `ahead`'s, forked already, if given); a
    job whose runner cannot start is recorded Failed. Returns the job as recorded."""
    try:
        launch(
            job_dir(workspace, job.name),
            resume=resume,
            retry_failed=retry_failed,
            fork_server=_forks_workers(job),
            ahead=ahead,
        )
    except OSError as exc:
        job = dataclasses.replace(
            job, status=JobStatus.FAILED, error=f"could not start the runner: {exc}"
        )
        save(workspace, job)
    return job


def _forks_workers(job: JobRecord) -> bool:
    """Whether the job's workers are local processes of batchml's own interpreter, which its
    runner forks from a fork server (batchml.backends.local): not Ray actors, nor processes
    of a built environment's Python."""
    return (
        isinstance(job, BatchJob)
        and isinstance(job.backend, LocalWorkers)
        and job.runs_in.manager == LOCAL
    )


def launch(
    job_folder: Path,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    fork_server: bool = False,
    ahead: Ahead | None = None,
) -> None:
    """Start the job's runner (batchml.runner.process) detached, and return once it is: the
    runner `ahead` forked already, given the job (a fresh start if it is gone), if any.

    The runner is nobody's child (no zombie is left to the invoking command) and leads a
    session of its own: Ctrl-C in the invoking shell does not reach it, and `job cancel` stops
    it together with its workers. With `resume`, the runner continues the job from its journal
    (see batchml.runner.journal). With `fork_server`, the runner starts its workers' fork
    server before anything else (see fork_server_first).

    A process without other threads (C-level ones counted) forks the runner from itself, which
    has imported most of what the runner needs (each import compiled from source is a tenth of
    a second or more of CPU when no .pyc is written); `invoke` does so as it starts
    (fork_ahead), so that the runner imports the rest meanwhile. Forking with threads running
    is not safe (a lock one holds stays held in the child), so otherwise the runner is a fresh
    `python -m batchml.runner --detach` (see batchml.runner.__main__). The runner imports no
    user code itself, and its workers see nothing of the invoking process's (see
    batchml.backends.fork_server and batchml.backends.interpreter).
    """
    argv = [str(job_folder)]
    flags = (("--resume", resume), ("--retry-failed", retry_failed), (FORK_SERVER, fork_server))
    argv += [flag for flag, on in flags if on]
    log = job_folder / DRIVER_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    if ahead is not None and ahead.hand(job_folder, argv):
        return
    start_runner = _fork if _single_threaded() else _spawn
    code = start_runner(job_folder, argv, log)
    if code != 0:
        raise OSError(f"the job runner exited with code {code}; see {log}")


def _single_threaded() -> bool:
    """Whether this process runs one thread only, counting the threads that C code started
    (pyarrow's pool after a tabular check, for one), which `threading` does not know of.
    Without /proc the count is unknown, and so the answer is no."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _spawn(job_folder: Path, argv: list[str], log: Path) -> int:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "batchml.runner", "--detach", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            close_fds=True,
            # `-m` puts the current folder first on sys.path: the job's own folder, so that a
            # `batchml/` folder where the user typed the command does not stand in for batchml.
            cwd=job_folder,
        )
    return process.wait()


def _fork(job_folder: Path, argv: list[str], log: Path) -> int:
    """Fork twice: the child exits at once (waited for here); the grandchild, nobody's child
    then, leads a new session, runs the job and never returns into the caller's code."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        child = os.fork()
        if child == 0:
            _child(job_folder, argv, out)
    finally:
        os.close(out)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])


def _child(job_folder: Path, argv: list[str], out: int) -> None:
    code = 1
    try:
        if os.fork() > 0:
            os._exit(0)
        _detached(out)
        code = _run(job_folder, argv)
    except BaseException:
        traceback.print_exc()
    finally:
        _end(code)


def _detached(out: int, keep: int | None = None) -> None:
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


def _run(job_folder: Path, argv: list[str]) -> int:
    """Run the job (this process detached already); the runner's exit code."""
    os.chdir(job_folder)
    runner_main = str(Path(__file__).with_name("__main__.py"))
    sys.argv = [runner_main, *argv]
    server = fork_server_first(argv)
    from batchml.runner.process import main

    return main(sys.argv, server)


def _end(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


class Ahead:
    """A runner forked before its job is recorded (see fork_ahead): it imports itself (a
    fifth of a second of CPU, compiled from source) while the invoking command plans and
    records the job, then runs the job that hand() gives it. Given none (close(), or the
    invoking process ends), it exits."""

    def __init__(self, pipe: int) -> None:
        self._pipe: int | None = pipe

    def hand(self, job_folder: Path, argv: list[str]) -> bool:
        """Give the runner its job (see `launch`); False if the runner is gone."""
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
    """A runner forked now, detached (as by `launch`), to be handed its job later; None in a
    process with other threads (see launch)."""
    if not _single_threaded():
        return None
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
        _detached(os.open(os.devnull, os.O_WRONLY), keep=given)
        # Its own modules, and its workers' (which the fork server it forks later keeps).
        # A failure to import is reported in the job's log, by _run's import.
        with contextlib.suppress(Exception):
            from batchml.backends.fork_server import PRELOAD

            for module in ("batchml.runner.process", *PRELOAD):
                importlib.import_module(module)
        with os.fdopen(3, "rb") as pipe:
            job = pipe.read()
        code = 0 if not job else _run_given(*json.loads(job))
    except BaseException:
        traceback.print_exc()
    finally:
        _end(code)


def _run_given(job_folder: str, *argv: str) -> int:
    out = os.open(Path(job_folder) / DRIVER_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    return _run(Path(job_folder), list(argv))


def _forget_multiprocessing() -> None:
    """Drop what multiprocessing knows of the caller's helpers, children and temporary folder.

    Those are the caller's: its resource tracker's pipe is closed here (a descriptor number a
    later file may reuse, which the tracker's liveness probe would write to), its children are
    not this process's, and its temporary folder goes when the caller exits. The runner's
    workers start a resource tracker and a folder of their own (batchml.backends.fork_server).
    """
    from multiprocessing import process

    process._children.clear()  # type: ignore[attr-defined]
    process.current_process()._config.pop("tempdir", None)  # type: ignore[attr-defined]
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    if tracker is not None:
        tracker._resource_tracker._fd = None
        tracker._resource_tracker._pid = None
    server = sys.modules.get("multiprocessing.forkserver")
    if server is not None:
        server._forkserver.__init__()


def fork_server_first(argv: list[str]) -> ForkServer | None:
    """The fork server of the runner's workers, started now when the runner's `argv` has
    FORK_SERVER: forked from the runner (no thread runs yet, its signal handlers are Python's
    defaults), it imports the workers' modules while the runner imports the rest of itself and
    plans the job. The runner's backend forks the workers from it, and closes it."""
    if FORK_SERVER not in argv:
        return None
    from batchml.backends.fork_server import ForkServer

    server = ForkServer()
    server.fork_now()
    return server
