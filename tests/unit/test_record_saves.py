"""A runner's job record: throttled writes held back are written by a timer, and nothing is
written after the job's last record (a timer due then writes nothing, so no temp file of
job.json is left behind the runner)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from batchml.runner import lifecycle
from batchml.runner.lifecycle import JobLifecycle


class Timers:
    """threading.Timer, held: a test fires them when it wants."""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def __call__(self, _wait: float, function: Any, kwargs: dict[str, Any]) -> Any:
        timers = self

        class Held:
            daemon = False
            canceled = False

            def start(self) -> None:
                timers.made.append(self)

            def cancel(self) -> None:
                self.canceled = True

            def fire(self) -> None:
                function(**kwargs)

        return Held()


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch) -> tuple[JobLifecycle, list[str], Timers]:
    saved: list[str] = []
    timers = Timers()
    monkeypatch.setattr(lifecycle, "save", lambda _workspace, job: saved.append(job))
    monkeypatch.setattr(lifecycle.threading, "Timer", timers)
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: 100.0)  # within the interval
    made = JobLifecycle.__new__(JobLifecycle)
    made.workspace, made._saving, made._flush = None, threading.RLock(), None  # type: ignore[assignment]
    made._job, made._build = "planning", None  # type: ignore[assignment]
    made._saved_at = 100.0
    return made, saved, timers


def test_a_held_back_write_is_written_by_its_timer(
    record: tuple[JobLifecycle, list[str], Timers],
) -> None:
    made, saved, timers = record
    made.update("counts 1", throttled=True)  # type: ignore[arg-type]
    made.update("counts 2", throttled=True)  # type: ignore[arg-type]
    assert (saved, len(timers.made)) == ([], 1)
    timers.made[0].fire()
    assert saved == ["counts 2"]


def test_no_write_after_the_last_record(record: tuple[JobLifecycle, list[str], Timers]) -> None:
    made, saved, timers = record
    made.update("counts", throttled=True)  # type: ignore[arg-type]
    made.update("Completed")  # type: ignore[arg-type]
    assert saved == ["Completed"] and timers.made[0].canceled
    timers.made[0].fire()  # it was already running when canceled
    assert saved == ["Completed"]


def test_a_record_built_later_is_built_once_when_written(
    record: tuple[JobLifecycle, list[str], Timers],
) -> None:
    made, saved, timers = record
    built: list[int] = []

    def build() -> str:
        built.append(len(built))
        return f"counts {len(built)} after {made.job}"

    for _ in range(3):
        made.update_later(build)  # type: ignore[arg-type]
    assert (saved, built, len(timers.made)) == ([], [], 1)
    timers.made[0].fire()
    assert saved == ["counts 1 after planning"] and built == [0]
    assert made.job == "counts 1 after planning"


def test_a_record_built_later_is_built_when_read(
    record: tuple[JobLifecycle, list[str], Timers],
) -> None:
    made, saved, _ = record
    made.update_later(lambda: "counts 1")  # type: ignore[arg-type,return-value]
    assert made.job == "counts 1" and saved == []
    made.update("Completed")  # type: ignore[arg-type]
    assert saved == ["Completed"]


def test_the_same_build_asked_for_after_a_read_is_written_with_the_latest(
    record: tuple[JobLifecycle, list[str], Timers],
) -> None:
    made, saved, timers = record
    progress = ["counts 1"]
    made.update_later(lambda: progress[-1])  # type: ignore[arg-type,return-value]
    build = made._build
    assert made.job == "counts 1" and saved == []  # read: built, the timer still due
    progress.append("counts 2")
    made.update_later(build)  # type: ignore[arg-type]
    made.update_later(build)  # type: ignore[arg-type]  # held back already: nothing more
    assert len(timers.made) == 1
    timers.made[0].fire()
    assert saved == ["counts 2"]
