"""`job resume`, NotResponding and `job cancel` on detached runners killed for real: SIGKILL of
the runner, of the runner with its workers, while the output is being assembled, and SIGSTOP.
Each resumed job writes exactly the output an uninterrupted run would have written."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from filelock import FileLock
from waiting import wait_for

from batchml.services import job_control as job_service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def expected_rows(contents: list[str]) -> list[str]:
    return [f"in{i:02d}.txt {content}" for i, content in enumerate(contents)]


def kill(pid: int, *, group: bool = False) -> None:
    """SIGKILL `pid` (its process group) and wait until it has ended, so its locks are let go:
    on a busy machine a killed runner can still hold the job a moment after the signal."""
    (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    wait_for(lambda: _ended(pid), f"process {pid} to end after SIGKILL", timeout=30)


def _ended(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")  # a zombie holds no files


def resume_to_the_end(jobs, name: str, *flags: str) -> dict:
    view = jobs.cli.ok("job", "resume", "-n", name, *flags)
    assert view["status"] in ("Preparing", "Running")
    jobs.gate.touch()
    return jobs.wait(name, "Completed", "Failed")


def test_a_runner_killed_before_any_outcome_is_recorded(jobs):
    contents = ["wait"] * 6
    data = jobs.inputs(contents)
    name = jobs.invoke("--input", data)
    jobs.wait(name, "Running")
    jobs.wait_scored(2)  # both workers are in run()
    assert jobs.records(name) == 0
    kill(jobs.runner_pid(name))

    gone = jobs.wait(name, "NotResponding")
    assert gone["batch"]["end_time"] is None
    assert gone["error"]["message"] == (
        f"the job's runner stopped without finishing; continue it with: batchml job resume -n {name}"
    )
    job = resume_to_the_end(jobs, name)

    assert job["status"] == "Completed"
    assert job["batch"]["mini_batches"] == {
        "total": 3,
        "succeeded": 3,
        "failed": 0,
        "resumed": 0,
        "reused": 0,
    }
    assert jobs.output(name).read_text().splitlines() == expected_rows(contents)
    # Not needed once Completed: the runner removes it after it recorded the job Completed.
    jobs.wait_runners_gone()
    assert not (jobs.folder(name) / "journal").exists()
    overview = (jobs.folder(name) / "logs" / "job_progress_overview.txt").read_text()
    assert overview.count("mini-batches created from 6 files") == 2


def test_runner_and_workers_killed_together_in_the_middle(jobs):
    contents = ["ok"] * 6 + ["wait"] * 4
    data = jobs.inputs(contents)
    name = jobs.invoke("--input", data)
    jobs.wait_records(name, 3)
    jobs.wait(name, "Running")
    kill(jobs.runner_pid(name), group=True)  # its session: the runner and both workers

    jobs.wait(name, "NotResponding")
    scored_before = jobs.scored()
    job = resume_to_the_end(jobs, name)

    assert job["status"] == "Completed"
    assert job["batch"]["mini_batches"] == {
        "total": 5,
        "succeeded": 5,
        "failed": 0,
        "resumed": 3,
        "reused": 0,
    }
    assert job["batch"]["files"] == {"total": 10, "succeeded": 10, "failed": 0}
    assert jobs.output(name).read_text().splitlines() == expected_rows(contents)
    scored = jobs.scored()
    assert all(scored[f"in{i:02d}.txt"] == scored_before[f"in{i:02d}.txt"] == 1 for i in range(6))
    assert all(
        scored[f"in{i:02d}.txt"] - scored_before[f"in{i:02d}.txt"] == 1 for i in range(6, 10)
    )


def test_a_runner_killed_while_assembling_the_output(jobs):
    contents = ["ok"] * 4 + ["wait"] * 2
    data = jobs.inputs(contents)
    name = jobs.invoke("--input", data)
    jobs.wait_records(name, 2)
    jobs.wait(name, "Running")
    # The runner writes job.json (Finalizing) under the job's lock just before it assembles
    # the output: holding that lock stops it there once the last mini-batch is recorded.
    # Killed as soon as that record is there: wherever the runner is by then, it cannot get
    # past the lock to the output.
    with FileLock(str(jobs.folder(name) / ".lock")):
        jobs.gate.touch()
        jobs.wait_records(name, 3)
        kill(jobs.runner_pid(name))
    assert not jobs.output(name).exists()
    # As a kill in the middle of copying would leave it.
    torn = jobs.output(name).with_name(".predictions.csv.batchml.tmp")
    torn.write_text("in00.txt ok\nin01.t")
    scored_before = jobs.scored()

    job = resume_to_the_end(jobs, name)

    assert job["status"] == "Completed"
    assert job["batch"]["mini_batches"]["resumed"] == 3
    assert jobs.output(name).read_text().splitlines() == expected_rows(contents)
    assert sorted(p.name for p in jobs.output(name).parent.iterdir()) == ["predictions.csv"]
    assert jobs.scored() == scored_before  # nothing scored again


def test_cancel_keeps_what_was_done_and_resume_finishes(jobs):
    contents = ["ok", "ok", "ok", "ok", "wait", "wait", "wait", "wait"]
    data = jobs.inputs(contents)
    name = jobs.invoke("--input", data)
    jobs.wait_records(name, 2)
    jobs.wait(name, "Running")
    job = jobs.cli.ok("job", "cancel", "-n", name)

    assert job["status"] == "Canceled"
    jobs.wait_runners_gone()
    assert not jobs.output(name).exists()
    # Resumed, canceled again (its mini-batches wait for the gate), resumed to the end.
    assert jobs.cli.ok("job", "resume", "-n", name)["status"] == "Preparing"
    jobs.wait(name, "Running")
    assert jobs.cli.ok("job", "cancel", "-n", name)["status"] == "Canceled"
    job = resume_to_the_end(jobs, name)

    assert job["status"] == "Completed"
    assert job["batch"]["mini_batches"] == {
        "total": 4,
        "succeeded": 4,
        "failed": 0,
        "resumed": 2,
        "reused": 0,
    }
    assert jobs.output(name).read_text().splitlines() == expected_rows(contents)
    assert all(jobs.scored()[f"in{i:02d}.txt"] == 1 for i in range(4))
    result = jobs.cli("job", "resume", "-n", name)
    assert (result.code, result.err.splitlines()[0]) == (
        5,
        f"ERROR: job '{name}' is Completed: there is nothing to resume",
    )


def test_a_silent_runner_is_not_responding_and_cancel_ends_it(jobs, monkeypatch):
    data = jobs.inputs(["wait"] * 4)
    name = jobs.invoke("--input", data)
    jobs.wait(name, "Running")
    result = jobs.cli("job", "resume", "-n", name)
    assert (result.code, result.err.splitlines()[0]) == (
        5,
        f"ERROR: job '{name}' is Running: only a Failed, Canceled or NotResponding job resumes",
    )
    pid = jobs.runner_pid(name)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    with monkeypatch.context() as patch:
        patch.setattr(job_service, "HEARTBEAT_TIMEOUT", 1.0)
        jobs.wait(name, "NotResponding")
        result = jobs.cli("job", "resume", "-n", name)
        assert (result.code, result.err.splitlines()[0]) == (
            5,
            f"ERROR: job '{name}' is NotResponding, but its runner (pid {pid}) still holds it",
        )
        assert jobs.cli.ok("job", "cancel", "-n", name)["status"] == "Canceled"
    jobs.wait_runners_gone()
    job = resume_to_the_end(jobs, name)

    assert job["status"] == "Completed"
    assert jobs.output(name).read_text().splitlines() == expected_rows(["wait"] * 4)
