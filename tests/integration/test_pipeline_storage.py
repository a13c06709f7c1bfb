"""Pipeline jobs whose data is in storage (a real Azure Blob Storage emulator, the `azurite`
fixture): inputs from a datastore path and a storage URL fetched for the steps, outputs to a
datastore uploaded when the pipeline completed, each giving exactly what the same pipeline
gives on local files; a failed upload fails the job naming the URL, and `job resume` uploads
without running a step again; what can be seen before a job exists is refused with one line."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from azurite import ACCOUNT
from test_pipelines import Pipes
from test_pipelines import pipes as pipes_project  # noqa: F401 (a fixture)
from waiting import wait_for

from batchml.runner.upload import GATE
from batchml.services import datastores
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(180)]

FILES = {"a.txt": "a\n", "b.txt": "b\n", "sub/c.txt": "c\n"}
INPUTS = """\
inputs:
  input_data: {{type: {kind}, path: "{path}"}}
outputs:
  scores: {{type: uri_folder, path: "{output}"}}
"""


class Storage:
    """Datastore `blob` on a fresh container of the emulator, which holds FILES under in/."""

    def __init__(self, pipes: Pipes, azurite: Any) -> None:
        self.pipes, self.azurite = pipes, azurite
        self.container = f"p{uuid.uuid4().hex[:12]}"
        yml = pipes.write("blob.yml", azurite.datastore_yml("blob", self.container))
        pipes.cli.ok("datastore", "create", "-f", yml, "-o", "none")
        self.fs = datastores.filesystem(Workspace(pipes.ws), "blob")[1]
        self.fs.mkdir(self.container)
        self.fs.pipe({f"{self.container}/in/{name}": text.encode() for name, text in FILES.items()})

    def files(self, prefix: str) -> dict[str, bytes]:
        """What a reader sees under `prefix` of the container (committed blobs only)."""
        root = f"{self.container}/{prefix}"
        found = self.fs.find(root) if self.fs.exists(root) else []
        return {path[len(root) + 1 :]: self.fs.cat(path) for path in found}

    def invoke(self, path: str, output: str, kind: str = "uri_folder") -> str:
        text = INPUTS.format(kind=kind, path=path, output=output)
        inputs = self.pipes.write(f"inputs-{uuid.uuid4().hex[:6]}.yml", text)
        return self.pipes.invoke("-f", inputs)


@pytest.fixture
def storage(pipes_project: Pipes, azurite: Any) -> Storage:  # noqa: F811 (the fixture)
    return Storage(pipes_project, azurite)


def _local_scores(pipes: Pipes, folder: Path) -> bytes:
    """all.txt of the same pipeline on the local copy `folder` of the input."""
    name = pipes.invoke("--input", folder, "--input-type", "uri_folder")
    assert pipes.wait(name)["status"] == "Completed"
    return (pipes.output(name, "scores") / "all.txt").read_bytes()


def test_inputs_in_storage_and_an_output_to_a_datastore_give_what_local_files_give(
    storage: Storage,
) -> None:
    pipes = storage.pipes
    local = pipes.root / "copy"
    for name, text in FILES.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_text(text)
    expected = _local_scores(pipes, local)
    url = f"https://{ACCOUNT}.blob.core.windows.net/{storage.container}/in"
    names = {
        "datastore": storage.invoke(
            "azureml://datastores/blob/paths/in", "azureml://datastores/blob/paths/out/ds"
        ),
        "url": storage.invoke(url, "azureml://datastores/blob/paths/out/url"),
    }
    for name in names.values():
        job = pipes.wait(name)
        assert job["status"] == "Completed", job.get("error")

    # upper_job's glob sees a.txt, b.txt and the folder sub (whose `tr` fails, quietly).
    assert expected == b"A!\nB!\n!\n"
    assert storage.files("out/ds") == {"all.txt": expected}
    assert storage.files("out/url") == {"all.txt": expected}
    job = pipes.show(names["datastore"])
    assert job["inputs"]["input_data"] == {
        "path": "azureml://datastores/blob/paths/in",
        "type": "uri_folder",
    }
    assert job["outputs"]["scores"] == {
        "mode": "upload",
        "path": "azureml://datastores/blob/paths/out/ds",
        "type": "uri_folder",
    }
    log = (pipes.folder(names["datastore"]) / "logs/azureml/executionlogs.txt").read_text()
    assert (
        "step upper_job: input data: 3 file(s) fetched from azureml://datastores/blob/paths/in"
        in log
    )
    assert "output: 1 file(s) published in azureml://datastores/blob/paths/out/ds" in log
    # The fetched copy of the input is the job's, byte for byte what the storage holds.
    fetched = pipes.folder(names["datastore"]) / "inputs" / "input_data"
    assert {
        p.relative_to(fetched).as_posix(): p.read_text() for p in fetched.rglob("*.txt")
    } == FILES

    # The job's output in the datastore is the next pipeline's input (read from storage).
    after = storage.invoke(
        f"azureml://jobs/{names['datastore']}/outputs/scores",
        "azureml://datastores/blob/paths/out/next",
    )
    assert pipes.wait(after)["status"] == "Completed"
    assert storage.files("out/next") == {"all.txt": b"A!\nB!\n!!\n"}


ONE_FILE_JOB = """\
type: pipeline
inputs:
  data: {type: uri_file, path: azureml://datastores/blob/paths/in/sub/c.txt}
outputs:
  out: {path: out}
jobs:
  only:
    type: command
    inputs: {data: '${{parent.inputs.data}}'}
    outputs: {out: '${{parent.outputs.out}}'}
    component:
      command: tr a-z A-Z < ${{inputs.data}} > ${{outputs.out}}/$(basename ${{inputs.data}})
      inputs: {data: {type: uri_file}}
      outputs: {out: {type: uri_folder}}
      environment: azureml:AzureML-minimal@latest
"""


def test_one_file_in_storage_is_a_uri_file_input(storage: Storage) -> None:
    pipes = storage.pipes
    name = pipes.create_job("-f", pipes.write("one-file.yml", ONE_FILE_JOB))
    job = pipes.wait(name)
    assert job["status"] == "Completed", job.get("error")
    assert {p.name: p.read_text() for p in (pipes.root / "out").iterdir()} == {"c.txt": "C\n"}


def test_a_failed_upload_fails_the_job_naming_the_url_and_resume_only_uploads(
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipes = storage.pipes
    out = f"o{uuid.uuid4().hex[:12]}"
    yml = pipes.write("out.yml", storage.azurite.datastore_yml("out", out))
    pipes.cli.ok("datastore", "create", "-f", yml, "-o", "none")
    storage.fs.mkdir(out)
    gate = pipes.root / "upload-gate"
    monkeypatch.setenv(GATE, str(gate))
    name = storage.invoke("azureml://datastores/blob/paths/in", "azureml://datastores/out/paths/r")
    monkeypatch.delenv(GATE)
    wait_for(gate.exists, "the upload to stage its first block", timeout=120)
    storage.fs.rm(out, recursive=True)  # the container goes while the upload waits
    gate.unlink()
    job = pipes.wait(name)
    assert job["status"] == "Failed"
    assert job["error"]["message"].startswith(
        "uploading the output to azureml://datastores/out/paths/r failed: "
    )
    steps = {step: child["status"] for step, child in pipes.steps(name).items()}
    assert steps == {"upper_job": "Completed", "join_job": "Completed"}

    storage.fs.mkdir(out)
    pipes.cli.ok("job", "resume", "-n", name, "-o", "none")
    assert pipes.wait(name)["status"] == "Completed"
    log = (pipes.folder(name) / "logs/azureml/executionlogs.txt").read_text()
    assert "Resuming: keeping completed steps upper_job, join_job" in log
    assert log.count("Submitting 1 runs") == 2  # each step ran once, before the resume
    found = datastores.filesystem(Workspace(pipes.ws), "out")[1]
    assert found.cat(f"{out}/r/all.txt") == b"A!\nB!\n!\n"


@pytest.mark.parametrize(
    ("given", "code", "error"),
    [
        (
            "azureml://datastores/blob/paths/nothing-here",
            3,
            "ERROR: azureml://datastores/blob/paths/nothing-here: no such path in storage\n",
        ),
        (
            "azureml://datastores/nope/paths/in",
            3,
            "ERROR: datastore 'nope' not found in workspace {ws}\n"
            "Hint: list them with: batchml datastore list\n",
        ),
    ],
)
def test_an_input_not_in_storage_creates_no_job(
    storage: Storage,
    given: str,
    code: int,
    error: str,
) -> None:
    pipes = storage.pipes
    inputs = pipes.write("bad.yml", INPUTS.format(kind="uri_folder", path=given, output="out"))
    result = pipes.cli("batch-endpoint", "invoke", "-n", "pipe-ep", "-f", inputs)
    assert (result.code, result.out, result.err) == (code, "", error.format(ws=pipes.ws))
    assert pipes.cli("job", "list", "-o", "tsv").out == ""


@pytest.mark.parametrize("form", ["https", "wasbs", "abfss"])
def test_an_output_to_a_storage_url_goes_to_the_datastore_on_it(
    storage: Storage, form: str
) -> None:
    container = storage.container
    output = {
        "https": f"https://{ACCOUNT}.blob.core.windows.net/{container}/out/{form}",
        "wasbs": f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/out/{form}",
        "abfss": f"abfss://{container}@{ACCOUNT}.dfs.core.windows.net/out/{form}",
    }[form]
    name = storage.invoke("azureml://datastores/blob/paths/in", output)
    job = storage.pipes.wait(name)

    assert job["status"] == "Completed", job.get("error")
    assert job["outputs"]["scores"]["path"] == output
    # Uploaded with datastore blob's credentials, as azureml://datastores/blob/paths/out/<form>.
    assert storage.files(f"out/{form}") == {"all.txt": b"A!\nB!\n!\n"}
    log = (storage.pipes.folder(name) / "logs/azureml/executionlogs.txt").read_text()
    assert f"output: 1 file(s) published in {output}" in log


def test_an_output_to_storage_no_datastore_is_on_creates_no_job(storage: Storage) -> None:
    pipes = storage.pipes
    given = f"https://{ACCOUNT}.blob.core.windows.net/elsewhere/out"
    inputs = pipes.write(
        "bad.yml",
        INPUTS.format(kind="uri_folder", path="azureml://datastores/blob/paths/in", output=given),
    )
    result = pipes.cli("batch-endpoint", "invoke", "-n", "pipe-ep", "-f", inputs)
    assert (result.code, result.out) == (3, "")
    assert result.err.splitlines()[0] == (
        f"ERROR: output path {given}: no registered datastore is on that storage, so batchml "
        "has no credentials to write there"
    )
    assert pipes.cli("job", "list", "-o", "tsv").out == ""


def test_a_second_job_writing_a_path_an_unfinished_one_writes_is_refused_at_invoke(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipes = storage.pipes
    gate = pipes.root / "upload-gate"
    monkeypatch.setenv(GATE, str(gate))
    first = storage.invoke(
        "azureml://datastores/blob/paths/in", "azureml://datastores/blob/paths/out"
    )
    monkeypatch.delenv(GATE)
    wait_for(gate.exists, "the upload to stage its first block", timeout=120)

    # The same folder, and one inside it, while the first job uploads.
    for output in ("azureml://datastores/blob/paths/out", "azureml://datastores/blob/paths/out/x"):
        text = INPUTS.format(
            kind="uri_folder", path="azureml://datastores/blob/paths/in", output=output
        )
        result = pipes.cli(
            "batch-endpoint", "invoke", "-n", "pipe-ep", "-f", pipes.write("again.yml", text)
        )
        assert (result.code, result.out) == (5, ""), result.err
        assert result.err.splitlines()[0] == (
            f"ERROR: job '{first}' (Running) writes azureml://datastores/blob/paths/out, where "
            "this job's outputs would go"
        )
    assert [job["name"] for job in pipes.cli.ok("job", "list")] == [first]

    gate.unlink()
    assert pipes.wait(first)["status"] == "Completed"
