"""The append_row output: the rows of the journal's succeeded mini-batches, in mini-batch order,
published atomically as one file.

The file is written under a temporary name beside its place, fsynced, and renamed once the
journal says the file is this job's. Publishing again (after a crash while assembling, or when a
resumed job ends) writes the same file from the journal alone and replaces the earlier one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from batchml.core.errors import ConflictError
from batchml.store.fs import fsync_dir

if TYPE_CHECKING:
    from pathlib import Path

    from batchml.runner.journal import Journal

_BUFFER = 1024 * 1024


def check_output(path: Path, published: bool = False) -> None:
    """Refuse to write over a file that this job's journal did not publish."""
    if path.exists() and not published:
        raise ConflictError(
            f"output file already exists: {path}",
            hint="use a new output folder or another output_file_name, or delete the file",
        )


def publish(journal: Journal, path: Path) -> Path:
    """Write the journal's rows to `path`, replacing only a file this journal published.

    Raises OSError naming what could not be written, JournalError or ConflictError.
    """
    temporary = path.with_name(f".{path.name}.batchml.tmp")
    try:
        # Whatever a crash left under that name goes, even a link elsewhere.
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(fd, "wb", buffering=_BUFFER) as out:
            for chunk in journal.rows_in_order():
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        check_output(path, journal.published)
        journal.mark_published()
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path
