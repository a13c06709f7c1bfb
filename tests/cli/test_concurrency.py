"""Several batchml processes on one workspace: the lock serialises writers and names its holder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli, Project

# `python -c CODE args...` sees sys.argv == ["-c", *args], so run() parses args as batchml would.
BATCHML = [sys.executable, "-c", "from batchml.cli.app import main; main()"]

# Holds the workspace lock: a real `model create` whose transaction stops to wait, after saying so.
HOLDER = """\
import sys, time
from batchml.store import assets

def versions(*args, **kwargs):
    print("locked", flush=True)
    time.sleep(60)

assets.versions = versions
from batchml.cli.app import main
main()
"""


def test_eight_writers_at_once_all_succeed(cli: Cli, ready: Project, ws: Path) -> None:
    commands = [
        [*BATCHML, "batch-deployment", "create", "-f", str(ready.deployment_yml), "-n", f"dep-{i}"]
        for i in range(4)
    ] + [
        [*BATCHML, "model", "create", "--name", "mnist", "--path", str(ready.root / "model")]
        for _ in range(4)
    ]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    results = [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs, strict=True)]
    assert [(code, err) for code, _, err in results] == [(0, "")] * 8
    names = sorted(json.loads(out)["name"] for _, out, _ in results[:4])
    versions = sorted(json.loads(out)["version"] for _, out, _ in results[4:])
    assert (names, versions) == (["dep-0", "dep-1", "dep-2", "dep-3"], ["1", "2", "3", "4"])
    listed = cli.ok("batch-deployment", "list", "-e", "mnist-batch", "--query", "[].name")
    assert listed == ["dep-0", "dep-1", "dep-2", "dep-3"]
    assert cli.ok("model", "list", "-n", "mnist", "--query", "[].version") == ["4", "3", "2", "1"]
    state_files = sorted(ws.rglob("*.json"))
    assert len(state_files) == 1 + 1 + 1 + 4 + 4  # workspace, compute, endpoint, deps, models
    for path in state_files:
        assert json.loads(path.read_text())["__meta__"]["format_version"] == 1
    assert sorted(p.name for p in ws.rglob(".*")) == [".lock"]


@pytest.fixture
def holder(ready: Project, ws: Path) -> Iterator[subprocess.Popen[str]]:
    """A `batchml model create` process stopped while it holds the workspace lock."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "model", "create", "--name", "m", "--path", ".."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "locked\n"
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_writer_waiting_past_the_timeout_names_the_holder(
    cli: Cli,
    ws: Path,
    holder: subprocess.Popen[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATCHML_LOCK_TIMEOUT", "0.3")
    info = json.loads((ws / ".lock.holder").read_text())
    assert (info["pid"], info["command"]) == (holder.pid, "model create --name")
    since = time.strftime("%H:%M:%S", time.localtime(info["since"]))
    result = cli("compute", "create", "-n", "gpu-cluster", "--type", "amlcompute")
    assert (result.code, result.out) == (6, "")
    assert result.err == (
        f"ERROR: the workspace {ws} is locked by pid {holder.pid} (model create --name), since "
        f"{since}; waited 0.3 s\n"
        "Hint: retry when that command has finished, or raise BATCHML_LOCK_TIMEOUT\n"
    )
    assert not (ws / "computes" / "gpu-cluster.json").exists()


def test_readers_do_not_wait_for_the_lock(
    cli: Cli, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHML_LOCK_TIMEOUT", "0.1")
    assert cli.ok("batch-endpoint", "show", "-n", "mnist-batch", "--query", "name") == (
        "mnist-batch"
    )
    assert cli.ok("compute", "list", "--query", "[].name") == ["cpu-cluster"]


def test_a_killed_holder_releases_the_lock(
    cli: Cli, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHML_LOCK_TIMEOUT", "5")
    holder.kill()
    holder.wait(timeout=10)
    view = cli.ok("compute", "create", "-n", "gpu-cluster", "--type", "amlcompute")
    assert view["name"] == "gpu-cluster"
