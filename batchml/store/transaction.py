"""An undo log for the writes of one command: either all of them happen, or none remain."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchml.store.fs import fsync_dir, stage_copy, write_atomic, write_json


class Transaction:
    """Records how to undo each write; `rollback` undoes them in reverse, `commit` drops backups.

    Used inside the workspace lock, so no other writer interleaves with it.
    """

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._on_commit: list[Callable[[], None]] = []

    def write_json(self, path: Path, document: Any) -> None:
        previous = path.read_bytes() if path.exists() else None
        created_dirs = _missing_parents(path.parent)
        write_json(path, document)
        if previous is None:
            self._undo.append(lambda: _rmdirs(created_dirs))
            self._undo.append(lambda: path.unlink(missing_ok=True))
        else:
            self._undo.append(lambda: _restore_bytes(path, previous))

    def snapshot(self, source: Path, dest_dir: Path) -> Path:
        """Copy `source` into `dest_dir` (replacing what was there); returns the copy's path."""
        created_dirs = _missing_parents(dest_dir.parent)
        self._undo.append(lambda: _rmdirs(created_dirs))
        staging = stage_copy(source, dest_dir)
        self._move_aside(dest_dir)
        os.replace(staging, dest_dir)
        fsync_dir(dest_dir.parent)
        self._undo.append(lambda: shutil.rmtree(dest_dir, ignore_errors=True))
        return dest_dir / source.name

    def remove(self, path: Path) -> None:
        """Remove a file or folder; kept aside until commit so that rollback can restore it."""
        self._move_aside(path)

    def _move_aside(self, path: Path) -> None:
        if not path.exists():
            return
        backup = path.with_name(f".{path.name}.backup-{os.getpid()}")
        os.replace(path, backup)
        self._undo.append(lambda: os.replace(backup, path))
        self._on_commit.append(lambda: _remove_any(backup))

    def commit(self) -> None:
        for action in self._on_commit:
            action()
        self._undo.clear()
        self._on_commit.clear()

    def rollback(self) -> None:
        for action in reversed(self._undo):
            action()
        self._undo.clear()
        self._on_commit.clear()


def _missing_parents(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


def _rmdirs(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _restore_bytes(path: Path, data: bytes) -> None:
    write_atomic(path, data)


def _remove_any(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
