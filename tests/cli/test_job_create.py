"""`batchml job create`: what it refuses before any job exists (the jobs it runs are in
tests/integration/test_pipelines.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conftest import Cli


def test_a_command_job_is_refused_with_the_way_to_run_it(cli: Cli, ws: Path) -> None:
    job = cli.tmp / "job.yml"
    job.write_text("type: command\ncommand: echo hi\nenvironment: azureml:env@latest\n")
    result = cli("job", "create", "-f", job)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"ERROR: {job}:1: type: batchml runs pipeline jobs; a command job is not supported\n"
        "Hint: put the command in a pipeline: type: pipeline with jobs: {STEP: {type: command, "
        "component: {command: ..., environment: ...}}}\n"
    )
    assert not ws.exists()


def test_a_pipeline_job_with_an_unknown_compute_is_refused(cli: Cli, ws: Path) -> None:
    job = cli.tmp / "job.yml"
    job.write_text(
        "type: pipeline\ncompute: azureml:nope\njobs:\n  only:\n    type: command\n"
        "    component:\n      command: echo hi\n      environment: {image: python:3.11}\n"
    )
    result = cli("job", "create", "-f", job)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {job}:2: compute: compute 'nope' not found in workspace {ws}\n"
        "Hint: create it with: batchml compute create -n nope --type amlcompute\n"
    )
    assert cli("job", "list", "-o", "tsv").out == ""


def test_a_pipeline_input_in_storage_that_cannot_be_reached_creates_no_job(
    cli: Cli, ws: Path
) -> None:
    store = cli.tmp / "blob.yml"
    store.write_text(
        "name: blob\ntype: azure_blob\naccount_name: acct\ncontainer_name: data\n"
        "protocol: http\naccount_url: http://127.0.0.1:1/acct\n"
    )
    cli.ok("datastore", "create", "-f", store, "-o", "none")
    job = cli.tmp / "job.yml"
    job.write_text(
        "type: pipeline\ninputs:\n  data: {type: uri_folder, path: azureml://datastores/blob/paths/in}\n"
        "jobs:\n  only:\n    type: command\n    inputs: {data: '${{parent.inputs.data}}'}\n"
        "    component:\n      command: ls ${{inputs.data}}\n      inputs: {data: {type: uri_folder}}\n"
        "      environment: {image: python:3.11}\n"
    )
    result = cli("job", "create", "-f", job)
    assert (result.code, result.out) == (1, ""), result.err
    assert result.err == (
        "ERROR: azureml://datastores/blob/paths/in: storage error: datastore 'blob' at "
        "http://127.0.0.1:1/acct cannot be reached (connection refused)\n"
    )
    assert cli("job", "list", "-o", "tsv").out == ""
