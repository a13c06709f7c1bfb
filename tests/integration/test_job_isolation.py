"""A job runs the code it started with for its whole life, whatever happens to its deployment,
and owns its output file."""

from __future__ import annotations

import os
import re
import signal
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import JobsWorkspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def expected_rows(contents: list[str], marker: str = "") -> list[str]:
    return [f"in{i:02d}.txt {marker}{content}" for i, content in enumerate(contents)]


def change_the_code(jobs: JobsWorkspace) -> None:
    """Re-create the deployment with code whose rows say `new`."""
    script = jobs.root / "code" / "logged.py"
    script.write_text(
        script.read_text().replace('rows.append(f"{name} ', 'rows.append(f"{name} new ')
    )
    jobs.cli.ok("batch-deployment", "update", "-f", jobs.root / "deployment.yml", "-o", "none")


def test_a_resumed_job_runs_the_code_it_started_with(jobs: JobsWorkspace) -> None:
    contents = ["ok"] * 4 + ["wait"] * 4
    name = jobs.invoke("--input", jobs.inputs(contents))
    jobs.wait_records(name, 2)
    jobs.wait(name, "Running")
    os.killpg(jobs.runner_pid(name) or 0, signal.SIGKILL)  # the runner and its workers
    jobs.wait(name, "NotResponding")
    change_the_code(jobs)

    jobs.cli.ok("job", "resume", "-n", name)
    jobs.gate.touch()
    job = jobs.wait(name, "Completed", "Failed")

    assert job["status"] == "Completed"
    assert jobs.output(name).read_text().splitlines() == expected_rows(contents)
    # A new job runs the new code.
    again = jobs.invoke("--input", jobs.root / "data")
    assert jobs.wait(again, "Completed", "Failed")["status"] == "Completed"
    assert jobs.output(again).read_text().splitlines() == expected_rows(contents, "new ")


def test_deleting_the_endpoint_under_a_running_job(jobs: JobsWorkspace) -> None:
    contents = ["ok", "ok", "wait", "wait"]
    name = jobs.invoke("--input", jobs.inputs(contents))
    jobs.wait(name, "Running")
    result = jobs.cli("batch-endpoint", "delete", "-n", "jobs-ep", "--yes")

    assert (result.code, result.out) == (0, "")
    assert result.err == (
        f"WARNING: jobs still running on it: {name}; they go on with their own copy of its "
        "code and model\n"
    )
    jobs.gate.touch()
    job = jobs.wait(name, "Completed", "Failed")
    assert job["status"] == "Completed"
    assert jobs.output(name).read_text().splitlines() == expected_rows(contents)


def test_two_jobs_cannot_write_one_output_file(jobs: JobsWorkspace) -> None:
    data = jobs.inputs(["wait", "wait"])
    output = jobs.root / "shared"
    first = jobs.invoke("--input", data, "--output-path", output)
    second = jobs.cli("batch-endpoint", "invoke", "-n", "jobs-ep", "--input", data,
                      "--output-path", output)  # fmt: skip

    assert second.code == 5
    assert re.match(
        rf"ERROR: job '{first}' \((Preparing|Running)\) writes the output file "
        + re.escape(str(output / "predictions.csv"))
        + "\n",
        second.err,
    ), second.err
    jobs.gate.touch()
    assert jobs.wait(first, "Completed", "Failed")["status"] == "Completed"
    assert sorted(p.name for p in output.iterdir()) == ["predictions.csv"]


def test_a_batchml_folder_where_the_user_invokes_does_not_stand_in_for_batchml(
    jobs: JobsWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = jobs.root / "a-checkout"
    (here / "batchml" / "runner").mkdir(parents=True)
    (here / "batchml" / "__init__.py").write_text("raise ImportError('the wrong batchml')\n")
    (here / "batchml" / "runner" / "__init__.py").write_text("")
    monkeypatch.chdir(here)
    name = jobs.invoke("--input", jobs.inputs(["ok", "ok"]))
    assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"
