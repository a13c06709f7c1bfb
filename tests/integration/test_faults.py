"""Faults outside the scoring script: an output location that cannot be written, a full disk,
an input file deleted while the job runs. Each ends in a clear result with nothing corrupted,
and a job that failed for want of space or permission resumes once that is fixed."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

BATCHML = [sys.executable, "-c", "from batchml.cli.app import main; main()"]


def test_an_output_location_that_cannot_be_written_fails_the_job_and_resume_fixes_it(jobs):
    contents = ["ok", "ok", "ok", "ok", "wait", "wait"]
    data = jobs.inputs(contents)
    out = jobs.root / "out"
    name = jobs.invoke("--input", data, "--output-path", out)
    jobs.wait_records(name, 2)
    # The output folder is replaced by a file: nothing can be written in it, not even by root.
    out.rmdir()
    out.write_text("not a folder\n")
    jobs.gate.touch()

    job = jobs.wait(name, "Failed")

    target = out / "predictions.csv"
    assert job["error"]["message"] == f"could not write the output file {target}: Not a directory"
    assert job["batch"]["mini_batches"] == {
        "total": 3,
        "succeeded": 3,
        "failed": 0,
        "resumed": 0,
        "reused": 0,
    }
    assert out.read_text() == "not a folder\n"
    out.unlink()
    job = jobs.cli.ok("job", "resume", "-n", name)
    job = jobs.wait(name, "Completed")
    assert job["batch"]["mini_batches"]["resumed"] == 3
    assert target.read_text().splitlines() == [f"in{i:02d}.txt {c}" for i, c in enumerate(contents)]
    assert sum(jobs.scored().values()) == 6  # every file scored once, over both runs


def _small_files() -> None:
    # What a full disk does to a file that grows: writes past the limit fail (EFBIG here).
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_full_disk_fails_the_job_with_the_journal_sound(jobs):
    # Rows of 8 KB a mini-batch: the journal's rows file passes 64 KB after 8 of the 15.
    contents = [f"{i:02d} " + "r" * 4000 for i in range(30)]
    data = jobs.inputs(contents)
    invoke = [*BATCHML, "batch-endpoint", "invoke", "-n", "jobs-ep", "--input", str(data)]
    process = subprocess.run(
        [*invoke, "--query", "name", "-o", "tsv"],
        preexec_fn=_small_files,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 0, process.stderr
    name = process.stdout.strip()

    job = jobs.wait(name, "Failed")

    rows = jobs.folder(name) / "journal" / "rows.bin"
    assert job["error"]["message"] == f"could not write the job journal {rows}: File too large"
    assert not jobs.output(name).exists()
    kept = jobs.records(name)
    assert 1 <= kept < 15
    jobs.cli.ok("job", "resume", "-n", name)
    job = jobs.wait(name, "Completed")
    assert job["batch"]["mini_batches"]["resumed"] == kept
    expected = [f"in{i:02d}.txt {c}" for i, c in enumerate(contents)]
    assert jobs.output(name).read_text().splitlines() == expected


def test_an_input_deleted_while_the_job_runs_fails_alone(jobs):
    contents = ["wait"] * 6
    data = jobs.inputs(contents)
    name = jobs.invoke("--input", data, "--mini-batch-size", "1", "--set", "error_threshold=1")
    jobs.wait(name, "Running")
    jobs.wait_scored(2)  # both workers wait in run(); in04 is not started
    (data / "in04.txt").unlink()
    jobs.gate.touch()

    job = jobs.wait(name, "Completed")

    assert job["batch"]["files"] == {"total": 6, "succeeded": 5, "failed": 1}
    lines = jobs.output(name).read_text().splitlines()
    assert lines == [f"in{i:02d}.txt wait" for i in (0, 1, 2, 3, 5)]
    errors = (jobs.folder(name) / "logs" / "job_error.txt").read_text()
    assert (
        f"FileNotFoundError: [Errno 2] No such file or directory: '{data / 'in04.txt'}'" in errors
    )
