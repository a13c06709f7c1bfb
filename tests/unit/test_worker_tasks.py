"""batchml.worker.tasks: a worker's mini-batches, and those it gives back, over a real pipe."""

from __future__ import annotations

import multiprocessing

import pytest

from batchml.worker.messages import MiniBatchOutcome, MiniBatchTask, NotTaken, Status, TakeBack
from batchml.worker.tasks import Tasks

# Generous: the reader thread answers at once; this only ends a broken test.
_DEADLINE = 30.0


def _task(index: int) -> MiniBatchTask:
    return MiniBatchTask(index, 1, (f"/in/f{index}.txt",))


def _done(index: int) -> MiniBatchOutcome:
    return MiniBatchOutcome(index, 1, Status.SUCCEEDED, 0.0, items=1)


@pytest.fixture
def pipe():
    runner, worker = multiprocessing.Pipe()
    yield runner, worker
    runner.close()
    worker.close()


def _received(conn) -> object:
    assert conn.poll(_DEADLINE), "the worker sent nothing"
    return conn.recv()


def test_mini_batches_come_in_the_order_sent_until_none(pipe):
    runner, worker = pipe
    tasks = Tasks(worker)
    runner.send([_task(0), _task(1)])
    runner.send([_task(2)])
    runner.send(None)

    taken, outcome = [], None
    while (task := tasks.next(outcome)) is not None:
        taken.append(task.index)
        outcome = _done(task.index)
    assert taken == [0, 1, 2]
    assert [_received(runner).index for _ in range(3)] == [0, 1, 2]


def test_those_not_taken_are_given_back_while_one_runs(pipe):
    runner, worker = pipe
    tasks = Tasks(worker)
    runner.send([_task(0), _task(1), _task(2), _task(3)])
    assert tasks.next().index == 0
    # While 0 "runs", the runner asks for 2, 3 and one never sent.
    runner.send(TakeBack(((2, 1), (3, 1), (9, 1))))

    assert _received(runner) == NotTaken(((2, 1), (3, 1)))
    assert tasks.next(_done(0)).index == 1
    runner.send(None)
    assert tasks.next(_done(1)) is None
    assert [_received(runner).index for _ in range(2)] == [0, 1]


def test_the_one_taken_with_an_outcome_is_not_given_back_and_the_outcome_comes_first(pipe):
    runner, worker = pipe
    tasks = Tasks(worker)
    runner.send([_task(0), _task(1), _task(2)])
    assert tasks.next().index == 0
    assert tasks.next(_done(0)).index == 1  # taken as 0's outcome is sent
    runner.send(TakeBack(((1, 1), (2, 1))))

    assert _received(runner).index == 0
    assert _received(runner) == NotTaken(((2, 1),))
    runner.send(None)
    assert tasks.next(_done(1)) is None


def test_with_the_runner_gone_those_sent_are_still_taken_then_none(pipe):
    runner, worker = pipe
    tasks = Tasks(worker)
    runner.send([_task(0), _task(1)])
    runner.close()

    assert [tasks.next().index, tasks.next().index] == [0, 1]
    assert tasks.next() is None
