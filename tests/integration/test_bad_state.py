"""Damaged state and wrong paths are named, never a traceback, and one bad job hides no other."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import JobsWorkspace

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


def test_download_into_a_file_is_a_usage_error(jobs: JobsWorkspace, finished: str) -> None:
    target = jobs.root / "a-file.txt"
    target.write_text("mine\n")
    result = jobs.cli("job", "download", "-n", finished, "-p", target)
    assert result.code == 2
    assert result.err.startswith(f"ERROR: --download-path {target} is a file; give a folder")
    assert target.read_text() == "mine\n"
