"""A runner's signs of life: its heartbeat goes on after a beat that failed, its silence is
judged by a clock that steps of the wall clock do not move, and its workers get their
variables however the opening of the job's MLflow run ended."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from batchml.runner.lifecycle import JobLifecycle
from batchml.store import job_files
from batchml.store.job_files import HEARTBEAT_FILE
from batchml.store.workspace import Workspace

# keep_beating as a runner's thread runs it, fast, saying each beat that failed.
BEATING = """\
import sys
from pathlib import Path
from batchml.store import job_files

job_files.HEARTBEAT_INTERVAL = 0.01
real = job_files.beat


def beat(folder):
    try:
        real(folder)
    except OSError:
        print("failed", flush=True)
        raise


job_files.beat = beat
job_files.keep_beating(Path(sys.argv[1]))
"""


def _wait(done: object, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_the_heartbeat_goes_on_after_a_beat_that_failed(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    beating = subprocess.Popen(
        [sys.executable, "-c", BEATING, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        _wait((folder / HEARTBEAT_FILE).exists, "a first beat")
        shutil.rmtree(folder)  # every beat fails now: neither the file nor its folder is there
        ready, _, _ = select.select([beating.stdout], [], [], 30.0)
        assert ready and beating.stdout is not None
        assert beating.stdout.readline() == "failed\n"
        folder.mkdir()
        _wait(lambda: (folder / HEARTBEAT_FILE).exists() or beating.poll() is not None, "a beat")
        assert beating.poll() is None, "the heartbeat ended at the beat that failed"
        assert (folder / HEARTBEAT_FILE).exists()
    finally:
        beating.kill()
        beating.wait()


def test_workers_get_no_variables_when_opening_the_run_failed_outside_its_guard() -> None:
    record = JobLifecycle.__new__(JobLifecycle)
    record._run = None
    record._opening = Future()
    variables = record.run_variables()
    assert not variables.done()  # the run is still being opened
    record._opening.set_exception(RuntimeError("a bug in opening the run"))
    assert variables.done()
    assert variables.result() == {}


class _Clock:
    """time.time and time.monotonic_ns as job_files reads them, each moved on at will: the seam
    through which a step of the wall clock (or time passing) is simulated."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wall_step = self.elapsed = 0.0
        wall, monotonic = time.time, time.monotonic_ns
        monkeypatch.setattr(job_files.time, "time", lambda: wall() + self.wall_step + self.elapsed)
        monkeypatch.setattr(
            job_files.time, "monotonic_ns", lambda: monotonic() + int(self.elapsed * 1e9)
        )


def _beaten_job(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / "ws")
    folder = job_files.job_dir(workspace, "job1")
    folder.mkdir(parents=True)
    (folder / job_files.JOB_FILE).write_text("{}")
    job_files.beat(folder)
    return workspace


def test_a_step_of_the_wall_clock_does_not_silence_a_live_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _beaten_job(tmp_path)
    clock = _Clock(monkeypatch)
    clock.wall_step = 2 * job_files.HEARTBEAT_TIMEOUT  # NTP sets the clock a minute on
    assert job_files.silence(workspace, "job1") < job_files.HEARTBEAT_INTERVAL


def test_a_runner_that_stopped_beating_is_silent_however_the_wall_clock_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _beaten_job(tmp_path)
    clock = _Clock(monkeypatch)
    clock.elapsed = 2 * job_files.HEARTBEAT_TIMEOUT  # no beat for a minute
    assert job_files.silence(workspace, "job1") > job_files.HEARTBEAT_TIMEOUT
    clock.wall_step = 3600.0
    assert job_files.silence(workspace, "job1") > job_files.HEARTBEAT_TIMEOUT


def test_a_heartbeat_with_no_clock_in_it_is_judged_by_its_modification_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _beaten_job(tmp_path)
    folder = job_files.job_dir(workspace, "job1")
    (folder / HEARTBEAT_FILE).write_text("")  # as an earlier batchml's runner touches it
    os.utime(folder / job_files.JOB_FILE, (0, 0))
    clock = _Clock(monkeypatch)
    assert job_files.silence(workspace, "job1") < job_files.HEARTBEAT_INTERVAL
    clock.elapsed = 2 * job_files.HEARTBEAT_TIMEOUT
    assert job_files.silence(workspace, "job1") > job_files.HEARTBEAT_TIMEOUT
