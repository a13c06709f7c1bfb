"""A runner's signs of life: its heartbeat goes on after a beat that failed, and its workers
get their variables however the opening of the job's MLflow run ended."""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

from batchml.runner.lifecycle import JobLifecycle
from batchml.store.job_files import HEARTBEAT_FILE

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
