"""Jobs of 1,000, 10,000 and 100,000 tiny files (1,000,000 with --million) end to end, with the
time to the first mini-batch and the peak memory of `invoke`, the job's runner and its workers,
against the bare Pool script of end_to_end.py.

Each size: a project as end_to_end.py makes it (no-op run(), mini_batch_size 10, 2 workers),
then `invoke` (timed on its own), `job stream` until it exits, and the fork Pool script on the
same folder; outputs compared. The first mini-batch is the earliest first run() a worker noted
(end_to_end.py's marks), counted from `invoke` starting. This process becomes a child
subreaper, so that the detached runner, orphaned when it detaches, is reaped here: the max RSS
of the commands and of the Pool (with its workers) comes from wait4; the runner's and a
worker's, each on its own, from the VmHWM (the kernel's peak RSS) of every process of the job,
sampled from /proc while it runs (PeakSampler says how it tells them apart). Goals (issue 16): at 1,000,000 files `invoke` under 1 s, the
first mini-batch within 5 s, every batchml process under 150 MiB whatever the number of
files, end to end at most 1.5x the Pool.

    .venv/bin/python bench/file_sweep.py [--million] [--files N ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from end_to_end import ENDPOINT, POOL, first_mark, make_project

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


class PeakSampler:
    """The largest VmHWM (peak RSS, MiB) seen of batchml's runners and workers, by kind.

    A runner is forked from `invoke`, so it is known by leading a session of its own (a
    descendant of this process; `invoke` leads none); its workers, forked by its fork server
    (or spawned by it), are the leaves of the tree under it, other than the resource tracker.
    """

    def __init__(self) -> None:
        self.peaks = {"runner": 0.0, "worker": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            parents, leaders, trackers, peaks = {}, set(), set(), {}
            for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue  # gone meanwhile
                # After the command's name in parentheses: state, ppid, pgrp, session.
                _, ppid, _, session = stat.rsplit(")", 1)[1].split()[:4]
                parents[pid] = int(ppid)
                if int(session) == pid:
                    leaders.add(pid)
                if b"resource_tracker" in cmdline:
                    trackers.add(pid)
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[pid] = int(line.split()[1]) / 1024
            me = os.getpid()
            runners = {pid for pid in leaders if self._under(pid, me, parents)}
            has_child = set(parents.values())
            for pid, peak in peaks.items():
                if pid in runners:
                    self.peaks["runner"] = max(self.peaks["runner"], peak)
                elif (
                    pid not in has_child
                    and pid not in trackers
                    and any(self._under(pid, runner, parents) for runner in runners)
                ):
                    self.peaks["worker"] = max(self.peaks["worker"], peak)

    @staticmethod
    def _under(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == ancestor:
                return True
        return False


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
    sampler = PeakSampler()
    started_wall = time.time()
    invoke_time, invoke_peak, name = run(invoke)
    stream_time, _, _ = run([batchml, "job", "stream", "-n", name.strip()])
    job_peak = reap_orphans()
    peaks = sampler.stop()
    total = invoke_time + stream_time
    first = first_mark(root / "marks") - started_wall
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
        f"{pool_time:6.2f} s); invoke {invoke_time:6.2f} s; first mini-batch {first:6.2f} s; "
        f"peak memory (MiB): invoke {invoke_peak:6.1f}, runner {peaks['runner']:6.1f}, worker "
        f"{peaks['worker']:6.1f}, runner and workers {job_peak:6.1f}, Pool {pool_peak:6.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 files")
    parser.add_argument("--files", type=int, nargs="+", help="these numbers of files instead")
    args = parser.parse_args()
    if not become_subreaper():
        raise SystemExit("this benchmark needs Linux (a child subreaper)")
    os.environ.update(BATCHML_ENV_MANAGER="local", BATCHML_TRACKING="off")
    sizes = args.files or [1_000, 10_000, 100_000] + ([1_000_000] if args.million else [])
    for files in sizes:
        with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
            sweep(Path(temporary), files)


if __name__ == "__main__":
    main()
