"""Bytes written for an append_row output, against the size of the output, measured in one run.

run_job (the runner's engine: its workers, journal, logs and output) scores --files files, each
giving --rows rows, in mini-batches of --mini-batch-size; then the same with one row per file.
What the runner and its workers wrote to storage is read from /proc/self/io (write_bytes, which
counts the I/O of reaped children too) around the job, and so is what a bare
multiprocessing.Pool writing the same output wrote: the baseline. Small files count a page of
4 kB each at least, so with one row per file the job's logs and journal weigh. Goal (issue 16): at most 2x
the output's size, with the journal as crash-safe as before.

    .venv/bin/python bench/output_bytes.py [--files 200] [--rows 5000] [--mini-batch-size 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from batchml.runner import RunSettings, ScoringSpec, plan_mini_batches, run_job

SCRIPT = """\
import os

ROWS = int(os.environ.get("BENCH_ROWS", "1"))


def init():
    pass


def run(mini_batch):
    return [f"{os.path.basename(path)} {row}" for path in mini_batch for row in range(ROWS)]
"""

_run: Any = None


def _load(code_dir: str) -> None:
    global _run
    sys.path.insert(0, code_dir)
    import score  # type: ignore[import-not-found]

    _run = score.run


def _score(mini_batch: tuple[str, ...]) -> list[str]:
    return _run(list(mini_batch))


def written() -> int:
    """write_bytes of this process and its reaped children so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "write_bytes":
            return int(value)
    raise SystemExit("no write_bytes in /proc/self/io")


def pool_job(batches: list[tuple[str, ...]], code_dir: Path, out: Path) -> int:
    before = written()
    context = multiprocessing.get_context("spawn")
    with (
        context.Pool(2, _load, (str(code_dir),)) as pool,
        open(out, "w", encoding="utf-8") as output,
    ):
        for rows in pool.imap(_score, batches):
            output.writelines(f"{row}\n" for row in rows)
    return written() - before


def batchml_job(files: list[Path], code_dir: Path, job: Path, size: int) -> int:
    before = written()
    result = run_job(
        files,
        ScoringSpec(code_dir, "score.py"),
        RunSettings(mini_batch_size=size, max_concurrency_per_instance=2),
        output_dir=job / "out",
        logs_dir=job / "logs",
    )
    if result.status != "Completed":
        raise SystemExit(f"benchmark job {result.status}: {result.error}")
    return written() - before


def measure(root: Path, files: int, rows: int, size: int) -> None:
    os.environ["BENCH_ROWS"] = str(rows)
    inputs = root / f"inputs-{rows}"
    inputs.mkdir()
    paths = []
    for index in range(files):
        path = inputs / f"file{index:06d}.txt"
        path.write_text(f"{index}\n")
        paths.append(path)
    code_dir = root / "code"
    pool_out = root / f"pool-{rows}.csv"
    pool = pool_job(plan_mini_batches(paths, size), code_dir, pool_out)
    job = root / f"job-{rows}"
    batchml = batchml_job(paths, code_dir, job, size)
    output = job / "out" / "predictions.csv"
    if output.read_bytes() != pool_out.read_bytes():
        raise SystemExit("batchml and the pool wrote different outputs")
    size_out = output.stat().st_size
    print(
        f"{files} files x {rows} rows, mini_batch_size {size}: output {size_out / 1e3:.0f} kB; "
        f"batchml wrote {batchml / 1e3:.0f} kB ({batchml / size_out:.2f}x the output), "
        f"the pool {pool / 1e3:.0f} kB ({pool / size_out:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--mini-batch-size", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        (root / "code").mkdir()
        (root / "code" / "score.py").write_text(SCRIPT)
        measure(root, args.files, args.rows, args.mini_batch_size)
        measure(root, args.files * 10, 1, args.mini_batch_size)


if __name__ == "__main__":
    main()
