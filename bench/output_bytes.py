"""Bytes written for an append_row output, against the size of the output, measured in one run.

run_job (the runner's engine: its workers, journal, logs and output) scores --files files, each
giving --rows rows, in mini-batches of --mini-batch-size; then the same with one row per file.
What the runner and its workers wrote to storage is read from /proc/self/io (write_bytes, which
counts the I/O of reaped children too) around the job, and so is what a bare
multiprocessing.Pool writing the same output wrote: the baseline. Small files count a page of
4 kB each at least, so with one row per file the job's logs and journal weigh. Goal (issue 16): at most 2x
the output's size, with the journal as crash-safe as before.

write_bytes also counts the filesystem's own blocks (inode tables, folders, bitmaps: ext4 counts
8 kB for a mkdir, 4-20 kB for a new file) each time the task dirties them again, which it does
after every journal commit on the filesystem, batchml's fsyncs or any other process's. So for a
small output the figure swings with the machine's load; the bytes the job's files hold (each is
written once: the output is a link to the journal's rows) are printed beside it, and with
--repeat the smallest write_bytes of the runs is printed.

    .venv/bin/python bench/output_bytes.py [--files 200] [--rows 5000] [--mini-batch-size 10]
        [--repeat 1]
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


def held(folder: Path) -> tuple[int, int, int, int]:
    """The bytes that `folder`'s files hold, the same in whole 4 kB pages, and how many
    folders and files there are."""
    data = pages = folders = count = 0
    for _, names, files in os.walk(folder):
        folders += len(names)
        for name in files:
            size = os.stat(os.path.join(_, name)).st_size
            data, pages, count = data + size, pages + -(-size // 4096) * 4096, count + 1
    return data, pages, folders + 1, count


def measure(root: Path, files: int, rows: int, size: int, repeat: int) -> None:
    os.environ["BENCH_ROWS"] = str(rows)
    inputs = root / f"inputs-{rows}"
    inputs.mkdir()
    paths = []
    for index in range(files):
        path = inputs / f"file{index:06d}.txt"
        path.write_text(f"{index}\n")
        paths.append(path)
    code_dir = root / "code"
    pools, batchmls = [], []
    for run in range(repeat):
        pool_out = root / f"pool-{rows}-{run}.csv"
        pools.append(pool_job(plan_mini_batches(paths, size), code_dir, pool_out))
        job = root / f"job-{rows}-{run}"
        batchmls.append(batchml_job(paths, code_dir, job, size))
        output = job / "out" / "predictions.csv"
        if output.read_bytes() != pool_out.read_bytes():
            raise SystemExit("batchml and the pool wrote different outputs")
    size_out = output.stat().st_size
    pool, batchml = min(pools), min(batchmls)
    data, pages, folders, count = held(job)
    data -= size_out  # the output and the journal's rows are one file
    pages -= -(-size_out // 4096) * 4096
    print(
        f"{files} files x {rows} rows, mini_batch_size {size}: output {size_out / 1e3:.0f} kB; "
        f"batchml wrote {batchml / 1e3:.0f} kB ({batchml / size_out:.2f}x the output; "
        f"of {repeat} runs {min(batchmls) / 1e3:.0f}-{max(batchmls) / 1e3:.0f} kB), "
        f"the pool {pool / 1e3:.0f} kB ({pool / size_out:.2f}x)\n"
        f"  its {count - 1} files hold {data / 1e3:.0f} kB ({data / size_out:.2f}x the output; "
        f"{pages / 1e3:.0f} kB in 4 kB pages, {pages / size_out:.2f}x); the rest is the "
        f"filesystem's blocks for its {folders} folders and {count - 1} files"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--mini-batch-size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        (root / "code").mkdir()
        (root / "code" / "score.py").write_text(SCRIPT)
        measure(root, args.files, args.rows, args.mini_batch_size, args.repeat)
        measure(root, args.files * 10, 1, args.mini_batch_size, args.repeat)


if __name__ == "__main__":
    main()
