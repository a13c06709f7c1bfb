"""HTTP requests over kept-alive connections, for the ranged reads of a table at a public
http(s) URL (batchml.store.blob_ranges): planning a table reads a small range at each cut
point, and a new connection per request (as urllib opens one) costs more than the bytes.

A request takes an idle connection to its host (or opens one) and its answer gives it back
once its body is read to the end, so each thread asking a host at a time has its own. A
connection the server dropped while idle (its keep-alive timeout) is closed and the request
sent again on another, a new one last; a redirect is followed. A forked process forgets its
parent's connections. Answers of 400 and above raise urllib's HTTPError, which
batchml.store.remote.storage_errors maps as for any storage client.
"""

from __future__ import annotations

import http.client
import os
import threading
import urllib.error
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from email.message import Message
    from types import TracebackType

TIMEOUT = 60.0  # seconds a server may take to answer
_KEEP = 8  # idle connections kept per host
_REDIRECTS = 5
# What a kept-alive connection the server closed meanwhile raises at the next request.
_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

_Key = tuple[str, str]  # (scheme, host[:port])
_idle: dict[_Key, list[http.client.HTTPConnection]] = {}
_lock = threading.Lock()


class Answer:
    """An answer whose connection goes back to the idle ones once its body is read whole
    (by `readall`, `chunks`, or reads to its end), and is closed if it is closed before."""

    def __init__(
        self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection,
        key: _Key,
    ) -> None:  # fmt: skip
        self.status, self.reason = response.status, response.reason
        self.headers: Message = response.headers
        self._response, self._key = response, key
        self._connection: http.client.HTTPConnection | None = connection

    def read(self, size: int = -1) -> bytes:
        return self._response.read(None if size < 0 else size)

    def readall(self) -> bytes:
        with self:
            return self._response.read()

    def chunks(self, size: int) -> Iterator[bytes]:
        with self:
            while chunk := self._response.read(size):
                yield chunk

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        # http.client closes an answer read to its end; a HEAD's has no body to read.
        whole = self._response.isclosed() or self._response.length == 0
        self._response.close()
        if whole and connection.sock is not None:  # None: the server said it closes
            _give(self._key, connection)
        else:  # the rest of the body would be read as the next answer
            connection.close()

    def __enter__(self) -> Answer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def request(method: str, url: str, headers: Mapping[str, str]) -> Answer:
    """The answer to `method` on `url`, after redirects."""
    for _ in range(_REDIRECTS):
        answer = _send(method, url, headers)
        location = answer.headers.get("Location")
        if answer.status not in (301, 302, 303, 307, 308) or not location:
            break
        answer.readall()
        url = urljoin(url, location)
    if answer.status >= 400:
        answer.readall()
        raise urllib.error.HTTPError(url, answer.status, answer.reason, answer.headers, None)
    return answer


def _send(method: str, url: str, headers: Mapping[str, str]) -> Answer:
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    while True:
        connection, reused = _take(key)
        try:
            connection.request(method, target, headers=dict(headers))
            return Answer(connection.getresponse(), connection, key)
        except _DROPPED:
            connection.close()
            if not reused:
                raise
        except BaseException:
            connection.close()
            raise


def _take(key: _Key) -> tuple[http.client.HTTPConnection, bool]:
    """An idle connection to the host of `key` and True, or a new one and False."""
    with _lock:
        idle = _idle.get(key)
        if idle:
            return idle.pop(), True
    scheme, netloc = key
    kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    return kind(netloc, timeout=TIMEOUT), False


def _give(key: _Key, connection: http.client.HTTPConnection) -> None:
    with _lock:
        idle = _idle.setdefault(key, [])
        if len(idle) < _KEEP:
            idle.append(connection)
            return
    connection.close()


def _forget() -> None:
    """In a forked child: its parent's sockets are not its own to use."""
    global _lock
    _lock = threading.Lock()
    _idle.clear()


os.register_at_fork(after_in_child=_forget)
