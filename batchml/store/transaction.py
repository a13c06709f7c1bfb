"""An undo log for the writes of one command: either all of them happen, or none remain.

The log is also on disk (`<workspace>/.transaction`, one JSON line per step, written before the
step), so that a command killed half-way is undone by the next command that takes the
workspace lock: its staging copies, backups and half-made folders go, and what it replaced
comes back. Once the log says `commit`, the writes stand and only the backups are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from batchml.store.fs import copy_into, fsync_dir, write_json

# A step of the log: (op, path, backup). op is "created" (undo: remove path), "staging"
# (undo: remove path), "moved" (undo: put backup back at path) or "commit".
_Step = tuple[str, str, str | None]


class Transaction:
    """Records how to undo each write; `rollback` undoes them in reverse, `commit` drops backups.

    Used inside the workspace lock, so no other writer interleaves with it.
    """

    def __init__(self, log: Path | None = None) -> None:
        self._log = log
        self._steps: list[_Step] = []

    @staticmethod
    def recover(log: Path, root: Path) -> None:
        """Finish what a killed command left in `log`: undo it, or, if it had committed,
        remove its backups. Steps naming paths outside `root` are ignored."""
        try:
            lines = log.read_text().splitlines()
        except FileNotFoundError:
            return
        steps: list[_Step] = []
        for line in lines:
            with contextlib.suppress(ValueError, TypeError):  # a torn last line
                op, path, backup = json.loads(line)
                inside = [Path(p).is_relative_to(root) for p in (path, backup) if p]
                if all(inside) or op == "commit":
                    steps.append((str(op), str(path), backup))
        leftover = Transaction(log)
        leftover._steps = steps
        if any(op == "commit" for op, _, _ in steps):
            leftover._drop_backups()
        else:
            leftover.rollback()

    def write_json(self, path: Path, document: Any, *, private_root: Path | None = None) -> None:
        """Write `document` to `path`. With `private_root` (a folder above `path`), the file is
        readable by its owner only (0600), and so is every folder from `private_root` down to
        it (0700): for secrets."""
        self._create_parents(path.parent)
        private = private_root is not None
        if private_root is not None:
            _restrict(private_root, path.parent)
        if path.exists():
            backup = self._backup_name(path)
            self._record("moved", path, backup)
            shutil.copy2(path, backup)
            write_json(path, document, private=private)
        else:
            self._record("created", path)
            write_json(path, document, private=private)

    def snapshot(self, source: Path, dest_dir: Path, *, link: bool = False) -> Path:
        """Copy `source` into `dest_dir` (replacing what was there); returns the copy's path.
        With `link`, files are hard links (for copies of the workspace's own snapshots)."""
        self._create_parents(dest_dir.parent)
        staging = Path(
            tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.", suffix=".tmp")
        )
        self._record("staging", staging)
        copy_into(source, staging, link=link)
        self._move_aside(dest_dir)
        self._record("created", dest_dir)
        os.replace(staging, dest_dir)
        fsync_dir(dest_dir.parent)
        return dest_dir / source.name

    def remove(self, path: Path) -> None:
        """Remove a file or folder; kept aside until commit so that rollback can restore it."""
        self._move_aside(path)

    def commit(self) -> None:
        self._record("commit", Path())
        self._drop_backups()

    def rollback(self) -> None:
        for op, path, backup in reversed(self._steps):
            if op in ("created", "staging"):
                _remove_any(Path(path))
            elif op == "moved" and backup is not None and os.path.lexists(backup):
                _remove_any(Path(path))
                os.replace(backup, path)
        self._finish()

    # -- the log --------------------------------------------------------------------------
    def _record(self, op: str, path: Path, backup: Path | None = None) -> None:
        step = (op, str(path.absolute()), str(backup.absolute()) if backup else None)
        self._steps.append(step)
        if self._log is not None:
            with open(self._log, "a", encoding="utf-8") as log:
                log.write(json.dumps(step) + "\n")
                log.flush()
                os.fsync(log.fileno())

    def _finish(self) -> None:
        self._steps.clear()
        if self._log is not None:
            self._log.unlink(missing_ok=True)

    def _drop_backups(self) -> None:
        for op, _, backup in self._steps:
            if op == "moved" and backup is not None:
                _remove_any(Path(backup))
        self._finish()

    # -- steps ----------------------------------------------------------------------------
    def _create_parents(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            self._record("created", created)
            created.mkdir()

    def _move_aside(self, path: Path) -> None:
        if not os.path.lexists(path):
            return
        backup = self._backup_name(path)
        self._record("moved", path, backup)
        os.replace(path, backup)

    @staticmethod
    def _backup_name(path: Path) -> Path:
        return path.with_name(f".{path.name}.backup-{os.getpid()}")


def _restrict(root: Path, folder: Path) -> None:
    """Make `root` and every folder below it down to `folder` owner-only (0700)."""
    if not folder.is_relative_to(root):
        raise ValueError(f"{folder} is not inside {root}")
    while True:
        os.chmod(folder, 0o700)
        if folder == root:
            return
        folder = folder.parent


def _remove_any(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
