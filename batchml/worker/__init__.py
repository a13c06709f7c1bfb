"""What runs inside a worker process: the init()/run() contract (scoring), the messages it
exchanges with the job's process, its lifetime, row helpers.

`start` is the target a local backend starts a worker process with: batchml.worker.main's
worker_main, named without importing it, so that the job's process (which only pickles the
target, by name) does not import the worker's body (the scoring contract, tabular and row
helpers: tens of milliseconds compiled from source). A fork server has imported it already;
a spawned worker imports it here.
"""

from __future__ import annotations

from typing import Any


def start(*args: Any) -> None:
    """Run batchml.worker.main.worker_main(*args)."""
    from batchml.worker.main import worker_main

    worker_main(*args)
