"""How the runner is started (batchml.runner.launch): forked from the invoking command when it
runs no other thread, a fresh `python -m batchml.runner` otherwise; either way detached, the
leader of its own session, and found by `job cancel`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from processes import session_members
from waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import JobsWorkspace


@pytest.fixture
def a_thread() -> Iterator[None]:
    """Another thread running in this (the invoking) process."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="bystander")
    thread.start()
    yield
    stop.set()
    thread.join()


def _command(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def _started_detached_then_canceled(jobs: JobsWorkspace, name: str) -> list[bytes]:
    """The command line of job `name`'s runner, once checked to be detached, then cancelled."""
    jobs.wait(name, "Running")
    pid = jobs.runner_pid(name)
    assert pid is not None
    command = _command(pid)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    parent, session = int(stat[1]), int(stat[3])
    assert session == pid and parent != os.getpid()
    # The runner and its two workers (the second may still be starting when the job runs).
    wait_for(lambda: len(session_members(pid)) >= 3, "the runner and two workers in its session")
    assert jobs.cli.ok("job", "cancel", "-n", name)["status"] == "Canceled"
    jobs.wait_runners_gone()
    assert session_members(pid) == []
    return command


def _invoke_from_a_command(jobs: JobsWorkspace, before: str) -> tuple[list[str], list[bytes]]:
    """Invoke from a command of its own (this test process may run threads that earlier tests
    left) that runs Python code `before` first; its command line, and its runner's."""
    command = [sys.executable, "-c", f"{before}; from batchml.cli.app import main; main()"]
    command += ["batch-endpoint", "invoke", "-n", "jobs-ep", "--query", "name", "-o", "tsv"]
    command += ["--input", str(jobs.inputs(["wait"] * 4))]  # two mini-batches
    invoked = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    return command, _started_detached_then_canceled(jobs, invoked.stdout.strip())


@pytest.mark.slow
def test_a_command_without_threads_forks_the_runner(jobs: JobsWorkspace) -> None:
    command, runner = _invoke_from_a_command(jobs, "pass")
    assert runner == [part.encode() for part in command] + [b""]


@pytest.mark.slow
def test_a_command_with_c_level_threads_starts_a_fresh_runner(jobs: JobsWorkspace) -> None:
    # Reading a CSV starts pyarrow's thread pool, which `threading` does not count.
    before = "import io, pyarrow.csv; pyarrow.csv.read_csv(io.BytesIO(b'a\\n1\\n'))"
    command, runner = _invoke_from_a_command(jobs, before)
    assert b"batchml.runner" in runner and runner != [part.encode() for part in command] + [b""]


@pytest.mark.slow
@pytest.mark.usefixtures("a_thread")
def test_a_command_with_threads_starts_a_fresh_runner(jobs: JobsWorkspace) -> None:
    name = jobs.invoke("--input", jobs.inputs(["wait"] * 4))
    command = _started_detached_then_canceled(jobs, name)
    assert b"batchml.runner" in command and command != _command(os.getpid())


def _runners_of(command: list[str]) -> list[int]:
    """Live session leaders whose command line is `command`'s: runners it forked."""
    expected = b"\0".join(part.encode() for part in command) + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # not a process, or exited while we looked
        if cmdline == expected and stat[0] != "Z" and int(stat[3]) == int(entry.name):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_an_invoke_that_fails_leaves_no_runner_forked_ahead(jobs: JobsWorkspace) -> None:
    # The runner forked as the command starts (batchml.runner.detach.fork_ahead) is given no
    # job: the input does not exist.
    command = [sys.executable, "-c", "from batchml.cli.app import main; main()"]
    command += ["batch-endpoint", "invoke", "-n", "jobs-ep", "--input", str(jobs.root / "none")]
    failed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "none" in failed.stderr
    wait_for(lambda: not _runners_of(command), "the runner forked ahead to exit")
    assert not (jobs.ws / "jobs").exists() or not any((jobs.ws / "jobs").iterdir())


@pytest.mark.slow
def test_an_invoke_that_click_refuses_leaves_no_runner_forked_ahead(jobs: JobsWorkspace) -> None:
    # Forked before click has read the command line (batchml.cli.app.main), the runner is
    # given no job when an option is unknown: it exits with the command.
    command = [sys.executable, "-c", "from batchml.cli.app import main; main()"]
    command += ["batch-endpoint", "invoke", "-n", "jobs-ep", "--no-such-option"]
    failed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "--no-such-option" in failed.stderr
    wait_for(lambda: not _runners_of(command), "the runner forked ahead to exit")
    assert not (jobs.ws / "jobs").exists() or not any((jobs.ws / "jobs").iterdir())


def test_what_the_fork_server_started_ahead_writes_reaches_the_job_log(tmp_path: Path) -> None:
    # A runner forked ahead starts its workers' fork server before it knows its job's log
    # (batchml.runner.detach._prepared): what the server's processes write before they open
    # logs of their own is relayed to it, as batchml.runner.launch.run_given relays it.
    log = tmp_path / "log"
    code = (
        "import os, threading, time\n"
        "from batchml.runner import detach, launch\n"
        "prepared = detach._prepared()\n"
        "assert prepared is not None\n"
        "server, output = prepared\n"
        f"log = os.open({str(log)!r}, os.O_WRONLY | os.O_CREAT)\n"
        "os.dup2(log, 1)\n"
        "os.dup2(log, 2)\n"
        "threading.Thread(target=launch._relay, args=(output, log), daemon=True).start()\n"
        "worker = server.process(target=os.write, args=(2, b'before its logs\\n'))\n"
        "worker.start()\n"
        "worker.join()\n"
        "server.close()\n"
        "deadline = time.monotonic() + 60\n"
        f"while os.path.getsize({str(log)!r}) == 0 and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert log.read_bytes() == b"before its logs\n"
