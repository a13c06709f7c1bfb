"""Start a job's runner as a detached process that outlives the command that invoked it."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from batchml.core.batch_job import BatchJob, LocalWorkers
from batchml.core.job_environment import LOCAL
from batchml.core.job_record import JobRecord, JobStatus
from batchml.runner.detach import Ahead, detached, end, single_threaded
from batchml.store.job_files import job_dir, save
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from batchml.backends.fork_server import ForkServer

DRIVER_LOG = Path("azureml-logs") / "70_driver_log.txt"
# The runner's flag for a job whose workers are local processes of batchml's own interpreter:
# their fork server is started first, so that its interpreter starts and imports while the
# runner imports the rest of itself (see fork_server_first).
FORK_SERVER = "--fork-server"

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
    a second or more of CPU when no .pyc is written); `invoke` forks it as the command starts
    (batchml.runner.detach.fork_ahead), so that the runner imports itself and starts its
    workers' fork server meanwhile. Forking with threads running
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
    start_runner = _fork if single_threaded() else _spawn
    code = start_runner(job_folder, argv, log)
    if code != 0:
        raise OSError(f"the job runner exited with code {code}; see {log}")


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
        detached(out)
        code = _run(job_folder, argv)
    except BaseException:
        traceback.print_exc()
    finally:
        end(code)


def _run(job_folder: Path, argv: list[str], server: ForkServer | None = None) -> int:
    """Run the job (this process detached already); the runner's exit code. `server` is a
    fork server started ahead (see batchml.runner.detach), for the job's workers if its
    `argv` has FORK_SERVER, else closed."""
    os.chdir(job_folder)
    runner_main = str(Path(__file__).with_name("__main__.py"))
    sys.argv = [runner_main, *argv]
    if server is not None and FORK_SERVER not in argv:  # Ray actors, or another Python's
        server.close()
        server = None
    if server is None:
        server = fork_server_first(argv)
    from batchml.runner.process import main

    return main(sys.argv, server)


def run_given(prepared: tuple[ForkServer, int] | None, job_folder: str, *argv: str) -> int:
    """Run the job a runner forked ahead was given (see batchml.runner.detach.Ahead), its
    output in the job's log from now on; `prepared` is the fork server it started meanwhile,
    and the read end of the server's output, relayed to the log from now on."""
    out = os.open(Path(job_folder) / DRIVER_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    if prepared is None:
        return _run(Path(job_folder), list(argv))
    server, output = prepared
    threading.Thread(target=_relay, args=(output, 1), name="relay", daemon=True).start()
    return _run(Path(job_folder), list(argv), server)


def _relay(source: int, target: int) -> None:
    """Copy what is written to `source` to `target` until every writer has closed it (the
    resource tracker, started with the server, holds it until the runner ends)."""
    while data := os.read(source, 65536):
        os.write(target, data)
    os.close(source)


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
