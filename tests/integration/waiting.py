"""Waiting in tests: for a job's status, a file, a process to end; never for a fixed time.

A test never asserts how long something took (a loaded machine would fail it) and never
sleeps in the hope that something happened meanwhile: it waits for that thing. The timeout is
only a backstop against a hang, generous for the same reason, and its failure says what did
not happen. How fast the scheduler reacts is tested without wall time, in
tests/unit/test_scheduler_policy.py.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

T = TypeVar("T")

TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding")


def wait_for(
    condition: Callable[[], T],
    what: str | Callable[[], str],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
) -> T:
    """Call `condition` until it returns something true, and return that.

    After `timeout` seconds, fail with "waited N s for <what>"; `what` may be a function, called
    then, to say what was seen last.
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what() if callable(what) else what}")
        time.sleep(interval)
    return value


def wait_for_status(
    show: Callable[[str], Mapping[str, Any]], name: str, *statuses: str, timeout: float = 30.0
) -> dict[str, Any]:
    """Show job `name` until its status is one of `statuses` (default: any terminal one), and
    return what was shown last."""
    wanted = statuses or TERMINAL
    last: dict[str, Any] = {}

    def reached() -> bool:
        last.clear()
        last.update(show(name))
        return last["status"] in wanted

    def what() -> str:
        return f"job {name} to be {' or '.join(wanted)} (it is {last['status']})"

    wait_for(reached, what, timeout=timeout)
    return dict(last)
