"""Tabular inputs through the CLI: an MLTable folder or a folder of tabular files split into
mini-batches of rows, run() getting a DataFrame; what the mini-batches held is compared with
the files' rows (each mini-batch's DataFrame is saved by the scoring script)."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from processes import wait_sessions_gone
from projects import Project, model_deployment, project_at
from waiting import wait_for, wait_for_status

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pandas as pd

    from tests.conftest import Cli

pytestmark = [pytest.mark.timeout(180)]

# Saves each mini-batch's DataFrame as frames/<first id>.pkl (and a partition's context as
# .json), logs its first id, returns one row per input row; mini-batches whose first id is
# WAIT_FROM or more wait for the gate.
SCRIPT = """\
import json
import os
import time


def init():
    pass


def run(frame, context=None):
    first = int(frame["id"].iloc[0])
    frame.to_pickle(os.path.join(os.environ["FRAMES"], f"{first:08d}.pkl"))
    if context is not None:
        with open(os.path.join(os.environ["FRAMES"], f"{first:08d}.json"), "w") as file:
            json.dump([context.partition_key_value, context.minibatch_index], file)
    with open(os.environ["SCORED_LOG"], "a") as log:
        log.write(f"{first}\\n")
    if first >= int(os.environ.get("WAIT_FROM", "-1")) >= 0:
        while not os.path.exists(os.environ["GATE"]):
            time.sleep(0.01)
    return [f"{value} {type(frame).__name__}" for value in frame["id"]]
"""

ROWS = 6000


def table(rows: int = ROWS) -> pd.DataFrame:
    """Rows with quoted fields (commas, quotes), floats, missing values."""
    import numpy as np
    import pandas as pd

    ids = np.arange(rows)
    return pd.DataFrame(
        {
            "id": ids,
            "name": [f'item "{i}", size {i % 7}' for i in ids],
            "value": ids / 8,
            "key": [f"k{i % 3}" for i in ids],
            "note": [None if i % 5 == 0 else f"n{i}" for i in ids],
        }
    )


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    with project_at(cli, ws, tmp_path, monkeypatch, "rows-ep") as project:
        (project.root / "frames").mkdir()
        yield project


def deploy(project: Project, *, workers: int = 1, wait_from: int = -1, **settings: object) -> None:
    deployment = model_deployment("rows")
    variables = {
        "FRAMES": str(project.root / "frames"),
        "SCORED_LOG": str(project.root / "scored.log"),
        "GATE": str(project.root / "gate"),
        "WAIT_FROM": str(wait_from),
    }
    deployment["settings"] = {
        **deployment["settings"],
        "max_concurrency_per_instance": workers,
        "environment_variables": variables,
        **settings,
    }
    project.deploy(deployment, SCRIPT)


def mltable(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLTable").write_text(textwrap.dedent(text))
    return folder


CSV_TABLE = """\
    $schema: https://azuremlschemas.azureedge.net/latest/MLTable.schema.json
    type: mltable
    paths:
      - file: ./big.csv
    transformations:
      - read_delimited: {delimiter: ",", header: all_files_same_headers, encoding: utf8}
    """


def invoke(project: Project, *args: str | Path) -> dict:
    name = project.cli.ok("batch-endpoint", "invoke", "-n", "rows-ep", *args)["name"]
    return project.wait(str(name))


def frames(project: Project) -> list[pd.DataFrame]:
    """The mini-batches' DataFrames, in the order of their first rows."""
    import pandas as pd

    return [pd.read_pickle(path) for path in sorted((project.root / "frames").glob("*.pkl"))]


def scored(project: Project) -> Counter[str]:
    log = project.root / "scored.log"
    return Counter(log.read_text().split() if log.exists() else [])


def test_a_big_csv_is_split_into_mini_batches_of_bytes_that_hold_every_row_once(
    project: Project,
) -> None:
    import pandas as pd

    deploy(project, workers=2, mini_batch_size="30kb")
    data = mltable(project.root / "table", CSV_TABLE)
    table().to_csv(data / "big.csv", index=False)
    size = (data / "big.csv").stat().st_size
    job = invoke(project, "--input", data, "--input-type", "mltable")

    assert job["status"] == "Completed", job.get("error")
    batches = frames(project)
    expected_batches = -(-size // 30_000)
    assert len(batches) == job["batch"]["mini_batches"]["total"]
    assert expected_batches - 1 <= len(batches) <= expected_batches
    assert len(batches) >= 8
    assert job["batch"]["files"] == {"total": len(batches), "succeeded": len(batches), "failed": 0}
    together = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(together, pd.read_csv(data / "big.csv"))
    assert project.rows(job["name"]) == sorted(f"{i} DataFrame" for i in range(ROWS))


def test_a_mini_batch_size_in_rows_and_a_parquet_uri_folder(project: Project) -> None:
    import pandas as pd

    deploy(project)
    data = project.root / "parquet"
    data.mkdir()
    expected = table()
    expected.iloc[:4000].to_parquet(data / "a.parquet", row_group_size=500)
    expected.iloc[4000:].to_parquet(data / "b.pqt", row_group_size=300)
    job = invoke(project, "--input", data, "--mini-batch-size", "1500 rows")

    assert job["status"] == "Completed", job.get("error")
    batches = frames(project)
    # A mini-batch never spans two files: 4000 rows in 3, 2000 in 2.
    assert [len(frame) for frame in batches] == [1500, 1500, 1000, 1500, 500]
    together = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(together, expected)


def test_parquet_row_groups_packed_by_size(project: Project) -> None:
    deploy(project, mini_batch_size="1kb")
    data = mltable(
        project.root / "table",
        """\
        paths:
          - pattern: ./*.parquet
        transformations:
          - read_parquet: {include_path_column: true}
        """,
    )
    table(1000).to_parquet(data / "one.parquet", row_group_size=100)
    job = invoke(project, "--input", data, "--input-type", "mltable")

    assert job["status"] == "Completed", job.get("error")
    batches = frames(project)
    # Each row group is over 1kb compressed: one mini-batch each.
    assert [len(frame) for frame in batches] == [100] * 10
    assert set(batches[0]["Path"]) == {str(data / "one.parquet")}


def test_partition_keys_give_one_data_frame_per_key_value(project: Project) -> None:
    deploy(project, workers=2)
    data = project.root / "csvs"
    data.mkdir()
    expected = table(900)
    expected.iloc[:500].to_csv(data / "a.csv", index=False)
    expected.iloc[500:].to_csv(data / "b.csv", index=False)
    job = invoke(project, "--input", data, "--set", 'partition_keys=["key"]')

    assert job["status"] == "Completed", job.get("error")
    assert job["settings"]["partition_keys"] == ["key"]
    batches = frames(project)
    assert sorted(frame["key"].iloc[0] for frame in batches) == ["k0", "k1", "k2"]
    for frame in batches:
        assert frame["key"].nunique() == 1
        assert len(frame) == 300
    # run(input_data, mini_batch_context) gets the partition's values, as in Azure.
    contexts = [json.loads(path.read_text()) for path in (project.root / "frames").glob("*.json")]
    assert sorted(contexts, key=lambda pair: pair[1]) == [
        [{"key": "k0"}, 0],
        [{"key": "k1"}, 1],
        [{"key": "k2"}, 2],
    ]
    # Each mini-batch is the key's rows of both files: files counts are (file, key) pieces.
    assert job["batch"]["files"] == {"total": 6, "succeeded": 6, "failed": 0}


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_partition_keys_naming_a_missing_column_are_refused_at_invoke(
    project: Project, cli: Cli, suffix: str
) -> None:
    deploy(project)
    data = project.root / "tables"
    data.mkdir()
    write = {
        "parquet": lambda frame, path: frame.to_parquet(path),
        "csv": lambda frame, path: frame.to_csv(path, index=False),
        "jsonl": lambda frame, path: frame.to_json(path, orient="records", lines=True),
    }
    write[suffix](table(20), data / f"a.{suffix}")
    result = cli("batch-endpoint", "invoke", "-n", "rows-ep", "--input", data, "--set",
                 'partition_keys=["key", "region"]')  # fmt: skip

    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[0] == (
        f"ERROR: partition_keys: the tabular input {data} has no column region "
        f"({data / f'a.{suffix}'} has id, name, value, key, note)"
    )
    assert cli.ok("job", "list") == []  # refused before any job exists


def test_a_refused_transformation_is_named(project: Project, cli: Cli) -> None:
    deploy(project)
    data = mltable(
        project.root / "table",
        """\
        paths:
          - file: ./big.csv
        transformations:
          - read_delimited: {delimiter: ","}
          - keep_columns: [id]
        """,
    )
    (data / "big.csv").write_text("id\n1\n")
    result = cli("batch-endpoint", "invoke", "-n", "rows-ep", "--input", data, "--input-type",
                 "mltable")  # fmt: skip
    assert result.code == 2
    assert result.err == (
        f"ERROR: {data / 'MLTable'}: transformations[1]: keep_columns is not supported; batchml "
        "reads tables with read_delimited, read_parquet, read_json_lines only\n"
    )
    assert cli.ok("job", "list") == []


def test_an_mltable_data_asset_and_the_inputs_json_form(project: Project, cli: Cli) -> None:
    import pandas as pd

    deploy(project, mini_batch_size="100 rows")
    data = mltable(
        project.root / "table",
        """\
        paths:
          - folder: ./parts
        transformations:
          - read_json_lines: {invalid_lines: drop}
        """,
    )
    (data / "parts").mkdir()
    expected = table(250).drop(columns=["note"])
    expected.to_json(data / "parts" / "rows.jsonl", orient="records", lines=True)
    cli.ok("data", "create", "-n", "rows", "-t", "mltable", "-p", data, "-o", "none")
    by_asset = invoke(project, "--input", "azureml:rows@latest")
    assert by_asset["status"] == "Completed", by_asset.get("error")
    assert by_asset["inputs"]["input_data"]["type"] == "mltable"
    pd.testing.assert_frame_equal(pd.concat(frames(project), ignore_index=True), expected)
    for frame in (project.root / "frames").iterdir():
        frame.unlink()

    inputs = f'{{"rows": {{"type": "mltable", "path": "{data}"}}}}'
    by_json = invoke(project, "--inputs", inputs)
    assert by_json["status"] == "Completed", by_json.get("error")
    assert [len(frame) for frame in frames(project)] == [100, 100, 50]


def test_resume_after_sigkill_scores_each_row_range_once(project: Project) -> None:
    import pandas as pd

    deploy(project, workers=2, mini_batch_size="500 rows", wait_from=3000)
    data = mltable(project.root / "table", CSV_TABLE)
    table().to_csv(data / "big.csv", index=False)
    name = project.cli.ok(
        "batch-endpoint", "invoke", "-n", "rows-ep", "--input", data, "--input-type", "mltable"
    )["name"]
    journal = project.folder(name) / "journal" / "journal.bin"
    # Ranges from row 3000 on wait: the six before them are journaled, and the one from 3000
    # waits in run(); so may the one from 3500 on the other worker, unless it was sent ahead to
    # the worker that waits (mini-batches go out in order, so nothing before 3000 can be).
    wait_for(lambda: sum(scored(project).values()) >= 7, "seven row ranges in run()")
    from batchml.runner.journal import HEADER_SIZE, RECORD_SIZE

    wait_for(
        lambda: journal.exists() and (journal.stat().st_size - HEADER_SIZE) // RECORD_SIZE >= 6,
        "six outcomes in the journal",
    )
    runner = project.show(name)
    pid = next(iter(project.runners))
    os.killpg(pid, signal.SIGKILL)
    wait_for_status(project.show, name, "NotResponding")
    wait_sessions_gone({pid})
    before = scored(project)

    assert runner["status"] == "Running"
    project.cli.ok("job", "resume", "-n", name)
    (project.root / "gate").touch()
    job = project.wait(name)

    assert job["status"] == "Completed", job.get("error")
    assert job["batch"]["mini_batches"]["resumed"] == 6
    again = scored(project) - before
    done_before = {str(first) for first in range(0, 3000, 500)}
    assert not done_before & set(again), again
    assert set(scored(project)) == {str(first) for first in range(0, ROWS, 500)}
    assert project.rows(name) == sorted(f"{i} DataFrame" for i in range(ROWS))
    together = pd.concat(frames(project), ignore_index=True)
    pd.testing.assert_frame_equal(together, pd.read_csv(data / "big.csv"))


def test_a_dry_run_plans_the_row_ranges_the_job_runs(project: Project, cli: Cli) -> None:
    deploy(project, mini_batch_size="30kb")
    data = mltable(project.root / "table", CSV_TABLE)
    table().to_csv(data / "big.csv", index=False)
    args = ("batch-endpoint", "invoke", "-n", "rows-ep", "--input", data, "--input-type", "mltable")
    plan = cli.ok(*args, "--dry-run")
    job = invoke(project, *args[4:])

    header = len((data / "big.csv").read_bytes().split(b"\n", 1)[0]) + 1
    assert plan["input"] == {"path": str(data), "type": "mltable"}
    assert plan["mini_batches"]["count"] == job["batch"]["mini_batches"]["total"]
    assert plan["files"] == job["batch"]["files"]["total"]
    assert plan["bytes"] == (data / "big.csv").stat().st_size - header


def test_a_row_range_that_cannot_be_read_fails_its_mini_batch(project: Project) -> None:
    deploy(project, mini_batch_size="2 rows")
    data = project.root / "csvs"
    data.mkdir()
    (data / "a.csv").write_text("id,name\n0,a\n1,b\n2,c,extra\n3,d\n")
    job = invoke(project, "--input", data)

    assert job["status"] == "Completed"  # error_threshold -1: failures are tolerated
    assert job["batch"]["mini_batches"] == {
        "total": 2, "succeeded": 1, "failed": 1, "resumed": 0, "reused": 0,
    }  # fmt: skip
    assert project.rows(job["name"]) == ["0 DataFrame", "1 DataFrame"]
    log = project.folder(job["name"]) / "logs" / "failures.jsonl"
    [failure] = [json.loads(line) for line in log.read_text().splitlines()]
    assert (failure["mini_batch"], failure["exception"]) == (1, "pyarrow.lib.ArrowInvalid")
    assert failure["message"] == "CSV parse error: Expected 2 columns, got 3: 2,c,extra"
    [item] = failure["files"]
    assert item.startswith(f"{data / 'a.csv'}#tabular?format=csv&")
    assert item.endswith("&bytes=16-30")
