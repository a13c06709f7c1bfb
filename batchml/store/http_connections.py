"""HTTP requests over kept-alive connections, for the ranged reads of a table at a public
http(s) URL (batchml.store.blob_ranges): planning a table reads a small range at each cut
point, and a new connection per request (as urllib opens one) costs more than the bytes.

A request takes an idle connection to its host (or opens one) and its answer gives it back
once its body is read to the end, so each thread asking a host at a time has its own. A
connection the server dropped while idle (its keep-alive timeout) is closed and the request
sent again on another, a new one last; a redirect is followed. A forked process forgets its
parent's connections. The proxy the environment names for a URL (`http_proxy`, `https_proxy`,
`no_proxy`, as urllib reads them) is used as urllib would: https through a CONNECT tunnel,
http by asking the proxy for the whole URL; a proxy that cannot be reached raises ProxyError. Answers of 400 and above raise urllib's HTTPError, which
batchml.store.remote.storage_errors maps as for any storage client.
"""

from __future__ import annotations

import base64
import http.client
import os
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from email.message import Message
    from types import TracebackType

TIMEOUT = 60.0  # seconds a server may take to answer
_KEEP = 8  # idle connections kept per host
_REDIRECTS = 5
# What a kept-alive connection the server closed meanwhile raises at the next request.
_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

_Key = tuple[str, str, str]  # (scheme, host[:port], the proxy's URL or "")
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
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxy = _proxy(parts.scheme, parts.hostname or "")
    key = (parts.scheme, parts.netloc, proxy or "")
    sent = dict(headers)
    if proxy is not None and parts.scheme == "http":  # the proxy is asked for the whole URL
        target = f"http://{parts.netloc}{target}"
        sent.update(_credentials(proxy))
    while True:
        connection, reused = _take(key)
        try:
            connection.request(method, target, headers=sent)
            return Answer(connection.getresponse(), connection, key)
        except _DROPPED:
            connection.close()
            if not reused:
                raise
        except OSError as exc:
            connected = connection.sock is not None
            connection.close()
            if proxy is not None and not connected:  # the proxy itself was not reached
                raise ProxyError(proxy, exc) from exc
            raise
        except BaseException:
            connection.close()
            raise


class ProxyError(OSError):
    """The proxy of a request could not be reached: `proxy` is its URL (without credentials),
    errno and strerror those of the failed connection."""

    def __init__(self, proxy: str, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror or str(exc))
        parts = urlsplit(proxy)  # shown without the credentials it may hold
        self.proxy = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _take(key: _Key) -> tuple[http.client.HTTPConnection, bool]:
    """An idle connection to the host of `key` (through its proxy, if any) and True, or a new
    one and False."""
    with _lock:
        idle = _idle.get(key)
        if idle:
            return idle.pop(), True
    scheme, netloc, proxy = key
    if not proxy:
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        return kind(netloc, timeout=TIMEOUT), False
    via = urlsplit(proxy)
    address = via.netloc.rpartition("@")[2]
    if scheme == "http":
        return http.client.HTTPConnection(address, timeout=TIMEOUT), False
    connection = http.client.HTTPSConnection(address, timeout=TIMEOUT)
    connection.set_tunnel(netloc, headers=_credentials(proxy))
    return connection, False


def _proxy(scheme: str, host: str) -> str | None:
    """The proxy URL the environment names for `scheme` at `host`, None for none."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _credentials(proxy: str) -> dict[str, str]:
    """The Proxy-Authorization header of a proxy URL with a user name, as urllib sends it."""
    via = urlsplit(proxy)
    if via.username is None:
        return {}
    pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


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
