"""Invoking a job on an input in storage (the `azurite` fixture) checks it with the blob client
alone: the command never imports adlfs (nor fsspec), whose import costs about as much again."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from test_remote_inputs import files_of, upload

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(120)]


def test_invoke_on_an_input_in_storage_imports_no_adlfs(jobs: Any, azurite: Any) -> None:
    upload(jobs, azurite, files_of(["a", "b", "c"]))
    argv = ["batch-endpoint", "invoke", "-n", "jobs-ep", "--input"]
    argv += ["azureml://datastores/blobs/paths/in", "--query", "name", "-o", "tsv"]
    code = (
        "import sys\n"
        "from batchml.cli.app import run\n"
        f"code = run({argv!r})\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'adlfs', 'fsspec'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    name, imported = result.stdout.splitlines()
    assert imported == "0 []", result.stderr
    assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"
