"""Real environment builds with uv, offline: tiny wheels made here, installed with --no-index
--find-links. Each build is one venv with one wheel (a fraction of a second)."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from wheels import make_wheel

from batchml.core.errors import BatchmlError
from batchml.envs import cache
from batchml.envs.cache import BuiltEnvironment, cache_root, current_platform, environment_key
from batchml.envs.requirements import Requirements

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("uv") is None, reason="building environments needs uv (pip install uv)"
)

PINNED = Requirements(None, ("tinypkg==1.0",))


@pytest.fixture
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with tinypkg 1.0 and 2.0; uv's own cache in the test's tmp folder."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    folder = tmp_path / "wheels"
    folder.mkdir()
    make_wheel(folder, "tinypkg", "1.0")
    make_wheel(folder, "tinypkg", "2.0")
    return folder


def ensure(
    requirements: Requirements, wheels: Path, build_log: Path, messages: list[str]
) -> BuiltEnvironment:
    return cache.ensure(
        requirements, log=messages.append, build_log=build_log, find_links=[wheels], index=False
    )


def imported_version(environment: BuiltEnvironment) -> str:
    code = "import sys, tinypkg; print(tinypkg.__version__, sys.prefix == sys.argv[1])"
    command = [str(environment.python), "-c", code, str(environment.path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def key_of(requirements: Requirements) -> str:
    python = requirements.python or "{}.{}".format(*sys.version_info[:2])
    return environment_key(requirements, python, current_platform())


def test_a_pinned_version_is_installed_then_reused_without_uv(wheels: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    built = ensure(PINNED, wheels, tmp_path / "build1.log", messages)
    assert (built.reused, built.note, built.path) == (False, None, cache_root() / key_of(PINNED))
    assert imported_version(built) == "1.0 True"
    assert (built.path / "packages.txt").read_text() == "tinypkg==1.0\n"
    assert {p.name for p in cache_root().iterdir()} == {built.key, f".{built.key}.lock"}
    assert "uv pip install" in (tmp_path / "build1.log").read_text()

    again = ensure(PINNED, wheels, tmp_path / "build2.log", messages)
    assert (again.path, again.python_version, again.reused) == (
        built.path,
        built.python_version,
        True,
    )
    assert not (tmp_path / "build2.log").exists()  # no uv command ran
    assert [m.split(" ")[0] for m in messages] == ["building", "built", "environment"]
    assert (
        messages[2]
        == f"environment {built.key[:12]} is built (Python {built.python_version}); reusing {built.path}"
    )


def test_two_concurrent_builds_of_one_environment_build_it_once(
    wheels: Path, tmp_path: Path
) -> None:
    messages: list[str] = []
    results: list[BuiltEnvironment] = []
    start = threading.Barrier(2)

    def build(index: int) -> None:
        start.wait()
        results.append(ensure(PINNED, wheels, tmp_path / f"build{index}.log", messages))

    threads = [threading.Thread(target=build, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.reused for result in results) == [False, True]
    assert len({result.path for result in results}) == 1
    assert sum(message.startswith("building ") for message in messages) == 1


def test_what_a_killed_build_left_is_removed(wheels: Path, tmp_path: Path) -> None:
    root = cache_root()
    key = key_of(PINNED)
    other = key_of(Requirements(None, ("tinypkg==2.0",)))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead = int(gone.stdout)
    left = [root / f".{key}.{os.getpid()}.ab.tmp", root / f".{other}.{dead}.cd.tmp"]
    running = root / f".{other}.{os.getpid()}.ef.tmp"  # a live builder of another key: kept
    half = root / key  # no marker: not a finished build
    for folder in [*left, running, half]:
        (folder / "bin").mkdir(parents=True)
    built = ensure(PINNED, wheels, tmp_path / "build.log", [])
    assert [folder.exists() for folder in left] == [False, False]
    assert running.exists()
    assert (built.path, imported_version(built)) == (half, "1.0 True")


def test_a_requirement_that_cannot_be_installed_is_named(wheels: Path, tmp_path: Path) -> None:
    build_log = tmp_path / "build.log"
    bad = Requirements(None, ("tinypkg==1.0", "nopkg==9"))
    with pytest.raises(BatchmlError) as caught:
        ensure(bad, wheels, build_log, [])
    message = caught.value.message
    assert message.startswith("the environment could not be built: uv could not install nopkg==9 (")
    assert message.endswith(f"; the build log is {build_log}")
    assert "nopkg" in build_log.read_text()
    assert sorted(p.name for p in cache_root().iterdir()) == [f".{key_of(bad)}.lock"]


def test_a_python_that_is_not_installed_falls_back_to_this_one(
    wheels: Path, tmp_path: Path
) -> None:
    messages: list[str] = []
    built = ensure(Requirements("3.99", ("tinypkg==2.0",)), wheels, tmp_path / "b.log", messages)
    note = (
        f"Python 3.99 was asked for, but no matching interpreter is installed; "
        f"using Python {platform.python_version()} ({sys.executable}) instead"
    )
    assert (built.note, built.python_version) == (note, platform.python_version())
    assert note in messages
    assert imported_version(built) == "2.0 True"


def test_environment_build_builds_once_then_reuses(
    cli: Cli, ws: Path, tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    conda = tmp_path / "conda.yml"
    conda.write_text("dependencies:\n  - pip\n  - pip:\n      - tinypkg==1.0\n")
    cli.ok("environment", "create", "-n", "tiny", "--image", "python:3.11", "--conda-file", conda)

    first = cli("environment", "build", "-n", "tiny")
    assert first.code == 0, first.err
    built = first.json()
    assert (built["name"], built["version"], built["reused"]) == ("tiny", "1", False)
    assert built["packages"] == ["tinypkg==1.0"]
    assert f"building environment {built['key'][:12]}" in first.err
    again = cli("environment", "build", "-n", "tiny", "-v", "1")
    assert (again.json()["reused"], again.json()["path"]) == (True, built["path"])
    assert again.err == (
        f"environment {built['key'][:12]} is built (Python {built['python_version']}); "
        f"reusing {built['path']}\n"
    )


def test_an_environment_without_a_conda_file_has_nothing_to_build(cli: Cli, ws: Path) -> None:
    cli.ok("environment", "create", "-n", "bare", "--image", "python:3.11")
    result = cli("environment", "build", "-n", "bare")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("ERROR: environment bare:1 has no conda file, so there is nothing")
