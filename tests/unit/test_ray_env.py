"""A job's requirements as its Ray actors' runtime_env: the packages, the package sources of
this machine's uv variables, what is said of a Python Ray cannot honour, and how a failed
build on a node is reported (no Ray here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchml.backends.ray_env import (
    install_options_from_env,
    python_note,
    runtime_env,
    setup_failure,
)
from batchml.envs.requirements import Requirements

REQUIREMENTS = Requirements("3.11", ("tinypkg==1.0", "numpy>=1.26"))


def test_the_requirements_and_uvs_sources_become_the_actors_uv_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {
        "UV_OFFLINE": "true",
        "UV_DEFAULT_INDEX": "https://mirror.example/simple",
        "UV_INDEX_URL": "https://shadowed.example/simple",  # UV_DEFAULT_INDEX wins, as in uv
        "UV_INDEX": "https://a.example/simple https://b.example/simple",
        "UV_FIND_LINKS": "wheels, https://example.org/wheels/",
        "PATH": "/usr/bin",
    }
    options = install_options_from_env(environ)
    assert options == (
        "--offline",
        "--default-index", "https://mirror.example/simple",
        "--index", "https://a.example/simple",
        "--index", "https://b.example/simple",
        "--find-links", str(tmp_path / "wheels"),
        "--find-links", "https://example.org/wheels/",
    )  # fmt: skip
    assert runtime_env(REQUIREMENTS, options) == {
        "uv": {
            "packages": ["tinypkg==1.0", "numpy>=1.26"],
            "uv_pip_install_options": ["--no-cache", *options],
        }
    }
    # A Ray whose uv field takes no options gets the pip field, in pip's spelling.
    assert runtime_env(REQUIREMENTS, options, uv=False) == {
        "pip": {
            "packages": ["tinypkg==1.0", "numpy>=1.26"],
            "pip_install_options": [
                "--disable-pip-version-check", "--no-cache-dir", "--no-index",
                "--index-url", "https://mirror.example/simple",
                "--extra-index-url", "https://a.example/simple",
                "--extra-index-url", "https://b.example/simple",
                "--find-links", str(tmp_path / "wheels"),
                "--find-links", "https://example.org/wheels/",
            ],
        }
    }  # fmt: skip


def test_without_packages_or_sources_there_is_nothing_to_add() -> None:
    assert install_options_from_env({"UV_OFFLINE": "0", "UV_FIND_LINKS": ""}) == ()
    assert runtime_env(None, ()) is None
    assert runtime_env(Requirements("3.11", ()), ("--no-index",)) is None


@pytest.mark.parametrize(
    ("requested", "honoured"),
    [(None, True), ("3.11", True), ("3.11.4", True), (">=3.8,<3.12", True), ("3.10", False),
     (">=3.12", False), ("pypy3.11", False)],
)  # fmt: skip
def test_a_python_the_cluster_does_not_run_is_said(requested: str | None, honoured: bool) -> None:
    note = python_note(requested, "3.11.7")
    assert note == (
        None
        if honoured
        else f"Python {requested} was asked for, but Ray runs actors in the cluster's Python "
        "(3.11); the packages are installed for that one"
    )


# What Ray 2.60 raises (RuntimeEnvSetupError) when uv cannot install a requirement, shortened.
RAY_UV_FAILURE = """\
Failed to set up runtime environment.
Could not create the actor because its associated runtime env failed to be created.
[Node 10.0.0.7] Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/ray/_private/runtime_env/utils.py", line 105, in check_output_cmd
    raise SubprocessCalledProcessError(
ray._private.runtime_env.utils.SubprocessCalledProcessError: Run cmd[17] failed with the following details.
Command '['/tmp/ray/.../virtualenv/bin/python', '-m', 'uv', 'pip', 'install', '-r', '/tmp/ray/.../requirements.txt', '--no-cache', '--no-index']' returned non-zero exit status 1.
Last 50 lines of stdout:
    Using Python 3.11.7 environment at: /tmp/ray/.../virtualenv
    error: No solution found when resolving dependencies
      cause: Because nopkg was not found in the provided package locations and you require nopkg==9, we can conclude that your requirements are unsatisfiable.
"""


def test_a_failed_build_on_a_node_names_the_requirement_and_node() -> None:
    asked = Requirements(None, ("tinypkg==1.0", "nopkg==9"))
    assert setup_failure(asked, RAY_UV_FAILURE) == (
        "Ray could not build the job's environment on node 10.0.0.7: uv could not install "
        "nopkg==9 (No solution found when resolving dependencies cause: Because nopkg was not "
        "found in the provided package locations and you require nopkg==9, we can conclude that "
        "your requirements are unsatisfiable.)"
    )
    other = "Failed to set up runtime environment.\n[Node 10.0.0.7] ...\nRuntimeError: no pip"
    assert setup_failure(asked, other) == (
        "Ray could not set up the actors' runtime environment (requirements: tinypkg==1.0, "
        "nopkg==9) on node 10.0.0.7: RuntimeError: no pip"
    )
