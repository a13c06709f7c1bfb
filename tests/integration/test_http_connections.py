"""Ranged reads of a table at an http URL over kept-alive connections (batchml.store.
http_connections), against a server on 127.0.0.1: planning a table of several files opens a
connection per planning thread, not one per request (over http and https, where each new
connection is a TLS handshake), and plans as the same local table; a
server that drops each connection after one answer is asked again on a new one; an answer
left half read does not leave its bytes for the next answer. Both these reads and a folder's
listing and downloads (fsspec's http) go through the proxy the environment names."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from ranged_http import certificate, proxied, served

from batchml.core.batch_job import DataInput, RemoteData
from batchml.core.errors import UnreachableError
from batchml.core.row_ranges import parse
from batchml.runner import RunSettings, tabular
from batchml.store import http_connections
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import JobsWorkspace

pytestmark = [pytest.mark.timeout(120)]

# Files named one by one: a pattern is listed by fsspec's http (aiohttp), whose TLS context
# is made when it is first imported, before a test can say which certificate to trust.
TABLE = "transformations: [{read_delimited: {delimiter: ','}}]\npaths:\n"


def _table(folder: Path, files: int = 3, rows: int = 3000) -> None:
    folder.mkdir(parents=True)
    for index in range(files):
        lines = "".join(f"{row},item {row} of {index},{row / 8}\n" for row in range(rows))
        (folder / f"part{index}.csv").write_text("id,name,value\n" + lines)
    (folder / "MLTable").write_text(
        TABLE + "".join(f"  - file: ./part{index}.csv\n" for index in range(files))
    )


def _spans(data: DataInput, workspace: Workspace) -> list[tuple[str, object]]:
    """The plan's mini-batches as (file name, span): the same for a local and a remote table."""
    batches = tabular.plan(data, RunSettings(mini_batch_size="10kb"), workspace)
    return [
        (os.path.basename(part.path), part.span) for batch in batches for part in map(parse, batch)
    ]


def _plans(
    tmp_path: Path, *, drop: bool = False, tls: Path | None = None
) -> tuple[list, list, int, int]:
    """(the local plan, the http plan, GETs, connections opened) of one table."""
    local = tmp_path / "site" / "table"
    _table(local)
    workspace = Workspace(tmp_path / "ws")
    here = _spans(DataInput("mltable", str(local), str(local)), workspace)
    with served(tmp_path / "site", drop=drop, tls=tls) as site:
        url = f"{site.url}/table"
        there = _spans(DataInput("mltable", url, "", RemoteData("http", url)), workspace)
    return here, there, len(site.asked), len(site.connections)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_planning_an_http_table_keeps_its_connections_alive(
    tmp_path: Path, scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = None
    if scheme == "https":  # a self-signed certificate the client is told to trust
        tls = certificate(tmp_path)
        monkeypatch.setenv("SSL_CERT_FILE", str(tls))
    here, there, gets, connections = _plans(tmp_path, tls=tls)

    assert there == here
    assert len(here) >= 24  # three files of about 100 kB, each cut every 10 kB
    assert gets >= len(here)  # a ranged read at each cut, and the header lines
    # One connection for the MLTable file and the first sizes, then one per planning thread
    # at most (each file's cuts are read one after the other, the files a few at once).
    assert connections <= 1 + 3, (gets, connections)


def test_a_connection_the_server_dropped_is_opened_again(tmp_path: Path) -> None:
    here, there, gets, connections = _plans(tmp_path, drop=True)

    assert there == here
    assert connections >= gets  # every request after the first on a connection was resent


def test_an_answer_left_half_read_does_not_reach_the_next_one(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 4096)
    with served(tmp_path) as site:
        url = f"{site.url}/data.bin"
        first = http_connections.request("GET", url, {"Range": "bytes=0-99999"})
        assert first.read(10) == bytes(range(10))
        first.close()
        second = http_connections.request("GET", url, {"Range": "bytes=256-511"})
        assert (second.status, second.readall()) == (206, bytes(range(256)))
        third = http_connections.request("GET", url, {"Range": "bytes=1-2"})
        assert third.readall() == bytes([1, 2])

    # The half-read answer's connection was closed; the read one was used again.
    assert len(site.connections) == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_ranged_reads_go_through_the_proxy_the_environment_names(
    tmp_path: Path, scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = None
    if scheme == "https":
        tls = certificate(tmp_path)
        monkeypatch.setenv("SSL_CERT_FILE", str(tls))
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with proxied() as proxy:
        monkeypatch.setenv(f"{scheme}_proxy", proxy.url)
        here, there, gets, _ = _plans(tmp_path, tls=tls)

    assert there == here
    if scheme == "https":  # a tunnel to the server, then TLS inside it
        assert proxy.tunnels and set(proxy.tunnels) == {proxy.tunnels[0]}
        assert not proxy.forwarded
    else:  # every request asked of the proxy, by its whole URL
        assert len(proxy.forwarded) >= gets
        assert all(url.startswith("http://127.0.0.1:") for url in proxy.forwarded)


def test_no_proxy_names_the_hosts_asked_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with proxied() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        here, there, _, _ = _plans(tmp_path)

    assert there == here
    assert not proxy.forwarded and not proxy.tunnels


def test_a_proxy_that_cannot_be_reached_is_named_without_its_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "site" / "table"
    _table(local)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("http_proxy", "http://user:secret@127.0.0.1:1")
    with served(tmp_path / "site") as site:
        url = f"{site.url}/table"
        with pytest.raises(UnreachableError) as raised:
            _spans(DataInput("mltable", url, "", RemoteData("http", url)), Workspace(tmp_path))

    assert raised.value.message.endswith(
        "storage error: the proxy http://127.0.0.1:1 cannot be reached (connection refused)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("bypassed", [False, True])
def test_a_job_of_an_http_folder_lists_and_fetches_it_through_the_proxy(
    jobs: JobsWorkspace, monkeypatch: pytest.MonkeyPatch, bypassed: bool
) -> None:
    (jobs.root / "site").mkdir()
    folder = jobs.inputs(["a", "b", "c"], "site/in")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1" if bypassed else "")
    with served(folder.parent) as site, proxied() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)  # the job's runner has it too
        name = jobs.invoke("--input", f"{site.url}/in/")
        assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"

    assert jobs.output(name).read_text().splitlines() == ["in00.txt a", "in01.txt b", "in02.txt c"]
    if bypassed:
        assert not proxy.forwarded and not proxy.tunnels
    else:  # the folder listed, then each of its files fetched
        asked = {url.removeprefix(site.url) for url in proxy.forwarded}
        assert {"/in/", "/in/in00.txt", "/in/in01.txt", "/in/in02.txt"} <= asked
