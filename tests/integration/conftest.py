"""Real jobs on real files: a runner fixture, a workspace for jobs through the CLI, and a check
that no worker outlives its test."""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import multiprocessing
import os
import shutil
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from processes import wait_sessions_gone
from waiting import wait_for, wait_for_status

from batchml.backends.local import LocalBackend
from batchml.runner import JobEvent, JobResult, RunSettings, ScoringSpec, run_job
from batchml.runner.journal import HEADER_SIZE, RECORD_SIZE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.conftest import Cli

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
    """run(contents, script="behave.py", env=..., cancel=..., on_event=..., start_method=...,
    python=..., workers=..., **settings): `workers` worker processes (max_concurrency_per_instance,
    one instance), run by `python` (default: this one); on_event is called with each event, as
    the job runs."""

    def run_(
        contents: list[str],
        script: str = "behave.py",
        *,
        env: dict[str, str] | None = None,
        model_dir: Path | None = None,
        logging_level: str = "info",
        workers: int = 1,
        **settings: Any,
    ) -> Job:
        cancel = settings.pop("cancel", None)
        on_event = settings.pop("on_event", None)
        start_method = settings.pop("start_method", "spawn")
        python = settings.pop("python", None)
        inputs = write_inputs(tmp_path / "inputs", contents)
        scoring = ScoringSpec(SCRIPTS, script, model_dir, env or {}, logging_level)
        output_dir, logs_dir = tmp_path / "out", tmp_path / "logs"
        events: list[JobEvent] = []

        def record(event: JobEvent) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        result = run_job(
            inputs,
            scoring,
            RunSettings(max_concurrency_per_instance=workers, **settings),
            output_dir=output_dir,
            logs_dir=logs_dir,
            on_event=record,
            cancel=cancel,
            backend=functools.partial(LocalBackend, start_method=start_method),
            python=python,
        )
        return Job(result, inputs, output_dir, logs_dir, events)

    return run_


@dataclass
class JobsWorkspace:
    """A workspace whose endpoint `jobs-ep` runs scripts/logged.py by default (deployment `logged`:
    mini-batches of 2, 2 workers, no retries), for jobs through the CLI and their runners.

    Inputs whose content is `wait` block until the test opens the gate; `scored()` counts how
    often each file was scored. The fixture ends every runner it saw (failing the test if one
    was left) and checks that no runner or worker outlived its test.
    """

    cli: Cli
    root: Path
    ws: Path
    runners: set[int]

    @property
    def gate(self) -> Path:
        return self.root / "gate"

    def inputs(self, contents: list[str], folder: str = "data") -> Path:
        """One file per entry, in00.txt, in01.txt, ...; returns the folder."""
        path = self.root / folder
        path.mkdir()
        for index, content in enumerate(contents):
            (path / f"in{index:02d}.txt").write_text(content)
        return path

    def invoke(self, *args: str | Path) -> str:
        return str(self.cli.ok("batch-endpoint", "invoke", "-n", "jobs-ep", *args)["name"])

    def show(self, name: str) -> dict[str, Any]:
        job: dict[str, Any] = self.cli.ok("job", "show", "-n", name)
        self.runner_pid(name)
        return job

    def wait(self, name: str, *statuses: str) -> dict[str, Any]:
        """Wait until the job is in one of `statuses`."""
        return wait_for_status(self.show, name, *statuses)

    def folder(self, name: str) -> Path:
        return self.ws / "jobs" / name

    def runner_pid(self, name: str) -> int | None:
        """The pid of the job's latest runner, once it has one."""
        pid = json.loads((self.folder(name) / "job.json").read_text()).get("runner_pid")
        if pid:
            self.runners.add(pid)
        return pid

    def records(self, name: str) -> int:
        """Outcomes in the job's journal so far."""
        size = (self.folder(name) / "journal" / "journal.bin").stat().st_size
        return (size - HEADER_SIZE) // RECORD_SIZE

    def wait_records(self, name: str, count: int) -> None:
        journal = self.folder(name) / "journal" / "journal.bin"
        wait_for(
            lambda: journal.exists() and self.records(name) >= count,
            f"job {name} to record {count} outcomes in its journal",
        )
        assert self.records(name) == count

    def wait_scored(self, count: int) -> None:
        """Wait until `count` files were given to run() in all, e.g. both workers wait in it."""
        wait_for(lambda: sum(self.scored().values()) >= count, f"{count} files to be scored")

    def scored(self) -> Counter[str]:
        log = self.root / "scored.log"
        return Counter(log.read_text().split() if log.exists() else [])

    def output(self, name: str) -> Path:
        return self.ws / "datastores/workspaceblobstore/azureml" / name / "score/predictions.csv"

    def wait_runners_gone(self) -> None:
        """Wait for every runner seen, and its workers (its session), to end."""
        wait_sessions_gone(self.runners)


JOBS_DEPLOYMENT = """\
name: logged
endpoint_name: jobs-ep
type: model
model: {{name: m, path: model}}
code_configuration: {{code: code, scoring_script: logged.py}}
environment: {{image: python:3.11}}
compute: azureml:cpu
settings:
  mini_batch_size: 2
  max_concurrency_per_instance: 2
  retry_settings: {{max_retries: 0, timeout: 30}}
  environment_variables: {{GATE: {gate}, SCORED_LOG: {log}}}
"""


@pytest.fixture
def jobs(cli: Cli, ws: Path, tmp_path: Path) -> Iterator[JobsWorkspace]:
    (tmp_path / "code").mkdir()
    shutil.copy(SCRIPTS / "logged.py", tmp_path / "code")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("w")
    (tmp_path / "endpoint.yml").write_text("name: jobs-ep\n")
    deployment = JOBS_DEPLOYMENT.format(gate=tmp_path / "gate", log=tmp_path / "scored.log")
    (tmp_path / "deployment.yml").write_text(deployment)
    cli.ok("compute", "create", "-n", "cpu", "--type", "amlcompute", "-o", "none")
    cli.ok("batch-endpoint", "create", "-f", tmp_path / "endpoint.yml", "-o", "none")
    cli.ok("batch-deployment", "create", "-f", tmp_path / "deployment.yml", "--set-default")
    workspace = JobsWorkspace(cli, tmp_path, ws, set())
    yield workspace
    workspace.gate.touch()
    try:
        workspace.wait_runners_gone()
    finally:
        for sid in workspace.runners:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sid, signal.SIGKILL)


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Ray head on 127.0.0.1 for the session's Ray tests (tests/integration/test_ray*.py);
    ray_cluster.RAY_ENV is set meanwhile. Stopped for sure at the end of the session."""
    from ray_cluster import RAY_ENV, running_head

    with pytest.MonkeyPatch.context() as patch:
        # For the whole session: ray reads some of these when it is first imported.
        for name, value in RAY_ENV.items():
            patch.setenv(name, value)
        with running_head(tmp_path_factory.mktemp("ray")) as head:
            yield head


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Azurite (the Azure Blob Storage emulator) on 127.0.0.1 for the session's datastore
    tests; skipped when it is not installed (`npm install --prefix .venv/node azurite@3`, as
    `make test` does) or adlfs is missing (the azure extra), failed instead when
    BATCHML_REQUIRE_AZURITE is set (as .ci/run does)."""
    pytest.importorskip("adlfs", reason="adlfs is not installed (pip install 'batchml[azure]')")
    from azurite import executable, running

    command = executable()
    if command is None:
        missing = (
            "Azurite (or node to run it) is not installed: npm install --prefix .venv/node azurite@3 "
            "(as make test does), or set BATCHML_AZURITE to an azurite-blob"
        )
        if os.environ.get("BATCHML_REQUIRE_AZURITE"):
            pytest.fail(missing)
        pytest.skip(missing)
    with running(command, tmp_path_factory.mktemp("azurite")) as emulator:
        yield emulator
