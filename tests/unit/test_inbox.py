"""Reading a worker's pipe (batchml.backends.inbox): every message sent, whole and in order,
with as few reads as the pipe allows."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from batchml.backends import inbox
from batchml.backends.inbox import Inbox


def test_the_messages_in_the_pipe_come_in_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    reads = []
    real_read = os.read

    def counted(fd: int, size: int) -> bytes:
        reads.append(size)
        return real_read(fd, size)

    monkeypatch.setattr(inbox.os, "read", counted)
    for index in range(50):
        writer.send(("outcome", index))

    assert Inbox(reader).read() == [("outcome", index) for index in range(50)]
    assert len(reads) == 1


def test_a_message_cut_by_the_read_is_read_to_its_end_then_the_pipe_ends() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    big = os.urandom(3 * inbox._READ)  # more than a read and than the pipe holds
    # Sent by a thread: the pipe holds less than the message, so the send blocks until read.
    sender = threading.Thread(target=lambda: [writer.send(m) for m in ("first", big, "last")])
    sender.start()
    got: list[object] = []
    box = Inbox(reader)
    while len(got) < 3:
        got += box.read()
    sender.join()
    writer.close()

    assert got == ["first", big, "last"]
    with pytest.raises(EOFError):
        box.read()
