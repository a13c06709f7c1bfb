"""The debugging loop, as a user runs it: try a script with `batch-deployment test`, read a job's
failures (`job failures`, `job show`, the end of `job stream`), replay a failed mini-batch with
the job's own code after the deployment was fixed, quarantine the failed files and run them
again, and step into the exception with `--pdb` in a pseudo-terminal.

`test` and `replay` run as the user runs them, in a process of their own: the script's output
goes to the terminal's file descriptors, not through Python's sys.stdout.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from projects import Project, project_at

from tests.conftest import tree_digest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Cli

pytestmark = pytest.mark.timeout(180)

BATCHML = [sys.executable, "-c", "from batchml.cli.app import main; main()"]

# Looks a value up for each file: in1.txt's "1" is missing (KeyError at line 12), in2.txt makes
# run() hang past its timeout, in3.txt kills the worker.
SCRIPT = """\
import os, signal, time

def init():
    global table
    table = {"0": "zero", "2": "two", "3": "three"}

def run(mini_batch):
    rows = []
    for path in mini_batch:
        value = open(path).read()
        print("scoring", value)
        word = table[value]
        if value == "2":
            time.sleep(600)
        if value == "3":
            os.kill(os.getpid(), signal.SIGKILL)
        rows.append(f"{os.path.basename(path)} {word}")
    return rows
"""
FIXED = SCRIPT.replace('"0": "zero"', '"0": "zero", "1": "one"').replace("time.sleep(600)", "pass")
FIXED = FIXED.replace("os.kill(os.getpid(), signal.SIGKILL)", "pass")


def deployment(name: str, code: str) -> dict[str, object]:
    return {
        "name": name,
        "endpoint_name": "loop-ep",
        "type": "model",
        "model": {"name": "m", "path": "model"},
        "code_configuration": {"code": code, "scoring_script": "score.py"},
        "environment": {"image": "python:3.11", "conda_file": "conda.yml"},
        "compute": "azureml:cpu",
        "settings": {
            "mini_batch_size": 1,
            "max_concurrency_per_instance": 2,
            "error_threshold": -1,
            "retry_settings": {"max_retries": 0, "timeout": 5},
        },
    }


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    with project_at(cli, ws, tmp_path, monkeypatch, "loop-ep") as loop:
        root = loop.root
        (root / "conda.yml").write_text("dependencies: [python=3.11, pip]\n")
        for folder, script in (("code", SCRIPT), ("fixed", FIXED)):
            (root / folder).mkdir(exist_ok=True)
            (root / folder / "score.py").write_text(script)
            spec = deployment("fixed" if folder == "fixed" else "dep", folder)
            (root / f"{folder}.yml").write_text(yaml.safe_dump(spec))
        yield loop


def batchml(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHML, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_test_prints_rows_or_the_traceback_with_the_user_s_path_and_changes_nothing(
    project: Project,
) -> None:
    root, data = project.root, project.root / "data"
    before = tree_digest(project.ws)

    good = batchml(
        "batch-deployment", "test", "-f", root / "fixed.yml", "--input", data, "--limit", "2"
    )
    bad = batchml(
        "batch-deployment", "test", "-f", root / "code.yml", "--input", data, "--limit", "2"
    )

    assert (good.returncode, good.stdout) == (0, "in0.txt zero\nin1.txt one\n")
    assert "scoring 0\n" in good.stderr and "scoring 1\n" in good.stderr
    assert bad.returncode == 1
    assert bad.stdout == "in0.txt zero\n"  # the rows of mini-batch 0; mini-batch 1 failed
    assert bad.stderr.endswith(
        "batchml: mini-batch 1 failed: run() failed: KeyError: '1'\n"
        "Traceback (most recent call last):\n"
        f'  File "{root}/code/score.py", line 12, in run\n'
        "    word = table[value]\n"
        "           ~~~~~^^^^^^^\n"
        "KeyError: '1'\n"
    ), bad.stderr
    # --limit 2 stopped before mini-batch 2, whose file would hang.
    assert "in2.txt" not in bad.stderr
    assert tree_digest(project.ws) == before


def test_failures_replay_and_quarantine_lead_from_a_failing_job_to_a_fixed_one(
    project: Project, cli: Cli
) -> None:
    root = project.root
    cli.ok("batch-deployment", "create", "-f", root / "code.yml", "--set-default", "-o", "none")
    name = project.invoke()
    job = project.wait(name)

    # Completed, with three failed files: each of its own kind, and said in `job show`.
    assert job["status"] == "Completed"
    failures = job["failures"]
    assert (failures["files_failed"], failures["files"]) == (3, ["in1.txt", "in2.txt", "in3.txt"])
    # The first error is the one that happened first: under load the worker mini-batch 3
    # kills may die before mini-batch 1's KeyError is recorded.
    assert failures["first_error"]["kind"] in ("error", "timeout", "dead_worker")
    assert any(f" at {root}/code/score.py:12 in run " in error for error in failures["errors"])
    listed = cli.ok("job", "failures", "-n", name)
    kinds = sorted((f["kind"], f["exception"], f["attempts"], f["files"]) for f in listed)
    assert kinds == [
        ("dead_worker", None, 1, [str(root / "data" / "in3.txt")]),
        ("error", "KeyError", 1, [str(root / "data" / "in1.txt")]),
        ("timeout", None, 1, [str(root / "data" / "in2.txt")]),
    ]
    table = cli("job", "failures", "-n", name, "-o", "table").out.splitlines()
    assert table[0].split() == ["Kind", "Exception", "Attempts", "FilesFailed", "Message", "Where"]
    assert len(table) == 5 and max(map(len, table)) < 120
    streamed = cli("job", "stream", "-n", name)
    summary = streamed.out[streamed.out.index("Status: Completed") :]
    assert summary.splitlines()[:2] == [
        "Status: Completed",
        "Failed files: 3 (in1.txt, in2.txt, in3.txt)",
    ]
    assert f"Every failed item: batchml job failures -n {name}\n" in summary
    assert f"Tracebacks: {project.folder(name)}/logs/job_error.txt\n" in summary

    # The deployment is fixed; the job's mini-batch 1 replays with the job's own (old) code.
    cli.ok("batch-deployment", "update", "-f", root / "fixed.yml", "-n", "dep", "-o", "none")
    replayed = batchml("job", "replay", "-n", name, "--file", root / "data" / "in1.txt")
    assert replayed.returncode == 1
    assert f'  File "{root}/code/score.py", line 12, in run\n' in replayed.stderr
    assert replayed.stderr.endswith("KeyError: '1'\n")

    # The failed files, quarantined, are all a new job on the fixed deployment runs.
    quarantine = root / "quarantine"
    copied = cli("job", "failures", "-n", name, "--copy-to", quarantine, "-o", "none")
    assert (copied.code, copied.err) == (0, f"Copied 3 failed input files to {quarantine}\n")
    assert sorted(p.name for p in quarantine.iterdir()) == ["in1.txt", "in2.txt", "in3.txt"]
    again = project.wait(
        str(cli.ok("batch-endpoint", "invoke", "-n", "loop-ep", "--input", quarantine)["name"])
    )
    assert (again["status"], again["batch"]["files"]) == (
        "Completed",
        {"total": 3, "succeeded": 3, "failed": 0},
    )
    assert project.rows(again["name"]) == ["in1.txt one", "in2.txt two", "in3.txt three"]


def test_a_failed_job_says_its_first_error_with_the_user_s_path_and_its_log(
    project: Project, cli: Cli
) -> None:
    root = project.root
    (root / "code" / "score.py").write_text(
        "def init():\n    pass\n\ndef run(mini_batch):\n    missing = {}\n    return missing['x']\n"
    )
    cli.ok("batch-deployment", "create", "-f", root / "code.yml", "--set-default", "-o", "none")
    name = project.invoke("--set", "retry_settings.max_retries=2")
    job = project.wait(name)

    assert job["status"] == "Failed"
    traceback = job["failures"]["first_error"]["traceback"].splitlines()
    assert [line for line in traceback if "^" not in line] == [
        "Traceback (most recent call last):",
        f'  File "{root}/code/score.py", line 6, in run',
        "    return missing['x']",
        "KeyError: 'x'",
    ]
    streamed = cli("job", "stream", "-n", name).out
    # Two workers: whichever mini-batch failed first.
    assert re.search(r"First error \(mini-batch \d, attempt 1\): KeyError: 'x'\n", streamed)
    assert f"Tracebacks: {project.folder(name)}/logs/job_error.txt\n" in streamed
    # 4 files, 3 attempts each: one traceback, with its count.
    job_error = (project.folder(name) / "logs" / "job_error.txt").read_text()
    assert job_error.count("Traceback (most recent call last)") == 1
    assert (
        f"[error] KeyError: 'x' at {root}/code/score.py:6 in run (12 attempts, 4 files failed)\n"
        in job_error
    )


def _read_until(fd: int, marker: bytes, seen: bytearray) -> None:
    """Read the pseudo-terminal until `marker` has appeared in what was read after `seen`."""
    start = len(seen)
    while marker not in seen[start:]:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no {marker!r} on the screen: {bytes(seen[start:])!r}"
        seen += os.read(fd, 4096)


def _read_to_end(fd: int, seen: bytearray) -> None:
    """Read the pseudo-terminal until every process that had it open has closed it."""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"the terminal stayed open: {bytes(seen)!r}"
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed
            return
        if not data:
            return
        seen += data


def test_pdb_stops_at_the_exception_in_a_terminal(project: Project) -> None:
    root = project.root
    controller, terminal = pty.openpty()
    command = [*BATCHML, "batch-deployment", "test", "-f", root / "code.yml",
               "--input", root / "data" / "in1.txt", "--pdb"]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True
    )
    os.close(terminal)
    screen = bytearray()
    try:
        _read_until(controller, b"(Pdb) ", screen)
        os.write(controller, b"p value\n")
        _read_until(controller, b"(Pdb) ", screen)
        os.write(controller, b"q\n")
        _read_to_end(controller, screen)
        assert process.wait(timeout=60) == 1
    finally:
        process.kill()
        os.close(controller)
    text = screen.decode()
    assert "KeyError: '1'\r\nEntering the debugger at the exception (q to go on).\r\n" in text
    assert f"> {root}/code/score.py(12)run()\r\n-> word = table[value]\r\n" in text
    assert "(Pdb) p value\r\n'1'\r\n" in text
    # Once the debugger is left, the failure and its traceback, as without --pdb.
    assert "(Pdb) q\r\nbatchml: mini-batch 0 failed: run() failed: KeyError: '1'\r\n" in text
    assert f'  File "{root}/code/score.py", line 12, in run\r\n' in text
