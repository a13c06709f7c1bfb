"""Workers forked by the backend's fork server (batchml.backends.fork_server): what they see is
the job's process's of when each starts (its folder is the code's, see batchml.worker.scoring),
nothing of the user's code comes from the server, and nothing of its parent's from a server
forked from a runner; a killed server's folder does not stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batchml.backends.fork_server import ForkServer

pytestmark = pytest.mark.usefixtures("no_worker_left")


def test_a_replaced_worker_sees_todays_environment_and_a_fresh_script(run, monkeypatch):
    def on_event(event):
        # Once the first worker (and so the server) has started, and died.
        if event.kind == "mini_batch_failed":
            monkeypatch.setenv("LATE_VARIABLE", "late")

    job = run(
        ["exit-once", "ok"],
        "forked.py",
        mini_batch_size=1,
        workers=1,
        start_method="server",
        on_event=on_event,
    )

    assert job.result.status == "Completed"
    # The replacement's module starts from nothing: the server never imported it.
    assert job.output_lines() == ["f000.txt 0 late", "f001.txt 1 late"]


def test_closing_the_server_ends_it_and_removes_its_socket():
    server = ForkServer()
    worker = server.process(target=os.getpid, name="probe")
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    pid, folder = server._forkserver_pid, Path(server._folder)
    assert folder.is_dir()

    server.close()

    assert not folder.exists()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped


# Starts a fork server (forked from this process with `fork`), prints its folder and pid, then
# runs FORKED's worker and waits for a line on stdin.
_MAKER = """
import atexit, sys, tempfile
from pathlib import Path
from batchml.backends.fork_server import ForkServer

marker, fork = Path(sys.argv[1]), sys.argv[2] == "fork"
kept = tempfile.TemporaryDirectory(dir=marker.parent)
atexit.register(marker.write_text, "the parent's exit handler ran")
server = ForkServer()
server.fork_now() if fork else server.ensure_running()
print(server._folder, server._forkserver_pid, kept.name, flush=True)
worker = server.process(target=atexit._run_exitfuncs, name="exits")
worker.start()
worker.join(60)
print(worker.exitcode, flush=True)
sys.stdin.readline()
"""


def _maker(tmp_path: Path, how: str) -> tuple[subprocess.Popen[str], list[str]]:
    """A process that started a server (`how`: fork or spawn) and ran a worker that ran its
    exit handlers: the process, and what it printed (folder, server pid, a temporary folder
    it holds, the worker's exit code)."""
    command = [sys.executable, "-c", _MAKER, str(tmp_path / "marker"), how]
    maker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert maker.stdout is not None
    return maker, [*maker.stdout.readline().split(), maker.stdout.readline().strip()]


def test_a_forked_server_gives_its_workers_nothing_of_its_parents_exit(tmp_path):
    maker, (_, _, kept, exitcode) = _maker(tmp_path, "fork")
    try:
        assert exitcode == "0"
        # Neither the parent's exit handler nor its temporary folder's finalizer ran.
        assert not (tmp_path / "marker").exists()
        assert Path(kept).is_dir()
    finally:
        maker.communicate("\n", timeout=60)
    assert maker.returncode == 0


def test_a_new_server_removes_the_folders_that_killed_servers_left(tmp_path):
    maker, (folder, pid, _, _) = _maker(tmp_path, "spawn")
    os.kill(int(pid), signal.SIGKILL)
    maker.kill()
    maker.wait(60)
    assert Path(folder).is_dir()  # left behind: neither could remove it

    server = ForkServer()
    try:
        server.ensure_running()
        assert not Path(folder).exists()
    finally:
        server.close()
