"""Jobs of 1,000, 10,000 and 100,000 tiny files (1,000,000 with --million) end to end, with the
time to the first mini-batch and the peak memory of `invoke`, the job's runner and its workers,
against the bare Pool script of end_to_end.py, and with --baseline against another tree.

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

With --data DIR the input folders are kept in DIR (DIR/<N>-files, made when missing), so that a
1,000,000-file run can be repeated without writing and deleting a million files each time.
With --no-pool the Pool is not run (ten million files: the Pool's memory grows with them, and
its run would double the time); the outputs of the trees are still compared. The size on disk
of what each job added to the workspace (its folder, journal, list and output) is printed.
With --baseline TREE (an export of main) each job is also run with PYTHONPATH at TREE; the
trees and the Pool take turns, --repeat times, and the medians and ratios are printed with the
load average. CPU is user + system time of the runner and its workers (wait4 of the orphaned
runner counts the workers it reaped), which load inflates far less than wall time.

    .venv/bin/python bench/file_sweep.py [--million] [--files N ...] [--data DIR]
        [--baseline /tmp/main-export] [--repeat 3] [--no-pool]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from end_to_end import ENDPOINT, POOL, first_mark, make_project, write_files
from interleaved import load, trees

from batchml.worker.lifetime import become_subreaper


@dataclass(frozen=True)
class Ran:
    """A process run to its end: wall seconds, max RSS (MiB), CPU seconds, stdout."""

    seconds: float
    peak: float
    cpu: float
    out: str = ""


def run(command: list[str | Path], env: dict[str, str] | None = None) -> Ran:
    """A command run to its end (with its children, waited for, in its CPU and memory)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} exited with {process.returncode}")
    seconds = time.perf_counter() - started
    return Ran(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out)


def reap_orphans() -> Ran:
    """Wait for the orphans that came to this process (the runner): their largest max RSS and
    their CPU, with that of the children they waited for (the workers)."""
    peak = cpu = 0.0
    while True:
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return Ran(0.0, peak, cpu)
        peak = max(peak, usage.ru_maxrss / 1024)
        cpu += usage.ru_utime + usage.ru_stime


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


@dataclass(frozen=True)
class Measured:
    """One run of a job or of the Pool; the memory figures are MiB."""

    seconds: float
    cpu: float  # the runner's and its workers' (the Pool's and its workers')
    # The output's SHA-256, not its bytes: a child forked from this process counts the pages
    # it holds in its own peak memory until it execs (the commands' figures grew by them).
    output: str
    invoke: float = 0.0
    first: float = 0.0
    invoke_peak: float = 0.0
    runner_peak: float = 0.0
    worker_peak: float = 0.0
    job_peak: float = 0.0
    workspace: float = 0.0  # MiB on disk the job added to the workspace


def inputs(root: Path, files: int, kept: Path | None) -> Path:
    """The folder of `files` inputs: made in `root`, or, with `kept`, in kept/<files>-files,
    made there only when a marker beside it does not say it was made whole."""
    if kept is None:
        write_files(root / "data", files)
        return root / "data"
    data, done = kept / f"{files}-files", kept / f"{files}-files.done"
    if not done.exists():
        data.mkdir(parents=True, exist_ok=True)
        print(f"writing {files} files in {data} (kept for the next runs)", flush=True)
        write_files(data, files)
        done.touch()
    return data


def job(root: Path, data: Path, env: dict[str, str]) -> Measured:
    """One job on `data` through the CLI of the tree `env` names: `invoke`, `job stream`."""
    batchml = Path(sys.executable).parent / "batchml"
    invoke = [batchml, "batch-endpoint", "invoke", "-n", ENDPOINT, "--input", data,
              "--query", "name", "-o", "tsv"]  # fmt: skip
    before = on_disk(root / "ws")
    sampler = PeakSampler()
    started_wall = time.time()
    invoked = run(invoke, env)
    name = invoked.out.strip()
    streamed = run([batchml, "job", "stream", "-n", name], env)
    orphans = reap_orphans()
    peaks = sampler.stop()
    output = root / "ws/datastores/workspaceblobstore/azureml" / name / "score"
    return Measured(
        seconds=invoked.seconds + streamed.seconds,
        cpu=orphans.cpu,
        output=digest(output / "predictions.csv"),
        invoke=invoked.seconds,
        first=first_mark(root / "marks") - started_wall,
        invoke_peak=invoked.peak,
        runner_peak=peaks["runner"],
        worker_peak=peaks["worker"],
        job_peak=orphans.peak,
        workspace=on_disk(root / "ws") - before,
    )


def on_disk(folder: Path) -> float:
    """The MiB the files under `folder` take on disk (their blocks)."""
    blocks = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # a temporary file gone meanwhile
                blocks += os.lstat(os.path.join(parent, name)).st_blocks
    return blocks * 512 / (1 << 20)


def pool(root: Path, data: Path) -> Measured:
    """The fork Pool script on `data`."""
    out = root / "pool.csv"
    script = root / "code" / "score.py"
    ran = run([sys.executable, root / "pool.py", "fork", "2", "10", script, data, out])
    first_mark(root / "marks")
    return Measured(ran.seconds, ran.cpu, digest(out), job_peak=ran.peak)


def digest(path: Path) -> str:
    """The SHA-256 of a file, read a chunk at a time."""
    with path.open("rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()


def described(label: str, measured: Measured) -> str:
    if label == "Pool":
        return (
            f"  {label:<9} {measured.seconds:7.2f} s, CPU {measured.cpu:6.2f} s, "
            f"peak {measured.job_peak:6.1f} MiB"
        )
    return (
        f"  {label:<9} {measured.seconds:7.2f} s, CPU {measured.cpu:6.2f} s (runner and "
        f"workers); invoke {measured.invoke:5.2f} s; first mini-batch {measured.first:5.2f} s; "
        f"peak MiB: invoke {measured.invoke_peak:5.1f}, runner {measured.runner_peak:5.1f}, "
        f"worker {measured.worker_peak:5.1f}, runner and workers {measured.job_peak:5.1f}; "
        f"workspace {measured.workspace:7.1f} MiB on disk"
    )


def sweep(root: Path, files: int, args: argparse.Namespace) -> None:
    os.environ.update(
        BATCHML_WORKSPACE=str(root / "ws"),
        BATCHML_CONFIG_DIR=str(root / "config"),
        BENCH_MARKS=str(root / "marks"),
    )
    (root / "marks").mkdir()
    make_project(root, 0, 10, 2)
    (root / "pool.py").write_text(POOL)
    data = inputs(root, files, args.data)
    envs = trees(args.baseline)
    runs: dict[str, list[Measured]] = {label: [] for label in envs}
    for round_ in range(1, args.repeat + 1):
        measured = {label: job(root, data, env) for label, env in envs.items()}
        if not args.no_pool:
            measured["Pool"] = pool(root, data)
        if len({one.output for one in measured.values()}) != 1:
            raise SystemExit("the trees and the Pool wrote different outputs")
        print(f"{files} files, round {round_} of {args.repeat}, load {load()}:", flush=True)
        for label, one in measured.items():
            runs.setdefault(label, []).append(one)
            print(described(label, one), flush=True)

    def median(label: str, field: str) -> float:
        return statistics.median(getattr(one, field) for one in runs[label])

    print(f"{files} files, medians of {args.repeat}; outputs identical; load {load()} now:")
    for label in envs if "Pool" in runs else []:
        ratio = median(label, "seconds") / median("Pool", "seconds")
        cpu = median(label, "cpu") / median("Pool", "cpu")
        print(f"  {label:<9} {ratio:5.2f}x the fork Pool's wall time, {cpu:5.2f}x its CPU")
    if "baseline" in runs:
        wall = median("this tree", "seconds") / median("baseline", "seconds")
        cpu = median("this tree", "cpu") / median("baseline", "cpu")
        print(f"  this tree / baseline: {wall:5.2f}x wall, {cpu:5.2f}x CPU", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 files")
    parser.add_argument("--files", type=int, nargs="+", help="these numbers of files instead")
    parser.add_argument("--data", type=Path, help="keep the input folders here between runs")
    parser.add_argument("--baseline", help="a tree to compare with (PYTHONPATH), e.g. main's")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per number of files")
    parser.add_argument("--no-pool", action="store_true", help="do not run the Pool script")
    args = parser.parse_args()
    if not become_subreaper():
        raise SystemExit("this benchmark needs Linux (a child subreaper)")
    os.environ.update(BATCHML_ENV_MANAGER="local", BATCHML_TRACKING="off")
    sizes = args.files or [1_000, 10_000, 100_000] + ([1_000_000] if args.million else [])
    for files in sizes:
        with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
            sweep(Path(temporary), files, args)


if __name__ == "__main__":
    main()
