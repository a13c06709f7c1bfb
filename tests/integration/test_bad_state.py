"""Damaged state and wrong paths are named, never a traceback, and one bad job hides no other."""

from __future__ import annotations

import dataclasses
import json
import shutil
from typing import TYPE_CHECKING

import pytest

from batchml.core.job_record import JobStatus
from batchml.output.formats import FORMATS
from batchml.services import job_control
from batchml.store import job_files, job_index
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from tests.integration.conftest import JobsWorkspace

LISTINGS = (["job", "list"], ["batch-endpoint", "list-jobs", "-n", "jobs-ep"])

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def finished(jobs: JobsWorkspace) -> str:
    name = jobs.invoke("--input", jobs.inputs(["ok", "ok"]))
    assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"
    return name


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"__meta__": {"format_version": 1}, "name": "bro', "Unterminated string"),
        ('{"__meta__": {"format_version": "1"}}', "it is not a batchml state document"),
        ('{"__meta__": {"format_version": 1}, "name": "broken"}', "it is not a job record"),
    ],
)
def test_an_unreadable_job_is_named_and_the_others_are_listed(
    jobs: JobsWorkspace, finished: str, content: str, reason: str
) -> None:
    broken = jobs.ws / "jobs" / "broken" / "job.json"
    broken.parent.mkdir()
    broken.write_text(content)
    for argv in (["job", "list"], ["batch-endpoint", "list-jobs", "-n", "jobs-ep"]):
        result = jobs.cli(*argv, "--query", "[].name")
        assert result.code == 0
        assert result.json() == [finished]
        assert result.err.startswith(
            f"WARNING: job 'broken' is not listed: the workspace file {broken} is unreadable: "
        )
        assert reason in result.err
    shown = jobs.cli("job", "show", "-n", "broken")
    assert shown.code == 1
    assert shown.err.startswith(f"ERROR: the workspace file {broken} is unreadable: ")


def _copies(jobs: JobsWorkspace, finished: str, *stamps: str) -> list[str]:
    """Indexed copies of the job `finished`, made at each of `stamps`; their names."""
    workspace = Workspace(jobs.ws)
    template = job_files.get(workspace, finished)
    names = []
    for index, stamp in enumerate(stamps):
        copy = dataclasses.replace(template, name=f"copy-{index}", created_at=stamp)
        job_files.job_dir(workspace, copy.name).mkdir()
        job_files.save(workspace, copy)
        job_index.add(workspace, copy)
        names.append(copy.name)
    return names


def test_a_job_of_a_newer_batchml_is_named_and_the_others_are_listed_in_every_format(
    jobs: JobsWorkspace, finished: str
) -> None:
    newest, newer = _copies(jobs, finished, "2031-01-01T00:00:00Z", "2030-01-01T00:00:00Z")
    record = jobs.folder(newer) / "job.json"
    document = json.loads(record.read_text())
    document["__meta__"]["format_version"] = 99
    record.write_text(json.dumps(document))

    listed = {
        (*argv, output): jobs.cli(*argv, "-o", output) for argv in LISTINGS for output in FORMATS
    }
    shutil.rmtree(jobs.folder(newer))  # the same listings without it: passed over as gone
    for (*argv, output), result in listed.items():
        without = jobs.cli(*argv, "-o", output)
        assert (result.code, result.out, without.err) == (0, without.out, ""), (argv, output)
        assert result.err == (
            f"WARNING: job '{newer}' is not listed: {record} has format version 99; this batchml "
            "reads up to 1; upgrade batchml (pip install -U batchml)\n"
        )
    assert jobs.cli.ok("job", "list", "--query", "[].name") == [newest, finished]


@pytest.mark.parametrize("argv", LISTINGS)
def test_a_job_gone_while_it_is_listed_is_passed_over(
    jobs: JobsWorkspace, finished: str, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    workspace = Workspace(jobs.ws)
    newest, gone = _copies(jobs, finished, "2031-01-01T00:00:00Z", "2030-01-01T00:00:00Z")
    running = dataclasses.replace(job_files.get(workspace, gone), status=JobStatus.RUNNING)
    job_files.save(workspace, running)
    seen = job_control.runner_pid

    def rolled_back(workspace: Workspace, name: str) -> int | None:
        # Its invoke failed after the listing read its record, and took the job back.
        if name == gone:
            shutil.rmtree(jobs.folder(gone), ignore_errors=True)
        return seen(workspace, name)

    monkeypatch.setattr(job_control, "runner_pid", rolled_back)
    result = jobs.cli(*argv)
    assert (result.code, result.err) == (0, "")
    assert [job["name"] for job in json.loads(result.out)] == [newest, finished]
    assert not jobs.folder(gone).exists()


def test_download_into_a_file_is_a_usage_error(jobs: JobsWorkspace, finished: str) -> None:
    target = jobs.root / "a-file.txt"
    target.write_text("mine\n")
    result = jobs.cli("job", "download", "-n", finished, "-p", target)
    assert result.code == 2
    assert result.err.startswith(f"ERROR: --download-path {target} is a file; give a folder")
    assert target.read_text() == "mine\n"
