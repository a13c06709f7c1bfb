"""Local workers run by another Python interpreter (run_job's `python`, WorkerConfig.python):
they see that interpreter's packages and not the job's, and the job runs as with its own.

The other interpreter is a plain virtualenv (`venv --without-pip`: no index needed) of the
interpreter running the tests, holding one package of its own, tinypkg 9.9. Another Python
version is tried too when one is found: $BATCHML_TEST_OTHER_PYTHON, or python3.X on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from batchml.backends.local import LocalBackend
from batchml.core.errors import BatchmlError
from batchml.worker.messages import ScoringSpec, WorkerConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.integration.conftest import Job

pytestmark = pytest.mark.usefixtures("no_worker_left")

NOT_VISIBLE = {"pandas": False, "yaml": False, "jmespath": False}


def make_venv(base: str, folder: Path) -> Path:
    """A virtualenv of `base` in `folder`, with tinypkg 9.9 in its site-packages; its python."""
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(
        subprocess.run([python, "-c", query], capture_output=True, text=True).stdout.strip()
    )
    (site / "tinypkg").mkdir(parents=True)
    (site / "tinypkg" / "__init__.py").write_text('__version__ = "9.9"\n')
    return python


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a virtualenv made from the interpreter of the venv running the tests."""
    return make_venv(sys._base_executable, tmp_path_factory.mktemp("venv") / "env")


def other_version() -> str | None:
    """An interpreter of another Python version (3.10 or later) than this one, if one runs."""
    candidates = [os.environ.get("BATCHML_TEST_OTHER_PYTHON")]
    candidates += [shutil.which(f"python3.{minor}") for minor in range(10, 15)]
    for candidate in filter(None, candidates):
        query = [candidate, "-c", "import sys; print(*sys.version_info[:2])"]
        done = subprocess.run(query, capture_output=True, text=True)
        # A pyenv shim of a version that is not selected exits 127.
        version = tuple(map(int, done.stdout.split())) if done.returncode == 0 else None
        if version is not None and version >= (3, 10) and version != sys.version_info[:2]:
            return candidate
    return None


def probe(tmp_path: Path) -> list[dict[str, Any]]:
    """What scripts/probe.py noted in the job's workers, one dict per init() and run() call."""
    lines = (tmp_path / "probe.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def run_probe(run: Callable[..., Job], tmp_path: Path, contents: list[str], **kwargs: Any) -> Job:
    return run(contents, "probe.py", env={"PROBE_LOG": str(tmp_path / "probe.log")}, **kwargs)


@pytest.mark.slow
def test_workers_run_in_the_other_python_and_see_its_packages_only(run, venv, tmp_path):
    job = run_probe(run, tmp_path, ["ok"] * 4, python=venv, mini_batch_size=1, workers=2)

    assert job.result.status == "Completed"
    assert job.output_lines() == [f"f00{index}.txt ok" for index in range(4)]
    assert [row["result"] for row in job.report()] == ["succeeded"] * 4
    notes = probe(tmp_path)
    # A worker still starting when the other one has done all is stopped before its init().
    assert [note["where"] for note in notes].count("run") == 4
    for note in notes:
        assert note["executable"] == str(venv)
        assert note["prefix"] == str(venv.parent.parent)
        assert note["tinypkg"] == "9.9"
        assert note["importable"] == NOT_VISIBLE
    # Before the user's script, the worker imported only the standard library and batchml.
    assert {tuple(note["loaded"]) for note in notes if note["where"] == "init"} == {("batchml",)}


@pytest.mark.slow
def test_without_python_workers_run_in_this_one_and_see_its_packages(run, tmp_path):
    job = run_probe(run, tmp_path, ["ok"], mini_batch_size=1)

    assert job.result.status == "Completed"
    [init, _] = probe(tmp_path)
    assert init["executable"] == sys.executable
    assert init["tinypkg"] is None
    assert init["importable"] == {"pandas": True, "yaml": True, "jmespath": True}


@pytest.mark.slow
def test_a_worker_replaced_after_a_timeout_runs_in_the_same_python(run, venv, tmp_path):
    job = run_probe(
        run, tmp_path, ["hang-once"], python=venv, mini_batch_size=1, timeout=1, max_retries=1
    )

    assert job.result.status == "Completed"
    assert job.output_lines() == ["f000.txt hang-once"]
    inits = [note for note in probe(tmp_path) if note["where"] == "init"]
    assert len(inits) == 2 and inits[0]["pid"] != inits[1]["pid"]
    assert {note["executable"] for note in inits} == {str(venv)}
    assert all(note["importable"] == NOT_VISIBLE for note in inits)


@pytest.mark.slow
def test_workers_run_in_a_python_of_another_version(run, tmp_path):
    base = other_version()
    if base is None:
        pytest.skip("no Python of another version found (set $BATCHML_TEST_OTHER_PYTHON)")
    python = make_venv(base, tmp_path / "env")
    job = run_probe(run, tmp_path, ["ok", "ok"], python=python, mini_batch_size=1)

    assert job.result.status == "Completed"
    assert job.output_lines() == ["f000.txt ok", "f001.txt ok"]
    notes = probe(tmp_path)
    assert {tuple(note["version"]) for note in notes} != {sys.version_info[:2]}
    assert {note["executable"] for note in notes} == {str(python)}
    assert all(note["tinypkg"] == "9.9" for note in notes)


# A caller's main module that imports what the workers' Python lacks, without a main guard.
CALLER = """
import sys
from pathlib import Path

import yaml  # batchml's own dependency

from batchml.runner import RunSettings, ScoringSpec, run_job

inputs, job, python, scripts = map(Path, sys.argv[1:])
result = run_job(
    sorted(inputs.glob("*.txt")),
    ScoringSpec(scripts, "behave.py"),
    RunSettings(mini_batch_size=1),
    output_dir=job / "out",
    logs_dir=job / "logs",
    python=python,
)
print(result.status, result.error)
"""


@pytest.mark.slow
def test_workers_in_another_python_do_not_import_the_callers_main_module(venv, tmp_path, scripts):
    caller = tmp_path / "caller.py"
    caller.write_text(CALLER)
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "f000.txt").write_text("ok")
    command = [sys.executable, caller, tmp_path / "inputs", tmp_path / "job", venv, scripts]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)

    # Imported again in a worker (as __mp_main__), it would fail there, or run a job of its own.
    assert (done.stdout, done.returncode) == ("Completed None\n", 0), done.stderr
    assert (tmp_path / "job" / "out" / "predictions.csv").read_text() == "f000.txt ok\n"


def config(tmp_path: Path, python: Path) -> WorkerConfig:
    scoring = ScoringSpec(tmp_path, "score.py")
    return WorkerConfig(scoring, tmp_path / "out", tmp_path / "logs", None, python)


def test_a_python_that_does_not_run_is_refused_at_once(tmp_path):
    with pytest.raises(BatchmlError, match=r"cannot run the workers' Python .*missing"):
        LocalBackend(config(tmp_path, tmp_path / "missing" / "python"))


def test_a_python_older_than_batchml_needs_is_refused_at_once(tmp_path):
    old = tmp_path / "python"
    old.write_text("#!/bin/sh\necho '[[3, 9], []]'\n")
    old.chmod(0o755)
    with pytest.raises(BatchmlError, match=r"is Python 3\.9; batchml needs 3\.10 or later"):
        LocalBackend(config(tmp_path, old))


def test_another_python_needs_the_spawn_start_method(tmp_path, venv):
    with pytest.raises(ValueError, match="need start method spawn, not forkserver"):
        LocalBackend(config(tmp_path, venv), start_method="forkserver")
