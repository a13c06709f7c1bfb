"""Where to cut a CSV or JSON lines file into byte ranges of whole lines, by small reads.

The cutter sees the file only through `read(offset, length) -> bytes`, so the same code cuts
a file on disk (seek and read) and a blob in storage (a ranged download): planning reads a
probe's worth of bytes around each cut point, never the rows in between. A line longer than
the probe costs more probes, not a wrong cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Callable

    Read = Callable[[int, int], bytes]

PROBE = 1024  # most lines are shorter; a ranged request costs its latency, not its bytes


def byte_cuts(read: Read, start: int, end: int, bound: int, probe: int = PROBE) -> list[int]:
    """Offsets past the first line end at or after each multiple of `bound` from `start` (the
    previous cut), none at or past `end`."""
    cuts: list[int] = []
    at = start + bound
    while at < end:
        cut = line_end(read, at - 1, end, probe)
        if cut >= end:
            break
        cuts.append(cut)
        at = cut + bound
    return cuts


def line_end(read: Read, offset: int, end: int, probe: int = PROBE) -> int:
    """The offset past the first newline at or after `offset` (`end` if there is none)."""
    while offset < end:
        chunk = read(offset, min(probe, end - offset))
        if not chunk:
            break
        found = chunk.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(chunk)
    return end


def file_reader(file: BinaryIO) -> Read:
    """`read` over an open file on disk."""

    def read(offset: int, length: int) -> bytes:
        file.seek(offset)
        return file.read(length)

    return read
