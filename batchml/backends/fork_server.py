"""Workers of batchml's own interpreter, forked by a server process that one backend starts
once, with the worker's modules imported (batchml.worker.main, no user code).

A spawned worker starts an interpreter and compiles batchml.worker from source (no .pyc is
written here): about 0.15 s of CPU per worker, paid again for each replaced one. A fork of the
server pays that once per job. It is multiprocessing's forkserver (its main() and Popen), with
these differences, each for a hazard of the stock one:
- one server per backend, closed with it, not a process-wide one shared by every job of the
  process (a runner forked from a test process must never reach that process's server);
- the server imports nothing of the caller's __main__, and the worker does not import it
  again (see batchml.backends.interpreter);
- its socket is in a folder of its own, removed on close(), and named after the process that
  made it: a server started later removes the folders of those whose maker is gone (a server
  SIGKILLed with its job's runner cannot remove its own);
- close() does not wait forever for a server that something a worker left behind keeps alive.
The server's environment is a snapshot of when it started: a worker is given the backend's
current one (worker_main's `environment`), and multiprocessing gives it the current folder.
Workers share the caller's resource tracker, and their signal handlers are Python's defaults.

A job's runner forks its server from itself instead (fork_now(), before it starts a thread):
no interpreter start, and the worker's modules import on top of those the runner has (a
tenth of a second less CPU, on the way to the first mini-batch). What the runner has of the
process that forked it and that a fresh interpreter would not (exit handlers, finalizers of its
temporary folders, excepthooks, a fault handler's file) is dropped first (batchml.backends.fresh).
"""

from __future__ import annotations

import contextlib
import copyreg
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from multiprocessing import forkserver, popen_forkserver, resource_tracker, util
from multiprocessing.context import ForkServerProcess
from typing import TYPE_CHECKING, Any

from batchml.backends.fresh import as_fresh
from batchml.backends.interpreter import pickled_start
from batchml.worker.lifetime import alive

if TYPE_CHECKING:
    from collections.abc import Callable

# Imported by the server before it forks anything: the body of every worker.
PRELOAD = ("batchml.worker.main",)
_SERVE = """\
import shutil
from multiprocessing import forkserver
try:
    forkserver.main(%d, %d, %r)
finally:
    shutil.rmtree(%r, ignore_errors=True)
"""
# A server's folder, named after the process that made it (its pid).
_PREFIX = "batchml-fork-server-"
_FOLDER = re.compile(re.escape(_PREFIX) + r"(\d+)-")
# How long close() waits for the server to end by itself before it is killed.
_CLOSE_GRACE = 5.0


class ForkServer(forkserver.ForkServer):
    """A fork server of this interpreter, started on the first process() started (or by
    fork_now())."""

    def __init__(self) -> None:
        super().__init__()
        self._forkserver_pid: int | None = None
        self._forkserver_alive_fd: int | None = None
        self._folder: str | None = None

    def process(self, **kwargs: Any) -> ForkServerProcess:
        """A process (not started) forked by this server; kwargs are Process()'s."""
        return _Process(self, **kwargs)

    def ensure_running(self) -> None:
        """Start the server, a fresh interpreter, unless it runs already."""
        self._start(_spawn)

    def fork_now(self) -> None:
        """Start the server as a fork of this process (see the module's docstring), unless it
        runs already. This process must run no other thread, and its signal handlers be
        Python's defaults (those the server's workers get)."""
        self._start(_fork)

    def _start(self, start: Callable[[int, int, str], int]) -> None:
        """Start the server by `start(listener, alive_r, folder)`, which returns its pid;
        `alive_r` is the read end of the pipe whose EOF ends the server."""
        with self._lock:  # type: ignore[attr-defined]
            if self._forkserver_pid is not None:
                return
            resource_tracker.ensure_running()
            remove_stale_folders()
            self._folder = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
            address = os.path.join(self._folder, "socket")
            with socket.socket(socket.AF_UNIX) as listener:
                listener.bind(address)
                listener.listen()
                alive_r, alive_w = os.pipe()
                try:
                    pid = start(listener.fileno(), alive_r, self._folder)
                except BaseException:
                    os.close(alive_w)
                    shutil.rmtree(self._folder, ignore_errors=True)
                    raise
                finally:
                    os.close(alive_r)
            self._forkserver_address = address
            self._forkserver_alive_fd = alive_w
            self._forkserver_pid = pid

    def close(self) -> None:
        """End the server (its workers are gone by now) and remove its folder."""
        with self._lock:  # type: ignore[attr-defined]
            pid, self._forkserver_pid = self._forkserver_pid, None
            if pid is None:
                return
            # The server ends once every holder of this pipe's write end has closed it: this
            # process, and its workers; a process one of them left behind may still hold it.
            if self._forkserver_alive_fd is not None:
                os.close(self._forkserver_alive_fd)
            deadline = time.monotonic() + _CLOSE_GRACE
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() >= deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.005)
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)


def remove_stale_folders() -> None:
    """Remove the folders of servers whose maker has ended (SIGKILLed, say, with its server):
    no one connects to their sockets any more. A folder without a maker's pid in its name is
    left alone."""
    root = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(root):
            found = _FOLDER.match(name)
            if found is not None and not alive(int(found.group(1))):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _spawn(listener: int, alive_r: int, folder: str) -> int:
    # Not `multiprocessing.forkserver` in its command line: that names the helper processes
    # shared by a whole process, which tests do not count as left behind. The server removes
    # its folder when it ends (this process was killed, and its workers have ended).
    command = _SERVE % (listener, alive_r, list(PRELOAD), folder)
    args = [sys.executable, *util._args_from_interpreter_flags(), "-c", command]  # type: ignore[attr-defined]
    return util.spawnv_passfds(os.fsencode(sys.executable), args, [listener, alive_r])


def _fork(listener: int, alive_r: int, folder: str) -> int:
    pid = os.fork()
    if pid > 0:
        return pid
    code = 1
    try:
        # Only the socket, the pipe's read end and the standard streams are the server's.
        kept = sorted({0, 1, 2, listener, alive_r})
        for low, high in zip(kept, [*kept[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
            os.closerange(low + 1, high)
        as_fresh()
        forkserver.main(listener, alive_r, list(PRELOAD))
    except SystemExit:  # every holder of the pipe's write end has closed it
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os._exit(code)


class _Process(ForkServerProcess):
    def __init__(self, server: ForkServer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server = server

    @staticmethod
    def _Popen(process_obj: Any) -> popen_forkserver.Popen:
        return _Popen(process_obj)

    def __reduce__(self) -> tuple[Any, ...]:
        # The child gets a plain ForkServerProcess, without the server.
        state = {key: value for key, value in self.__dict__.items() if key != "server"}
        return copyreg._reconstructor, (ForkServerProcess, object, None), state  # type: ignore[attr-defined]


class _Popen(popen_forkserver.Popen):
    """popen_forkserver.Popen, asking the _Process's own server, not the process-wide one."""

    def _launch(self, process_obj: _Process) -> None:
        data = pickled_start(self, process_obj, None)
        fds: list[int] = self._fds  # type: ignore[attr-defined]
        self.sentinel, w = process_obj.server.connect_to_new_process(fds)
        # The child's parent sentinel: it ends when this process does.
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))  # type: ignore[attr-defined]
        with open(w, "wb", closefd=True) as out:
            out.write(data.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)
