"""The job engine when scripts fail: retries, timeouts, dying workers, thresholds, orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import wait_for

from batchml.runner import NO_SUCCEEDED_ITEM

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60), pytest.mark.usefixtures("no_worker_left")]

BAD_RETURN = (
    "The run() method in the entry script should return a list or a pandas DataFrame. "
    "The length of returned result is considered as succeeded number of items. "
    "run() returned None."
)


def attempts(job) -> list[tuple[str, str, str, str]]:
    """(mini-batch, attempt, result, error) per row of processed_mini-batches.csv, sorted."""
    return sorted((r["mini_batch"], r["attempt"], r["result"], r["error"]) for r in job.report())


def test_a_raising_mini_batch_is_retried_then_its_files_fail(run):
    job = run(["ok", "raise", "ok", "raise", "ok"], mini_batch_size=1, workers=2, max_retries=2)

    counts = job.result.counts
    assert job.result.status == "Completed"
    assert (counts.mini_batches_succeeded, counts.mini_batches_failed) == (3, 2)
    assert (counts.files_succeeded, counts.files_failed) == (3, 2)
    assert job.output_lines() == ["f000.txt ok", "f002.txt ok", "f004.txt ok"]
    failed = [row for row in attempts(job) if row[2] == "failed"]
    assert [row[:2] for row in failed] == [(m, a) for m in ("1", "3") for a in ("1", "2", "3")]
    retries = [e.will_retry for e in job.events if e.kind == "mini_batch_failed"]
    assert retries.count(False) == 2 and retries.count(True) == 4


@pytest.mark.parametrize(
    ("threshold", "status"), [(1, "Failed"), (2, "Completed"), (-1, "Completed")]
)
def test_error_threshold_counts_failed_files_across_the_job(run, threshold, status):
    contents = ["ok", "raise", "ok", "raise", "ok", "ok"]
    job = run(contents, mini_batch_size=1, workers=1, max_retries=0, error_threshold=threshold)

    result = job.result
    assert result.status == status
    if status == "Failed":
        assert result.error == "error_threshold exceeded: 2 failed files > 1"
        # Both files failed at one line of the script: one error, its first traceback.
        assert "ValueError: cannot score f001.txt at " in (result.error_detail or "")
        assert "(2 attempts, 2 files failed)" in (result.error_detail or "")
        # Nothing starts after the threshold is crossed; what succeeded is still published.
        assert (result.counts.mini_batches_succeeded, result.counts.mini_batches_failed) == (2, 2)
        assert job.output_lines() == ["f000.txt ok", "f002.txt ok"]
        assert job.log("job_error.txt").startswith(result.error + "\n")
    else:
        assert result.counts.files_failed == 2
        assert len(job.output_lines()) == 4


# Hung runs that were not stopped would hold the job for a minute, past this deadline.
@pytest.mark.timeout(30)
def test_crossing_the_threshold_stops_running_mini_batches_at_once(run):
    job = run(
        ["raise", "hang", "hang"], mini_batch_size=1, workers=2, error_threshold=0, max_retries=0
    )

    assert job.result.status == "Failed"
    assert job.result.error == "error_threshold exceeded: 1 failed files > 0"
    assert job.result.counts.mini_batches_done == 1


def test_a_run_past_the_timeout_is_killed_and_retried_on_a_fresh_worker(run, tmp_path):
    init_log = tmp_path / "init.log"
    job = run(
        ["ok", "hang-once", "ok"],
        env={"INIT_LOG": str(init_log)},
        mini_batch_size=1,
        workers=1,
        timeout=1,
        max_retries=1,
    )

    assert job.result.status == "Completed"
    assert job.output_lines() == ["f000.txt ok", "f001.txt hang-once", "f002.txt ok"]
    # Mini-batch 2 was sent ahead to the hung worker: handed on, but never counted as tried.
    assert attempts(job) == [
        ("0", "1", "succeeded", ""),
        ("1", "1", "failed", "run() exceeded the timeout of 1 s"),
        ("1", "2", "succeeded", ""),
        ("2", "1", "succeeded", ""),
    ]
    # The hung worker was replaced, and its replacement ran init() again.
    pids = init_log.read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1]


def test_a_run_that_always_hangs_fails_its_files_after_every_attempt(run):
    job = run(["hang", "ok"], mini_batch_size=1, workers=2, timeout=0.5, max_retries=1)

    assert job.result.status == "Completed"
    assert job.result.counts.files_failed == 1
    assert job.output_lines() == ["f001.txt ok"]
    assert [row for row in attempts(job) if row[0] == "0"] == [
        ("0", "1", "failed", "run() exceeded the timeout of 0.5 s"),
        ("0", "2", "failed", "run() exceeded the timeout of 0.5 s"),
    ]


# The job ends only once its workers are gone: a worker that was never SIGKILLed would hold it
# for the minute its run() sleeps, past this deadline.
@pytest.mark.timeout(30)
def test_a_run_that_ignores_sigterm_is_killed_after_the_grace_period(run):
    # The timeout, then SIGTERM (ignored), then SIGKILL a grace period later.
    job = run(["stubborn", "ok"], mini_batch_size=1, workers=2, timeout=0.5, max_retries=0)

    assert job.result.status == "Completed"
    assert attempts(job)[0] == ("0", "1", "failed", "run() exceeded the timeout of 0.5 s")


def test_a_worker_that_dies_once_is_replaced_and_its_mini_batch_retried(run):
    job = run(["exit-once", "ok"], mini_batch_size=1, workers=1)

    assert job.result.status == "Completed"
    assert job.output_lines() == ["f000.txt exit-once", "f001.txt ok"]
    assert attempts(job)[:2] == [
        ("0", "1", "failed", "worker 0 died (exit code 1) while running run()"),
        ("0", "2", "succeeded", ""),
    ]
    processes = [r["process"] for r in job.report()]
    assert processes[0] != processes[1]


@pytest.mark.parametrize(
    ("command", "reason"), [("exit", "exit code 1"), ("kill", "killed by signal SIGKILL")]
)
def test_workers_that_always_die_fail_the_job(run, command, reason):
    job = run([command, command], mini_batch_size=1, workers=2, max_retries=1)

    result = job.result
    assert result.status == "Failed"
    assert result.error is not None
    assert result.error.startswith(f"{NO_SUCCEEDED_ITEM} (first error: mini-batch ")
    assert result.error.endswith(f"died ({reason}) while running run())")
    assert (result.counts.mini_batches_failed, result.counts.files_failed) == (2, 2)
    assert len(job.report()) == 4
    assert result.output_file is None
    assert list(job.output_dir.iterdir()) == []


def test_init_failure_fails_the_job_promptly_with_its_traceback(run, tmp_path):
    init_log = tmp_path / "init.log"
    job = run(
        ["ok"] * 6,
        env={"INIT_FAIL": "/x/model.pkl", "INIT_LOG": str(init_log)},
        mini_batch_size=1,
        workers=2,
    )

    result = job.result
    assert result.status == "Failed"
    assert result.error in {
        f"init() failed in worker {slot}: ValueError: model file not found: /x/model.pkl"
        for slot in (0, 1)
    }
    assert not result.internal_error
    assert result.error_detail is not None
    assert result.error_detail.startswith("Traceback (most recent call last):\n")
    assert "behave.py" in result.error_detail
    assert 'raise ValueError(f"model file not found: {model}")' in result.error_detail
    assert result.counts.mini_batches_done == 0
    # No respawning: each of the two workers ran init() once at most.
    assert len(init_log.read_text().split()) <= 2
    assert job.log("job_error.txt").startswith(result.error + "\n")
    slot = result.error.split()[4].rstrip(":")
    assert "model file not found" in job.log("user", "error", "localhost", f"process00{slot}.txt")
    assert list(job.output_dir.iterdir()) == []


def test_what_a_timed_out_run_started_goes_with_its_worker(run, tmp_path):
    job = run(["spawn-hang-once"], mini_batch_size=1, workers=1, timeout=1, max_retries=1)

    assert job.result.status == "Completed"
    child = int(next(tmp_path.rglob("*.child")).read_text())
    # Killed with the worker, not when the job ended: run_job owns no process tree.
    assert not Path(f"/proc/{child}").exists() or Path(f"/proc/{child}/stat").read_text().split(
        ") "
    )[1].startswith("Z")


def test_a_worker_killed_in_init_is_replaced(run, tmp_path):
    init_log = tmp_path / "init.log"
    killed = tmp_path / "killed"
    job = run(
        ["ok"] * 4,
        env={"INIT_KILL_ONCE": str(killed), "INIT_LOG": str(init_log)},
        mini_batch_size=1,
        workers=2,
    )

    assert (job.result.status, job.result.error) == ("Completed", None)
    assert job.result.counts.mini_batches_succeeded == 4
    assert killed.exists()
    # The killed worker's init() and the other worker's (a replacement starts only if work is
    # left by then).
    assert len(init_log.read_text().split()) >= 2
    assert "died while starting (killed by signal SIGKILL); starting another" in job.log(
        "job_progress_overview.txt"
    )


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("no_run.py", "scoring script no_run.py does not define run()"),
        (
            "broken_import.py",
            "could not import scoring script broken_import.py: "
            "ModuleNotFoundError: No module named 'no_such_module_for_batchml'",
        ),
        ("missing.py", "scoring script not found: {scripts}/missing.py"),
    ],
)
def test_a_script_that_cannot_start_fails_the_job(run, scripts, script, error):
    job = run(["ok", "ok"], script, mini_batch_size=1, workers=2)

    assert job.result.status == "Failed"
    assert job.result.error == error.format(scripts=scripts)
    assert job.result.counts.mini_batches_done == 0


def test_returning_none_fails_the_mini_batch_with_azures_message(run):
    job = run(["none", "none"], mini_batch_size=1, workers=1, max_retries=0)

    assert job.result.status == "Failed"
    assert (
        job.result.error
        == f"{NO_SUCCEEDED_ITEM} (first error: mini-batch 0, attempt 1: {BAD_RETURN})"
    )
    assert attempts(job) == [("0", "1", "failed", BAD_RETURN), ("1", "1", "failed", BAD_RETURN)]


def test_a_string_is_not_a_list_of_rows(run):
    job = run(["ok"], "shapes.py", env={"RETURN_KIND": "string"}, max_retries=0)

    assert job.result.status == "Failed"
    assert job.result.error is not None
    assert job.result.error.endswith("run() returned a str.)")


def test_a_batchml_fault_in_a_worker_is_an_internal_error(run):
    job = run(["ok", "ok"], "sabotage.py", mini_batch_size=1, workers=1)

    result = job.result
    assert result.status == "Failed"
    assert result.internal_error
    assert result.error is not None
    assert result.error.startswith("internal error in worker 0: FileNotFoundError: ")
    assert "Traceback (most recent call last):" in (result.error_detail or "")


@pytest.mark.parametrize("start_method", ["server", "spawn", "forkserver", "fork"])
def test_killing_the_caller_leaves_no_worker_behind(tmp_path, inputs, scripts, start_method):
    init_log = tmp_path / "init.log"
    inputs(["hang", "hang"])
    env = {**os.environ, "INIT_LOG": str(init_log)}
    driver = subprocess.Popen(
        [
            sys.executable,
            str(scripts / "drive_job.py"),
            str(tmp_path / "inputs"),
            str(tmp_path / "job"),
            start_method,
        ],
        env=env,
    )
    try:
        wait_for(
            lambda: init_log.exists() and len(init_log.read_text().split()) >= 2,
            "both workers to start",
        )
        workers = [int(pid) for pid in init_log.read_text().split()]
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()

    wait_for(
        lambda: not any(_running(pid) for pid in workers),
        f"the workers {workers} to end with their parent",
    )


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
