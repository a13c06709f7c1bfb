"""A job whose last mini-batches are slow, after many quick ones: batchml against a bare
multiprocessing.Pool (spawn, chunksize 1) that maps the same run() over the same mini-batches,
each a fresh process, timed in one run (A/B with --baseline, a tree such as an export of main).

--files files, mini_batch_size 1, 2 workers; run() sleeps --quick seconds for each file but the
last --slow ones, which take --slow-seconds each. A worker whose mini-batches took no time is
sent several ahead; when the slow ones are among them, they would wait for each other on one
worker while the other idles, unless the idle worker takes them back (batchml.worker.tasks).
The Pool's workers take each task from a shared queue when they are free: none waits behind
another. Also printed: the least a 2-worker job can take (the slow ones two at a time).

    .venv/bin/python bench/slow_tail.py [--files 200] [--quick 0.002] [--slow 2]
        [--slow-seconds 1.0] [--repeat 3] [--baseline /tmp/main-export]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import tempfile
from pathlib import Path
from typing import Any

from interleaved import bytecode, compared, interleaved, load, trees

SCRIPT = """\
import os
import time


def init():
    pass


def run(mini_batch):
    rows = []
    for path in mini_batch:
        with open(path) as f:
            time.sleep(float(f.read()))
        rows.append(os.path.basename(path))
    return rows
"""

_run: Any = None


def _load(code_dir: str) -> None:
    global _run
    sys.path.insert(0, code_dir)
    import score  # type: ignore[import-not-found]

    _run = score.run


def _score(path: str) -> list[str]:
    return _run([path])


def job(root: Path) -> None:
    """One batchml job over root/inputs (run_job: the runner's engine, its workers, journal,
    logs and output), in a folder of its own."""
    from batchml.runner import RunSettings, ScoringSpec, run_job

    folder = Path(tempfile.mkdtemp(dir=root))
    result = run_job(
        sorted((root / "inputs").iterdir()),
        ScoringSpec(root / "code", "score.py"),
        RunSettings(mini_batch_size=1, max_concurrency_per_instance=2, timeout=600),
        output_dir=folder / "out",
        logs_dir=folder / "logs",
    )
    if result.status != "Completed":
        raise SystemExit(f"benchmark job {result.status}: {result.error}")


def pool(root: Path) -> None:
    paths = [str(path) for path in sorted((root / "inputs").iterdir())]
    context = multiprocessing.get_context("spawn")
    with (
        context.Pool(2, _load, (str(root / "code"),)) as workers,
        open(root / "pool.csv", "w", encoding="utf-8") as output,
    ):
        for rows in workers.imap(_score, paths, chunksize=1):
            output.writelines(f"{row}\n" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--quick", type=float, default=0.002)
    parser.add_argument("--slow", type=int, default=2)
    parser.add_argument("--slow-seconds", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="a tree to compare with (PYTHONPATH)")
    parser.add_argument("--run", choices=["job", "pool"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        (job if args.run == "job" else pool)(args.root)
        return
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        (root / "code").mkdir()
        (root / "code" / "score.py").write_text(SCRIPT)
        (root / "inputs").mkdir()
        for index in range(args.files):
            slow = index >= args.files - args.slow
            seconds = args.slow_seconds if slow else args.quick
            (root / "inputs" / f"f{index:05d}.txt").write_text(f"{seconds}\n")
        command = [sys.executable, __file__, "--root", str(root), "--run"]
        jobs = interleaved([*command, "job"], trees(args.baseline), args.repeat)
        pools = interleaved([*command, "pool"], trees(None), args.repeat)
        least = (args.files - args.slow) * args.quick / 2 + math.ceil(args.slow / 2) * (
            args.slow_seconds
        )
        print(
            f"{args.files} files, the last {args.slow} taking {args.slow_seconds:g} s, the others "
            f"{args.quick:g} s; 2 workers; medians of {args.repeat}; load {load()}; "
            f"{bytecode()}"
        )
        print(compared("batchml job", jobs))
        print(compared("multiprocessing.Pool spawn", pools))
        pool_wall = pools["this tree"].wall
        for tree, timing in jobs.items():
            print(
                f"  {tree}: {timing.wall / pool_wall:.2f}x the Pool's wall time; "
                f"the work itself takes {least:.2f} s at least"
            )


if __name__ == "__main__":
    main()
