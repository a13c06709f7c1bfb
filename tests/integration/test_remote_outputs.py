"""Job outputs in a registered datastore, on a real Azure Blob Storage emulator (Azurite, the
`azurite` fixture), and a finished job's output as the next job's input."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from azurite import KEY
from conftest import SCRIPTS
from waiting import wait_for

from batchml.runner.upload import GATE
from batchml.services import datastores
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import JobsWorkspace

URI = "azureml://datastores/blob/paths/runs/one"
ROWS = b"in00.txt v0\nin01.txt v1\nin02.txt v2\nin03.txt v3\nin04.txt v4\n"


@dataclass
class Container:
    """A fresh container of the emulator, registered as datastore `blob`."""

    ws: Path
    name: str

    def files(self) -> dict[str, bytes]:
        """What a reader of the container sees now (committed blobs only), by path."""
        _, storage = datastores.filesystem(Workspace(self.ws), "blob")
        found = storage.find(self.name) if storage.exists(self.name) else []
        return {path.partition("/")[2]: storage.cat(path) for path in found}

    def create(self) -> None:
        datastores.filesystem(Workspace(self.ws), "blob")[1].mkdir(self.name)

    def delete(self) -> None:
        datastores.filesystem(Workspace(self.ws), "blob")[1].rm(self.name, recursive=True)


@pytest.fixture
def blob(jobs: JobsWorkspace, azurite: Any) -> Container:
    container = Container(jobs.ws, f"out-{uuid.uuid4().hex[:12]}")
    yml = jobs.root / "blob.yml"
    yml.write_text(azurite.datastore_yml("blob", container.name))
    jobs.cli.ok("datastore", "create", "-f", yml, "-o", "none")
    container.create()
    return container


def staged(jobs: JobsWorkspace, name: str) -> Path:
    return jobs.folder(name) / "outputs" / "score"


# Each input file scored once, across the runner that was stopped and the one that resumed.
SCORED_ONCE = Counter({f"in{i:02d}.txt": 1 for i in range(5)})


def held_upload(jobs: JobsWorkspace, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A job of five files to URI whose runner waits after staging its first block, until the
    gate (returned) is removed."""
    data = jobs.inputs([f"v{i}" for i in range(5)])
    gate = jobs.root / "upload-gate"
    monkeypatch.setenv(GATE, str(gate))
    name = jobs.invoke("--input", data, "--output-path", URI)
    monkeypatch.delenv(GATE)
    wait_for(gate.exists, "the upload to stage its first block")
    return name, gate


@pytest.mark.azurite
def test_an_output_in_a_datastore_is_the_local_output_row_for_row(
    jobs: JobsWorkspace, blob: Container
) -> None:
    data = jobs.inputs([f"v{i}" for i in range(5)])
    local = jobs.invoke("--input", data)
    long_form = (
        "azureml://subscriptions/s1/resourcegroups/rg/workspaces/w1/datastores/blob/paths/runs/one"
    )
    outputs = {"score": {"type": "uri_folder", "path": long_form}}
    uploaded = jobs.invoke("--input", data, "--outputs", json.dumps(outputs))

    assert jobs.wait(local)["status"] == "Completed"
    job = jobs.wait(uploaded)
    assert (job["status"], job["outputs"]["score"]["path"]) == ("Completed", long_form)
    assert jobs.output(local).read_bytes() == ROWS
    assert blob.files() == {"runs/one/predictions.csv": ROWS}

    # The uploaded output, read back from the datastore as the next job's input.
    following = jobs.invoke("--input", f"azureml://jobs/{uploaded}/outputs/score")
    assert jobs.wait(following)["status"] == "Completed"
    one_row = b"predictions.csv " + ROWS.rstrip(b"\n").replace(b"\n", b"\\n") + b"\n"
    assert jobs.output(following).read_bytes() == one_row  # its line breaks written as \\n


@pytest.mark.azurite
def test_the_files_a_summary_only_script_writes_go_up_as_a_folder_another_job_cannot_replace(
    jobs: JobsWorkspace, blob: Container
) -> None:
    shutil.copy(SCRIPTS / "summary.py", jobs.root / "code")
    spec = (jobs.root / "deployment.yml").read_text().replace("logged.py", "summary.py")
    spec = spec.replace("name: logged", "name: summary").replace(
        "settings:\n", "settings:\n  output_action: summary_only\n"
    )
    (jobs.root / "summary.yml").write_text(spec)
    jobs.cli.ok("batch-deployment", "create", "-f", jobs.root / "summary.yml", "-o", "none")
    data = jobs.inputs(["a", "b", "c"])
    name = jobs.invoke("-d", "summary", "--input", data, "--output-path", URI)

    assert jobs.wait(name)["status"] == "Completed"
    expected = {f"runs/one/in0{i}.out": text.encode() for i, text in enumerate("ABC")}
    assert blob.files() == expected

    again = jobs.invoke("-d", "summary", "--input", data, "--output-path", URI)
    job = jobs.wait(again)
    assert (job["status"], job["error"]["message"]) == (
        "Failed",
        f"uploading the output to {URI} failed: runs/one/in00.out already exists in the "
        "container (batchml never overwrites a file another job or anyone else wrote)",
    )
    assert blob.files() == expected


@pytest.mark.azurite
def test_a_runner_killed_mid_upload_publishes_the_whole_output_once_on_resume(
    jobs: JobsWorkspace, blob: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = held_upload(jobs, monkeypatch)
    os.killpg(jobs.runner_pid(name) or 0, signal.SIGKILL)  # the runner and its workers
    assert jobs.wait(name)["status"] == "NotResponding"
    assert blob.files() == {}  # a staged block is seen by no reader
    jobs.cli.ok("job", "resume", "-n", name, "-o", "none")

    assert jobs.wait(name)["status"] == "Completed"
    assert blob.files() == {"runs/one/predictions.csv": ROWS}
    assert jobs.scored() == SCORED_ONCE  # no mini-batch ran again


@pytest.mark.azurite
def test_a_failed_upload_fails_the_job_with_the_url_and_resume_publishes_it(
    jobs: JobsWorkspace, blob: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, gate = held_upload(jobs, monkeypatch)
    blob.delete()
    gate.unlink()

    job = jobs.wait(name)
    assert (job["status"], job["error"]["message"]) == (
        "Failed",
        f"uploading the output to {URI} failed: The specified container does not exist. "
        "(ContainerNotFound)",
    )
    blob.create()
    jobs.cli.ok("job", "resume", "-n", name, "-o", "none")
    assert jobs.wait(name)["status"] == "Completed"
    assert blob.files() == {"runs/one/predictions.csv": ROWS}
    assert jobs.scored() == SCORED_ONCE


@pytest.mark.azurite
def test_outputs_that_cannot_be_written_are_refused_before_a_job_is_made(
    jobs: JobsWorkspace,
    blob: Container,
    azurite: Any,
    digest: Callable[[Path], dict[str, str]],
) -> None:
    wrong = jobs.root / "wrong.yml"
    wrong.write_text(azurite.datastore_yml("wrong_key", blob.name, key=KEY[:-4] + "AAA="))
    missing = jobs.root / "missing.yml"
    missing.write_text(azurite.datastore_yml("no_container", "missing-container"))
    for yml in (wrong, missing):
        jobs.cli.ok("datastore", "create", "-f", yml, "-o", "none")
    blob.files()  # the container exists
    _, storage = datastores.filesystem(Workspace(jobs.ws), "blob")
    storage.pipe({f"{blob.name}/taken/predictions.csv": b"someone's\n"})
    data = jobs.inputs(["v0"])
    before = digest(jobs.ws)
    url = azurite.account_url

    cases = {
        "azureml://datastores/wrong_key/paths/o": (
            4,
            f"ERROR: datastore 'wrong_key' ({url}/{blob.name}) refused its credentials: Server "
            "failed to authenticate the request.",
        ),
        "azureml://datastores/no_container/paths/o": (
            3,
            f"ERROR: datastore 'no_container' ({url}/missing-container): the container does "
            "not exist",
        ),
        "azureml://datastores/nowhere/paths/o": (3, "ERROR: datastore 'nowhere' not found"),
        "azureml://datastores/blob/paths/taken": (
            5,
            "ERROR: the output file azureml://datastores/blob/paths/taken/predictions.csv "
            "already exists (Azure never overwrites it)",
        ),
    }
    for path, (code, message) in cases.items():
        result = jobs.cli("batch-endpoint", "invoke", "-n", "jobs-ep", "--input", data,
                          "--output-path", path)  # fmt: skip
        assert (result.code, result.out) == (code, ""), result.err
        assert result.err.startswith(message), result.err
        assert KEY not in result.err
    bad_json = jobs.cli("batch-endpoint", "invoke", "-n", "jobs-ep", "--input", data,
                        "--outputs", '{"score": {"paht": "x"}}')  # fmt: skip
    assert (bad_json.code, bad_json.err) == (2, "ERROR: --outputs: score: unknown keys paht\n")
    assert digest(jobs.ws) == before


def test_a_completed_jobs_output_is_the_next_jobs_input(jobs: JobsWorkspace) -> None:
    first = jobs.invoke("--input", jobs.inputs(["a", "b", "wait"]))
    uri = f"azureml://jobs/{first}/outputs/score"
    early = jobs.cli("batch-endpoint", "invoke", "-n", "jobs-ep", "--input", uri)
    assert (early.code, early.out) == (5, "")
    assert re.match(
        rf"ERROR: {re.escape(uri)}: job '{first}' is (Preparing|Running); only a Completed "
        "job's output is an input\n",
        early.err,
    ), early.err
    jobs.gate.touch()
    assert jobs.wait(first)["status"] == "Completed"

    second = jobs.invoke("--input", uri)
    job = jobs.wait(second)
    assert (job["status"], job["inputs"]["input_data"]["path"]) == ("Completed", uri)
    rows = jobs.output(first).read_text()
    assert rows == "in00.txt a\nin01.txt b\nin02.txt wait\n"
    # One row: the file's name and its content, its line breaks escaped as append_row does.
    escaped = rows.strip().replace("\n", "\\n")
    assert jobs.output(second).read_text() == f"predictions.csv {escaped}\n"
    other = jobs.cli("batch-endpoint", "invoke", "-n", "jobs-ep", "--input",
                     f"azureml://jobs/{first}/outputs/scores")  # fmt: skip
    assert (other.code, other.err.splitlines()[0]) == (
        3,
        f"ERROR: job '{first}' has no output scores",
    )
