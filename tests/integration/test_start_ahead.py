"""Local workers started ahead (LocalBackend.start_ahead): a job's runner starts them before it
lists the inputs and plans the mini-batches; the scheduler is handed the same processes, and one
it never asks for runs no user code and leaves no logs."""

from __future__ import annotations

import multiprocessing
from typing import TYPE_CHECKING

import pytest
from waiting import wait_for

from batchml.backends.base import WorkerStarted
from batchml.backends.local import LocalBackend
from batchml.worker.messages import ScoringSpec, WorkerConfig

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import JobsWorkspace

pytestmark = pytest.mark.usefixtures("no_worker_left")

# Notes its pid in $INITS when init() runs.
SCRIPT = """
import os


def init():
    with open(os.environ["INITS"], "a") as inits:
        inits.write(f"{os.getpid()}\\n")


def run(mini_batch):
    return mini_batch
"""


def backend_of(tmp_path: Path) -> LocalBackend:
    """Workers of SCRIPT, logging in tmp_path/logs, noting their init() in tmp_path/inits."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(SCRIPT)
    variables = {"INITS": str(tmp_path / "inits")}
    scoring = ScoringSpec(tmp_path / "code", "score.py", environment_variables=variables)
    return LocalBackend(WorkerConfig(scoring, tmp_path / "out", tmp_path / "logs", None))


def inits(tmp_path: Path) -> list[int]:
    return sorted(map(int, (tmp_path / "inits").read_text().split()))


def test_start_worker_hands_out_the_processes_started_ahead(tmp_path: Path):
    backend = backend_of(tmp_path)
    try:
        backend.start_ahead(2)
        ahead = {process.pid for process in multiprocessing.active_children()}
        assert len(ahead) == 2
        workers = [backend.start_worker(slot) for slot in (0, 1)]
        assert {backend.describe(worker) for worker in workers} == {f"pid {pid}" for pid in ahead}
        assert {process.pid for process in multiprocessing.active_children()} == ahead
        started: list[int] = []
        while len(started) < 2:
            started += [e.worker for e in backend.poll(1.0) if isinstance(e, WorkerStarted)]
        assert sorted(started) == sorted(workers)
    finally:
        backend.shutdown()
    assert inits(tmp_path) == sorted(ahead)


def test_a_worker_started_ahead_and_never_handed_out_runs_no_user_code(tmp_path: Path):
    backend = backend_of(tmp_path)
    try:
        backend.start_ahead(2)
        worker = backend.start_worker(0)
        pid = int(backend.describe(worker).split()[1])
        # Worker 1 started with worker 0, so by the time worker 0 has run init(), it is long
        # past its imports, waiting to be handed out.
        wait_for(lambda: (tmp_path / "inits").exists(), "worker 0's init()")
        events = []
        while not events:
            events = backend.poll(1.0)  # the first poll stops the worker of slot 1
        assert [type(event) for event in events] == [WorkerStarted]
        assert events[0].worker == worker
    finally:
        backend.shutdown()
    assert inits(tmp_path) == [pid]
    assert sorted(p.name for p in (tmp_path / "logs").rglob("*.txt")) == [
        "process000.stderr.txt",
        "process000.stdout.txt",
    ]


def test_a_job_with_fewer_mini_batches_than_workers_uses_only_the_workers_it_needs(
    jobs: JobsWorkspace,
):
    # jobs-ep: 2 workers, mini-batches of 2 files: one mini-batch.
    name = jobs.invoke("--input", jobs.inputs(["ok", "ok"]))
    assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"
    assert jobs.scored() == {"in00.txt": 1, "in01.txt": 1}
    user_logs = jobs.folder(name) / "logs" / "user"
    assert sorted(p.name for p in user_logs.rglob("*.txt")) == [
        "process000.stderr.txt",
        "process000.stdout.txt",
    ]
