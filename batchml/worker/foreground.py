"""One or a few mini-batches run in the foreground, in a process of their own: the worker side
of `batch-deployment test` and `job replay` (batchml.runner.foreground starts it).

It runs the same ScoringWorker a job's workers run. The script's print() and logging output
goes to stderr as it happens, the rows run() returned to stdout as the output file would hold
them, and a failure's traceback (with the user's paths) to stderr; with `pdb`, the debugger
starts at the exception, on this process's terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

from batchml.core.failures import map_paths
from batchml.worker.messages import MiniBatchTask, ScoringSpec, WorkerConfig
from batchml.worker.scoring import ScoringWorker

# Exit statuses: every mini-batch succeeded, or one failed (init() included).
SUCCEEDED, FAILED = 0, 1


def _debugger(exc: BaseException) -> None:
    """Start the debugger at `exc`; its traceback is printed when the debugger is left."""
    import pdb

    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    print("Entering the debugger at the exception (q to go on).", file=sys.stderr)
    pdb.post_mortem(exc.__traceback__)


@contextlib.contextmanager
def _timeout(seconds: float | None) -> Iterator[None]:
    """Raise TimeoutError in run() after `seconds`, as a job's timeout would stop it; its
    traceback shows where run() was. None: no limit (the debugger may take its time)."""

    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"run() exceeded the timeout of {seconds:g} s")

    if seconds is None:
        yield
        return
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _say(message: str) -> None:
    print(f"batchml: {message}", file=sys.stderr, flush=True)


def _rows(outcome_rows: bytes, part: str | None) -> bytes:
    return Path(part).read_bytes() if part is not None else outcome_rows


def run(request: dict[str, Any], rows_out: IO[bytes]) -> int:
    """Run the request's mini-batches; the rows go to `rows_out`. With `timings` (a path),
    how long init() and each mini-batch took is written there after each mini-batch."""
    scratch = Path(request["scratch"])
    folders: dict[str, str] = request["folders"]
    scoring = ScoringSpec(
        code_dir=Path(request["code_dir"]),
        scoring_script=request["scoring_script"],
        model_dir=Path(request["model_dir"]) if request["model_dir"] else None,
        environment_variables=request["environment_variables"],
        logging_level=request["logging_level"],
    )
    parts = scratch / "parts" if request["output_action"] == "append_row" else None
    if parts is not None:
        parts.mkdir()
    python = Path(request["python"]) if request["python"] else None
    config = WorkerConfig(scoring, scratch / "output", scratch / "logs", parts, python)
    on_error = _debugger if request["pdb"] else None
    worker = ScoringWorker(config, 0, scratch / "logs" / "error.txt", on_error)
    _say("init()")
    clock = time.perf_counter()
    start = worker.start()
    timings: dict[str, Any] = {"init_seconds": time.perf_counter() - clock, "mini_batches": []}
    if not start.succeeded:
        _say(f"failed: {start.error}")
        if start.detail:
            print(map_paths(start.detail, folders), file=sys.stderr, end="")
        return FAILED
    status = SUCCEEDED
    for index, files in request["batches"]:
        shown = ", ".join(map_paths(path, folders) for path in files)
        _say(
            f"mini-batch {index}: run() on {len(files)} file{'s' if len(files) != 1 else ''}: {shown}"
        )
        clock = time.perf_counter()
        with _timeout(None if request["pdb"] else request["timeout"]):
            outcome = worker.score(MiniBatchTask(index, 1, tuple(files)))
        seconds = time.perf_counter() - clock
        timings["mini_batches"].append(
            {"index": index, "files": len(files), "seconds": seconds, "items": outcome.items}
        )
        if request.get("timings"):
            Path(request["timings"]).write_text(json.dumps(timings), encoding="utf-8")
        if not outcome.succeeded:
            status = FAILED
            _say(f"mini-batch {index} failed: {outcome.error}")
            if outcome.detail:
                print(map_paths(outcome.detail, folders), file=sys.stderr, end="")
            continue
        rows_out.write(_rows(outcome.rows, outcome.part))
        rows_out.flush()
        for failure in outcome.failed_files or ():
            _say(f"mini-batch {index}: file failed: {failure}")
        short = len(files) - outcome.items if outcome.failed_files is None else 0
        if short > 0:
            _say(f"mini-batch {index}: run() returned {outcome.items} items for {len(files)} files")
        if outcome.failed_files or short > 0:
            status = FAILED
        _say(f"mini-batch {index} succeeded: {outcome.items} items")
    return status


def main(request_file: str) -> int:
    """Entry point of the foreground process: stdout keeps the rows; what the script prints
    goes to stderr."""
    request = json.loads(Path(request_file).read_text(encoding="utf-8"))
    rows_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    with rows_out:
        return run(request, rows_out)
