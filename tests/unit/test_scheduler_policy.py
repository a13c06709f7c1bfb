"""The scheduler's policy, on a scripted fake backend and a fake clock: retries, timeouts, lost
workers, failed starts, internal errors, the error threshold, cancel and the final counts.

The Tally, JobLogs and Journal are the real ones, on tmp_path. No test waits: a mini-batch
that hangs past its timeout takes no wall time, so each test takes milliseconds.
"""

from __future__ import annotations

import csv
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from batchml.core.run_settings import RunSettings
from batchml.runner.events import JobCounts
from batchml.runner.journal import Journal, plan_digest
from batchml.runner.logs import JobLogs
from batchml.runner.plan import plan_mini_batches
from batchml.runner.scheduler import NO_SUCCEEDED_ITEM, Scheduler
from batchml.runner.staging import StagedBackend
from batchml.runner.tally import Tally
from batchml.worker.messages import Status

from .fake_backend import (
    Dies,
    DiesStarting,
    Fails,
    FakeBackend,
    FakeClock,
    Hangs,
    StartFails,
    Succeeds,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from batchml.backends.base import Backend
    from batchml.runner.events import JobEvent, JobResult


@dataclass
class Ran:
    """A job the scheduler ran on the fake backend, and what it left."""

    result: JobResult
    backend: FakeBackend
    events: list[JobEvent]
    logs_dir: Path
    output_file: Path

    def report(self) -> list[tuple[str, str, str, str]]:
        """(mini-batch, attempt, result, error) per row of processed_mini-batches.csv."""
        return [
            (row["mini_batch"], row["attempt"], row["result"], row["error"])
            for row in self.report_rows()
        ]

    def report_rows(self) -> list[dict[str, str]]:
        path = self.logs_dir / "sys" / "job_report" / "processed_mini-batches.csv"
        with open(path, newline="") as report:
            return list(csv.DictReader(report))

    def failed_events(self) -> list[tuple[int | None, int | None, bool]]:
        """(mini-batch, attempt, will_retry) per mini_batch_failed event."""
        return [
            (event.mini_batch, event.attempt, event.will_retry)
            for event in self.events
            if event.kind == "mini_batch_failed"
        ]


class _Fetch:
    """A fetch of a mini-batch's files that is done `seconds` after it began, on the clock."""

    def __init__(self, clock: FakeClock, seconds: float, files: tuple[str, ...]) -> None:
        self._clock, self._due, self._files = clock, clock.now + seconds, files

    def done(self) -> bool:
        return self._clock.now >= self._due

    def exception(self) -> None:
        return None

    def result(self) -> tuple[str, ...]:
        return self._files


class _SlowFetcher:
    """Fetches every mini-batch's files, each time, in `seconds` of the fake clock."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self._clock, self._seconds = clock, seconds

    def request(self, files: tuple[str, ...]) -> _Fetch:
        return _Fetch(self._clock, self._seconds, files)

    def close(self) -> None:
        pass


@pytest.fixture
def schedule(tmp_path: Path) -> Callable[..., Ran]:
    """schedule(files, attempts=..., starts=..., cancel=..., on_event=..., workers=...,
    fetch_seconds=..., **settings): run the real Scheduler over `files` input files
    (mini_batch_size 1 unless given) on a FakeBackend playing `attempts` and `starts`; with
    `fetch_seconds`, behind the StagedBackend of inputs in storage, each fetch taking that
    long."""

    def schedule_(
        files: int,
        *,
        attempts: dict[tuple[int, int], Any] | None = None,
        starts: dict[int, Any] | None = None,
        cancel: threading.Event | None = None,
        on_event: Callable[[JobEvent], object] | None = None,
        fetch_seconds: float | None = None,
        ahead: int = 1,
        takes_back: bool = True,
        **settings: Any,
    ) -> Ran:
        settings.setdefault("mini_batch_size", 1)
        # `workers` worker processes: one instance running that many.
        settings["max_concurrency_per_instance"] = settings.pop("workers", 1)
        run_settings = RunSettings(**settings)
        paths = [tmp_path / "inputs" / f"f{index:03d}.txt" for index in range(files)]
        batches = plan_mini_batches(paths, run_settings.mini_batch_size)
        clock = FakeClock()
        backend = FakeBackend(clock, attempts, starts)
        backend.takes_back = takes_back
        workers: Backend = backend
        if fetch_seconds is not None:
            fetcher = _SlowFetcher(clock, fetch_seconds)
            workers = StagedBackend(backend, fetcher, batches, lambda _: False, ahead=len(batches))  # type: ignore[arg-type]
        logs_dir, output_file = tmp_path / "logs", tmp_path / "out" / "predictions.csv"
        output_file.parent.mkdir()
        events: list[JobEvent] = []

        def record(event: JobEvent) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        journal = Journal.create(tmp_path / "journal", plan_digest(batches, "append_row"))
        logs = JobLogs(logs_dir)
        try:
            tally = Tally(batches, logs, journal)
            scheduler = Scheduler(
                batches, run_settings, workers, logs, tally, record, cancel, clock=clock,
                fetches=fetch_seconds is not None, ahead=ahead,
            )  # fmt: skip
            result = scheduler.run(clock(), output_file)
        finally:
            logs.close()
            journal.close()
        assert backend.shut_down
        return Ran(result, backend, events, logs_dir, output_file)

    return schedule_


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_a_failing_mini_batch_is_tried_max_retries_more_times_then_fails(schedule, max_retries):
    tries = range(1, max_retries + 2)
    ran = schedule(
        2,
        attempts={(0, attempt): Fails("run() failed: boom") for attempt in tries},
        max_retries=max_retries,
    )

    assert (ran.result.status, ran.result.error) == ("Completed", None)
    assert ran.failed_events() == [(0, a, a <= max_retries) for a in tries]
    assert [row for row in ran.report() if row[0] == "0"] == [
        ("0", str(a), "failed", "run() failed: boom") for a in tries
    ]
    counts = ran.result.counts
    assert (counts.mini_batches_succeeded, counts.mini_batches_failed) == (1, 1)
    assert (counts.files_succeeded, counts.files_failed) == (1, 1)


def test_a_retry_goes_before_the_mini_batches_not_yet_started(schedule):
    ran = schedule(4, attempts={(0, 1): Fails("boom")}, max_retries=1)

    # Mini-batch 1 was sent ahead while 0 ran; the retry of 0 comes next, before 2 and 3.
    assert ran.backend.submitted == [(0, 1), (1, 1), (0, 2), (2, 1), (3, 1)]
    assert ran.result.status == "Completed"


def test_a_fast_worker_is_sent_several_ahead_each_timed_from_when_it_takes_it(schedule):
    # 8 and 9 take 4 s each, both sent while 1 ran: 9 ends 8 s after it was sent, within
    # its timeout of 5 s, which starts when the worker takes it.
    slow = {(8, 1): Succeeds(seconds=4.0), (9, 1): Succeeds(seconds=4.0)}
    ran = schedule(40, attempts=slow, timeout=5, max_retries=0, ahead=8)

    assert ran.result.status == "Completed"
    assert ran.backend.most_sent_ahead == 8
    assert ran.backend.submitted == [(index, 1) for index in range(40)]
    assert ran.report() == [(str(index), "1", "succeeded", "") for index in range(40)]


def test_a_worker_sent_several_ahead_gives_them_back_when_it_dies_or_times_out(schedule):
    attempts = {(3, 1): Dies(), (20, 1): Hangs()}
    ran = schedule(40, attempts=attempts, timeout=5, max_retries=1, ahead=8)

    assert ran.result.status == "Completed"
    assert ran.backend.most_sent_ahead == 8
    # Those sent behind 3 and 20 were never taken: they run again as first attempts.
    report = ran.report()
    assert [row for row in report if row[1] != "1" or row[2] != "succeeded"] == [
        ("3", "1", "failed", "worker 0 died (exit code 1) while running run()"),
        ("3", "2", "succeeded", ""),
        ("20", "1", "failed", "run() exceeded the timeout of 5 s"),
        ("20", "2", "succeeded", ""),
    ]
    assert sorted(int(row[0]) for row in report if row[2] == "succeeded") == list(range(40))
    counts = ran.result.counts
    assert (counts.mini_batches_succeeded, counts.files_succeeded) == (40, 40)


# Worker 0 is sent several ahead while it runs the quick ones; then 10 takes it 20 s, while the
# other worker runs out of work to hand out.
_SLOW_TEN = {(10, 1): Succeeds(seconds=20.0)} | {
    (i, 1): Succeeds(seconds=1.0) for i in range(11, 20)
}


def test_those_sent_ahead_behind_a_slow_mini_batch_are_taken_back_for_an_idle_worker(schedule):
    ran = schedule(20, attempts=_SLOW_TEN, workers=2, ahead=8)

    assert ran.result.status == "Completed"
    rows = ran.report_rows()
    assert sorted((int(row["mini_batch"]), row["attempt"]) for row in rows) == [
        (index, "1") for index in range(20)
    ]
    # Each ran once, and none after 10 on its worker: the other took those sent behind it.
    slow = next(row["worker"] for row in rows if row["mini_batch"] == "10")
    assert [row["mini_batch"] for row in rows if row["worker"] == slow][-1] == "10"
    assert ran.backend.given_back
    assert set(ran.backend.given_back) <= {(index, 1) for index in range(11, 20)}
    assert ran.result.elapsed_seconds < 21


def test_a_backend_whose_workers_give_nothing_back_is_asked_once(schedule):
    ran = schedule(20, attempts=_SLOW_TEN, workers=2, ahead=8, takes_back=False)

    assert ran.result.status == "Completed"
    assert ran.backend.asked_back == [] and ran.backend.given_back == []
    # The one sent behind 10 waited for it.
    rows = ran.report_rows()
    slow = next(row["worker"] for row in rows if row["mini_batch"] == "10")
    assert [row["mini_batch"] for row in rows if row["worker"] == slow][-1] != "10"
    assert ran.result.elapsed_seconds >= 21


def test_a_run_past_the_timeout_stops_its_worker_and_is_retried_on_a_new_one(schedule):
    ran = schedule(2, attempts={(0, 1): Hangs()}, timeout=5, max_retries=1)

    assert ran.result.status == "Completed"
    assert ran.report() == [
        ("0", "1", "failed", "run() exceeded the timeout of 5 s"),
        ("0", "2", "succeeded", ""),
        ("1", "1", "succeeded", ""),
    ]
    # Worker 0 was stopped at the timeout; worker 1 took its slot.
    assert ran.backend.stopped[0] == 0
    assert ran.backend.started_slots == [0, 0]
    assert ran.failed_events() == [(0, 1, True)]


def test_the_timeout_starts_when_the_worker_takes_the_mini_batch_sent_ahead(schedule):
    # Each run takes 4 s of a 5 s timeout; the second waited 4 s behind the first.
    slow = Succeeds(seconds=4)
    ran = schedule(2, attempts={(0, 1): slow, (1, 1): slow}, timeout=5, max_retries=0)

    assert ran.backend.submitted == [(0, 1), (1, 1)]
    assert ran.report() == [("0", "1", "succeeded", ""), ("1", "1", "succeeded", "")]
    assert ran.result.status == "Completed"


def test_a_retry_whose_files_take_longer_than_the_timeout_to_fetch_is_not_timed_out(schedule):
    # Each fetch of the files takes 30 s of a 10 s timeout; the retry fetches them again.
    attempts = {(0, 1): Fails("boom", seconds=1), (0, 2): Succeeds(seconds=5)}
    ran = schedule(1, attempts=attempts, fetch_seconds=30, timeout=10, max_retries=1)

    assert ran.report() == [("0", "1", "failed", "boom"), ("0", "2", "succeeded", "")]
    assert ran.result.status == "Completed"


def test_with_fetched_files_the_timeout_starts_when_the_worker_has_them(schedule):
    # Both mini-batches' files are local at 30 s; the second, sent ahead, starts at 38 s.
    attempts = {(0, 1): Succeeds(seconds=8), (1, 1): Hangs()}
    started = 1000.0  # the FakeClock's start
    ran = schedule(2, attempts=attempts, fetch_seconds=30, timeout=10, max_retries=0)

    assert ran.report() == [
        ("0", "1", "succeeded", ""),
        ("1", "1", "failed", "run() exceeded the timeout of 10 s"),
    ]
    assert [float(row["elapsed_seconds"]) for row in ran.report_rows()] == [8.0, 10.0]
    assert ran.backend.clock.now == pytest.approx(started + 48, abs=0.05)


def test_a_worker_lost_while_running_is_a_failed_attempt_and_is_replaced(schedule):
    ran = schedule(1, attempts={(0, 1): Dies("killed by signal SIGKILL")}, max_retries=1)

    assert ran.result.status == "Completed"
    assert ran.report() == [
        ("0", "1", "failed", "worker 0 died (killed by signal SIGKILL) while running run()"),
        ("0", "2", "succeeded", ""),
    ]
    assert ran.backend.started_slots == [0, 0]
    assert ran.failed_events() == [(0, 1, True)]


def test_a_mini_batch_sent_ahead_to_a_worker_that_dies_is_sent_again_as_the_same_attempt(
    schedule,
):
    ran = schedule(3, attempts={(0, 1): Dies()}, max_retries=0)

    assert ran.backend.submitted == [(0, 1), (1, 1), (1, 1), (2, 1)]
    assert ran.report() == [
        ("0", "1", "failed", "worker 0 died (exit code 1) while running run()"),
        ("1", "1", "succeeded", ""),
        ("2", "1", "succeeded", ""),
    ]
    assert (ran.logs_dir / "job_error.txt").read_text().splitlines()[:2] == [
        "Completed, with failed attempts",
        "Failed attempts: 1",
    ]


def test_a_worker_lost_while_starting_is_replaced(schedule):
    ran = schedule(4, starts={0: DiesStarting("killed by signal SIGKILL")}, workers=2)

    assert (ran.result.status, ran.result.error) == ("Completed", None)
    assert ran.result.counts.mini_batches_succeeded == 4
    # Slot 0 got a new worker (the third start); no mini-batch attempt was used up.
    assert ran.backend.started_slots == [0, 1, 0]
    assert sorted(ran.backend.submitted) == [(0, 1), (1, 1), (2, 1), (3, 1)]
    overview = (ran.logs_dir / "job_progress_overview.txt").read_text()
    assert "worker 0 died while starting (killed by signal SIGKILL); starting another" in overview


@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_slot_whose_workers_keep_dying_while_starting_fails_the_job(schedule, max_retries):
    dies = DiesStarting("exit code 1")
    # Start order: slot 0, slot 1, then slot 0's replacements.
    ran = schedule(4, starts={0: dies, 2: dies}, workers=2, max_retries=max_retries)

    result = ran.result
    times = max_retries + 1
    suffix = f", {times} times" if times > 1 else ""
    assert (result.status, result.error) == (
        "Failed",
        f"worker 0 died while starting (exit code 1){suffix}",
    )
    assert (result.error_detail, result.internal_error) == (None, False)
    assert ran.backend.started_slots[: 2 + max_retries] == [0, 1, *[0] * max_retries]


def test_a_failed_init_fails_the_job_with_its_error_and_traceback(schedule):
    error = "init() failed in worker 1: ValueError: model file not found: /x/model.pkl"
    detail = "Traceback (most recent call last):\n  ...\nValueError: model file not found\n"
    ran = schedule(4, starts={1: StartFails(error, detail=detail)}, workers=2)

    result = ran.result
    assert (result.status, result.error, result.error_detail) == ("Failed", error, detail)
    assert not result.internal_error
    assert result.counts.mini_batches_done == 0
    assert ran.backend.started_slots == [0, 1]
    assert (ran.logs_dir / "job_error.txt").read_text().startswith(error + "\n")


def test_an_internal_error_in_a_mini_batch_fails_the_job_without_a_retry(schedule):
    error = "internal error in worker 0: FileNotFoundError: parts"
    fault = Fails(error, Status.INTERNAL_ERROR, detail="Traceback (most recent call last):\n")
    ran = schedule(3, attempts={(0, 1): fault}, max_retries=3)

    result = ran.result
    assert (result.status, result.error, result.internal_error) == ("Failed", error, True)
    assert result.error_detail == "Traceback (most recent call last):\n"
    assert ran.failed_events() == [(0, 1, False)]
    assert (0, 2) not in ran.backend.submitted
    assert (result.counts.mini_batches_succeeded, result.counts.mini_batches_failed) == (0, 1)


@pytest.mark.parametrize(
    ("status", "internal"), [(Status.FAILED, False), (Status.INTERNAL_ERROR, True)]
)
def test_a_failed_start_says_whether_it_was_batchml_s_fault(schedule, status, internal):
    ran = schedule(2, starts={0: StartFails("could not start", status)})

    assert (ran.result.status, ran.result.error) == ("Failed", "could not start")
    assert ran.result.internal_error is internal


@pytest.mark.parametrize(("threshold", "status"), [(1, "Failed"), (2, "Completed")])
def test_the_error_threshold_counts_failed_files_of_failed_mini_batches(
    schedule, threshold, status
):
    attempts = {(1, 1): Fails("boom"), (2, 1): Fails("bang")}
    ran = schedule(6, attempts=attempts, max_retries=0, error_threshold=threshold)

    result = ran.result
    assert result.status == status
    if status == "Completed":
        assert (result.error, result.counts.files_failed) == (None, 2)
        return
    assert result.error == "error_threshold exceeded: 2 failed files > 1"
    assert result.error_detail == (
        "[error] boom (1 attempt, 1 file failed)\n  first: mini-batch 1, attempt 1, worker 0\n\n"
        "[error] bang (1 attempt, 1 file failed)\n  first: mini-batch 2, attempt 1, worker 0\n"
    )
    # Nothing starts once the threshold is crossed; what succeeded is still published.
    assert (result.counts.mini_batches_succeeded, result.counts.mini_batches_failed) == (1, 2)
    assert ran.output_file.read_text() == "f000.txt ok\n"
    assert ran.backend.stopped == [0]


def test_the_error_threshold_counts_files_a_succeeded_mini_batch_returned_no_item_for(schedule):
    short = Succeeds(items=1)
    ran = schedule(6, attempts={(0, 1): short, (1, 1): short}, mini_batch_size=2, error_threshold=1)

    assert (ran.result.status, ran.result.error) == (
        "Failed",
        "error_threshold exceeded: 2 failed files > 1",
    )
    assert ran.result.counts.mini_batches_succeeded == 2


def test_an_error_threshold_of_minus_one_ignores_every_failure(schedule):
    attempts = {(index, 1): Fails("boom") for index in range(4)}
    ran = schedule(5, attempts=attempts, max_retries=0, error_threshold=-1)

    assert (ran.result.status, ran.result.error) == ("Completed", None)
    counts = ran.result.counts
    assert (counts.mini_batches_succeeded, counts.mini_batches_failed) == (1, 4)
    assert (counts.files_succeeded, counts.files_failed) == (1, 4)


@pytest.mark.parametrize(
    ("attempt", "first_error"),
    [
        (Fails("run() failed: boom"), "run() failed: boom"),
        (Succeeds(items=0), "run() returned 0 items for 1 files"),
    ],
)
def test_no_succeeded_item_fails_the_job_naming_the_first_error(schedule, attempt, first_error):
    ran = schedule(2, attempts={(0, 1): attempt, (1, 1): attempt}, max_retries=0)

    assert ran.result.status == "Failed"
    assert (
        ran.result.error
        == f"{NO_SUCCEEDED_ITEM} (first error: mini-batch 0, attempt 1: {first_error})"
    )
    assert not ran.result.internal_error


def test_cancel_stops_busy_workers_and_publishes_nothing(schedule):
    cancel = threading.Event()

    def cancel_once_1_runs(event: JobEvent) -> None:
        if event.kind == "mini_batch_started" and event.mini_batch == 1:
            cancel.set()

    ran = schedule(
        3, attempts={(1, 1): Hangs()}, workers=2, cancel=cancel, on_event=cancel_once_1_runs
    )

    result = ran.result
    assert (result.status, result.error, result.output_file) == ("Canceled", None, None)
    assert not ran.output_file.exists()
    # Mini-batch 0 finished in the same poll; 1 hung and 2 was sent ahead, and neither counts.
    assert (result.counts.mini_batches_succeeded, result.counts.mini_batches_failed) == (1, 0)
    assert sorted(ran.backend.stopped) == [0, 1]
    assert (ran.events[-2].kind, ran.events[-1].kind) == ("job_finalizing", "job_finished")


def test_the_counts_at_the_end_add_up_every_outcome(schedule):
    attempts = {
        (0, 1): Succeeds(seconds=3),  # finishes last
        (1, 1): Fails("boom"),
        (2, 1): Succeeds(items=1),
        (3, 1): Fails("bang"),
        (3, 2): Fails("bang"),
    }
    ran = schedule(7, attempts=attempts, mini_batch_size=2, workers=2, max_retries=1)

    result = ran.result
    assert (result.status, result.error) == ("Completed", None)
    assert result.counts == JobCounts(
        mini_batches_total=4,
        files_total=7,
        mini_batches_succeeded=3,
        mini_batches_failed=1,
        files_succeeded=5,
        files_failed=2,
        items_succeeded=5,
    )
    assert ran.events[0].kind == "job_started"
    assert ran.events[-1].counts == result.counts
    finished = [event.mini_batch for event in ran.events if event.kind == "mini_batch_succeeded"]
    # 2, sent ahead to the worker of 0, is given back to the other one once it is idle.
    assert finished == [1, 2, 0]
    # Rows in input order, whatever the order mini-batches finished in.
    assert result.output_file == ran.output_file
    assert ran.output_file.read_text().splitlines() == [f"f{i:03d}.txt ok" for i in range(5)]
    assert (ran.logs_dir / "job_result.txt").read_text().startswith("Status: Completed\n")


def test_every_failed_item_is_recorded_with_its_kind_and_job_error_has_each_error_once(schedule):
    traceback = "Traceback (most recent call last):\n  File \"s.py\", line 3\nKeyError: 'x'\n"
    key_error = Fails("run() failed: KeyError: 'x'", detail=traceback)
    attempts = {
        (0, 1): key_error,
        (0, 2): key_error,
        (0, 3): key_error,
        (1, 1): Hangs(),
        (2, 1): Dies("killed by signal SIGKILL"),
    }
    ran = schedule(4, attempts=attempts, max_retries=2, timeout=5)
    dead = "the worker died (killed by signal SIGKILL) while running run()"

    lines = (ran.logs_dir / "failures.jsonl").read_text().splitlines()
    seen = sorted(
        (f["mini_batch"], f["attempt"], f["kind"], f["exception"], f["message"], f["final"])
        for f in map(json.loads, lines)
    )
    assert seen == [
        (0, 1, "error", "KeyError", "'x'", False),
        (0, 2, "error", "KeyError", "'x'", False),
        (0, 3, "error", "KeyError", "'x'", True),
        (1, 1, "timeout", None, "run() exceeded the timeout of 5 s", False),
        (2, 1, "dead_worker", None, dead, False),
    ]
    job_error = (ran.logs_dir / "job_error.txt").read_text()
    assert job_error.count("Traceback (most recent call last)") == 1
    assert "[error] KeyError: 'x' (3 attempts, 1 file failed)" in job_error


def test_a_resumed_job_keeps_the_failure_records_of_the_mini_batches_it_does_not_run_again(
    schedule,
):
    ran = schedule(3, attempts={(0, 1): Fails("boom"), (1, 1): Fails("bang")}, max_retries=0)
    # Resumed with --retry-failed: mini-batch 0 runs again, 1 (and 2) are kept as they were.
    logs = JobLogs(ran.logs_dir, resume=True, kept={1, 2})
    logs.close()

    kept = (ran.logs_dir / "failures.jsonl").read_text().splitlines()
    assert [(f["mini_batch"], f["message"]) for f in map(json.loads, kept)] == [(1, "bang")]
