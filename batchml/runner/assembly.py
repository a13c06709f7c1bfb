"""The append_row output: mini-batch rows joined in mini-batch order into one file, atomically.

Rows reach the parent in memory (small outputs) or as part files (large ones). They are
appended to a temporary file as soon as every earlier mini-batch is done. Rows that must wait
for an earlier mini-batch are held in memory up to a budget and spilled to a part file past it,
so memory does not grow with the output. The real file appears only in finish().
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from batchml.core.errors import ConflictError

# Rows held in memory while they wait for an earlier mini-batch, at most.
MEMORY_BUDGET = 16 * 1024 * 1024
_BUFFER = 1024 * 1024


def _output_exists_error(path: Path) -> ConflictError:
    return ConflictError(
        f"output file already exists: {path}",
        hint="use a new output folder or another output_file_name, or delete the file",
    )


class OutputAssembler:
    """Joins mini-batch rows, in mini-batch order, into `path`. Close it in a `finally`."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            raise _output_exists_error(path)
        self.path = path
        # Both in the output folder: os.replace() is atomic only within one file system.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self._temporary = Path(temporary)
        self._out = os.fdopen(fd, "wb", buffering=_BUFFER)
        self.parts_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=".batchml-parts-"))
        self._next = 0
        # Mini-batches done but not yet appended, because an earlier one is not: their rows
        # (bytes) or the path of the part file holding them (str).
        self._waiting: dict[int, bytes | str] = {}
        self._held = 0

    def add(self, index: int, rows: bytes = b"", part: str | None = None) -> None:
        """Mini-batch `index` is final, with these rows (none for a failed mini-batch)."""
        if index != self._next:
            self._waiting[index] = part if part is not None else self._hold(index, rows)
            return
        self._append(part if part is not None else rows)
        self._next += 1
        while self._next in self._waiting:
            self._append(self._release(self._next))
            self._next += 1

    def finish(self) -> Path:
        """Append what is left (skipping mini-batches that never ran) and publish the file."""
        for index in sorted(self._waiting):
            self._append(self._release(index))
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        if self.path.exists():
            raise _output_exists_error(self.path)
        os.replace(self._temporary, self.path)
        _fsync_folder(self.path.parent)
        return self.path

    def close(self) -> None:
        """Remove the temporary file and the parts. The published file is kept."""
        self._out.close()
        self._temporary.unlink(missing_ok=True)
        shutil.rmtree(self.parts_dir, ignore_errors=True)

    def _hold(self, index: int, rows: bytes) -> bytes | str:
        if self._held + len(rows) <= MEMORY_BUDGET:
            self._held += len(rows)
            return rows
        spilled = self.parts_dir / f"{index:08d}-held.part"
        spilled.write_bytes(rows)
        return str(spilled)

    def _release(self, index: int) -> bytes | str:
        rows = self._waiting.pop(index)
        if isinstance(rows, bytes):
            self._held -= len(rows)
        return rows

    def _append(self, rows: bytes | str) -> None:
        if isinstance(rows, bytes):
            self._out.write(rows)
            return
        with open(rows, "rb") as part:
            shutil.copyfileobj(part, self._out, _BUFFER)
        os.unlink(rows)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
