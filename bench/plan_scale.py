"""A runner's planning of 1,000,000 and 10,000,000 files, without the files: a job's
inputs.list written as the runner writes it (names as end_to_end.py's), then planned as the
runner plans it (batchml.runner.plan.ListedBatches, the journal's plan digest, every
mini-batch read once as the scheduler hands it out). Each size in a process of its own, so
that its peak RSS (wait4) is its own. Goal (issue 16): memory that does not grow with the
number of files; the figures for a real folder come from file_sweep.py.

    .venv/bin/python bench/plan_scale.py [--files N ...] [--dir FOLDER]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(folder: Path, files: int) -> None:
    from batchml.runner.journal import plan_digest
    from batchml.runner.plan import ListedBatches
    from batchml.store import input_list

    started = time.perf_counter()
    names = (f"file{index:08d}.txt" for index in range(files))
    input_list.write(folder, "/data", ((name, "", None) for name in names))
    written = time.perf_counter()
    batches = ListedBatches(input_list.ListFile(folder), 10, local=True)
    planned = time.perf_counter()
    plan_digest(batches, "append_row")
    digested = time.perf_counter()
    handed = sum(len(batches[index]) for index in range(len(batches)))
    assert handed == files
    done = time.perf_counter()
    size = (folder / input_list.LIST_FILE).stat().st_size / 2**20
    print(
        f"{files:>10} files: list {size:6.0f} MiB written {written - started:6.2f} s; plan "
        f"{planned - written:6.2f} s; digest {digested - planned:6.2f} s; every mini-batch "
        f"read {done - digested:6.2f} s",
        end="",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dir", type=Path, help="where to write the lists (default: a temp)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.dir, args.child)
        return
    for files in args.files:
        with tempfile.TemporaryDirectory(prefix="batchml-plan-", dir=args.dir) as folder:
            command = [sys.executable, __file__, "--child", str(files), "--dir", folder]
            process = subprocess.Popen(command)
            _, status, usage = os.wait4(process.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"planning {files} files failed")
            print(f"; peak RSS {usage.ru_maxrss / 1024:6.1f} MiB")


if __name__ == "__main__":
    main()
