"""Jobs whose input is in storage (a real Azure Blob Storage emulator, the `azurite` fixture):
read through a datastore path, a storage-account URL, `--inputs` JSON and a data asset, each
scoring exactly what the same job scores on local files, in the same order; the mistakes that
can be seen before a job exists refused with one line; fetched files cached, so that a retried
or resumed mini-batch downloads nothing again."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import threading
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from azurite import ACCOUNT, KEY

from batchml.services import datastores
from batchml.store.workspace import Workspace
from tests.conftest import tree_digest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(120)]

DRIVER_LOG = "azureml-logs/70_driver_log.txt"


def files_of(contents: list[str]) -> dict[str, str]:
    """in00.txt, in01.txt, ...; the last one in a sub-folder (ordered by relative path)."""
    names = [f"in{index:02d}.txt" for index in range(len(contents))]
    names[-1] = f"sub/{names[-1]}"
    return dict(zip(names, contents, strict=True))


def upload(jobs: Any, azurite: Any, files: dict[str, str], *, datastore: str = "blobs") -> str:
    """A fresh container with `files` under in/, behind datastore `datastore`; its name."""
    container = f"c{uuid.uuid4().hex[:12]}"
    yml = jobs.root / f"{datastore}.yml"
    yml.write_text(azurite.datastore_yml(datastore, container))
    jobs.cli.ok("datastore", "create", "-f", yml, "-o", "none")
    _, storage = datastores.filesystem(Workspace(jobs.ws), datastore)
    storage.mkdir(container)
    storage.pipe({f"{container}/in/{name}": text.encode() for name, text in files.items()})
    return container


def local_copy(jobs: Any, files: dict[str, str]) -> Path:
    folder = jobs.root / "local"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """An http server of `folder` (its index pages list the files) on 127.0.0.1; its URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def output(jobs: Any, name: str) -> list[str]:
    return jobs.output(name).read_text().splitlines()


def test_storage_inputs_score_what_the_same_local_files_score(jobs: Any, azurite: Any) -> None:
    files = files_of(["a", "b", "c", "d", "e"])
    container = upload(jobs, azurite, files)
    url = f"https://{ACCOUNT}.blob.core.windows.net/{container}/in"
    jobs.cli.ok("data", "create", "-n", "remote", "--path", "azureml://datastores/blobs/paths/in")
    inputs = json.dumps({"data": {"type": "uri_folder", "path": url}})
    local = local_copy(jobs, files)
    with served(local) as public:
        public_name = jobs.invoke("--input", f"{public}/")
        assert jobs.wait(public_name, "Completed", "Failed")["status"] == "Completed"
    names = {
        "local": jobs.invoke("--input", local),
        "public http": public_name,
        "datastore": jobs.invoke("--input", "azureml://datastores/blobs/paths/in"),
        "long form": jobs.invoke(
            "--input",
            "azureml://subscriptions/s/resourcegroups/g/workspaces/w/datastores/blobs/paths/in/",
        ),
        "url": jobs.invoke("--inputs", inputs),
        # Not reused from the jobs before on the same files: it fetches them (see below).
        "asset": jobs.invoke("--input", "azureml:remote@latest", "--set", "reuse=false"),
        "one file": jobs.invoke("--input", f"{url}/in01.txt", "--input-type", "uri_file"),
    }
    for name in names.values():
        assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"

    expected = ["in00.txt a", "in01.txt b", "in02.txt c", "in03.txt d", "in04.txt e"]
    assert output(jobs, names["local"]) == expected
    for how in ("public http", "datastore", "long form", "url", "asset"):
        assert output(jobs, names[how]) == expected, how
    assert output(jobs, names["one file"]) == ["in01.txt b"]
    record = json.loads((jobs.folder(names["url"]) / "job.json").read_text())["input"]
    assert record["remote"] == {
        "protocol": "az",
        "root": f"{container}/in",
        "datastore": "blobs",
        "account_name": None,
        "account_url": None,
    }
    # Every job downloaded its files or found them in the cache; none had them listed by invoke.
    log = (jobs.folder(names["asset"]) / DRIVER_LOG).read_text()
    assert "input files from storage: 0 downloaded (0 bytes), 5 found in the cache" in log
    assert not (jobs.folder(names["url"]) / "inputs.json").exists()


def test_a_listing_out_of_order_is_scored_in_the_order_of_the_local_files(
    jobs: Any, azurite: Any
) -> None:
    # Azurite lists blobs in UTF-16 order, an astral character before U+FF01: not the UTF-8
    # byte order Azure lists in and local folders are walked in, so the runner sorts the rest.
    files = {"x\U0001f600.txt": "a", "x\uff01.txt": "b", "a.txt": "c", "w.txt": "d"}
    container = upload(jobs, azurite, files)
    assert container
    local = local_copy(jobs, files)
    names = [
        jobs.invoke("--input", local),
        jobs.invoke("--input", "azureml://datastores/blobs/paths/in"),
    ]
    for name in names:
        assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"

    expected = ["a.txt c", "w.txt d", "x\uff01.txt b", "x\U0001f600.txt a"]
    assert output(jobs, names[0]) == output(jobs, names[1]) == expected


def test_what_storage_refuses_is_one_line_and_no_job(jobs: Any, azurite: Any) -> None:
    container = upload(jobs, azurite, files_of(["a"]))
    wrong = jobs.root / "wrong.yml"
    wrong.write_text(azurite.datastore_yml("wrong_key", container, key=KEY[:-4] + "AAA="))
    jobs.cli.ok("datastore", "create", "-f", wrong, "-o", "none")
    gone = jobs.root / "gone.yml"
    gone.write_text(azurite.datastore_yml("gone", "nocontainer"))
    jobs.cli.ok("datastore", "create", "-f", gone, "-o", "none")
    # A datastore with no credentials is read anonymously; the emulator's containers are private.
    private = upload(jobs, azurite, files_of(["a"]), datastore="private")
    anonymous = jobs.root / "anonymous.yml"
    anonymous.write_text(azurite.datastore_yml("anonymous", private).split("credentials:")[0])
    jobs.cli.ok("datastore", "create", "-f", anonymous, "-o", "none")
    cases = {
        "azureml://datastores/wrong_key/paths/in": (4, "the storage refused the credentials"),
        "azureml://datastores/nowhere/paths/in": (3, "datastore 'nowhere' not found"),
        "azureml://datastores/blobs/paths/missing": (3, "no such path in storage"),
        f"https://{ACCOUNT}.blob.core.windows.net/{container}/missing": (
            3,
            "no such path in storage",
        ),
        "azureml://datastores/gone/paths/in": (3, "no such container in storage"),
        "azureml://datastores/anonymous/paths/in": (
            4,
            "the storage refused to be read anonymously",
        ),
        f"http://127.0.0.1:{azurite.port}/no/such/file.csv": (3, "no such path in storage"),
    }
    for value, (code, message) in cases.items():
        result = jobs.cli("batch-endpoint", "invoke", "-n", "jobs-ep", "--input", value)
        assert result.code == code, (value, result.err)
        first = result.err.splitlines()[0]
        assert first.startswith("ERROR: ") and message in first, (value, result.err)
        if "anonymous" in value:
            assert result.err.splitlines()[1] == (
                "Hint: datastore 'anonymous' has no credentials, so it was read anonymously: "
                "give it an account_key or sas_token: batchml datastore create -f <anonymous.yml>"
            )
        assert KEY[:-4] not in result.err
    assert not (jobs.ws / "jobs").exists() or not any((jobs.ws / "jobs").iterdir())


def test_a_retried_mini_batch_finds_its_files_in_the_cache(jobs: Any, azurite: Any) -> None:
    files = files_of(["ok", "fail once", "ok", "ok"])
    upload(jobs, azurite, files)
    name = jobs.invoke(
        "--input", "azureml://datastores/blobs/paths/in", "--set", "retry_settings.max_retries=1"
    )
    job = jobs.wait(name, "Completed", "Failed")

    assert job["status"] == "Completed"
    assert output(jobs, name) == ["in00.txt ok", "in01.txt fail once", "in02.txt ok", "in03.txt ok"]
    size = sum(len(text) for text in files.values())
    log = (jobs.folder(name) / DRIVER_LOG).read_text()
    assert "mini-batch 0 attempt 1 failed" in log
    assert f"input files from storage: 4 downloaded ({size} bytes), 2 found in the cache" in log


def test_a_resumed_job_plans_from_its_first_list_and_downloads_nothing_again(
    jobs: Any, azurite: Any
) -> None:
    files = files_of(["ok", "ok", "wait", "wait"])
    container = upload(jobs, azurite, files)
    name = jobs.invoke("--input", "azureml://datastores/blobs/paths/in")
    jobs.wait_records(name, 1)
    jobs.wait(name, "Running")
    jobs.wait_scored(3)  # the second mini-batch's files were fetched: its worker reads them
    assert jobs.cli.ok("job", "cancel", "-n", name)["status"] == "Canceled"
    jobs.wait_runners_gone()
    listed = (jobs.folder(name) / "inputs.list").read_bytes()
    # Added after the first run listed the input: not part of this job.
    _, storage = datastores.filesystem(Workspace(jobs.ws), "blobs")
    storage.pipe({f"{container}/in/in00a.txt": b"late"})

    jobs.cli.ok("job", "resume", "-n", name)
    jobs.gate.touch()
    job = jobs.wait(name, "Completed", "Failed")

    assert job["status"] == "Completed"
    assert job["batch"]["mini_batches"] == {
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "resumed": 1,
        "reused": 0,
    }
    assert output(jobs, name) == ["in00.txt ok", "in01.txt ok", "in02.txt wait", "in03.txt wait"]
    assert (jobs.folder(name) / "inputs.list").read_bytes() == listed
    log = (jobs.folder(name) / DRIVER_LOG).read_text()
    assert log.count("input files from storage:") == 2
    assert "0 downloaded (0 bytes), 2 found in the cache" in log


@pytest.mark.ray
@pytest.mark.slow
def test_ray_actors_fetch_their_own_mini_batches(jobs: Any, azurite: Any, ray_head: Any) -> None:
    upload(jobs, azurite, files_of(["a", "b", "c", "d", "e"]))
    jobs.cli.ok(
        "compute", "create", "-n", "big", "--type", "ray", "--address", ray_head.address, "-o",
        "none",
    )  # fmt: skip
    value = "azureml://datastores/blobs/paths/in"
    # The actors' own cache (a node's), through the job's environment variables.
    node_cache = jobs.root / "node-cache"
    name = jobs.invoke(
        "--input", value, "--set", "compute=azureml:big",
        f"environment_variables.BATCHML_CACHE_DIR={node_cache}",
    )  # fmt: skip
    job = jobs.wait(name, "Completed", "Failed")

    assert job["status"] == "Completed", job["error"]
    assert output(jobs, name) == [
        "in00.txt a",
        "in01.txt b",
        "in02.txt c",
        "in03.txt d",
        "in04.txt e",
    ]
    # The runner fetched nothing; the actors fetched every file, once.
    assert "input files from storage" not in (jobs.folder(name) / DRIVER_LOG).read_text()
    said = "\n".join(
        path.read_text() for path in (jobs.folder(name) / "logs").rglob("*") if path.is_file()
    )
    fetched = re.findall(r"mini-batch (\d): (\d) input files downloaded, (\d) found", said)
    assert sorted(fetched) == [("0", "2", "0"), ("1", "2", "0"), ("2", "1", "0")]
    assert len(list((node_cache / "inputs").glob("??/*/*.txt"))) == 5


def test_a_dry_run_plans_storage_inputs_from_the_listing_sizes(jobs: Any, azurite: Any) -> None:
    files = files_of(["a" * 300, "b" * 20, "c", "d" * 4000, "e" * 50])
    upload(jobs, azurite, files)
    before = tree_digest(jobs.ws)
    plans = [
        jobs.cli.ok("batch-endpoint", "invoke", "-n", "jobs-ep", "--input", where,
                    "--mini-batch-size", "1kb", "--dry-run", "--query", "[files, bytes, mini_batches]")
        for where in ("azureml://datastores/blobs/paths/in", local_copy(jobs, files))
    ]  # fmt: skip
    assert tree_digest(jobs.ws) == before
    # The same plan as on the same files on disk: [in00-02], [in03] alone, [sub/in04].
    assert plans[0] == plans[1]
    assert plans[0][:2] == [5, 4371]
    assert plans[0][2]["count"] == 3
    assert plans[0][2]["largest"] == {"index": 1, "files": 1, "bytes": 4000}
