"""`environment show`'s local_build, `environment list-builds` and `environment prune`, on
environments really built, offline: tiny wheels made here (UV_OFFLINE, UV_FIND_LINKS), copied
rather than hard-linked from uv's cache (UV_LINK_MODE=copy) so that removing an environment
frees all of its disk use. Each build is one venv with at most one wheel."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from wheels import make_wheel

from batchml.envs import cache
from batchml.envs.cache import BuiltEnvironment, cache_root
from batchml.envs.requirements import Requirements
from batchml.services.environment_builds import EVERYTHING, IN_USE, SHARED
from batchml.store.lock import file_lock
from batchml.store.workspace import iso_time

if TYPE_CHECKING:
    from tests.conftest import Cli, Project

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("uv") is None, reason="building environments needs uv (pip install uv)"
)

ONE = Requirements(None, ("tinypkg==1.0",))
TWO = Requirements(None, ("tinypkg==2.0",))
# What the `deployed` fixture's deployment asks for (its conda.yml: python=3.11, no packages).
DEPLOYED = Requirements("3.11", ())
NO_CONDA = (
    "it has no conda file, so there is nothing to build (an image alone names no packages "
    "batchml can install)"
)


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    make_wheel(folder, "tinypkg", "1.0")
    make_wheel(folder, "tinypkg", "2.0")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(folder))
    monkeypatch.setenv("UV_LINK_MODE", "copy")


def build(requirements: Requirements) -> BuiltEnvironment:
    log = cache_root().parent / "test-build.log"
    return cache.ensure(requirements, log=lambda _message: None, build_log=log)


def du(*paths: Path) -> int:
    """Disk use as du counts it: allocated blocks, hard links once."""
    done = subprocess.run(["du", "-s", "-c", "-B1", *map(str, paths)], capture_output=True)
    return int(done.stdout.decode().splitlines()[-1].split()[0])


def last_used(environment: BuiltEnvironment) -> float:
    return (environment.path / "batchml-environment.json").stat().st_mtime


def register(cli: Cli, tmp_path: Path, name: str, pip: str) -> None:
    conda = tmp_path / f"{name}.yml"
    conda.write_text(f"dependencies:\n  - pip:\n      - {pip}\n")
    cli.ok("environment", "create", "-n", name, "--image", "python:3.11", "--conda-file", conda)


def removed_entry(environment: BuiltEnvironment, requirements: list[str]) -> dict[str, Any]:
    return {
        "key": environment.key,
        "path": str(environment.path),
        "size_bytes": du(environment.path),
        "python": None,
        "requirements": requirements,
        "note": None,
    }


def leftovers(root: Path) -> list[str]:
    """What is in the cache besides its environments' locks."""
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock"))


# show


def test_show_says_whether_the_environment_is_built_without_building_it(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    register(cli, tmp_path, "tiny", "tinypkg==1.0")
    cli.ok("environment", "create", "-n", "bare", "--image", "python:3.11")
    key = cache.key_of(ONE)
    before = cli.ok("environment", "show", "-n", "tiny")["local_build"]
    assert before == {
        "built": False,
        "key": key,
        "reason": "not built yet: batchml environment build -n tiny -v 1 builds it",
    }
    assert not cache_root().exists()  # nothing built, nothing looked up with uv
    assert cli.ok("environment", "show", "-n", "bare")["local_build"] == {
        "built": False,
        "reason": NO_CONDA,
    }

    built = cli("environment", "build", "-n", "tiny").json()
    used = (Path(built["path"]) / "batchml-environment.json").stat().st_mtime
    shown = cli.ok("environment", "show", "-n", "tiny", "-v", "1")
    assert shown["local_build"] == {
        "built": True,
        "key": key,
        "path": built["path"],
        "python_version": built["python_version"],
        "size_bytes": du(Path(built["path"])),
        "built_at": shown["local_build"]["built_at"],
        "last_used_at": iso_time(used),
        "packages": ["tinypkg==1.0"],
    }
    assert cli.mask(shown["local_build"])["built_at"] == "<time>"
    assert (Path(built["path"]) / "batchml-environment.json").stat().st_mtime == used


def test_show_of_a_conda_file_uv_cannot_build_from_gives_the_reason(
    cli: Cli, ws: Path, tmp_path: Path
) -> None:
    conda = tmp_path / "conda.yml"
    conda.write_text("dependencies:\n  - cudatoolkit=11.8\n")
    cli.ok("environment", "create", "-n", "gpu", "--image", "python:3.11", "--conda-file", conda)
    local = cli.ok("environment", "show", "-n", "gpu")["local_build"]
    assert local["built"] is False
    assert local["reason"].startswith("its conda file cannot be built with uv: ")
    assert "cudatoolkit is a conda-only package" in local["reason"]


# list-builds


def test_list_builds_shows_every_environment_its_last_use_and_the_total(cli: Cli) -> None:
    one, two = build(ONE), build(TWO)
    os.utime(one.path / "batchml-environment.json", (1000, 1000))
    listing = cli.ok("environment", "list-builds")
    entries = {entry["key"]: entry for entry in listing["environments"]}
    assert [entry["key"] for entry in listing["environments"]] == sorted([one.key, two.key])
    assert cli.mask(entries[one.key]) == {
        "key": one.key,
        "path": "<tmp>/cache/envs/" + one.key,
        "python_version": one.python_version,
        "size_bytes": du(one.path),
        "built_at": "<time>",
        "last_used_at": "<time>",
        "python": None,
        "requirements": ["tinypkg==1.0"],
        "note": None,
    }
    assert entries[one.key]["last_used_at"] == "1970-01-01T00:16:40.000000Z"
    assert entries[two.key]["requirements"] == ["tinypkg==2.0"]
    assert listing["cache"] == str(cache_root())
    assert listing["size_bytes"] == du(cache_root())

    again = build(ONE)  # reused: its last use is now
    assert again.reused
    assert last_used(again) > 1000
    shown = cli.ok("environment", "list-builds", "--query", f"environments[?key=='{one.key}']")
    assert shown[0]["last_used_at"] == iso_time(last_used(again))


def test_list_builds_of_an_empty_cache(cli: Cli) -> None:
    assert cli.ok("environment", "list-builds") == {
        "cache": str(cache_root()),
        "environments": [],
        "size_bytes": 0,
    }


# prune


@pytest.fixture
def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    return int(done.stdout)


def test_prune_removes_what_this_workspace_does_not_use(
    cli: Cli, deployed: Project, tmp_path: Path, dead_pid: int
) -> None:
    used = build(DEPLOYED)
    register(cli, tmp_path, "tiny", "tinypkg==1.0")
    registered = Path(cli("environment", "build", "-n", "tiny").json()["path"])
    unused = build(TWO)
    root = cache_root()
    killed = root / f".{unused.key}.{dead_pid}.ab.tmp"  # what a killed build left
    (killed / "bin").mkdir(parents=True)
    (killed / "bin" / "python").write_text("x" * 5000)
    kept = [
        {
            "key": used.key,
            "path": str(used.path),
            "used_by": ["batch deployment mnist-batch/mnist-torch"],
        },
        {"key": registered.name, "path": str(registered), "used_by": ["environment tiny:1"]},
    ]
    kept.sort(key=lambda entry: str(entry["key"]))
    freed = du(unused.path, killed)

    dry = cli.ok("environment", "prune", "--dry-run")
    assert dry == {
        "cache": str(root),
        "dry_run": True,
        "note": SHARED,
        "removed": [removed_entry(unused, ["tinypkg==2.0"])],
        "skipped": [],
        "kept": kept,
        "leftovers": [str(killed)],
        "freed_bytes": freed,
        "size_bytes": du(root),
    }
    assert unused.path.is_dir() and killed.is_dir()

    result = cli.ok("environment", "prune", "--yes")
    assert result == {**dry, "dry_run": False, "size_bytes": du(root)}
    assert leftovers(root) == sorted(["logs", used.key, registered.name])
    assert cli.ok("environment", "show", "-n", "tiny", "--query", "local_build.built") is True
    assert cli.ok("environment", "list-builds", "--query", "length(environments)") == 2

    again = cli.ok("environment", "prune", "--yes")
    assert (again["removed"], again["leftovers"], again["freed_bytes"]) == ([], [], 0)


def test_prune_skips_an_environment_a_job_runs_in_or_that_is_being_built(
    cli: Cli, ready: Project
) -> None:
    one, two = build(ONE), build(TWO)
    # A job's runner holds its environment's lock shared as long as it lives (ensure(hold=True)).
    holder = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from batchml.envs import cache
        from batchml.envs.requirements import Requirements
        cache.ensure(Requirements(None, ("tinypkg==1.0",)), log=print, build_log=Path("x.log"), hold=True)
        print("held", flush=True)
        sys.stdin.read()
        """
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert runner.stdout is not None
        assert runner.stdout.readline().startswith("environment ")  # found built, reused
        assert runner.stdout.readline() == "held\n"

        def never(_waited: float) -> Exception:
            raise AssertionError("the build lock is free")

        with file_lock(cache.lock_path(two.key), 0, never):  # a build of it is going on
            result = cli.ok("environment", "prune", "--yes")
        assert result["removed"] == []
        assert result["skipped"] == [
            {"key": key, "path": str(path), "reason": IN_USE}
            for key, path in sorted([(one.key, one.path), (two.key, two.path)])
        ]
        assert one.path.is_dir() and two.path.is_dir()
        assert leftovers(cache_root()) == sorted([one.key, two.key])  # nothing renamed
    finally:
        runner.communicate("", timeout=30)

    result = cli.ok("environment", "prune", "--yes")
    assert sorted(entry["key"] for entry in result["removed"]) == sorted([one.key, two.key])
    assert not one.path.exists() and not two.path.exists()


def test_ensure_holding_an_environment_found_then_removed_builds_it_again(
    tmp_path: Path,
) -> None:
    one = build(ONE)
    fd = os.open(cache.lock_path(one.key), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a removal holds it
    holder = textwrap.dedent(
        f"""
        from pathlib import Path
        from batchml.envs import cache
        from batchml.envs.requirements import Requirements
        say = lambda message: print(message, flush=True)
        log = Path({str(tmp_path / "b.log")!r})
        e = cache.ensure(Requirements(None, ("tinypkg==1.0",)), log=say, build_log=log, hold=True)
        say(f"held {{e.reused}}")
        """
    )
    waiting = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert waiting.stdout is not None
        found = waiting.stdout.readline()
        assert found.startswith(f"environment {one.key[:12]} is built"), found
        assert waiting.poll() is None  # it waits to hold it
        os.rename(one.path, cache_root() / f".{one.key}.{os.getpid()}.ff.tmp")  # removed
    finally:
        os.close(fd)
    out, _ = waiting.communicate(timeout=60)
    lines = out.splitlines()
    assert lines[0] == f"environment {one.key[:12]} was removed meanwhile; finding it again"
    assert lines[-1] == "held False"  # built again
    assert cache.read_marker(one.path) is not None


def test_prune_all_removes_every_environment_and_needs_yes(cli: Cli, deployed: Project) -> None:
    used, unused = build(DEPLOYED), build(TWO)
    refused = cli("environment", "prune", "--all")
    assert (refused.code, refused.out, refused.err) == (
        2,
        "",
        "ERROR: remove the cached environments of all workspaces: pass --yes to confirm "
        "(no terminal to ask on)\n",
    )
    assert used.path.is_dir() and unused.path.is_dir()

    result = cli.ok("environment", "prune", "--all", "-y")
    assert result["note"] == EVERYTHING
    assert sorted(entry["key"] for entry in result["removed"]) == sorted([used.key, unused.key])
    assert (result["kept"], result["skipped"]) == ([], [])
    assert result["size_bytes"] == du(cache_root())
    assert leftovers(cache_root()) == []


def test_prune_removes_a_folder_named_as_a_key_that_was_not_built(cli: Cli, ready: Project) -> None:
    root = cache_root()
    key = cache.key_of(ONE)
    (root / key / "bin").mkdir(parents=True)  # no marker
    live = root / f".{cache.key_of(TWO)}.{os.getpid()}.cd.tmp"  # a build going on: kept
    live.mkdir()
    result = cli.ok("environment", "prune", "--yes")
    assert (result["removed"], result["leftovers"]) == ([], [str(root / key)])
    assert leftovers(root) == [live.name]


def test_prune_without_a_workspace_refuses_but_all_needs_none(cli: Cli, tmp_path: Path) -> None:
    unused = build(TWO)
    refused = cli("environment", "prune", "--yes")
    assert (refused.code, refused.out, refused.err) == (
        2,
        "",
        f"ERROR: there is no workspace at {tmp_path / 'cwd' / '.batchml'} to tell which "
        "environments are used\nHint: run in a workspace (-w PATH), or remove every cached "
        "environment with --all\n",
    )
    assert unused.path.is_dir()
    assert cli.ok("environment", "prune", "--all", "--yes", "--query", "length(removed)") == 1


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="needs mlflow")
def test_prune_keeps_the_environment_of_a_no_code_mlflow_deployments_model(
    cli: Cli, ready: Project
) -> None:
    ready.write("tree/MLmodel", "flavors:\n  python_function:\n    loader_module: m\n")
    ready.write("tree/requirements.txt", "tinypkg==1.0\n")
    spec = "name: tree\nendpoint_name: mnist-batch\ntype: model\nmodel: {path: tree, type: mlflow_model}\n"
    cli.ok(
        "batch-deployment",
        "create",
        "-f",
        ready.write("mlflow.yml", spec + "compute: azureml:cpu-cluster\n"),
    )
    model, other = build(ONE), build(TWO)
    result = cli.ok("environment", "prune", "--dry-run")
    assert result["kept"] == [
        {
            "key": model.key,
            "path": str(model.path),
            "used_by": ["batch deployment mnist-batch/tree"],
        }
    ]
    assert [entry["key"] for entry in result["removed"]] == [other.key]


def test_a_job_uses_an_environment_from_a_cache_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = build(ONE)
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any) -> int:  # as for a user who cannot write
        if str(path).startswith(str(cache_root())) and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    log = tmp_path / "b.log"
    assert cache.ensure(ONE, log=lambda _message: None, build_log=log, hold=True).reused
    cache.lock_path(one.key).unlink()  # a cache shipped without its lock files
    assert cache.ensure(ONE, log=lambda _message: None, build_log=log, hold=True).reused
