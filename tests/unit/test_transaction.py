"""The undo log (batchml.store.transaction) and atomic writes (batchml.store.fs)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from batchml.core.errors import BatchmlError
from batchml.store import fs
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): (
            "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        )
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "kept").mkdir(parents=True)
    (root / "kept" / "state.json").write_text('{"v": 1}\n')
    (root / "snap" / "files").mkdir(parents=True)
    (root / "snap" / "files" / "old.txt").write_text("old\n")
    return root


@pytest.fixture
def source(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a\n")
    (source / "sub" / "b.txt").write_text("b\n")
    return source


def every_kind_of_write(root: Path, source: Path, log: Path | None = None) -> Transaction:
    """A transaction that wrote new and existing files, snapshots over a folder and into a new
    one, and removed a folder; not committed nor rolled back (as if killed)."""
    txn = Transaction(log)
    txn.write_json(root / "kept" / "state.json", {"v": 2})
    txn.write_json(root / "new" / "deep" / "state.json", {"v": 1})
    assert txn.snapshot(source, root / "snap" / "files") == root / "snap" / "files" / "source"
    txn.snapshot(source, root / "fresh" / "copy")
    txn.remove(root / "kept")
    return txn


def test_rollback_undoes_every_kind_of_write(root: Path, source: Path) -> None:
    before = tree(root)
    txn = every_kind_of_write(root, source)
    assert tree(root) != before
    txn.rollback()
    assert tree(root) == before


def test_commit_keeps_the_writes_and_drops_the_backups(root: Path, source: Path) -> None:
    txn = Transaction()
    txn.write_json(root / "kept" / "state.json", {"v": 2})
    txn.snapshot(source, root / "snap" / "files")
    txn.remove(root / "snap")
    txn.write_json(root / "snap" / "files" / "x.json", [])
    txn.commit()
    assert json.loads((root / "kept" / "state.json").read_text()) == {"v": 2}
    assert sorted(tree(root)) == [
        "kept",
        "kept/state.json",
        "snap",
        "snap/files",
        "snap/files/x.json",
    ]
    txn.rollback()  # nothing left to undo after a commit
    assert (root / "snap" / "files" / "x.json").is_file()


def test_snapshot_of_a_single_file(root: Path, tmp_path: Path) -> None:
    file = tmp_path / "model.pkl"
    file.write_bytes(b"\x00weights")
    txn = Transaction()
    copied = txn.snapshot(file, root / "model")
    txn.commit()
    assert copied == root / "model" / "model.pkl"
    assert copied.read_bytes() == b"\x00weights"
    file.write_bytes(b"changed")
    assert copied.read_bytes() == b"\x00weights"


def test_remove_of_a_missing_path_is_a_no_op(root: Path) -> None:
    before = tree(root)
    txn = Transaction()
    txn.remove(root / "nope")
    txn.rollback()
    assert tree(root) == before


def test_workspace_transaction_rolls_back_on_error(tmp_path: Path, source: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    with workspace.transaction() as txn:
        txn.write_json(workspace.compute_file("cpu"), {"name": "cpu"})
    before = tree(workspace.root)
    with pytest.raises(RuntimeError, match="late failure"), workspace.transaction() as txn:
        txn.write_json(workspace.compute_file("cpu"), {"name": "changed"})
        txn.write_json(workspace.compute_file("gpu"), {"name": "gpu"})
        txn.snapshot(source, workspace.model_dir("m", "1") / "files")
        raise RuntimeError("late failure")
    assert tree(workspace.root) == before
    assert sorted(before) == [
        ".lock",
        "computes",
        "computes/cpu.json",
        "datastores",
        "datastores/workspaceblobstore",
        "workspace.json",
    ]


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.json"
    fs.write_json(path, {"b": 1, "a": [1]})
    # Keys stay in the document's order (a pipeline's steps are in the order they run).
    assert path.read_text() == '{\n  "b": 1,\n  "a": [\n    1\n  ]\n}\n'
    fs.write_atomic(path, b"x")
    assert path.read_bytes() == b"x"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_write_atomic_leaves_no_temp_file_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state" / "state.json"
    path.parent.mkdir()
    path.write_text("old")

    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    # The error names the file (os.write does not), for a full disk or a read-only folder.
    with pytest.raises(BatchmlError, match=f"could not write {path}: disk full"):
        fs.write_atomic(path, b"new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_the_next_command_undoes_a_killed_one(root: Path, source: Path) -> None:
    before = tree(root)
    every_kind_of_write(root, source, root / ".transaction")
    assert tree(root) != before
    Transaction.recover(root / ".transaction", root)
    assert tree(root) == before


def test_a_copy_killed_half_way_leaves_no_staging_folder(
    root: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(root)

    def killed(copied: Path, folder: Path, **_options: object) -> None:
        (folder / copied.name).mkdir()
        (folder / copied.name / "half.bin").write_bytes(b"0" * 1000)
        raise SystemExit("killed")  # nothing after this runs, as after SIGKILL

    monkeypatch.setattr("batchml.store.transaction.copy_into", killed)
    with pytest.raises(SystemExit):
        Transaction(root / ".transaction").snapshot(source, root / "snap" / "files")
    assert any(p.name.endswith(".tmp") for p in (root / "snap").iterdir())
    Transaction.recover(root / ".transaction", root)
    assert tree(root) == before


def test_a_command_killed_after_its_commit_keeps_its_writes(root: Path, source: Path) -> None:
    txn = Transaction(root / ".transaction")
    txn.write_json(root / "kept" / "state.json", {"v": 2})
    txn.snapshot(source, root / "snap" / "files")
    with (root / ".transaction").open("a") as log:
        log.write(json.dumps(["commit", "", None]) + "\n")  # killed before the backups went
    Transaction.recover(root / ".transaction", root)
    assert json.loads((root / "kept" / "state.json").read_text()) == {"v": 2}
    assert sorted(tree(root)) == [
        "kept",
        "kept/state.json",
        "snap",
        "snap/files",
        "snap/files/source",
        "snap/files/source/a.txt",
        "snap/files/source/sub",
        "snap/files/source/sub/b.txt",
    ]


def test_a_log_naming_paths_outside_the_workspace_touches_nothing_there(
    root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    with (root / ".transaction").open("w") as log:
        log.write(json.dumps(["created", str(outside), None]) + "\n")
        log.write('["created", "' + str(root / "kept") + '", nu')  # torn by the kill
    Transaction.recover(root / ".transaction", root)
    assert outside.read_text() == "mine\n"
    assert (root / "kept" / "state.json").exists()
    assert not (root / ".transaction").exists()


def test_the_workspace_lock_recovers_before_the_next_write(tmp_path: Path, source: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    with workspace.transaction() as txn:
        txn.write_json(workspace.root / "endpoints" / "e" / "endpoint.json", {"v": 1})
    before = tree(workspace.root)
    every_kind_of_write(workspace.root, source, workspace.root / ".transaction")
    with workspace.transaction():
        pass
    assert tree(workspace.root) == before


def test_private_writes_are_owner_only_and_undone_like_any_other(root: Path) -> None:
    before = tree(root)
    secrets = root / "secrets"
    secrets.mkdir(mode=0o755)
    os.chmod(secrets, 0o755)  # a folder made looser by hand is tightened again
    txn = Transaction()
    txn.write_json(secrets / "kind" / "a.json", {"key": "s3cret"}, private_root=secrets)
    modes = [
        os.stat(p).st_mode & 0o777 for p in (secrets, secrets / "kind", secrets / "kind" / "a.json")
    ]
    assert modes == [0o700, 0o700, 0o600]
    txn.write_json(secrets / "kind" / "a.json", {"key": "other"}, private_root=secrets)
    assert os.stat(secrets / "kind" / "a.json").st_mode & 0o777 == 0o600
    txn.rollback()
    secrets.rmdir()
    assert tree(root) == before
