"""The mini-batches sent to a local worker and not taken yet, read from its pipe by a thread of
their own while run() works on one: so the runner can take back those it sent ahead (TakeBack)
for an idle worker at once, not after the slow mini-batch in front of them.

One lock covers the queue and every message the worker sends. A worker takes its next
mini-batch before it sends the outcome of the one before: so every NotTaken the runner reads
after an outcome leaves out the mini-batch the worker took with it, and every NotTaken before
the outcome names only mini-batches it never takes.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from batchml.worker.messages import NotTaken, TakeBack

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from batchml.worker.messages import MiniBatchOutcome, MiniBatchTask


class Tasks:
    """The worker's mini-batches to run, in the order sent, until told to stop (None) or the
    runner's end of the pipe is closed."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._changed = threading.Condition()
        self._queue: deque[MiniBatchTask] = deque()
        self._ended = False
        threading.Thread(target=self._read, name="batchml-tasks", daemon=True).start()

    def next(self, outcome: MiniBatchOutcome | None = None) -> MiniBatchTask | None:
        """Send `outcome`, of the mini-batch before (if any), and return the next mini-batch,
        waiting for one; None once there is none and none will come."""
        with self._changed:
            task = self._queue.popleft() if self._queue else None
            if outcome is not None:
                self._conn.send(outcome)
            while task is None and not self._ended:
                self._changed.wait()
                task = self._queue.popleft() if self._queue else None
            return task

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                message = None
            with self._changed:
                if message is None:
                    self._ended = True
                elif isinstance(message, TakeBack):
                    wanted = set(message.attempts)
                    given = tuple(
                        (task.index, task.attempt)
                        for task in self._queue
                        if (task.index, task.attempt) in wanted
                    )
                    self._queue = deque(
                        task for task in self._queue if (task.index, task.attempt) not in wanted
                    )
                    self._send(NotTaken(given))
                else:
                    self._queue.extend(message)
                self._changed.notify()
            if message is None:
                return

    def _send(self, message: NotTaken) -> None:
        try:
            self._conn.send(message)
        except OSError:
            self._ended = True  # the runner is gone: the worker ends after its mini-batch
