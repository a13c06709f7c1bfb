"""The undo log (batchml.store.transaction) and atomic writes (batchml.store.fs)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

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


def test_rollback_undoes_every_kind_of_write(root: Path, source: Path) -> None:
    before = tree(root)
    txn = Transaction()
    txn.write_json(root / "kept" / "state.json", {"v": 2})
    txn.write_json(root / "new" / "deep" / "state.json", {"v": 1})
    assert txn.snapshot(source, root / "snap" / "files") == root / "snap" / "files" / "source"
    txn.snapshot(source, root / "fresh" / "copy")
    txn.remove(root / "kept")
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
    with pytest.raises(OSError, match="disk full"):
        fs.write_atomic(path, b"new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]
