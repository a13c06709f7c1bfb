"""What a person sees while a job runs: `invoke --stream` in a pseudo-terminal (one progress
line at the bottom, log lines whole above it) and in a pipe (plain timestamped lines)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from projects import Project, project_at

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Cli

pytestmark = pytest.mark.timeout(180)

FILES = 6
# Mini-batch N waits for the file goN in the folder BATCHML_TEST_GATES names: the test lets
# the job go on one mini-batch at a time, after it saw the screen of the one before.
GATED = """\
import os, pathlib, time

def init():
    pass

def run(mini_batch):
    name = pathlib.Path(mini_batch[0]).stem.removeprefix("in")
    gate = pathlib.Path(os.environ["BATCHML_TEST_GATES"]) / f"go{name}"
    while not gate.exists():
        time.sleep(0.02)
    return [name]
"""
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
_CSI = re.compile(rb"\x1b\[(\??)(\d*)([A-Za-z])")


class Screen:
    """The few terminal controls rich's live display writes (\\r, \\n, erase line, cursor
    up, SGR and cursor visibility), applied to rows of text."""

    def __init__(self) -> None:
        self.rows: list[str] = [""]
        self.row = self.col = 0

    def feed(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            match = _CSI.match(data, at)
            if match:
                private, number, command = match.groups()
                if command == b"K":
                    self.rows[self.row] = ""
                elif command == b"A":
                    self.row = max(0, self.row - int(number or 1))
                elif not private and command != b"m":
                    raise AssertionError(f"unexpected control {match.group()!r}")
                at = match.end()
                continue
            char = data[at : at + 1]
            at += 1
            if char == b"\r":
                self.col = 0
            elif char == b"\n":
                self.row += 1
                if self.row == len(self.rows):
                    self.rows.append("")
            else:
                self._put(char.decode("latin-1"))

    def _put(self, char: str) -> None:
        line = self.rows[self.row].ljust(self.col)
        self.rows[self.row] = line[: self.col] + char + line[self.col + 1 :]
        self.col += 1

    @property
    def bottom(self) -> str:
        return self.rows[self.row]


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    gates = tmp_path / "gates"
    gates.mkdir()
    monkeypatch.setenv("BATCHML_TEST_GATES", str(gates))
    with project_at(cli, ws, tmp_path, monkeypatch, "live-ep") as live:
        for index in range(4, FILES):
            (live.root / "data" / f"in{index}.txt").write_text(str(index))
        live.deploy(
            {
                "name": "gated",
                "type": "model",
                "model": {"name": "m", "path": "model"},
                "code_configuration": {"code": "code", "scoring_script": "score.py"},
                "environment": {"image": "python:3.11"},
                "compute": "azureml:cpu",
                "settings": {"mini_batch_size": 1, "max_concurrency_per_instance": 1},
            },
            GATED,
        )
        yield live


def _terminal() -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
    return master, slave


def test_the_live_view_keeps_one_progress_line_below_whole_log_lines(
    project: Project, tmp_path: Path
) -> None:
    gates = tmp_path / "gates"
    master, slave = _terminal()
    command = [sys.executable, "-c", "from batchml.cli.app import main; main()"]
    args = ["batch-endpoint", "invoke", "-n", "live-ep", "--input", str(project.root / "data")]
    args += ["--job-name", "live-job", "--stream", "--query", "properties.status", "-o", "tsv"]
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "160", "LINES": "45"}
    process = subprocess.Popen(
        [*command, *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    screen, bottoms = Screen(), []
    released = 0
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal's last writer has gone
                    break
                if not chunk:
                    break
                screen.feed(chunk)
                bottoms.append(screen.bottom)
            # Mini-batch N goes once the line said N-1 of them were done.
            if released < FILES and f"mini-batches {released}/{FILES}:" in screen.bottom:
                (gates / f"go{released}").touch()
                released += 1
    finally:
        os.close(master)
        process.wait(timeout=60)
    project.show("live-job")
    assert process.returncode == 0, "\n".join(screen.rows)

    # While it ran: counts, files, a rate and an ETA on the bottom line; "planning" or the
    # environment before the plan is known, never "0/?".
    running = [line for line in bottoms if line.startswith("Running | mini-batches 2/6:")]
    assert running, bottoms
    assert re.fullmatch(
        r"Running \| mini-batches 2/6: 2 succeeded, 0 failed, [01] running \| files 2/6 "
        r"\(0 failed\) \| \d+\.\d files/s \| ETA \d:\d\d:\d\d \| elapsed \d:\d\d:\d\d",
        running[-1],
    ), running[-1]
    assert not [line for line in bottoms if "/?" in line or "0/0" in line]

    # What stays: whole log lines (each starts with its timestamp, no bar before it), one
    # final progress line, the summary and the job's status (stdout).
    log = [row for row in screen.rows if re.match(STAMP, row)]
    assert any("6 of 6 mini-batches processed" in row for row in log), screen.rows
    assert not [row for row in screen.rows if "| mini-batches" in row and re.search(STAMP, row)]
    finals = [row for row in screen.rows if "| mini-batches" in row]
    assert len(finals) == 1
    assert re.fullmatch(
        r"Completed \| mini-batches 6/6: 6 succeeded, 0 failed, 0 running \| files 6/6 "
        r"\(0 failed\) \| \d+\.\d files/s \| elapsed \d:\d\d:\d\d",
        finals[0],
    )
    end = [row for row in screen.rows if row][-3:]
    assert end == ["Web View: " + f"file://{project.folder('live-job')}", "Status: Completed",
                   "Completed"]  # fmt: skip


def test_off_a_terminal_progress_is_plain_lines_and_stdout_is_the_job(
    project: Project, cli: Cli, tmp_path: Path
) -> None:
    for index in range(FILES):
        (tmp_path / "gates" / f"go{index}").touch()
    result = cli("batch-endpoint", "invoke", "-n", "live-ep", "--input", project.root / "data",
                 "--job-name", "plain-job", "--stream", "--query", "{s: properties.status, n: name}",
                 "-o", "tsv")  # fmt: skip
    project.show("plain-job")
    assert (result.code, result.out) == (0, "Completed\tplain-job\n")
    assert "\x1b" not in result.err and "\r" not in result.err
    progress = [line for line in result.err.splitlines() if "| elapsed" in line]
    assert progress, result.err
    for line in progress:
        assert re.match(rf"{STAMP} (Queued|Preparing|Running|Finalizing|Completed)", line), line
    assert re.fullmatch(
        rf"{STAMP} Completed \| mini-batches 6/6: 6 succeeded, 0 failed, 0 running \| files 6/6 "
        r"\(0 failed\) \| (\d+\.\d files/s \| )?elapsed \d:\d\d:\d\d",
        progress[-1],
    )
    assert "RunId: plain-job" in result.err and "Status: Completed" in result.err
    listed = cli("job", "list", "-o", "table").out.splitlines()
    assert listed[0].split() == ["Name", "Status", "Deployment", "Created", "Files", "Failed"]
    assert re.fullmatch(r"plain-job +Completed +gated +\d{4}-\d\d-\d\d [\d:]{8} +6/6 +0", listed[2])


def test_ctrl_c_stops_following_and_the_job_keeps_running(project: Project, tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from batchml.cli.app import main; main()"]
    args = ["batch-endpoint", "invoke", "-n", "live-ep", "--input", str(project.root / "data")]
    # Interrupted once the job runs (mini-batch 0 waits for its gate); the live view and the
    # logs are on stderr.
    started = ("mini-batches 0/6", "files, mini_batch_size 1")
    out, err = interrupted([*command, *args, "--job-name", "kept-job", "--stream"], 2, started)
    assert out == ""
    assert err.splitlines()[-1] == (
        "Stopped following; job kept-job keeps running (batchml job stream -n kept-job follows "
        "it again, batchml job cancel -n kept-job stops it)."
    )
    assert project.show("kept-job")["status"] in ("Preparing", "Running")
    # And `job stream`, which follows a job without typer (batchml.cli.app._streamed).
    _, streamed = interrupted([*command, "job", "stream", "-n", "kept-job"], 1, ("RunId:",))
    assert streamed.splitlines()[-1] == err.splitlines()[-1]
    assert project.show("kept-job")["status"] in ("Preparing", "Running")
    for index in range(FILES):
        (tmp_path / "gates" / f"go{index}").touch()
    assert project.wait("kept-job")["status"] == "Completed"


def interrupted(command: list[str], fd: int, started: tuple[str, ...]) -> tuple[str, str]:
    """`command`, sent SIGINT once it printed a line holding one of `started` to `fd` (1 or 2):
    what it printed (stdout, stderr), once it exited with 130, as Ctrl-C makes it."""
    # Ctrl-C reaches the shell's foreground command, whose SIGINT is not ignored. A command
    # started with `&` by a non-interactive shell (`make test &` in a script) ignores SIGINT
    # from birth, and so would the command started here: with a handler of this process's
    # own while it starts, the command has the default, as exec resets handled signals.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        watched = process.stdout if fd == 1 else process.stderr
        assert watched is not None
        seen = []
        for line in watched:
            seen.append(line)
            if any(word in line for word in started):
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        # Not left to fail the next tests' check that no process of theirs is left.
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    before = "".join(seen)
    return (before + out, err) if fd == 1 else (out, before + err)
