"""The default backend: each worker is a local process, spoken to over its own pipe.

One Pipe per worker, never a shared queue: a worker killed while holding a queue's lock would
deadlock every other worker (pebble #163). The parent waits on all pipes and process sentinels
at once, so a worker that dies is noticed at once whatever killed it.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import selectors
import signal
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from batchml.backends.base import BackendEvent, TakenBack, TaskDone, WorkerLost, WorkerStarted
from batchml.backends.fork_server import ForkServer
from batchml.backends.gpus import CUDA_VISIBLE_DEVICES, device_for_slot, devices_to_assign
from batchml.backends.inbox import Inbox
from batchml.backends.interpreter import OtherPython, spawn_process
from batchml.worker import start as worker_start
from batchml.worker.lifetime import kill_descendants
from batchml.worker.messages import MiniBatchOutcome, NotTaken, StartOutcome, TakeBack

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from batchml.worker.messages import MiniBatchTask, WorkerConfig

# How long a stopped worker gets between SIGTERM and SIGKILL.
TERM_GRACE_SECONDS = 1.0
# How many mini-batches the scheduler may send ahead to a busy worker of this backend, which
# sends those submitted between two polls in one message.
SEND_AHEAD = 32


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    # What reads the worker's messages from conn, all those there at once.
    inbox: Inbox
    started: bool = False
    # Mini-batches submitted and not yet reported on.
    outstanding: int = 0
    # Those submitted since the last poll(), sent then in one message.
    unsent: list[MiniBatchTask] = field(default_factory=list)


class LocalBackend:
    """Runs each worker as a process of this machine.

    start_method is a multiprocessing start method, or "server" (the default): each worker is
    forked by a server process this backend starts once, which has imported batchml.worker and
    nothing of the caller or of the user (see batchml.backends.fork_server), so nothing of the
    caller (threads, held locks, open files) leaks into user code, and an interpreter start and
    the worker's imports are paid once per job. spawn gives each worker a fresh interpreter
    instead, paying that per worker; the caller's main module is not imported again (see
    batchml.backends.interpreter). forkserver is multiprocessing's own, one per calling
    process, which imports the caller's main module; fork is the fastest, but only safe in a
    caller without threads, its workers inherit its state, and they run no atexit handlers.

    With config.python set, workers are spawned by that interpreter and see its packages, not
    the caller's (see batchml.backends.interpreter); the caller's main module is not imported.

    With variables_later, each worker waits, before it imports the scoring script, for those
    environment variables (a job's MLflow run's, being opened in a thread), and gets them as
    soon as they are known; its interpreter starts meanwhile.

    start_ahead() starts workers before the scheduler asks for them (while the job is listed
    and planned): each starts its interpreter and imports, then waits, before the scoring
    script, until start_worker() hands it out; one never handed out runs no user code.

    server is a fork server started already (batchml.runner.launch.fork_server_first), which
    this backend uses with start method "server", closes otherwise, and owns either way.

    devices are the GPUs the workers share, one per worker slot in turn, in CUDA_VISIBLE_DEVICES
    (see batchml.backends.gpus), found once per backend; empty when none are assigned.
    """

    def __init__(
        self,
        config: WorkerConfig,
        *,
        start_method: str = "server",
        node: str = "localhost",
        variables_later: Future[dict[str, str]] | None = None,
        server: ForkServer | None = None,
    ) -> None:
        self._config = config
        self._variables_later = variables_later
        if config.python is not None and start_method not in ("server", "spawn"):
            raise ValueError(
                f"workers in another Python need start method spawn, not {start_method}"
            )
        # Any: typeshed's BaseContext lacks Process, which every concrete context has.
        self._context: Any = multiprocessing.get_context(
            "spawn" if start_method == "server" else start_method
        )
        self._forked = start_method == "fork"
        self.devices = devices_to_assign(config.scoring.environment_variables)
        # Workers in another Python are spawned by it (a server would be of this one).
        self._python = OtherPython(config.python) if config.python is not None else None
        if start_method != "server" or self._python is not None:
            if server is not None:
                server.close()
            server = None
        elif server is None:
            server = ForkServer()
        self._server = server
        self._node = node
        self._workers: dict[int, _Worker] = {}
        # Every live worker's pipe and sentinel, registered once: poll() is on the hot path.
        self._selector = selectors.DefaultSelector()
        # A byte in this pipe ends a poll() at once (wake(), from another thread).
        self._woken, self._waker = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._woken, selectors.EVENT_READ, None)
        # Processes asked to stop, with the time at which they get SIGKILL.
        self._stopping: dict[BaseProcess, float] = {}
        # Workers found dead by submit(), reported by the next poll().
        self._lost: list[BackendEvent] = []
        self._next_id = 0
        # Workers started ahead, by slot, not yet handed out (see start_ahead).
        self._ahead: dict[int, int] = {}

    def start_ahead(self, slots: int) -> None:
        """Start the workers of slots 0 .. slots-1 now, waiting to be handed out by
        start_worker(); those not handed out by the first poll() are stopped."""
        for slot in range(slots):
            if slot not in self._ahead:
                self._ahead[slot] = self._start(slot, follow=True)

    def start_worker(self, slot: int) -> int:
        """Start a worker process for `slot` (or hand out the one started ahead for it);
        WorkerStarted follows once init() returned."""
        worker = self._ahead.pop(slot, None)
        if worker is None:
            worker = self._start(slot, follow=self._variables_later is not None)
        elif self._variables_later is None:
            _send_quietly(self._workers[worker].conn, {})
        if self._variables_later is not None:
            # Sent when they are known (by the thread that learns them, or now): the worker
            # starts its interpreter and imports meanwhile.
            conn = self._workers[worker].conn
            self._variables_later.add_done_callback(
                lambda known: _send_quietly(conn, known.result())
            )
        return worker

    def _start(self, slot: int, *, follow: bool) -> int:
        """A worker process for `slot`; with `follow`, it waits for a message of environment
        variables before it imports the scoring script."""
        parent_conn, child_conn = self._context.Pipe()
        # The server's environment is that of when it started; the worker gets today's.
        environment = None
        make: Callable[..., BaseProcess]
        if self._python is not None:
            make = self._python.process
        elif self._server is not None:
            make, environment = self._server.process, dict(os.environ)
        elif self._context.get_start_method() == "spawn":
            make = spawn_process
        else:
            make = self._context.Process
        config = replace(self._worker_config(slot), variables_follow=follow)
        process = make(
            target=worker_start,
            args=(child_conn, config, slot, self._node, self._forked, environment),
            name=f"batchml-worker-{slot}",
        )
        process.start()
        # Only the child holds its end now, so the parent sees EOF as soon as the child dies.
        child_conn.close()
        worker = self._next_id
        self._next_id += 1
        self._workers[worker] = _Worker(process, parent_conn, Inbox(parent_conn))
        self._selector.register(parent_conn, selectors.EVENT_READ, (worker, False))
        self._selector.register(process.sentinel, selectors.EVENT_READ, (worker, True))
        return worker

    def _worker_config(self, slot: int) -> WorkerConfig:
        if not self.devices:
            return self._config
        # The worker exports its environment_variables before it imports the user's script.
        scoring = self._config.scoring
        device = device_for_slot(self.devices, slot)
        variables = {**scoring.environment_variables, CUDA_VISIBLE_DEVICES: device}
        return replace(self._config, scoring=replace(scoring, environment_variables=variables))

    def describe(self, worker: int) -> str:
        """The worker's process id."""
        return f"pid {self._workers[worker].process.pid}"

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        """Send a mini-batch attempt, with the others submitted to the worker before the next
        poll(), in one message; the worker runs what it is sent in order."""
        state = self._workers[worker]
        state.outstanding += 1
        state.unsent.append(task)

    def take_back(self, worker: int, attempts: tuple[tuple[int, int], ...]) -> bool:
        """Ask the worker for these attempts now (after those submitted since the last poll);
        its thread that reads the pipe answers while run() works (batchml.worker.tasks)."""
        self._flush(worker, then=TakeBack(attempts))
        return True

    def poll(self, timeout: float) -> list[BackendEvent]:
        """Wait up to `timeout` seconds for messages from workers or for workers to end."""
        for worker in list(self._workers):
            self._flush(worker)
        events, self._lost = self._lost, []
        # The scheduler has asked for every worker it wants by now.
        for worker in self._ahead.values():
            self.stop_worker(worker)
        self._ahead.clear()
        self._reap_stopping()
        if events or not self._workers:
            timeout = 0
        next_kill = min(self._stopping.values(), default=math.inf)
        timeout = max(0.0, min(timeout, next_kill - time.monotonic()))
        readable, dead = [], set()
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._drain_wake()
                continue
            worker, is_sentinel = key.data
            if is_sentinel:
                dead.add(worker)
            else:
                readable.append(worker)
        # Every message in a readable pipe, so that outcomes sent one by one come in together.
        for worker in readable:
            if worker in self._workers and worker not in dead:
                events += self._collect(worker, dead=False)
        for worker in dead:
            if worker in self._workers:
                events += self._collect(worker, dead=True)
        return events

    def _flush(self, worker: int, then: TakeBack | None = None) -> None:
        """Send the worker what was submitted to it since the last poll (in one message), and
        `then`; a worker found dead is reported by the next poll."""
        state = self._workers.get(worker)
        if state is None:
            return
        try:
            if state.unsent:
                tasks, state.unsent = state.unsent, []
                state.conn.send(tasks)
            if then is not None:
                state.conn.send(then)
        except OSError:
            self._lost.extend(self._collect(worker, dead=True))

    def wake(self) -> None:
        """End the poll() under way, or the next one, at once (from any thread, but not
        after shutdown())."""
        with contextlib.suppress(BlockingIOError):  # a full pipe wakes the poll already
            os.write(self._waker, b"w")

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._woken, 4096):
                pass

    def stop_worker(self, worker: int) -> None:
        """Stop a worker: an idle one exits cleanly, a busy one gets SIGTERM; SIGKILL follows
        if it is still there after the grace period."""
        state = self._remove(worker)
        if state is not None:
            self._stop(state)

    def shutdown(self) -> None:
        """Stop every worker and wait until all are gone."""
        for worker in list(self._workers):
            self.stop_worker(worker)
        while self._stopping:
            next_kill = min(self._stopping.values())
            sentinels = [process.sentinel for process in self._stopping]
            wait(sentinels, max(0.0, min(next_kill - time.monotonic(), 0.1)))
            self._reap_stopping()
        self._selector.close()
        if self._server is not None:
            self._server.close()
        if self._waker >= 0:  # not closed by an earlier shutdown()
            os.close(self._woken)
            os.close(self._waker)
            self._woken = self._waker = -1
        if self._python is not None:
            self._python.close()

    def _remove(self, worker: int) -> _Worker | None:
        state = self._workers.pop(worker, None)
        if state is not None:
            self._selector.unregister(state.conn)
            self._selector.unregister(state.process.sentinel)
        return state

    def _stop(self, state: _Worker) -> None:
        # An idle worker reads None and returns, so the user's atexit handlers and buffered
        # files are flushed as at any interpreter exit.
        graceful = state.started and not state.outstanding
        if graceful:
            try:
                state.conn.send(None)
            except OSError:
                graceful = False
        if not graceful:
            # A worker stopped mid-mini-batch (a timeout, a cancel) takes what its run() started
            # with it; what an idle worker leaves behind ends with the job (its runner owns it).
            if state.process.pid is not None:
                kill_descendants(state.process.pid)
            state.process.terminate()
        state.conn.close()
        self._stopping[state.process] = time.monotonic() + TERM_GRACE_SECONDS

    def _collect(self, worker: int, *, dead: bool) -> list[BackendEvent]:
        state = self._workers[worker]
        events: list[BackendEvent] = []
        try:
            if not dead:
                events += self._messages(worker, state)
            else:
                # A worker may have sent its last messages just before it died: read them.
                while worker in self._workers and state.conn.poll():
                    events += self._messages(worker, state)
        except (EOFError, OSError):
            dead = True
        if dead and self._remove(worker) is not None:
            state.conn.close()
            state.process.join(TERM_GRACE_SECONDS)
            if state.process.exitcode is None:
                state.process.kill()
                state.process.join()
            events.append(WorkerLost(worker, _exit_reason(state.process.exitcode)))
        return events

    def _messages(self, worker: int, state: _Worker) -> list[BackendEvent]:
        """The events of the messages in the worker's pipe (it must be readable)."""
        events = []
        for message in state.inbox.read():
            if worker not in self._workers:
                break  # stopped by one of them: a failed start, after which nothing comes
            events.append(self._on_message(worker, state, message))
        return events

    def _on_message(self, worker: int, state: _Worker, message: object) -> BackendEvent:
        if isinstance(message, MiniBatchOutcome):
            state.outstanding -= 1
            return TaskDone(worker, message)
        if isinstance(message, NotTaken):
            state.outstanding -= len(message.attempts)
            return TakenBack(worker, message.attempts)
        if isinstance(message, StartOutcome):
            state.started = True
            if not message.succeeded:
                # The worker exits by itself after a failed start; it reports nothing more.
                self.stop_worker(worker)
            return WorkerStarted(worker, message)
        raise TypeError(f"unexpected message from worker {worker}: {message!r}")

    def _reap_stopping(self) -> None:
        now = time.monotonic()
        for process, kill_at in list(self._stopping.items()):
            if not process.is_alive():
                process.join()
                del self._stopping[process]
            elif now >= kill_at:
                process.kill()
                # Give SIGKILL no deadline of its own: the process is gone within moments.
                self._stopping[process] = math.inf
                process.join(TERM_GRACE_SECONDS)


def _send_quietly(conn: Connection, message: object) -> None:
    # The worker may be gone, and its pipe closed, by then: its loss is noticed by poll().
    with contextlib.suppress(OSError, ValueError):
        conn.send(message)


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "unknown exit status"
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
