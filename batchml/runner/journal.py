"""The journal of a job: which mini-batches are done, with their rows, whatever stops the runner.

A job's journal folder holds two append-only files, written by its runner alone:

    rows.bin      the append_row lines of each succeeded mini-batch, in the order they were
                  recorded: mini-batch order, as the runner records them (batchml.runner.order)
                  unless its window overflowed or a resumed job ran earlier mini-batches again
    journal.bin   a header (format version, digest of the plan of mini-batches), then one
                  52-byte record per final outcome: kind (succeeded, failed, or published: the
                  output file is about to be renamed into place), mini-batch index, attempt,
                  failed files and items (of a succeeded one), offset and length of its lines
                  in rows.bin, their CRC-32, and the record's own CRC-32. A later record of a
                  mini-batch replaces an earlier one.

A mini-batch's lines are written before its record, both straight to the files, so a runner
killed at any instant loses nothing the kernel was given. Both files are fsynced at each commit,
rows first, at most COMMIT_INTERVAL after the first outcome not yet on disk (group commit), and
when the job ends. After a power loss a record may be torn, or name lines that never reached
the disk: reopening checks both checksums and keeps the records before the first bad one,
cutting both files back there (a header that does not check out means nothing was ever
committed: the journal starts again). So the state read back is exact: a mini-batch is done if
its record and every line of it survived; otherwise it runs again. Each append costs O(1);
nothing is rewritten.

The output is assembled from the journal alone (batchml.runner.assembly): when rows.bin holds
exactly the output's lines, in order, the output is a hard link to it (link_rows), and its
lines are written once. A rows.bin linked to an output is never written again: before the next
append, or a cut after a crash, the journal moves to a copy of it of its own.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import struct
import time
import zlib
from itertools import islice
from typing import TYPE_CHECKING, BinaryIO

from batchml.core.errors import BatchmlError
from batchml.runner.outcomes import Outcome, Outcomes
from batchml.store.fs import fsync_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

FORMAT_VERSION = 1
JOURNAL_FILE = "journal.bin"
ROWS_FILE = "rows.bin"
PARTS_DIR = "parts"
# Outcomes are on disk at most this long after they were recorded (sooner when the job ends).
COMMIT_INTERVAL = 0.5

# magic, format version, plan digest (SHA-256), CRC-32 of what precedes it
_HEADER = struct.Struct("<8sI32sI")
# magic, kind, attempt, index, failed files, items, rows offset, rows length, rows CRC-32;
# then its own CRC-32
_RECORD = struct.Struct("<4sB3xIIIQQQI")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER.size
RECORD_SIZE = _RECORD.size + _CRC.size
_HEADER_MAGIC = b"BATCHMLJ"
# The plan digest of a journal created while its plan was still listed (Journal.plan_known).
PENDING = bytes(32)
_RECORD_MAGIC = b"MBR1"
_SUCCEEDED, _FAILED, _PUBLISHED = 1, 2, 3
_CHUNK = 1024 * 1024
_sync = getattr(os, "fdatasync", os.fsync)
# Why os.link may refuse where a copy works: another filesystem, or one without hard links.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


class JournalError(BatchmlError):
    """The journal cannot be read back or written: the message names the file and the cause."""


def plan_digest(batches: Sequence[Sequence[str]], output_action: str) -> bytes:
    """What a journal belongs to: the mini-batches (their files, in order) and the output kind.

    The SHA-256 of `json.dumps([output_action, batches])`, fed a thousand mini-batches at a
    time, so that a plan read from disk is never held whole (the same digest as when it was
    dumped at once, so that older journals resume)."""
    digest = PlanDigest(output_action)
    pieces = iter(batches)
    while piece := list(islice(pieces, 1000)):
        digest.add(piece)
    return digest.digest()


class PlanDigest:
    """plan_digest fed mini-batch by mini-batch, as they are planned (while the listing goes
    on), with the same bytes as plan_digest of the whole plan."""

    def __init__(self, output_action: str) -> None:
        self._hash = hashlib.sha256(f"[{json.dumps(output_action)}, [".encode())
        self._separator = b""

    def add(self, batches: Sequence[Sequence[str]]) -> None:
        if batches:
            # "[[a, b], [c]]" less its brackets is the piece as the whole list holds it.
            self._hash.update(self._separator + json.dumps(batches)[1:-1].encode())
            self._separator = b", "

    def digest(self) -> bytes:
        whole = self._hash.copy()
        whole.update(b"]]")
        return whole.digest()


class Journal:
    """A job's journal, open for appending: create() starts one, reopen() recovers one.

    outcomes holds the final outcome of each mini-batch recorded so far (compactly:
    batchml.runner.outcomes). Writes raise
    JournalError; after one, the journal takes no more records. Close it in a `finally`.

    A journal created with the plan PENDING (its mini-batches are run while the input is still
    listed) gets its digest when the listing ends (plan_known). One reopened with its digest
    still PENDING takes the plan it is reopened with: the runner reopens it only with the plan
    of a list that holds the one its first run was cut short in (batchml.runner.inputs).
    """

    def __init__(self, folder: Path, plan: bytes) -> None:
        self.folder = folder
        self.journal_path = folder / JOURNAL_FILE
        self.rows_path = folder / ROWS_FILE
        self.parts_dir = folder / PARTS_DIR
        self._rows_copy = folder / f".{ROWS_FILE}.tmp"
        self.outcomes = Outcomes()
        self.published = False
        self._plan = plan
        self._pending = False  # the header's digest is PENDING
        # What must reach the disk before any record does (the list the plan is read from,
        # while it is written): called first by every commit.
        self.synced_first: Callable[[], None] | None = None
        self._journal_fd = self._rows_fd = -1
        self._journal_size = _HEADER.size
        self._rows_size = 0
        # Whether rows.bin has another name (a published output), so must not be written.
        self._rows_shared = False
        self._unsynced_since: float | None = None
        self._rows_unsynced = False
        self._folder_synced = True
        self._error: JournalError | None = None

    @classmethod
    def create(cls, folder: Path, plan: bytes) -> Journal:
        """A new, empty journal in `folder`, replacing any journal there."""
        journal = cls(folder, plan)
        folder.mkdir(parents=True, exist_ok=True)
        journal.journal_path.unlink(missing_ok=True)
        # Unlinked, not emptied: it may be an earlier run's output, under another name too.
        journal.rows_path.unlink(missing_ok=True)
        journal.rows_path.write_bytes(b"")
        journal.journal_path.write_bytes(_header(plan))
        journal._pending = plan == PENDING
        journal._open()
        # Both files and their names reach the disk with the first commit.
        journal._unsynced_since = time.monotonic()
        journal._folder_synced = False
        return journal

    @classmethod
    def reopen(cls, folder: Path, plan: bytes) -> Journal:
        """The journal in `folder` as a crash left it (cut back to its last sound record).

        Starts a new one if there is none. Raises JournalError if it belongs to another plan
        or to a newer batchml.
        """
        journal = cls(folder, plan)
        if not journal._recover():
            return cls.create(folder, plan)
        journal._open()
        if journal._pending:
            journal.plan_known(plan)
        return journal

    def plan_known(self, plan: bytes) -> None:
        """Give a journal created with its plan PENDING the digest of its plan, now known
        (the header's 48 bytes rewritten in place: one sector, so not torn; on disk with the
        next commit)."""
        self._check()
        self._plan, self._pending = plan, plan == PENDING
        try:
            _pwrite_all(self._journal_fd, _header(plan), 0)
        except OSError as exc:
            raise self._failed_write(self.journal_path, exc) from exc
        if self._unsynced_since is None:
            self._unsynced_since = time.monotonic()

    @property
    def plan_pending(self) -> bool:
        """Whether the plan digest is still to come (plan_known)."""
        return self._pending

    @property
    def broken(self) -> bool:
        """Whether a write failed: what was recorded before it is still sound."""
        return self._error is not None

    def forget_failed(self) -> None:
        """Treat mini-batches that failed as not done, so that they run again."""
        self.outcomes.forget_failed()

    def succeeded(
        self,
        index: int,
        attempt: int,
        files_failed: int,
        items: int,
        rows: bytes = b"",
        part: str | None = None,
    ) -> None:
        """Record a succeeded mini-batch with its lines: `rows`, or the part file `part`."""
        self._check()
        offset = self._rows_size
        try:
            if self._rows_shared and (rows or part is not None):
                self._own_rows()
            if part is None:
                _pwrite_all(self._rows_fd, rows, offset)
                length, crc = len(rows), zlib.crc32(rows)
            else:
                length, crc = self._append_part(part, offset)
        except OSError as exc:
            raise self._failed_write(self.rows_path, exc) from exc
        self._rows_size += length
        self._rows_unsynced = True
        self._record(_SUCCEEDED, index, attempt, files_failed, items, offset, length, crc)
        if part is not None:
            os.unlink(part)

    def failed(self, index: int, attempt: int) -> None:
        """Record a mini-batch that failed its last attempt."""
        self._check()
        self._record(_FAILED, index, attempt)

    def commit_due(self) -> None:
        """Commit if the oldest outcome not yet on disk is COMMIT_INTERVAL old."""
        since = self._unsynced_since
        if since is not None and time.monotonic() - since >= COMMIT_INTERVAL:
            self.commit()

    def commit(self) -> None:
        """Put every outcome recorded so far on disk, rows first."""
        if self._unsynced_since is None:
            return
        self._check()
        if self.synced_first is not None:
            self.synced_first()
        path = self.rows_path
        try:
            if self._rows_unsynced:
                _sync(self._rows_fd)
            path = self.journal_path
            _sync(self._journal_fd)
            if not self._folder_synced:
                fsync_dir(self.folder)
        except OSError as exc:
            raise self._failed_write(path, exc) from exc
        self._unsynced_since = None
        self._rows_unsynced = False
        self._folder_synced = True

    def rows_in_order(self) -> Iterator[bytes]:
        """The lines of every succeeded mini-batch, in mini-batch order, in chunks."""
        for offset, length in self._row_ranges():
            while length:
                chunk = os.pread(self._rows_fd, min(length, _CHUNK), offset)
                if not chunk:
                    raise JournalError(f"{self.rows_path} ends before the rows it records")
                yield chunk
                offset += len(chunk)
                length -= len(chunk)

    def rows_of(self, index: int) -> bytes:
        """The lines of succeeded mini-batch `index`."""
        outcome = self.outcomes[index]
        rows = os.pread(self._rows_fd, outcome.length, outcome.offset) if outcome.length else b""
        if len(rows) != outcome.length:
            raise JournalError(f"{self.rows_path} ends before the rows it records")
        return rows

    def link_rows(self, target: Path) -> bool:
        """Give rows.bin the name `target` (which must not exist) if it holds exactly the
        lines of rows_in_order() and the filesystem allows it; whether it did. Raises OSError."""
        ranges = list(self._row_ranges())
        if ranges not in ([], [(0, self._rows_size)]):
            return False
        try:
            os.link(self.rows_path, target)
        except OSError as exc:
            if exc.errno in _NO_LINK:
                return False
            raise
        self._rows_shared = True
        return True

    def mark_published(self) -> None:
        """Record that the output file is this job's, and commit: call it before the file
        is renamed into place, so that whatever is found there later is known to be ours."""
        if not self.published:
            self._record(_PUBLISHED, 0, 0)
            self.published = True
        self.commit()

    def close(self) -> None:
        """Commit what is recorded (if the journal is sound), close the files and remove
        leftover part files; the journal itself stays."""
        if self._error is None and self._journal_fd >= 0:
            with contextlib.suppress(JournalError):
                self.commit()
        for fd in (self._journal_fd, self._rows_fd):
            if fd >= 0:
                os.close(fd)
        self._journal_fd = self._rows_fd = -1
        shutil.rmtree(self.parts_dir, ignore_errors=True)

    # -- writing ------------------------------------------------------------------------------
    def _open(self) -> None:
        self._journal_fd = os.open(self.journal_path, os.O_RDWR)
        self._rows_fd = os.open(self.rows_path, os.O_RDWR | os.O_CREAT, 0o666)
        self._rows_shared = os.fstat(self._rows_fd).st_nlink > 1
        self._rows_copy.unlink(missing_ok=True)  # what a crash in _own_rows left
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.parts_dir.mkdir()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _failed_write(self, path: Path, exc: OSError) -> JournalError:
        self._error = JournalError(
            f"could not write the job journal {path}: {exc.strerror or exc}",
            hint="free some space or fix the folder's permissions, then: batchml job resume",
        )
        return self._error

    def _record(
        self,
        kind: int,
        index: int,
        attempt: int,
        files_failed: int = 0,
        items: int = 0,
        offset: int = 0,
        length: int = 0,
        rows_crc: int = 0,
    ) -> None:
        body = _RECORD.pack(
            _RECORD_MAGIC, kind, attempt, index, files_failed, items, offset, length, rows_crc
        )
        try:
            _pwrite_all(self._journal_fd, body + _CRC.pack(zlib.crc32(body)), self._journal_size)
        except OSError as exc:
            raise self._failed_write(self.journal_path, exc) from exc
        self._journal_size += RECORD_SIZE
        if self._unsynced_since is None:
            self._unsynced_since = time.monotonic()
        if kind != _PUBLISHED:
            succeeded = kind == _SUCCEEDED
            self.outcomes.put(index, succeeded, attempt, files_failed, items, offset, length)

    def _own_rows(self) -> None:
        """Put a copy of rows.bin's first _rows_size bytes in its place, on disk, so that
        writing it leaves the output it is linked to as it is."""
        copy = self._rows_copy
        copy.unlink(missing_ok=True)
        fd = os.open(copy, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with open(self.rows_path, "rb") as source:
                offset = 0
                while offset < self._rows_size:
                    chunk = source.read(min(_CHUNK, self._rows_size - offset))
                    if not chunk:
                        raise JournalError(f"{self.rows_path} ends before the rows it records")
                    _pwrite_all(fd, chunk, offset)
                    offset += len(chunk)
            _sync(fd)
            os.replace(copy, self.rows_path)
            fsync_dir(self.folder)
        except BaseException:
            os.close(fd)
            copy.unlink(missing_ok=True)
            raise
        if self._rows_fd >= 0:
            os.close(self._rows_fd)
            self._rows_fd = fd
        else:  # recovering: _open() comes next
            os.close(fd)
        self._rows_shared = False

    def _append_part(self, part: str, offset: int) -> tuple[int, int]:
        length = crc = 0
        with open(part, "rb") as source:
            while chunk := source.read(_CHUNK):
                _pwrite_all(self._rows_fd, chunk, offset + length)
                length += len(chunk)
                crc = zlib.crc32(chunk, crc)
        return length, crc

    # -- reading ------------------------------------------------------------------------------
    def _row_ranges(self) -> Iterator[tuple[int, int]]:
        """(offset, length) in rows.bin of the succeeded mini-batches' lines, in mini-batch
        order; neighbours in the file are joined, as they are when mini-batches end in order."""
        start = end = 0
        for outcome in self.outcomes.values():
            if not (outcome.succeeded and outcome.length):
                continue
            if outcome.offset != end:
                if end > start:
                    yield start, end - start
                start = outcome.offset
            end = outcome.offset + outcome.length
        if end > start:
            yield start, end - start

    def _recover(self) -> bool:
        """Read the records back, stopping at the first one that is torn or whose rows are not
        intact, and cut both files back to what was kept. False if there is no journal."""
        try:
            journal = open(self.journal_path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        with journal:
            if not self._read_header(journal.read(_HEADER.size)):
                return False
            rows = open(self.rows_path, "rb") if self.rows_path.exists() else None  # noqa: SIM115
            try:
                while (record := _parse(journal.read(RECORD_SIZE))) is not None:
                    kind, outcome, rows_crc = record
                    if kind == _SUCCEEDED and not self._rows_intact(rows, outcome, rows_crc):
                        break
                    if kind == _PUBLISHED:
                        self.published = True
                    else:
                        self.outcomes.set(outcome)
                    if kind == _SUCCEEDED:
                        self._rows_size = outcome.offset + outcome.length
                    self._journal_size += RECORD_SIZE
            finally:
                if rows is not None:
                    rows.close()
        if self.journal_path.stat().st_size != self._journal_size:
            os.truncate(self.journal_path, self._journal_size)
        if self.rows_path.exists():
            rows_stat = self.rows_path.stat()
            if rows_stat.st_size != self._rows_size:
                if rows_stat.st_nlink > 1:
                    self._own_rows()
                else:
                    os.truncate(self.rows_path, self._rows_size)
        return True

    def _read_header(self, raw: bytes) -> bool:
        """Whether the header is whole; raises if it is not this job's, or too new."""
        path = self.journal_path
        if len(raw) != _HEADER.size or zlib.crc32(raw[: -_CRC.size]) != _CRC.unpack(raw[-4:])[0]:
            # Torn before the first commit: no record after it was ever on disk.
            return False
        magic, version, plan, _ = _HEADER.unpack(raw)
        if magic != _HEADER_MAGIC:
            raise JournalError(f"{path} is not a batchml job journal")
        if version > FORMAT_VERSION:
            raise JournalError(
                f"{path} has format version {version}; this batchml reads up to {FORMAT_VERSION}",
                hint="upgrade batchml (pip install -U batchml)",
            )
        self._pending = plan == PENDING
        if plan != self._plan and not self._pending:
            raise JournalError(
                f"{path} was written for other mini-batches (the input files or the "
                "mini_batch_size changed), so the job cannot resume from it"
            )
        return True

    def _rows_intact(self, rows: BinaryIO | None, outcome: Outcome, expected_crc: int) -> bool:
        # Lines follow each other in rows.bin in the order of their records.
        if rows is None or outcome.offset != self._rows_size:
            return False
        rows.seek(outcome.offset)
        remaining, crc = outcome.length, 0
        while remaining:
            chunk = rows.read(min(remaining, _CHUNK))
            if not chunk:
                return False
            crc = zlib.crc32(chunk, crc)
            remaining -= len(chunk)
        return crc == expected_crc


def _header(plan: bytes) -> bytes:
    header = _HEADER.pack(_HEADER_MAGIC, FORMAT_VERSION, plan, 0)[: -_CRC.size]
    return header + _CRC.pack(zlib.crc32(header))


def _parse(raw: bytes) -> tuple[int, Outcome, int] | None:
    """(kind, outcome, rows CRC) of a sound record, or None for a torn or foreign one."""
    if len(raw) != RECORD_SIZE or zlib.crc32(raw[: _RECORD.size]) != _CRC.unpack(raw[-4:])[0]:
        return None
    magic, kind, attempt, index, files_failed, items, offset, length, rows_crc = _RECORD.unpack(
        raw[: _RECORD.size]
    )
    if magic != _RECORD_MAGIC or kind not in (_SUCCEEDED, _FAILED, _PUBLISHED):
        return None
    outcome = Outcome(index, kind == _SUCCEEDED, attempt, files_failed, items, offset, length)
    return kind, outcome, rows_crc


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    # A write may be cut short (a file size limit, a full disk): the next one says why.
    written = os.pwrite(fd, data, offset) if data else 0
    if written == len(data):  # as nearly always: one call, no view
        return
    view = memoryview(data)[written:]
    offset += written
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def discard(folder: Path) -> None:
    """Remove a journal that is no longer needed (its job completed)."""
    shutil.rmtree(folder, ignore_errors=True)
