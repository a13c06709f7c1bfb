"""Listing jobs from the index of jobs: newest first, only the page's records read, and jobs the
index does not know of (from a batchml before it) or knows of wrongly (gone, torn) as before."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from batchml.store import job_files, job_index
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from tests.integration.conftest import JobsWorkspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_a_page_of_jobs_reads_the_records_it_shows_only(
    jobs: JobsWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = jobs.invoke("--input", jobs.inputs(["ok", "ok"]))
    assert jobs.wait(real, "Completed", "Failed")["status"] == "Completed"
    workspace = Workspace(jobs.ws)
    template = job_files.get(workspace, real)
    copies = [
        dataclasses.replace(template, name=f"copy-{i:03d}", created_at=f"2030-01-01T00:{i:02d}:00Z")
        for i in range(60)
    ]
    for copy in copies:
        job_files.job_dir(workspace, copy.name).mkdir()
        job_files.save(workspace, copy)
        if copy.name != "copy-059":  # the newest, as an older batchml made it: not indexed
            job_index.add(workspace, copy)
    gone = dataclasses.replace(template, name="gone", created_at="2031-01-01T00:00:00Z")
    job_index.add(workspace, gone)  # its command failed after indexing it
    with open(jobs.ws / "jobs" / job_index.INDEX_FILE, "a") as index:
        index.write('{"name": "torn", "crea')
    newest_first = [copy.name for copy in reversed(copies)] + [real]

    reads: list[str] = []
    counted = job_index.get

    def get(workspace: Workspace, name: str) -> object:
        reads.append(name)
        return counted(workspace, name)

    monkeypatch.setattr(job_index, "get", get)
    assert jobs.cli.ok("job", "list", "--query", "[].name") == newest_first[:50]
    # The unindexed job (read to learn when it was made), then the page; not the rest.
    assert sorted(reads) == sorted(["copy-059", "gone", *newest_first[:50]])
    reads.clear()
    listed = jobs.cli.ok("batch-endpoint", "list-jobs", "-n", "jobs-ep", "-r", "3", "--query",
                         "[].name")  # fmt: skip
    assert listed == newest_first[:3]
    assert jobs.cli.ok("job", "list", "--all-results", "--query", "[].name") == newest_first
    # As az ml job list: --all-results returns every job whatever -r says.
    for argv in (["job", "list"], ["batch-endpoint", "list-jobs", "-n", "jobs-ep"],
                 ["batch-deployment", "list-jobs", "-n", "logged", "-e", "jobs-ep"]):  # fmt: skip
        assert jobs.cli.ok(*argv, "-r", "7", "--all-results", "--query", "[].name") == newest_first
        assert jobs.cli.ok(*argv, "-r", "7", "--query", "[].name") == newest_first[:7]
