"""A job whose input is in storage (the `azurite` fixture) names its failed files as the user
named them, a datastore path or a storage URL, never by their paths in the input cache: in
failures.jsonl, `job failures`, the failure summary of `job show` and the driver log."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest
from azurite import ACCOUNT
from conftest import SCRIPTS
from test_remote_inputs import DRIVER_LOG, files_of, upload

from batchml.store.input_cache import InputCache

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("form", "compute"),
    [
        ("datastore", "local"),
        ("url", "local"),
        pytest.param("datastore", "ray", marks=[pytest.mark.ray, pytest.mark.slow]),
    ],
)
def test_failed_files_are_named_by_their_paths_in_storage(
    jobs: Any, azurite: Any, form: str, compute: str, request: pytest.FixtureRequest
) -> None:
    code = jobs.root / "paths_code"
    code.mkdir()
    shutil.copy(SCRIPTS / "paths.py", code)
    deployment = (jobs.root / "deployment.yml").read_text()
    deployment = deployment.replace("name: logged", "name: paths").replace(
        "{code: code, scoring_script: logged.py}", "{code: paths_code, scoring_script: paths.py}"
    )
    (jobs.root / "paths.yml").write_text(deployment)
    jobs.cli.ok("batch-deployment", "create", "-f", jobs.root / "paths.yml", "--set-default")
    # Mini-batches of two: [in00 ok, in01 raise] fails whole, [in02 ok, sub/in03 bad] in part.
    container = upload(jobs, azurite, files_of(["ok", "raise", "ok", "bad"]))
    given = {
        "datastore": "azureml://datastores/blobs/paths/in",
        "url": f"https://{ACCOUNT}.blob.core.windows.net/{container}/in",
    }[form]
    where: list[str] = []
    caches = [str(InputCache().root)]
    if compute == "ray":
        # Ray actors fetch their files into their node's cache, and name them as local workers
        # do; that cache is set through the job's environment variables.
        head = request.getfixturevalue("ray_head")
        jobs.cli.ok("compute", "create", "-n", "big", "--type", "ray", "--address", head.address)
        caches.append(str(jobs.root / "node-cache"))
        where = ["--set", "compute=azureml:big", "--set",
                 f"environment_variables.BATCHML_CACHE_DIR={caches[1]}"]  # fmt: skip
    name = jobs.invoke("--input", given, *where)
    job = jobs.wait(name, "Completed", "Failed")

    assert job["status"] == "Completed"
    listed = jobs.cli.ok("job", "failures", "-n", name)
    assert {failure["message"]: failure["files"] for failure in listed} == {
        f"cannot score {given}/in01.txt": [f"{given}/in00.txt", f"{given}/in01.txt"],
        f"{given}/sub/in03.txt is bad": [f"{given}/sub/in03.txt"],
    }
    assert job["failures"]["files"] == ["in00.txt", "in01.txt", "sub/in03.txt"]
    records = (jobs.folder(name) / "logs" / "failures.jsonl").read_text()
    # Its two mini-batches run side by side: the raising one's records need not come first.
    raised = [json.loads(line) for line in records.splitlines() if "cannot score" in line]
    traceback = raised[0]["traceback"]
    assert traceback.endswith(f"ValueError: cannot score {given}/in01.txt\n")
    failed_lines = [
        line
        for line in (jobs.folder(name) / DRIVER_LOG).read_text().splitlines()
        if " failed: " in line
    ]
    assert failed_lines and all(given in line for line in failed_lines)
    for cache in caches:
        assert cache not in records and not any(cache in line for line in failed_lines)
    if compute == "ray":
        assert list((jobs.root / "node-cache" / "inputs").glob("??/*/*.txt"))
