"""A job's requirements on Ray, on the session's real Ray head (ray_cluster): Ray's uv plugin
builds them on the node, offline from a folder of wheels made here, and the actors import them;
a build that fails fails the job at once, naming the requirement.

The head's Ray runs in a virtualenv, so Ray's uv plugin copies that virtualenv for each
environment (about a gigabyte here): these are the slowest Ray tests.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ray_cluster import actors
from waiting import wait_for
from wheels import make_wheel

from batchml.backends.ray import RayOptions, factory
from batchml.backends.ray_env import install_options_from_env
from batchml.envs.requirements import Requirements
from batchml.runner import JobResult, RunSettings, ScoringSpec, run_job

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ray_cluster import RayHead

if importlib.util.find_spec("ray") is None:
    pytest.skip("the ray extra is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("no_worker_left", "no_actor_left"),
]

SCRIPT = """\
import os, ray, tinypkg

def init():
    pass

def run(mini_batch):
    env = ray.get_runtime_context().runtime_env
    return [f"{os.path.basename(p)} {tinypkg.__version__} {sorted(env)}" for p in mini_batch]
"""


@pytest.fixture
def no_actor_left() -> Iterator[None]:
    yield
    wait_for(lambda: not actors(), lambda: f"the actors to end: {actors()} left")


def run(
    tmp_path: Path, head: RayHead, requirements: Requirements, notes: list[str], workers: int = 1
) -> JobResult:
    """A job of one input file with `requirements`, from wheels of tinypkg 1.0 and 2.0 only."""
    wheels, code = tmp_path / "wheels", tmp_path / "code"
    for folder in (wheels, code, tmp_path / "inputs"):
        folder.mkdir()
    make_wheel(wheels, "tinypkg", "1.0")
    make_wheel(wheels, "tinypkg", "2.0")
    (code / "score.py").write_text(SCRIPT)
    (tmp_path / "inputs" / "f000.txt").write_text("x")
    # The runner's uv settings, as the nodes get them.
    sources = install_options_from_env({"UV_OFFLINE": "1", "UV_FIND_LINKS": str(wheels)})
    options = RayOptions(head.address, requirements=requirements, install_options=sources)
    return run_job(
        [tmp_path / "inputs" / "f000.txt"],
        ScoringSpec(code, "score.py", None, {}),
        RunSettings(max_concurrency_per_instance=workers),
        output_dir=tmp_path / "out",
        logs_dir=tmp_path / "logs",
        backend=factory(options, log=notes.append),
    )


def test_the_actors_import_the_requirements_ray_built_on_the_node(tmp_path, ray_head):
    notes: list[str] = []
    result = run(tmp_path, ray_head, Requirements("3.99", ("tinypkg==1.0",)), notes)

    assert result.status == "Completed", result.error
    assert result.output_file is not None
    # The actor has the job's py_modules (batchml) and its own uv field, merged by Ray.
    assert result.output_file.read_text() == "f000.txt 1.0 ['py_modules', 'uv']\n"
    minor = "{}.{}".format(*sys.version_info[:2])
    assert notes == [
        f"Python 3.99 was asked for, but Ray runs actors in the cluster's Python ({minor}); "
        "the packages are installed for that one"
    ]


def test_a_requirement_the_node_cannot_install_fails_the_job_at_once(tmp_path, ray_head):
    requirements = Requirements(None, ("tinypkg==1.0", "nopkg==9"))
    result = run(tmp_path, ray_head, requirements, [], workers=2)

    assert result.status == "Failed"
    assert result.error is not None
    assert result.error.startswith(
        "Ray could not build the job's environment on node 127.0.0.1: uv could not install "
        "nopkg==9 (No solution found when resolving dependencies"
    )
    assert "nopkg==9" in (result.error_detail or "")
    # No worker was started again: a second build would fail the same way.
    overview = (tmp_path / "logs" / "job_progress_overview.txt").read_text()
    assert "starting another" not in overview
    assert result.counts.files_failed == 0 and result.counts.files_succeeded == 0
