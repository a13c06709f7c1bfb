"""Connecting to a Ray cluster: a Ray Client server that fails to start a driver's server (a
loaded head) is tried again; any other error is not."""

from __future__ import annotations

from typing import Any

import pytest

from batchml.backends.ray import CONNECT_ATTEMPTS, init_with_retries

FAILED = RuntimeError("Starting Ray client server failed. See ray_client_server_23001.err")


class FakeRay:
    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []

    def init(self, **kwargs: Any) -> None:
        self.calls.append(f"init {kwargs['address']}")
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome

    def shutdown(self) -> None:
        self.calls.append("shutdown")


def test_a_client_server_that_failed_to_start_is_tried_again() -> None:
    ray = FakeRay(FAILED, None)
    init_with_retries(ray, {"address": "ray://h:1"}, pause=0)
    assert ray.calls == ["init ray://h:1", "shutdown", "init ray://h:1"]


def test_it_gives_up_after_the_last_attempt() -> None:
    ray = FakeRay(*[FAILED] * CONNECT_ATTEMPTS)
    with pytest.raises(RuntimeError, match="Starting Ray client server failed"):
        init_with_retries(ray, {"address": "ray://h:1"}, pause=0)
    assert ray.calls.count("init ray://h:1") == CONNECT_ATTEMPTS


@pytest.mark.parametrize("error", [RuntimeError("version mismatch"), ConnectionError("refused")])
def test_other_errors_are_not_retried(error: Exception) -> None:
    ray = FakeRay(error)
    with pytest.raises(type(error)):
        init_with_retries(ray, {"address": "auto"}, pause=0)
    assert ray.calls == ["init auto"]
