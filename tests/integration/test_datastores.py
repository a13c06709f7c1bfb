"""Datastores on a real Azure Blob Storage emulator (Azurite, the `azurite` fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from azurite import KEY

from batchml.services import datastores
from batchml.store.workspace import Workspace

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = pytest.mark.azurite


def test_a_datastore_reads_the_emulator_with_its_account_key(
    cli: Cli, ws: Path, tmp_path: Path, azurite: Any
) -> None:
    yml = tmp_path / "azurite.yml"
    yml.write_text(azurite.datastore_yml("emulated", "reads"))
    shown = cli.ok("datastore", "create", "-f", yml)
    assert (shown["account_url"], shown["credentials"]) == (
        azurite.account_url,
        {"type": "account_key"},
    )
    _, storage = datastores.filesystem(Workspace(ws), "emulated")
    storage.mkdir("reads")
    storage.pipe({"reads/in/a.txt": b"alpha\n", "reads/in/sub/b.txt": b"beta\n"})
    assert sorted(storage.find("reads/in")) == ["reads/in/a.txt", "reads/in/sub/b.txt"]
    assert storage.cat("reads/in/sub/b.txt") == b"beta\n"
    for args in (["show", "-n", "emulated"], ["list", "-o", "table"]):
        result = cli("datastore", *args)
        assert result.code == 0
        assert KEY not in result.out + result.err


def test_a_wrong_account_key_is_refused_by_the_emulator(
    cli: Cli, ws: Path, tmp_path: Path, azurite: Any
) -> None:
    from azure.core.exceptions import HttpResponseError

    yml = tmp_path / "wrong.yml"
    yml.write_text(azurite.datastore_yml("wrong_key", "refused", key=KEY[:-4] + "AAA="))
    cli.ok("datastore", "create", "-f", yml)
    _, storage = datastores.filesystem(Workspace(ws), "wrong_key")
    with pytest.raises(HttpResponseError, match="failed to authenticate"):
        storage.ls("refused")
