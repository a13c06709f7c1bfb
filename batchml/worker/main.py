"""The body of a local worker process: the target that batchml.backends.local starts.

A module of its own, importing nothing but the worker's modules, so that a spawned worker
imports as little as it can before the user's init() runs.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import replace
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, NoReturn

from batchml.worker.lifetime import die_with_parent
from batchml.worker.messages import StartOutcome, Status, WorkerLogPaths
from batchml.worker.scoring import ScoringWorker, redirect_std_streams, release_script
from batchml.worker.tasks import Tasks

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from batchml.worker.messages import WorkerConfig


def _exit_when_ready(sentinel: int) -> None:
    wait([sentinel])
    os._exit(1)


def _die_with_parent() -> None:
    """Make sure this worker never outlives the job's process, even a SIGKILLed one."""
    # SIGKILL as soon as the process that started this one ends: the job's process, or with
    # forkserver the fork server, which ends with it.
    die_with_parent()
    # multiprocessing gives each child a pipe from its parent that reaches EOF when the parent
    # ends. Also covers systems without prctl, and a parent that ended before prctl ran.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_when_ready, args=(parent.sentinel,), daemon=True).start()


def worker_main(
    conn: Connection,
    config: WorkerConfig,
    slot: int,
    node: str,
    forked: bool,
    environment: dict[str, str] | None = None,
) -> None:
    """The body of a worker process: start, then the mini-batches of each message (a list), in
    order, until told to stop (None); a TakeBack takes back those not begun (see
    batchml.worker.tasks).

    forked is True when the process is a fork of the job's process (start method fork).
    environment, when given, is the job's process's, which this process takes first: it was
    forked by a server whose own is that of when the server started.
    """
    if environment is not None:
        os.environ.clear()
        os.environ.update(environment)
    _die_with_parent()
    # Ctrl-C is for the parent, which stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if config.variables_follow:
        # First: a worker started ahead and never handed out ends here, having made no logs.
        try:
            variables = conn.recv()
        except (EOFError, OSError):
            return
        scoring = config.scoring
        own = {**variables, **scoring.environment_variables}
        config = replace(config, scoring=replace(scoring, environment_variables=own))
    paths = WorkerLogPaths.for_worker(config.logs_dir, node, slot)
    try:
        redirect_std_streams(paths)
    except OSError as exc:
        error = f"could not open the logs of worker {slot}: {exc}"
        conn.send(StartOutcome(Status.INTERNAL_ERROR, error=error))
        return
    worker = ScoringWorker(config, slot, paths.error)
    started = worker.start()
    conn.send(started)
    if started.succeeded:
        tasks = Tasks(conn)
        task = tasks.next()
        while task is not None:
            # Each outcome as soon as it is known: the next mini-batch's timeout starts with it.
            task = tasks.next(worker.score(task))
    _exit(str(config.scoring.code_dir.absolute()), run_exit_handlers=not forked)


def _exit(code_dir: str, *, run_exit_handlers: bool) -> NoReturn:
    """Exit as Python would, without tearing down every module it imported.

    That teardown takes 15 ms with nothing imported and a quarter of a second with pandas and
    scikit-learn, and the job waits for it. What user code can notice of an exit is kept:
    threads are joined, atexit handlers run (the user's, logging's, multiprocessing's), and the
    script's own modules are emptied, which closes the files and writers it kept in globals.
    A forked worker runs no atexit handlers, as multiprocessing's own forked children do:
    those it has are its parent's, such as the cleanup of the parent's temporary folders.
    """
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    if run_exit_handlers:
        atexit._run_exitfuncs()
    release_script(code_dir)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
