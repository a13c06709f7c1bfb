"""A job's first run hands out mini-batches while its input is still listed
(batchml.runner.plan.StreamedBatches), and a run killed while listing resumes to the output of
a clean run, keeping what it journaled."""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from batchml.backends.local import LocalBackend
from batchml.core.batch_job import DataInput
from batchml.core.errors import BatchmlError
from batchml.runner import JobEvent, RunSettings, ScoringSpec, run_job
from batchml.runner.inputs import CUT_LIST, job_batches
from batchml.runner.journal import PENDING, Journal, plan_digest
from batchml.runner.plan import StreamedBatches, plan_mini_batches
from batchml.runner.scheduler import _TICK_SECONDS
from batchml.store import input_list

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from batchml.runner.events import JobResult

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90), pytest.mark.usefixtures("no_worker_left")]

SCRIPTS = Path(__file__).parent / "scripts"
# As crash_listing.py runs the job.
SETTINGS = RunSettings(mini_batch_size=2, max_concurrency_per_instance=2, max_retries=0)
FILES = 100
DEADLINE_SECONDS = 60


def scoring(tmp_path: Path) -> ScoringSpec:
    return ScoringSpec(
        SCRIPTS, "logged.py", environment_variables={"SCORED_LOG": str(tmp_path / "scored.log")}
    )


def times_scored(tmp_path: Path) -> collections.Counter[str]:
    log = tmp_path / "scored.log"
    return collections.Counter(log.read_text().split() if log.exists() else [])


def run_listed(
    job: Path,
    walk: Iterator[tuple[str, str, None]],
    spec: ScoringSpec,
    settings: RunSettings,
    on_event: Callable[[JobEvent], None] | None = None,
    backend: type[LocalBackend] = LocalBackend,
) -> tuple[StreamedBatches, JobResult]:
    """Run a job of 2 workers on the files `walk` lists from tmp_path/inputs, planned as they
    are listed (as a job's runner plans a local folder)."""
    job.mkdir()
    settings = dataclasses.replace(settings, max_concurrency_per_instance=2)
    root = str(job.parent / "inputs")
    batches = StreamedBatches(
        job, root, walk, settings.mini_batch_size, local=True, output_action="append_row"
    )
    batches.start()
    result = run_job(
        batches,
        spec,
        settings,
        output_dir=job / "out",
        logs_dir=job / "logs",
        on_event=on_event,
        backend=functools.partial(backend, start_method="spawn"),
    )
    return batches, result


def test_the_first_mini_batch_runs_before_the_listing_ends(tmp_path: Path, inputs: Any) -> None:
    files = inputs(["ok"] * FILES)
    log = tmp_path / "scored.log"
    let_go: list[int] = []

    def walk() -> Iterator[tuple[str, str, None]]:
        # After 30 files, the listing waits for the first mini-batch to be scored.
        for count, path in enumerate(files):
            if count == 30:
                deadline = time.monotonic() + DEADLINE_SECONDS
                while not (log.exists() and log.read_text()):
                    if time.monotonic() > deadline:
                        raise BatchmlError("no mini-batch ran while the input was listed")
                    time.sleep(0.01)
                let_go.append(count)
            yield path.name, "", None

    job = tmp_path / "job"
    batches, result = run_listed(job, walk(), scoring(tmp_path), RunSettings(mini_batch_size=10))

    assert result.status == "Completed", result.error
    assert let_go == [30]
    assert (result.counts.mini_batches_total, result.counts.files_total) == (10, FILES)
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [f"{p.name} ok" for p in files]
    # The digest fed as the list was written is the one of the whole plan (older journals).
    planned = plan_mini_batches([str(p) for p in files], 10)
    header = (job / "journal" / "journal.bin").read_bytes()
    assert header[12:44] == plan_digest(planned, "append_row")
    assert input_list.ListFile(job).complete
    assert list(batches) == planned


class _Watched(LocalBackend):
    """Records how long the scheduler asks each poll() to wait, and counts wake() calls."""

    timeouts: list[float]
    wakes = 0

    def poll(self, timeout: float) -> list[Any]:
        self.timeouts.append(timeout)
        return super().poll(timeout)

    def wake(self) -> None:
        type(self).wakes += 1
        super().wake()


def test_while_listing_the_scheduler_is_woken_not_polling(tmp_path: Path, inputs: Any) -> None:
    files = inputs(["ok"] * FILES)
    log = tmp_path / "scored.log"
    _Watched.timeouts, _Watched.wakes = [], 0
    timeouts = _Watched.timeouts

    def walk() -> Iterator[tuple[str, str, None]]:
        # The listing stops (with idle workers) until the first mini-batch is scored.
        for count, path in enumerate(files):
            if count == 30:
                deadline = time.monotonic() + DEADLINE_SECONDS
                while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
                    time.sleep(0.01)
            yield path.name, "", None

    settings = RunSettings(mini_batch_size=10)
    _, result = run_listed(tmp_path / "job", walk(), scoring(tmp_path), settings, None, _Watched)

    assert result.status == "Completed", result.error
    assert result.output_file is not None
    assert result.output_file.read_text().splitlines() == [f"{p.name} ok" for p in files]
    # No short waits to look for more mini-batches: each wait is the engine's longest one
    # (no mini-batch is near its timeout), which a wake-up from the listing thread ends.
    assert set(timeouts) == {_TICK_SECONDS}
    assert _Watched.wakes >= 2  # a piece listed after the first mini-batch, and the end


def crash_while_listing(tmp_path: Path, job: Path, records: int, files: int) -> None:
    env = {**os.environ, "SCORED_LOG": str(tmp_path / "scored.log")}
    command = [sys.executable, str(SCRIPTS / "crash_listing.py"), str(tmp_path / "inputs")]
    process = subprocess.run(
        [*command, str(job), str(records), str(files)], env=env, timeout=DEADLINE_SECONDS
    )
    assert process.returncode == -signal.SIGKILL


def data(tmp_path: Path) -> DataInput:
    return DataInput("uri_folder", str(tmp_path / "inputs"), str(tmp_path / "inputs"))


def test_a_job_killed_while_listing_resumes_scoring_every_file_once(
    tmp_path: Path, inputs: Any
) -> None:
    files = inputs([f"c{i}" for i in range(FILES)])
    job = tmp_path / "job"
    crash_while_listing(tmp_path, job, records=3, files=40)
    assert not input_list.ListFile(job).complete
    kept = {**Journal.reopen(job / "journal", PENDING).outcomes}
    assert len(kept) >= 3 and max(kept) < 20  # all of them from the 40 files listed
    scored_before = times_scored(tmp_path)

    batches = job_batches(cast("Any", None), job, data(tmp_path), 2, output_action="append_row")
    result = run_job(
        batches,
        scoring(tmp_path),
        SETTINGS,
        output_dir=job / "out",
        logs_dir=job / "logs",
        backend=functools.partial(LocalBackend, start_method="spawn"),
        resume=True,
    )

    assert result.status == "Completed", result.error
    assert result.counts.mini_batches_resumed == len(kept)
    assert (result.counts.mini_batches_succeeded, result.counts.files_succeeded) == (50, FILES)
    assert result.output_file is not None
    expected = [f"{p.name} c{i}" for i, p in enumerate(files)]
    assert result.output_file.read_text().splitlines() == expected
    scored = times_scored(tmp_path)
    for index, path in enumerate(files):
        extra = scored[path.name] - scored_before[path.name]
        assert extra == (0 if index // 2 in kept else 1), (path.name, kept)
    assert input_list.ListFile(job).complete
    assert not (job / CUT_LIST).exists()


def test_a_job_killed_while_listing_does_not_resume_on_changed_input(
    tmp_path: Path, inputs: Any
) -> None:
    files = inputs(["ok"] * FILES)
    job = tmp_path / "job"
    crash_while_listing(tmp_path, job, records=1, files=40)
    files[3].unlink()

    with pytest.raises(
        BatchmlError, match=r"changed since .*\(f003\.txt was listed where f004\.txt is now\)"
    ):
        job_batches(cast("Any", None), job, data(tmp_path), 2, output_action="append_row")
    assert (job / CUT_LIST).exists()  # kept for the next try


def test_the_error_threshold_stops_a_job_whose_input_is_still_listed(
    tmp_path: Path, inputs: Any
) -> None:
    files = inputs(["skip"] * 20 + ["ok"] * 80)
    ended = threading.Event()

    def walk() -> Iterator[tuple[str, str, None]]:
        # After 30 files, the listing waits for the job to end: it ends on the threshold.
        for count, path in enumerate(files):
            if count == 30:
                ended.wait(DEADLINE_SECONDS)
            yield path.name, "", None

    def on_event(event: JobEvent) -> None:
        if event.kind == "job_finalizing":
            ended.set()

    settings = RunSettings(mini_batch_size=10, error_threshold=5)
    _, result = run_listed(
        tmp_path / "job", walk(), ScoringSpec(SCRIPTS, "behave.py"), settings, on_event
    )

    assert result.status == "Failed"
    assert result.error is not None and result.error.startswith("error_threshold exceeded")
    # The job ended before its listing did: no total was known.
    assert (result.counts.mini_batches_total, result.counts.files_total) == (0, 0)
    assert result.counts.files_failed > 5
