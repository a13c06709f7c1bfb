"""B1 overhead: batchml's run_job against a plain multiprocessing.Pool doing the same work.

2,000 tiny files, a no-op run() returning one row per file, mini-batches of 10, 2 workers.
The pool gets the same script (imported and init() called once per worker), the same
mini-batches in the same order, and writes the same rows to one output file; batchml also
records every mini-batch, with its rows, in its crash-safe journal (always on), and assembles
the output from it. Each start method is measured on both sides (batchml's default is "server",
its own fork server, measured against a Pool with multiprocessing's forkserver; a plain Pool's
default on Linux is fork). Repetitions alternate between the two; the medians and
their ratio are printed.

    .venv/bin/python bench/overhead.py [--files 2000] [--repeat 9] [--start-methods server,spawn,fork]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from batchml.backends.local import LocalBackend
from batchml.runner import RunSettings, ScoringSpec, plan_mini_batches, run_job

SCRIPT = """\
import os


def init():
    pass


def run(mini_batch):
    return [f"{os.path.basename(path)} 0" for path in mini_batch]
"""

_run: Any = None


def _load_script(path: str) -> None:
    global _run
    spec = importlib.util.spec_from_file_location("noop_score", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    _run = module.run


def _score(mini_batch: tuple[str, ...]) -> list[str]:
    return _run(list(mini_batch))


def time_pool(
    batches: list[tuple[str, ...]], script: Path, out: Path, method: str, args: Any
) -> float:
    """The baseline: Pool(workers) maps run() over the mini-batches; rows go out in order."""
    started = time.perf_counter()
    context = multiprocessing.get_context("forkserver" if method == "server" else method)
    with (
        context.Pool(args.workers, initializer=_load_script, initargs=(str(script),)) as pool,
        open(out, "w", encoding="utf-8") as output,
    ):
        for rows in pool.imap(_score, batches):
            output.writelines(f"{row}\n" for row in rows)
    return time.perf_counter() - started


def time_batchml(files: list[Path], code_dir: Path, job_dir: Path, method: str, args: Any) -> float:
    """run_job on the same files, with logs, the journal and the atomic output file."""
    started = time.perf_counter()
    result = run_job(
        files,
        ScoringSpec(code_dir, "score.py"),
        RunSettings(
            mini_batch_size=args.mini_batch_size, max_concurrency_per_instance=args.workers
        ),
        output_dir=job_dir / "out",
        logs_dir=job_dir / "logs",
        backend=functools.partial(LocalBackend, start_method=method),
    )
    elapsed = time.perf_counter() - started
    if result.status != "Completed":
        raise SystemExit(f"benchmark job {result.status}: {result.error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mini-batch-size", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--start-methods", default="server,spawn,fork")
    args = parser.parse_args()

    print(
        f"{args.files} files, mini_batch_size {args.mini_batch_size}, {args.workers} workers, "
        f"{args.repeat} repetitions, medians"
    )
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        code_dir = root / "code"
        code_dir.mkdir()
        (code_dir / "score.py").write_text(SCRIPT)
        inputs = root / "inputs"
        inputs.mkdir()
        files = []
        for index in range(args.files):
            path = inputs / f"file{index:05d}.txt"
            path.write_text(f"{index}\n")
            files.append(path)
        batches = plan_mini_batches(files, args.mini_batch_size)

        script = code_dir / "score.py"
        for method in args.start_methods.split(","):
            # One untimed round of each first: the fork server and pyc files get created.
            time_pool(batches, script, root / f"warm-{method}.csv", method, args)
            time_batchml(files, code_dir, root / f"warm-{method}", method, args)
            pool_times, batchml_times = [], []
            for rep in range(args.repeat):
                pool_out = root / f"pool-{method}-{rep}.csv"
                job_dir = root / f"job-{method}-{rep}"
                # Alternating which goes first spreads any drift of the machine over both.
                if rep % 2:
                    batchml_times.append(time_batchml(files, code_dir, job_dir, method, args))
                pool_times.append(time_pool(batches, script, pool_out, method, args))
                if not rep % 2:
                    batchml_times.append(time_batchml(files, code_dir, job_dir, method, args))
                if (job_dir / "out" / "predictions.csv").read_bytes() != pool_out.read_bytes():
                    raise SystemExit("batchml and the pool wrote different outputs")
            pool, batchml = statistics.median(pool_times), statistics.median(batchml_times)
            print(
                f"{method:10s}  multiprocessing.Pool {pool * 1000:7.1f} ms   "
                f"batchml run_job {batchml * 1000:7.1f} ms   ratio {batchml / pool:.2f}x   "
                f"(fastest runs: {min(batchml_times) / min(pool_times):.2f}x)"
            )


if __name__ == "__main__":
    main()
