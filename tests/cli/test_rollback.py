"""A command that fails late leaves the workspace byte-identical to what it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from batchml.services import endpoints
from batchml.store.transaction import Transaction

if TYPE_CHECKING:
    from tests.conftest import Cli, Project

Digest = Callable[[Path], dict[str, str]]
UNEXPECTED = (
    "ERROR: unexpected error: OSError: disk full\n"
    "Hint: run the command again with --debug to see the traceback\n"
)


def disk_full(*_args: Any, **_kwargs: Any) -> None:
    raise OSError("disk full")


def fail_writing(monkeypatch: pytest.MonkeyPatch, file_name: str) -> None:
    """Make the transaction's write of any `file_name` fail, after the other writes happened."""
    original = Transaction.write_json

    def write_json(self: Transaction, path: Path, document: Any) -> None:
        if path.name == file_name:
            raise OSError("disk full")
        original(self, path, document)

    monkeypatch.setattr(Transaction, "write_json", write_json)


def leftovers(ws: Path) -> list[str]:
    """Temp files, staging folders and backups a transaction may have left behind."""
    return sorted(p.name for p in ws.rglob(".*") if p.name not in (".lock",))


def test_new_deployment_failing_at_set_default(
    cli: Cli, ready: Project, ws: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = digest(ws)
    monkeypatch.setattr(endpoints, "save", disk_full)
    result = cli("batch-deployment", "create", "-f", ready.deployment_yml, "--set-default")
    assert (result.code, result.out, result.err) == (1, "", UNEXPECTED)
    assert digest(ws) == before
    assert not (ws / "endpoints" / "mnist-batch" / "deployments").exists()
    assert leftovers(ws) == []


def test_overwritten_deployment_failing_at_its_state_file(
    cli: Cli, deployed: Project, ws: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = digest(ws)
    deployed.write("code/score.py", "def run(b):\n    return b\n")
    deployed.write("model/weights.txt", "w=2\n")
    fail_writing(monkeypatch, "deployment.json")
    result = cli("batch-deployment", "update", "-f", deployed.deployment_yml)
    assert (result.code, result.out, result.err) == (1, "", UNEXPECTED)
    assert digest(ws) == before
    assert leftovers(ws) == []


def test_deleting_the_default_deployment_failing_late(
    cli: Cli, deployed: Project, ws: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok(
        "batch-endpoint",
        "update",
        "-n",
        "mnist-batch",
        "--set",
        "defaults.deployment_name=mnist-torch",
    )
    before = digest(ws)
    monkeypatch.setattr(endpoints, "save", disk_full)
    result = cli("batch-deployment", "delete", "-n", "mnist-torch", "-e", "mnist-batch", "-y")
    assert (result.code, result.out, result.err) == (1, "", UNEXPECTED)
    assert digest(ws) == before
    assert leftovers(ws) == []


@pytest.mark.parametrize("kind", ["model", "data"])
def test_asset_failing_at_its_state_file(
    cli: Cli,
    ready: Project,
    ws: Path,
    digest: Digest,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    cli.ok(kind, "create", "--name", "first", "--path", ready.root / "model")
    before = digest(ws)
    fail_writing(monkeypatch, f"{kind}.json")
    for name in ("first", "second"):
        result = cli(kind, "create", "--name", name, "--path", ready.root / "model")
        assert (result.code, result.out, result.err) == (1, "", UNEXPECTED)
        assert digest(ws) == before
    assert leftovers(ws) == []


def test_endpoint_overwrite_failing(
    cli: Cli, deployed: Project, ws: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = digest(ws)
    fail_writing(monkeypatch, "endpoint.json")
    result = cli("batch-endpoint", "update", "-n", "mnist-batch", "--set", "description=x")
    assert (result.code, result.out, result.err) == (1, "", UNEXPECTED)
    assert digest(ws) == before


def test_keyboard_interrupt_inside_a_write_rolls_back(
    cli: Cli, ready: Project, ws: Path, digest: Digest, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = digest(ws)

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(endpoints, "save", interrupted)
    result = cli("batch-deployment", "create", "-f", ready.deployment_yml, "--set-default")
    # Typer turns Ctrl-C inside a command into a silent exit 130.
    assert (result.code, result.out, result.err) == (130, "", "")
    assert digest(ws) == before
