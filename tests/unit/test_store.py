"""The workspace folder: format versions, where it is, and its lock (batchml.store)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from batchml.core.errors import (
    CorruptStateError,
    NotFoundError,
    WorkspaceLockedError,
    WorkspaceVersionError,
)
from batchml.store import job_files, locate, lock
from batchml.store.workspace import FORMAT_VERSION, Workspace


@pytest.mark.parametrize(
    ("root", "name"),
    [("/x/projects/demo/.batchml", "demo"), ("/x/my-ws", "my-ws")],
)
def test_workspace_name(root: str, name: str) -> None:
    assert Workspace(Path(root)).name == name


@pytest.mark.parametrize("version", [0, 1])
def test_read_state_strips_the_meta_block(tmp_path: Path, version: int) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"__meta__": {"format_version": version}, "name": "x"}))
    assert Workspace(tmp_path).read_state(path, "compute", "x") == {"name": "x"}


@contextlib.contextmanager
def held_elsewhere(take: Callable[[], AbstractContextManager[object]]) -> Iterator[None]:
    """Hold the lock `take()` gives in another thread while the body runs."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with take():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        yield
    finally:
        release.set()
        thread.join()


def test_read_state_without_meta_is_version_zero(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"name": "x"}')
    assert Workspace(tmp_path).read_state(path, "compute", "x") == {"name": "x"}


def test_read_state_refuses_newer_formats(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"__meta__": {"format_version": FORMAT_VERSION + 1}}))
    with pytest.raises(WorkspaceVersionError) as info:
        Workspace(tmp_path).read_state(path, "compute", "x")
    assert (info.value.exit_code, info.value.message, info.value.hint) == (
        7,
        f"{path} has format version 2; this batchml reads up to 1",
        "upgrade batchml (pip install -U batchml)",
    )


def test_read_state_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        Workspace(tmp_path).read_state(tmp_path / "nope.json", "compute", "nope")
    assert info.value.message == f"compute 'nope' not found in workspace {tmp_path}"


def test_stamp() -> None:
    assert Workspace.stamp("compute", {"name": "x"}) == {
        "__meta__": {"format_version": 1, "kind": "compute"},
        "name": "x",
    }


# locate


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "repo" / ".batchml").mkdir(parents=True)
    below = tmp_path / "repo" / "a" / "b"
    below.mkdir(parents=True)

    def where(flag: str | None) -> tuple[Path, str]:
        workspace, reason = locate.resolve_workspace(flag, cwd=below)
        return workspace.root, reason

    locate.set_defaults([f"workspace={tmp_path / 'configured'}"])
    monkeypatch.setenv("BATCHML_WORKSPACE", str(tmp_path / "env"))
    assert where(str(tmp_path / "flag")) == (tmp_path / "flag", "--workspace-name")
    assert where(None) == (tmp_path / "env", "BATCHML_WORKSPACE")
    monkeypatch.setenv("BATCHML_WORKSPACE", "")
    assert where(None) == (tmp_path / "configured", "configured default")
    locate.set_defaults(["workspace="])
    assert where(None) == (tmp_path / "repo" / ".batchml", "nearest .batchml folder")
    (tmp_path / "repo" / ".batchml").rmdir()
    assert where(None) == (below / ".batchml", "new folder in the current directory")


def test_config_dir_defaults_to_the_home_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHML_CONFIG_DIR")
    monkeypatch.setenv("HOME", "/home/someone")
    assert locate.config_file() == Path("/home/someone/.batchml/config.json")


def test_defaults_round_trip(tmp_path: Path) -> None:
    assert locate.read_defaults() == {}
    assert locate.set_defaults(["workspace=~/ws"]) == {"workspace": str(Path.home() / "ws")}
    assert locate.read_defaults() == {"workspace": str(Path.home() / "ws")}
    assert locate.config_file() == tmp_path / "config" / "config.json"


# lock


@pytest.mark.parametrize(
    ("raw", "timeout"), [(None, 30.0), ("", 30.0), ("2.5", 2.5), ("0", 0.0), ("soon", 30.0)]
)
def test_lock_timeout(monkeypatch: pytest.MonkeyPatch, raw: str | None, timeout: float) -> None:
    if raw is not None:
        monkeypatch.setenv("BATCHML_LOCK_TIMEOUT", raw)
    assert lock.lock_timeout() == timeout


def test_lock_records_its_holder_and_removes_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["batchml", "model", "create", "--name", "m"])
    with lock.workspace_lock(tmp_path):
        info = json.loads((tmp_path / ".lock.holder").read_text())
        assert (info["pid"], info["command"]) == (os.getpid(), "model create --name")
        assert abs(info["since"] - time.time()) < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "cwd"]


def test_a_second_holder_times_out_naming_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["batchml", "batch-deployment", "create", "-f", "d.yml"])
    with held_elsewhere(lambda: lock.workspace_lock(tmp_path)):
        since = json.loads((tmp_path / ".lock.holder").read_text())["since"]
        with pytest.raises(WorkspaceLockedError) as info, lock.workspace_lock(tmp_path, 0.1):
            pass
    clock = time.strftime("%H:%M:%S", time.localtime(since))
    assert (info.value.exit_code, info.value.message, info.value.hint) == (
        6,
        f"the workspace {tmp_path} is locked by pid {os.getpid()} (batch-deployment create -f), "
        f"since {clock}; waited 0.1 s",
        "retry when that command has finished, or raise BATCHML_LOCK_TIMEOUT",
    )


def test_a_job_record_held_elsewhere_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHML_LOCK_TIMEOUT", "0.1")
    workspace = Workspace(tmp_path)
    job_files.job_dir(workspace, "job-1").mkdir(parents=True)
    with (
        held_elsewhere(lambda: job_files.job_lock(workspace, "job-1")),
        pytest.raises(WorkspaceLockedError) as info,
        job_files.job_lock(workspace, "job-1"),
    ):
        pass
    assert (info.value.exit_code, info.value.message, info.value.hint) == (
        6,
        "the record of job 'job-1' is locked by another command; waited 0.1 s",
        "retry in a moment, or raise BATCHML_LOCK_TIMEOUT",
    )


def test_unknown_holder(tmp_path: Path) -> None:
    assert lock._describe_holder(tmp_path / "missing") == "another batchml command"
    (tmp_path / "garbled").write_text("{")
    assert lock._describe_holder(tmp_path / "garbled") == "another batchml command"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"__meta__": {"format_version": 1}, "name": "x', "Unterminated string"),
        (b"\xff\xfe garbage", "Expecting value"),
        (b"[1, 2]", "it is not a batchml state document"),
        (b'{"__meta__": {"format_version": "1"}}', "it is not a batchml state document"),
        (b'{"__meta__": 3}', "it is not a batchml state document"),
    ],
)
def test_an_unreadable_state_file_is_named(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(CorruptStateError, match=reason) as caught:
        Workspace(tmp_path).read_state(path, "endpoint", "x")
    assert caught.value.message.startswith(f"the workspace file {path} is unreadable: ")
