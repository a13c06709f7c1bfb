"""Tables in storage split by rows (a real Azure Blob Storage emulator, the `azurite` fixture):
an MLTable in a datastore (its paths files or glob patterns) and a folder of tabular files at a
storage account URL (split by rows or by partition_keys) score the same mini-batches, with the
same output bytes, as the same job on local files; a path of an MLTable that is not there, a
pattern matching nothing and a partition key the table lacks are refused before any job
exists; a resumed job scores no journaled mini-batch again."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from azurite import ACCOUNT
from processes import wait_sessions_gone
from projects import Project, model_deployment, project_at
from waiting import wait_for, wait_for_status

from batchml.services import datastores
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Cli

pytestmark = [pytest.mark.azurite, pytest.mark.timeout(180)]

# Logs each mini-batch (its first id, its rows, the files of its rows) and returns a row per
# input row; mini-batches from WAIT_FROM on wait for the gate.
SCRIPT = """\
import json
import os
import time


def init():
    pass


def run(frame):
    first = int(frame["id"].iloc[0])
    with open(os.environ["SCORED_LOG"], "a") as log:
        log.write(json.dumps([first, len(frame), str(frame["value"].dtype)]) + "\\n")
    if first >= int(os.environ.get("WAIT_FROM", "-1")) >= 0:
        while not os.path.exists(os.environ["GATE"]):
            time.sleep(0.01)
    return [f"{i} {v} {n}" for i, v, n in zip(frame["id"], frame["value"], frame["name"])]
"""

ROWS = 3000


def write_table(folder: Path, *, parquet: bool = True) -> None:
    """big.csv (quoted commas and quotes, missing values) and part.parquet (5 row groups)."""
    import numpy as np
    import pandas as pd

    ids = np.arange(ROWS)
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": [f'item "{i}", size {i % 7}' for i in ids],
            "value": [None if i % 5 == 0 else i / 8 for i in ids],
            "key": ids // 500,  # six partitions; the parquet file's rows are in the first six
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "big.csv", index=False)
    if parquet:
        frame.assign(id=ids + ROWS, key=ids % 6).to_parquet(
            folder / "part.parquet", row_group_size=ROWS // 5
        )


def uploaded(project: Project, azurite: Any, folder: Path, prefix: str) -> str:
    """A fresh container behind datastore `blobs` with `folder`'s files under `prefix`/."""
    container = f"c{uuid.uuid4().hex[:12]}"
    yml = project.root / "blobs.yml"
    yml.write_text(azurite.datastore_yml("blobs", container))
    project.cli.ok("datastore", "create", "-f", yml, "-o", "none")
    _, storage = datastores.filesystem(Workspace(project.ws), "blobs")
    storage.mkdir(container)
    storage.pipe(
        {
            f"{container}/{prefix}/{path.relative_to(folder).as_posix()}": path.read_bytes()
            for path in folder.rglob("*")
            if path.is_file()
        }
    )
    return container


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    with project_at(cli, ws, tmp_path, monkeypatch, "tables-ep") as project:
        yield project


def deploy(project: Project, *, wait_from: int = -1, **settings: object) -> None:
    deployment = model_deployment("tables")
    variables = {
        "SCORED_LOG": str(project.root / "scored.log"),
        "GATE": str(project.root / "gate"),
        "WAIT_FROM": str(wait_from),
    }
    deployment["settings"] = {
        **deployment["settings"],
        "environment_variables": variables,
        "reuse": False,
        **settings,
    }
    project.deploy(deployment, SCRIPT)


def run(project: Project, *args: str | Path) -> tuple[bytes, list[list[Any]]]:
    """The output bytes and the logged mini-batches (sorted) of a job invoked with `args`."""
    log = project.root / "scored.log"
    log.unlink(missing_ok=True)
    name = str(project.cli.ok("batch-endpoint", "invoke", "-n", "tables-ep", *args)["name"])
    job = project.wait(name)
    assert job["status"] == "Completed", job
    output = project.ws / "datastores/workspaceblobstore/azureml" / name / "score"
    batches = sorted(json.loads(line) for line in log.read_text().splitlines())
    return (output / "predictions.csv").read_bytes(), batches


CSV_TABLE = """\
    type: mltable
    paths:
      - file: ./big.csv
    transformations:
      - read_delimited: {delimiter: ",", header: all_files_same_headers, encoding: utf8}
    """


def test_an_mltable_in_a_datastore_scores_as_the_same_local_table(
    project: Project, azurite: Any
) -> None:
    local = project.root / "table"
    write_table(local, parquet=False)
    (local / "MLTable").write_text(textwrap.dedent(CSV_TABLE))
    uploaded(project, azurite, local, "tables/t")
    deploy(project, mini_batch_size="20kb")

    here = run(project, "--input", local, "--input-type", "mltable")
    remote = ("--input", "azureml://datastores/blobs/paths/tables/t", "--input-type", "mltable")
    there = run(project, *remote)
    plan = project.cli.ok("batch-endpoint", "invoke", "-n", "tables-ep", *remote, "--dry-run")

    assert there == here
    assert plan["mini_batches"]["count"] == len(there[1])
    header = len((local / "big.csv").read_bytes().split(b"\n", 1)[0]) + 1
    assert plan["bytes"] == (local / "big.csv").stat().st_size - header
    assert len(here[1]) >= 6  # split by bytes, not one mini-batch
    assert sum(rows for _, rows, _ in here[1]) == ROWS


def test_a_folder_at_a_storage_url_split_by_rows_scores_as_the_same_local_folder(
    project: Project, azurite: Any
) -> None:
    local = project.root / "tab"
    write_table(local)
    container = uploaded(project, azurite, local, "tab")
    deploy(project, mini_batch_size="700 rows")

    here = run(project, "--input", local)
    url = f"https://{ACCOUNT}.blob.core.windows.net/{container}/tab"
    there = run(project, "--input", url)

    assert there == here
    assert [rows for _, rows, _ in here[1]] == [700] * 4 + [200] + [700] * 4 + [200]


def test_a_path_of_an_mltable_in_storage_that_is_not_there_is_exit_3_and_no_job(
    project: Project, azurite: Any
) -> None:
    local = project.root / "table"
    write_table(local)
    (local / "MLTable").write_text(textwrap.dedent(CSV_TABLE.replace("big.csv", "gone.csv")))
    uploaded(project, azurite, local, "t")
    deploy(project)

    result = project.cli(
        "batch-endpoint", "invoke", "-n", "tables-ep", "--input-type", "mltable",
        "--input", "azureml://datastores/blobs/paths/t",
    )  # fmt: skip

    assert result.code == 3, result.err
    assert result.err.splitlines()[0] == (
        "ERROR: azureml://datastores/blobs/paths/t/gone.csv: not found in storage (404)"
    )
    assert result.out == ""
    assert project.cli.ok("job", "list") == []


# By rows or by partition (keys of 500 rows each), the mini-batches begin at the same rows.
@pytest.mark.parametrize(
    "settings",
    [{"mini_batch_size": "500 rows"}, {"partition_keys": ["key"]}],
    ids=["rows", "partitions"],
)
def test_a_resumed_storage_table_job_scores_each_mini_batch_once_and_downloads_nothing_again(
    project: Project, azurite: Any, settings: dict[str, Any]
) -> None:
    from batchml.runner.journal import HEADER_SIZE, RECORD_SIZE

    local = project.root / "tab"
    write_table(local, parquet=False)
    uploaded(project, azurite, local, "tab")
    deploy(project, wait_from=1500, **settings)
    log = project.root / "scored.log"
    name = str(
        project.cli.ok(
            "batch-endpoint", "invoke", "-n", "tables-ep",
            "--input", "azureml://datastores/blobs/paths/tab",
        )["name"]
    )  # fmt: skip
    # The mini-batches from row 1500 on wait: the three before them are journaled, then the
    # runner is killed.
    journal = project.folder(name) / "journal" / "journal.bin"
    try:
        wait_for(
            lambda: journal.exists() and (journal.stat().st_size - HEADER_SIZE) // RECORD_SIZE >= 3,
            "three outcomes in the journal",
        )
        assert project.show(name)["status"] == "Running"
        pid = next(iter(project.runners))
        os.killpg(pid, signal.SIGKILL)
        wait_for_status(project.show, name, "NotResponding")
        wait_sessions_gone({pid})
        before = [json.loads(line)[0] for line in log.read_text().splitlines()]
        project.cli.ok("job", "resume", "-n", name, "-o", "none")
    finally:
        (project.root / "gate").touch()  # no runner is left waiting, whatever happened
    job = project.wait(name)

    assert job["status"] == "Completed", job.get("error")
    assert job["batch"]["mini_batches"]["resumed"] == 3
    firsts = [json.loads(line)[0] for line in log.read_text().splitlines()]
    again = firsts[len(before) :]
    assert not {0, 500, 1000} & set(again), again
    assert sorted(set(firsts)) == list(range(0, ROWS, 500))
    output = project.ws / "datastores/workspaceblobstore/azureml" / name / "score"
    assert len((output / "predictions.csv").read_text().splitlines()) == ROWS
    # The ranges the first runner had fetched are found in the cache, not downloaded again.
    driver = (project.folder(name) / "azureml-logs/70_driver_log.txt").read_text()
    fetched = [line for line in driver.splitlines() if "input files from storage" in line]
    assert fetched and "0 found in the cache" not in fetched[-1], fetched


def test_partition_keys_on_a_folder_in_storage_score_as_the_same_local_folder(
    project: Project, azurite: Any
) -> None:
    local = project.root / "tab"
    write_table(local)
    container = uploaded(project, azurite, local, "tab")
    deploy(project, partition_keys=["key"])
    url = f"https://{ACCOUNT}.blob.core.windows.net/{container}/tab"

    here = run(project, "--input", local)
    there = run(project, "--input", url)
    plan = project.cli.ok(
        "batch-endpoint", "invoke", "-n", "tables-ep", "--input", url, "--dry-run"
    )

    assert there == here
    # One mini-batch per key, each with its 500 CSV rows and its 500 parquet rows.
    assert here[1] == [[500 * key, 1000, "float64"] for key in range(6)]
    assert plan["mini_batches"]["count"] == 6
    # A key the table lacks is refused at invoke, naming the first blob's columns.
    result = project.cli(
        "batch-endpoint", "invoke", "-n", "tables-ep", "--input", url,
        "--set", 'partition_keys=["key", "region"]',
    )  # fmt: skip
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[0] == (
        f"ERROR: partition_keys: the tabular input {url} has no column region "
        f"({url}/big.csv has id, name, value, key)"
    )


PATTERN_TABLE = """\
    paths:
      - pattern: ./**/*.csv
      - file: ./top.csv
    transformations:
      - read_delimited: {header: all_files_same_headers}
    """


def test_a_pattern_in_an_mltable_in_storage_matches_as_on_this_machine(
    project: Project, azurite: Any
) -> None:
    local = project.root / "table"
    write_table(local / "a" / "b", parquet=False)
    write_table(local / "c", parquet=False)
    (local / ".skip").mkdir()  # hidden names, which glob skips (their rows would fail)
    (local / ".skip" / "x.csv").write_text("id,name,value,key\nbad\n")
    (local / "c" / ".skip.csv").write_text("id,name,value,key\nbad\n")
    (local / "c" / "notes.txt").write_text("not a table")
    (local / "top.csv").write_bytes((local / "c" / "big.csv").read_bytes())
    (local / "MLTable").write_text(textwrap.dedent(PATTERN_TABLE))
    uploaded(project, azurite, local, "t")
    deploy(project, mini_batch_size="1000 rows")

    here = run(project, "--input", local, "--input-type", "mltable")
    there = run(project, "--input", "azureml://datastores/blobs/paths/t", "--input-type", "mltable")

    # a/b/big.csv, c/big.csv, top.csv (also matched by the pattern, read once): 3 x 3 ranges.
    assert [rows for _, rows, _ in here[1]] == [1000] * 9
    assert there == here


def test_a_pattern_matching_nothing_in_storage_is_the_error_it_is_locally(
    project: Project, azurite: Any
) -> None:
    local = project.root / "table"
    write_table(local, parquet=False)
    (local / "MLTable").write_text(
        "paths: [{pattern: ./*.parquet}, {pattern: ./gone/**/*.csv}]\n"
        "transformations: [read_parquet]\n"
    )
    uploaded(project, azurite, local, "t")
    deploy(project)
    url = "azureml://datastores/blobs/paths/t"

    results = [
        project.cli("batch-endpoint", "invoke", "-n", "tables-ep", "--input-type", "mltable",
                    "--input", where)
        for where in (local, url)
    ]  # fmt: skip

    assert [(r.code, r.out, r.err.splitlines()[0]) for r in results] == [
        (3, "", f"ERROR: the MLTable in {where} names no files") for where in (local, url)
    ]
    assert project.cli.ok("job", "list") == []
