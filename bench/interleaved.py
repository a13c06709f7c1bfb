"""Commands timed as fresh processes, with this tree and with a baseline tree in turn (A/B/A/B),
so that both see the same load: the median wall and CPU time (user + system, which load
inflates far less than wall time) and the peak memory of each."""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # this tree


@dataclass(frozen=True)
class Timing:
    wall: float  # median seconds
    cpu: float  # median seconds of user + system time
    peak: float  # largest max RSS, MiB


def trees(baseline: str | None, env: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The environments to compare: this tree's (`env`, else this process's), and a
    baseline's (an export of main: PYTHONPATH points at it) when given."""
    mine = dict(os.environ if env is None else env)
    return {
        "this tree": mine,
        **({"baseline": {**mine, "PYTHONPATH": baseline}} if baseline else {}),
    }


def interleaved(
    command: list[str], envs: dict[str, dict[str, str]], repeat: int
) -> dict[str, Timing]:
    """`command` run `repeat` times under each of `envs`, in turn, after one warm-up run each."""
    samples: dict[str, list[tuple[float, float, float]]] = {label: [] for label in envs}
    for index in range(repeat + 1):
        for label, env in envs.items():
            sample = _run(command, env)
            if index:  # the first run warms the file cache
                samples[label].append(sample)
    return {
        label: Timing(
            statistics.median(wall for wall, _, _ in runs),
            statistics.median(cpu for _, cpu, _ in runs),
            max(peak for _, _, peak in runs),
        )
        for label, runs in samples.items()
    }


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def compared(label: str, timings: dict[str, Timing]) -> str:
    """One line per tree: wall, CPU, memory, and this tree's ratio to the baseline's."""
    lines = []
    base = timings.get("baseline")
    for tree, timing in timings.items():
        ratio = ""
        if base is not None and tree != "baseline":
            ratio = f"  ({timing.wall / base.wall:.2f}x wall, {timing.cpu / base.cpu:.2f}x CPU)"
        lines.append(
            f"  {label:<28} {tree:<9} {timing.wall:6.3f} s wall {timing.cpu:6.3f} s CPU "
            f"{timing.peak:6.1f} MiB{ratio}"
        )
    return "\n".join(lines)


def load() -> str:
    """The 1-minute load average, to quote with the figures."""
    with open("/proc/loadavg") as loadavg:
        return loadavg.read().split()[0]


def bytecode(tree: str | Path = HERE) -> str:
    """How many of the batchml modules of `tree` have current bytecode (`make bytecode`):
    those without are compiled from source by every command where PYTHONDONTWRITEBYTECODE is
    set, which a figure depends on."""
    sources = list(Path(tree, "batchml").rglob("*.py"))
    current = 0
    for source in sources:
        compiled = Path(importlib.util.cache_from_source(str(source)))
        current += compiled.exists() and compiled.stat().st_mtime >= source.stat().st_mtime
    return f"bytecode for {current} of {len(sources)} batchml modules"
