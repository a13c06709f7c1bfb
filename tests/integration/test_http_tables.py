"""Tables at a public http URL, read by HTTP Range requests from a server started here on
127.0.0.1 that honours them (206 Partial Content): an MLTable and a folder of tabular files
score the same mini-batches, with the same output bytes, as the same job on local files, and
no table file is downloaded whole; a server that ignores ranges is refused before any job."""

from __future__ import annotations

import shutil
import textwrap
from typing import TYPE_CHECKING

import pytest
from ranged_http import served
from test_remote_tables import deploy, project, run, write_table

if TYPE_CHECKING:
    from projects import Project

pytestmark = [pytest.mark.timeout(180)]
__all__ = ["project"]  # the fixture, shared with test_remote_tables

TABLE = """\
    paths:
      - pattern: ./**/*.csv
    transformations:
      - read_delimited: {header: all_files_same_headers}
    """


def test_an_mltable_at_an_http_url_is_read_by_ranges_as_the_same_local_table(
    project: Project,
) -> None:
    local = project.root / "site" / "table"
    write_table(local, parquet=False)
    (local / "sub").mkdir()
    shutil.copy(local / "big.csv", local / "sub" / "more.csv")
    (local / "MLTable").write_text(textwrap.dedent(TABLE))
    deploy(project, mini_batch_size="20kb")

    here = run(project, "--input", local, "--input-type", "mltable")
    with served(project.root / "site") as site:
        there = run(project, "--input", f"{site.url}/table", "--input-type", "mltable")

    assert there == here
    assert len(here[1]) >= 12  # each file split by bytes, not one mini-batch
    # Every read of a table file was a Range request: none was downloaded whole.
    files = [(path, ranged) for path, ranged in site.asked if path.endswith(".csv")]
    assert {path for path, _ in files} == {"/table/big.csv", "/table/sub/more.csv"}
    assert all(ranged is not None for _, ranged in files), files


def test_a_folder_at_an_http_url_split_by_rows_scores_as_the_same_local_folder(
    project: Project,
) -> None:
    local = project.root / "site" / "tab"
    write_table(local)
    deploy(project, mini_batch_size="700 rows")

    here = run(project, "--input", local)
    with served(project.root / "site") as site:
        there = run(project, "--input", f"{site.url}/tab/")

    assert there == here
    assert [rows for _, rows, _ in here[1]] == [700] * 4 + [200] + [700] * 4 + [200]


def test_a_server_that_ignores_ranges_is_refused_before_any_job(project: Project) -> None:
    local = project.root / "site" / "table"
    write_table(local, parquet=False)
    (local / "MLTable").write_text(textwrap.dedent(TABLE))
    deploy(project)

    with served(project.root / "site", honour=False) as site:
        url = site.url
        result = project.cli(
            "batch-endpoint", "invoke", "-n", "tables-ep", "--input", f"{url}/table",
            "--input-type", "mltable",
        )  # fmt: skip

    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[0] == (
        f"ERROR: {url}/table/big.csv: the server answered a Range request with 200 OK "
        "(no Content-Range); batchml reads a table at an http URL by ranges, so its server "
        "must honour them"
    )
    assert project.cli.ok("job", "list") == []


@pytest.mark.parametrize("path", ["tab/", "tab/big.csv"])
def test_a_folder_or_file_at_a_server_that_ignores_ranges_is_refused_before_any_job(
    project: Project, path: str
) -> None:
    write_table(project.root / "site" / "tab", parquet=False)
    deploy(project, mini_batch_size="700 rows")

    with served(project.root / "site", honour=False) as site:
        result = project.cli(
            "batch-endpoint", "invoke", "-n", "tables-ep", "--input", f"{site.url}/{path}"
        )  # fmt: skip

    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[0] == (
        f"ERROR: {site.url}/tab/big.csv: the server answered a Range request with 200 OK "
        "(no Content-Range); batchml reads a table at an http URL by ranges, so its server "
        "must honour them"
    )
    assert project.cli.ok("job", "list") == []


def test_what_is_not_at_an_http_url_is_refused_before_any_job(project: Project) -> None:
    site = project.root / "site"
    (site / "empty").mkdir(parents=True)
    write_table(site / "table", parquet=False)
    (site / "table" / "MLTable").write_text(
        textwrap.dedent(TABLE.replace("pattern: ./**/*", "file: ./gone"))
    )
    deploy(project)

    invoke = ("batch-endpoint", "invoke", "-n", "tables-ep")
    with served(site) as served_site:
        url = served_site.url
        results = [
            project.cli(*invoke, "--input", f"{url}/{folder}", "--input-type", "mltable")
            for folder in ("empty", "table")
        ]

    assert [(r.code, r.out, r.err.splitlines()[0]) for r in results] == [
        (
            2, "", f"ERROR: {url}/empty/MLTable is not there; an mltable input is a folder with "
            "an MLTable file",
        ),
        (3, "", f"ERROR: {url}/table/gone.csv: not found in storage (404)"),
    ]  # fmt: skip
    assert project.cli.ok("job", "list") == []


@pytest.mark.parametrize(
    ("server", "why"),
    [("http://127.0.0.1:1", "connection refused"), ("http://nosuch.invalid", "name not resolved")],
)
@pytest.mark.parametrize("kind", ["mltable", "uri_folder"])
def test_an_http_table_that_cannot_be_reached_is_refused_before_any_job(
    project: Project, server: str, why: str, kind: str
) -> None:
    # Port 1 has no server on this machine; `.invalid` never resolves (RFC 2606).
    deploy(project, mini_batch_size="700 rows")

    result = project.cli(
        "batch-endpoint", "invoke", "-n", "tables-ep", "--input", f"{server}/table/",
        "--input-type", kind,
    )  # fmt: skip

    assert (result.code, result.out) == (1, "")
    shown = f"{server}/table/MLTable" if kind == "mltable" else f"{server}/table/"
    assert result.err == (
        f"ERROR: {shown}: storage error: the server {server} cannot be reached ({why})\n"
    )
    assert project.cli.ok("job", "list") == []
