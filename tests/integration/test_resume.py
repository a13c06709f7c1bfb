"""Resume after a SIGKILL at several points of a job, and after a journal torn as a power loss
would leave it: the output is byte for byte a clean run's, and no mini-batch the journal kept
is scored again. The job runs in a subprocess (scripts/crash_job.py) that kills itself when the
scheduler reports the chosen event; the resume runs here."""

from __future__ import annotations

import collections
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batchml.backends.local import LocalBackend
from batchml.runner import JobResult, RunSettings, ScoringSpec, run_job
from batchml.runner.journal import HEADER_SIZE, RECORD_SIZE, Journal, plan_digest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60), pytest.mark.usefixtures("no_worker_left")]

SCRIPTS = Path(__file__).parent / "scripts"
# As crash_job.py runs the job.
SETTINGS = RunSettings(mini_batch_size=2, max_concurrency_per_instance=2, max_retries=0, timeout=30)

# 8 mini-batches of 2; one row too big to come back in memory goes through a part file.
CONTENTS = ["ok", "sleep 0.05", "ok", "big", "ok", "sleep 0.05", "ok", "ok"] * 2
EXPECTED = [f"f{i:03d}.txt {'x' * 300_000 if c == 'big' else c}" for i, c in enumerate(CONTENTS)]


@pytest.fixture
def job(tmp_path: Path, inputs) -> Path:
    """A job folder; its inputs are CONTENTS, and $SCORED_LOG lists every file scored."""
    inputs(CONTENTS)
    return tmp_path / "job"


def crash(tmp_path: Path, job: Path, point: str) -> None:
    env = {**os.environ, "SCORED_LOG": str(tmp_path / "scored.log")}
    command = [sys.executable, str(SCRIPTS / "crash_job.py"), str(tmp_path / "inputs"), str(job)]
    process = subprocess.run([*command, point], env=env, timeout=30)
    assert process.returncode == -signal.SIGKILL


def run(
    tmp_path: Path,
    job: Path,
    files: list[Path] | None = None,
    *,
    resume: bool = False,
    retry_failed: bool = False,
) -> JobResult:
    """Run the job here (as crash_job.py does), or resume it."""
    log = {"SCORED_LOG": str(tmp_path / "scored.log")}
    return run_job(
        files or sorted((tmp_path / "inputs").glob("*.txt")),
        ScoringSpec(SCRIPTS, "logged.py", environment_variables=log),
        SETTINGS,
        output_dir=job / "out",
        logs_dir=job / "logs",
        backend=functools.partial(LocalBackend, start_method="spawn"),
        resume=resume,
        retry_failed=retry_failed,
    )


def times_scored(tmp_path: Path) -> collections.Counter[str]:
    log = tmp_path / "scored.log"
    return collections.Counter(log.read_text().split() if log.exists() else [])


def recorded(tmp_path: Path, job: Path) -> dict[int, bool]:
    """What the journal holds: mini-batch -> succeeded (reading it back cuts a torn tail)."""
    files = sorted(str(p) for p in (tmp_path / "inputs").glob("*.txt"))
    batches = [tuple(files[i : i + 2]) for i in range(0, len(files), 2)]
    journal = Journal.reopen(job / "journal", plan_digest(batches, "append_row"))
    try:
        return {index: outcome.succeeded for index, outcome in journal.outcomes.items()}
    finally:
        journal.close()


@pytest.fixture
def clean_output(tmp_path: Path, job: Path) -> bytes:
    """The output of the same job run once, without interruption."""
    result = run(tmp_path, tmp_path / "clean")
    assert result.status == "Completed"
    (tmp_path / "scored.log").unlink()
    assert result.output_file is not None
    return result.output_file.read_bytes()


@pytest.mark.parametrize(
    ("point", "kept"),
    [
        ("job_started", 0),  # before the first mini-batch is recorded
        ("mini_batch_succeeded:3", 3),  # in the middle, other mini-batches running
        ("job_finalizing", 8),  # every mini-batch recorded, the output not assembled
        ("job_finished", 8),  # the output published, the job not yet told so
    ],
)
def test_a_killed_job_resumes_to_the_output_of_a_clean_run(
    tmp_path, job, clean_output, point, kept
):
    crash(tmp_path, job, point)
    output = job / "out" / "predictions.csv"
    assert output.exists() == (point == "job_finished")
    done = recorded(tmp_path, job)
    assert len(done) == kept and all(done.values())
    scored_before = times_scored(tmp_path)

    result = run(tmp_path, job, resume=True)

    assert result.status == "Completed", result.error
    assert output.read_bytes() == clean_output
    assert output.read_text().splitlines() == EXPECTED
    assert result.counts.mini_batches_resumed == len(done)
    assert (result.counts.mini_batches_succeeded, result.counts.files_succeeded) == (8, 16)
    # A kept mini-batch is never scored again; the others are scored by the resumed run.
    scored = times_scored(tmp_path)
    for index in range(8):
        for name in (f"f{2 * index:03d}.txt", f"f{2 * index + 1:03d}.txt"):
            extra = scored[name] - scored_before[name]
            assert extra == (0 if index in done else 1), (name, index, done)
    assert sorted(p.name for p in (job / "out").iterdir()) == ["predictions.csv"]


def test_a_torn_journal_keeps_what_is_sound_and_runs_the_rest(tmp_path, job, clean_output):
    crash(tmp_path, job, "mini_batch_succeeded:5")
    journal, rows = job / "journal" / "journal.bin", job / "journal" / "rows.bin"
    assert (journal.stat().st_size - HEADER_SIZE) // RECORD_SIZE == 5
    # What a power loss may leave: the last record half written, lines with no record...
    os.truncate(journal, HEADER_SIZE + 4 * RECORD_SIZE + RECORD_SIZE // 2)
    with open(rows, "ab") as tail:
        tail.write(b"lines whose record never made it\n")
    # ... and a line of the second record not as written: that record and the later ones go.
    with open(journal, "rb") as f:
        f.seek(HEADER_SIZE + RECORD_SIZE + 28)  # the offset of its lines in rows.bin
        offset = int.from_bytes(f.read(8), "little")
    with open(rows, "r+b") as f:
        f.seek(offset)
        f.write(b"?")

    assert len(recorded(tmp_path, job)) == 1
    result = run(tmp_path, job, resume=True)

    assert result.status == "Completed", result.error
    assert result.counts.mini_batches_resumed == 1
    assert (job / "out" / "predictions.csv").read_bytes() == clean_output
    assert rows.stat().st_size == len(clean_output)  # what was cut is not kept, nor duplicated


def test_retry_failed_runs_again_only_what_failed(tmp_path, inputs):
    contents = ["ok", "ok", "ok", "ok"]
    paths = inputs(contents)
    job = tmp_path / "job"
    missing = paths[2].read_text()
    paths[2].unlink()  # its mini-batch fails (FileNotFoundError), the others succeed
    first = run(tmp_path, job, paths)
    assert (first.status, first.counts.mini_batches_failed) == ("Completed", 1)
    assert first.output_file is not None
    assert first.output_file.read_text().splitlines() == ["f000.txt ok", "f001.txt ok"]

    paths[2].write_text(missing)
    again = run(tmp_path, job, paths, resume=True)
    assert again.status == "Completed"
    assert again.counts.mini_batches_failed == 1  # kept as it was: not asked to retry
    retried = run(tmp_path, job, paths, resume=True, retry_failed=True)

    assert retried.status == "Completed", retried.error
    assert (retried.counts.mini_batches_resumed, retried.counts.mini_batches_failed) == (1, 0)
    assert retried.output_file is not None
    # The output this job published before is replaced, in mini-batch order.
    assert retried.output_file.read_text().splitlines() == [f"f00{i}.txt ok" for i in range(4)]
    assert times_scored(tmp_path) == {"f000.txt": 1, "f001.txt": 1, "f002.txt": 2, "f003.txt": 1}
