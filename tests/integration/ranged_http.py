"""A folder served over HTTP/1.1 on 127.0.0.1, answering Range requests of a file with 206
Partial Content (as a table at a public http URL needs), for tests/integration/test_http_*.py
and bench/http_tables.py. What it was asked is recorded: each GET of a file with its Range
header, and each connection opened to it."""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import io
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Site:
    """A served folder: its URL, each GET of a file as (path, its Range header), and how
    many connections clients opened."""

    url: str
    asked: list[tuple[str, str | None]] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)


class _Ranged(http.server.SimpleHTTPRequestHandler):
    """Serves a folder (index pages list its files) over kept-alive connections and answers
    a Range request of a file with 206 and those bytes, unless `honour` is off (then 200 and
    the whole file, as a server that ignores ranges does). With `drop`, it closes each
    connection after one answer without saying so, as a server whose keep-alive timeout
    passed between two requests."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as servers do: an answer's headers and body, at once
    honour = True
    drop = False
    site: Site

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.site.connections.append(1)

    def handle_one_request(self) -> None:
        super().handle_one_request()
        if self.drop:
            self.close_connection = True

    def send_head(self) -> Any:
        path = self.translate_path(self.path)
        if os.path.isfile(path) and self.command == "GET":
            self.site.asked.append((self.path, self.headers.get("Range")))
        found = _RANGE.match(self.headers.get("Range") or "")
        if not (self.honour and found and os.path.isfile(path)):
            return super().send_head()
        size = os.stat(path).st_size
        start = int(found.group(1))
        end = min(int(found.group(2) or size - 1), size - 1)
        with open(path, "rb") as file:
            file.seek(start)
            data = file.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Last-Modified", self.date_time_string(int(os.stat(path).st_mtime)))
        self.end_headers()
        return io.BytesIO(data)


def certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 and its key, in one file in `folder`: clients
    trust it with SSL_CERT_FILE."""
    path = folder / "127.0.0.1.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", path, "-out", path.with_suffix(".crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    path.write_bytes(path.read_bytes() + path.with_suffix(".crt").read_bytes())
    return path


class _Server(http.server.ThreadingHTTPServer):
    """Quiet about a client that hangs up mid-answer (batchml stops reading a server that
    ignores ranges after the bytes it asked for): socketserver would print the traceback to
    the stderr of the test's in-process command."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def _running(server: _Server) -> Iterator[None]:
    """`server` serving on a thread of its own, shut down and closed on exit."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def served(
    folder: Path, *, honour: bool = True, drop: bool = False, tls: Path | None = None
) -> Iterator[Site]:
    """A server of `folder` on 127.0.0.1 (see _Ranged), stopped on exit; https with the
    `tls` certificate (see `certificate`) if given."""
    site = Site("")
    handler = type("Handler", (_Ranged,), {"honour": honour, "drop": drop, "site": site})
    server = _Server(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    site.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    with _running(server):
        yield site


@dataclass
class Proxy:
    """A proxy's URL and what it was asked: each CONNECT's host:port, each whole URL."""

    url: str
    tunnels: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)


class _Proxying(http.server.BaseHTTPRequestHandler):
    """An HTTP proxy: CONNECT opens a tunnel to the host asked (https), a GET or HEAD of a
    whole URL is asked of its server and the answer passed back (http)."""

    protocol_version = "HTTP/1.1"
    proxy: Proxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        self.proxy.tunnels.append(self.path)
        host, _, port = self.path.rpartition(":")
        with socket.create_connection((host, int(port))) as upstream:
            self.send_response(200, "Connection established")
            self.end_headers()
            sockets = [self.connection, upstream]
            while True:
                ready, _, _ = select.select(sockets, [], [])
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        self.close_connection = True
                        return
                    (upstream if source is self.connection else self.connection).sendall(data)

    def _forward(self) -> None:
        self.proxy.forwarded.append(self.path)
        parts = urllib.parse.urlsplit(self.path)
        upstream = http.client.HTTPConnection(parts.netloc)
        asked = {k: v for k, v in self.headers.items() if k.lower() == "range"}
        upstream.request(self.command, parts.path or "/", headers=asked)
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        upstream.close()

    do_GET = do_HEAD = _forward


@contextlib.contextmanager
def proxied() -> Iterator[Proxy]:
    """An HTTP proxy on 127.0.0.1 (see _Proxying), stopped on exit."""
    proxy = Proxy("")
    handler = type("Handler", (_Proxying,), {"proxy": proxy})
    server = _Server(("127.0.0.1", 0), handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    with _running(server):
        yield proxy
