"""A real Azure Blob Storage emulator for the datastore tests: Azurite, started on 127.0.0.1 in a
session of its own and stopped for sure.

Not a test module: tests/integration/conftest.py's `azurite` fixture uses it, once a session.
Azurite comes from the npm registry; `make test` installs it into .venv/node (`npm install
--prefix .venv/node azurite@3`), or BATCHML_AZURITE names an `azurite-blob` to use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from processes import session_members, start_detached, stop_session
from ray_cluster import free_port, listening
from waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

# Azurite's well-known development account (published in its README, the same for everyone).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
INSTALLED = Path(__file__).resolve().parents[2] / ".venv" / "node" / "node_modules" / ".bin"
START_SECONDS = 60
STOP_SECONDS = 30


@dataclass(frozen=True)
class Azurite:
    port: int
    pid: int  # of azurite-blob, the leader of its session

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def datastore_yml(self, name: str, container: str, key: str = KEY) -> str:
        """A datastore YAML on a container of the emulator, with the account key `key`."""
        return (
            f"name: {name}\ntype: azure_blob\naccount_name: {ACCOUNT}\n"
            f"container_name: {container}\nprotocol: http\naccount_url: {self.account_url}\n"
            f"credentials:\n  account_key: {key}\n"
        )


def executable() -> str | None:
    """The `azurite-blob` to run: BATCHML_AZURITE, .venv/node's, or one on PATH; None if none
    (or no node to run it)."""
    if shutil.which("node") is None:
        return None
    given = os.environ.get("BATCHML_AZURITE")
    if given:
        return given
    local = INSTALLED / "azurite-blob"
    return str(local) if local.is_file() else shutil.which("azurite-blob")


@contextlib.contextmanager
def running(command: str, folder: Path) -> Iterator[Azurite]:
    """azurite-blob on a free port of 127.0.0.1, its data in `folder`; stopped on the way out
    (SIGTERM, then SIGKILL) with nothing of its session left."""
    port = free_port()
    log = folder / "azurite.log"
    pid = start_detached(
        [
            command, "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--location", str(folder / "data"), "--skipApiVersionCheck", "--loose",
            "--disableTelemetry", "--silent",
        ],
        log,
    )  # fmt: skip
    try:
        wait_for(
            lambda: listening(port) or not session_members(pid),
            lambda: f"Azurite to listen on {port}:\n{log.read_text()}",
            timeout=START_SECONDS,
        )
        if not listening(port):
            raise RuntimeError(f"azurite-blob failed:\n{log.read_text()}")
        yield Azurite(port, pid)
    finally:
        stop_session(pid, "Azurite", STOP_SECONDS)
