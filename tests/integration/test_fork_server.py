"""Workers forked by the backend's fork server (batchml.backends.fork_server): what they see is
the job's process's of when each starts (its folder is the code's, see batchml.worker.scoring),
and nothing of the user's code comes from the server."""

from __future__ import annotations

import os
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
