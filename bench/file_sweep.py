"""Jobs of 1,000, 10,000 and 100,000 tiny files (1,000,000 with --million) end to end, with the
peak memory of `invoke` and of the job's runner, against the bare Pool script of end_to_end.py.

Each size: a project as end_to_end.py makes it (no-op run(), mini_batch_size 10, 2 workers),
then `invoke` (timed on its own), `job stream` until it exits, and the fork Pool script on the
same folder; outputs compared. This process becomes a child subreaper, so that the detached
runner, orphaned when it detaches, is reaped here: its max RSS (and its workers', which it
reaps) comes from wait4, as the commands' and the Pool's do. Goals (issue 16): at 1,000,000
files `invoke` under 1 s, every batchml process under 150 MiB whatever the number of files, end
to end at most 1.5x the Pool.

    .venv/bin/python bench/file_sweep.py [--million]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from end_to_end import ENDPOINT, POOL, make_project

from batchml.worker.lifetime import become_subreaper


def run(command: list[str | Path]) -> tuple[float, float, str]:
    """(seconds, max RSS in MiB, stdout) of a command run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} exited with {process.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


def reap_orphans() -> float:
    """Wait for the orphans that came to this process (the runner); their largest max RSS."""
    peak = 0.0
    while True:
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return peak
        peak = max(peak, usage.ru_maxrss / 1024)


def sweep(root: Path, files: int) -> None:
    os.environ.update(
        BATCHML_WORKSPACE=str(root / "ws"),
        BATCHML_CONFIG_DIR=str(root / "config"),
        BENCH_MARKS=str(root / "marks"),
    )
    (root / "marks").mkdir()
    make_project(root, files, 10, 2)
    (root / "pool.py").write_text(POOL)
    batchml = Path(sys.executable).parent / "batchml"
    invoke = [batchml, "batch-endpoint", "invoke", "-n", ENDPOINT, "--input", root / "data",
              "--query", "name", "-o", "tsv"]  # fmt: skip
    invoke_time, invoke_peak, name = run(invoke)
    stream_time, _, _ = run([batchml, "job", "stream", "-n", name.strip()])
    runner_peak = reap_orphans()
    total = invoke_time + stream_time
    out = root / "pool.csv"
    pool_time, pool_peak, _ = run(
        [
            sys.executable,
            root / "pool.py",
            "fork",
            "2",
            "10",
            root / "code" / "score.py",
            root / "data",
            out,
        ]
    )
    output = root / "ws/datastores/workspaceblobstore/azureml" / name.strip() / "score"
    if (output / "predictions.csv").read_bytes() != out.read_bytes():
        raise SystemExit("batchml and the pool wrote different outputs")
    print(
        f"{files:>9} files: end to end {total:7.2f} s ({total / pool_time:5.2f}x the fork Pool, "
        f"{pool_time:6.2f} s); invoke {invoke_time:6.2f} s; peak memory: invoke "
        f"{invoke_peak:6.1f} MiB, runner and workers {runner_peak:6.1f} MiB, Pool "
        f"{pool_peak:6.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 files")
    args = parser.parse_args()
    if not become_subreaper():
        raise SystemExit("this benchmark needs Linux (a child subreaper)")
    os.environ.update(BATCHML_ENV_MANAGER="local", BATCHML_TRACKING="off")
    sizes = [1_000, 10_000, 100_000] + ([1_000_000] if args.million else [])
    for files in sizes:
        with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
            sweep(Path(temporary), files)


if __name__ == "__main__":
    main()
