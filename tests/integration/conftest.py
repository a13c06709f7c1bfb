"""Real jobs on real files: a runner fixture, and a check that no worker outlives its test."""

from __future__ import annotations

import csv
import functools
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from batchml.backends.local import LocalBackend
from batchml.runner import JobEvent, JobResult, RunSettings, ScoringSpec, run_job

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# Not a package: tests reach these through the fixtures below.
SCRIPTS = Path(__file__).parent / "scripts"


# multiprocessing's own helpers, shared by all jobs of a process and kept until it exits.
_HELPERS = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver")


def child_processes() -> list[str]:
    """This process's children, except multiprocessing's shared helper processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # exited while we looked
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == os.getpid() and not any(helper in cmdline for helper in _HELPERS):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"pid {entry.name} ({state}): {command}")
    return found


@pytest.fixture
def no_worker_left() -> Iterator[None]:
    """The test ends with its workers gone: not running, not even unreaped.

    Used by every scheduler test module (pytestmark), not autouse: other tests share this folder.
    """
    yield
    assert multiprocessing.active_children() == []
    if sys.platform.startswith("linux"):
        assert child_processes() == []


@dataclass
class Job:
    """A finished job and where it wrote."""

    result: JobResult
    inputs: list[Path]
    output_dir: Path
    logs_dir: Path
    events: list[JobEvent]

    def output_lines(self) -> list[str]:
        assert self.result.output_file is not None
        return self.result.output_file.read_text().splitlines()

    def report(self) -> list[dict[str, str]]:
        path = self.logs_dir / "sys" / "job_report" / "processed_mini-batches.csv"
        with open(path, newline="") as report:
            return list(csv.DictReader(report))

    def log(self, *parts: str) -> str:
        return self.logs_dir.joinpath(*parts).read_text()


def write_inputs(folder: Path, contents: list[str]) -> list[Path]:
    """One input file per entry, f000.txt, f001.txt, ...; behave.py acts on the content."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, content in enumerate(contents):
        path = folder / f"f{index:03d}.txt"
        path.write_text(content)
        paths.append(path)
    return paths


@pytest.fixture
def scripts() -> Path:
    """The folder of scoring-script fixtures (the code_dir of every test job)."""
    return SCRIPTS


@pytest.fixture
def inputs(tmp_path: Path) -> Callable[[list[str]], list[Path]]:
    """inputs(contents) -> paths: input files under tmp_path/inputs."""
    return lambda contents: write_inputs(tmp_path / "inputs", contents)


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Job]:
    """run(contents, script="behave.py", env=..., cancel=..., start_method=..., **settings)"""

    def run_(
        contents: list[str],
        script: str = "behave.py",
        *,
        env: dict[str, str] | None = None,
        model_dir: Path | None = None,
        logging_level: str = "info",
        **settings: Any,
    ) -> Job:
        cancel = settings.pop("cancel", None)
        start_method = settings.pop("start_method", "spawn")
        inputs = write_inputs(tmp_path / "inputs", contents)
        scoring = ScoringSpec(SCRIPTS, script, model_dir, env or {}, logging_level)
        output_dir, logs_dir = tmp_path / "out", tmp_path / "logs"
        events: list[JobEvent] = []
        result = run_job(
            inputs,
            scoring,
            RunSettings(**settings),
            output_dir=output_dir,
            logs_dir=logs_dir,
            on_event=events.append,
            cancel=cancel,
            backend=functools.partial(LocalBackend, start_method=start_method),
        )
        return Job(result, inputs, output_dir, logs_dir, events)

    return run_
