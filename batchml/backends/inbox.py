"""The messages a worker sent down its multiprocessing pipe, all those there read at once.

Connection.recv() reads one message with two system calls (its length, then its bytes); a
worker that runs mini-batches in no time sends an outcome every few tens of microseconds, and
the job's process, whose listing thread holds the GIL meanwhile, paid a GIL wait after each
call. One read here takes what is in the pipe, up to _READ bytes, and gives back every message
whole in it, in multiprocessing's own framing (a 4-byte big-endian length, or -1 then an
8-byte one, then the pickle), so the sender is a plain Connection.send().
"""

from __future__ import annotations

import os
import struct
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

_READ = 1 << 16  # bytes read at a time, at most what a pipe holds
_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")


class Inbox:
    """Reads the messages of one Connection's pipe; nothing else may read from it."""

    def __init__(self, conn: Connection) -> None:
        self._fd = conn.fileno()

    def read(self) -> list[object]:
        """The messages in the pipe now: call it when the pipe is readable. A message cut
        short by the end of the read is read to its end (waiting for it, as recv() would).
        Raises EOFError once the other end is closed and every message was read."""
        data = self._read(_READ)
        messages, at = [], 0
        while at < len(data):
            data, at, length = self._field(data, at, _LENGTH)
            if length == -1:
                data, at, length = self._field(data, at, _LONG_LENGTH)
            data = self._at_least(data, at + length)
            messages.append(ForkingPickler.loads(data[at : at + length]))
            at += length
        return messages

    def _field(self, data: bytes, at: int, field: struct.Struct) -> tuple[bytes, int, int]:
        data = self._at_least(data, at + field.size)
        return data, at + field.size, field.unpack_from(data, at)[0]

    def _at_least(self, data: bytes, size: int) -> bytes:
        """`data` and what follows it in the pipe, up to `size` bytes in all."""
        if len(data) >= size:
            return data
        pieces = [data]
        missing = size - len(data)
        while missing:
            piece = self._read(missing)
            pieces.append(piece)
            missing -= len(piece)
        return b"".join(pieces)

    def _read(self, size: int) -> bytes:
        data = os.read(self._fd, size)
        if not data:
            raise EOFError
        return data
