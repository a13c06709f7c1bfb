"""Parts of a file in storage, read by ranged downloads, for the runner's planning and staging
of tables in storage: a blob in Azure storage (azure-storage-blob's `download_blob(offset,
length)` on a container client of batchml.store.remote), or a file at a public http(s) URL
(HTTP Range requests, answered 206 by a server that honours them). Each gives `read(offset,
length)` for the line cutter, a seekable file for pyarrow's parquet footer, the chunks of the
whole file for counting its lines, and a range copied into the input cache.

The runner reads them (for local workers, and `invoke` a table's first columns), and so does
a Ray actor staging the row ranges of its own mini-batches into its node's cache
(batchml.backends.ray_actor); a file's content key (from its listing) is checked against every response's, so
bytes of a file changed since it was listed are never planned from nor cached under the old
key.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from batchml.core.errors import UsageError
from batchml.core.row_ranges import RowRange, parse
from batchml.store import http_connections, remote

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from azure.storage.blob import ContainerClient

    from batchml.store.input_cache import InputCache

_CHUNK = 1024 * 1024
_AT_ONCE = 8  # files asked about at once (each request waits on the network, not the CPU)
_In = TypeVar("_In")
_Out = TypeVar("_Out")
_IDENTITY = {"Accept-Encoding": "identity"}


class _Answer(Protocol):
    def readall(self) -> bytes: ...

    def chunks(self) -> Iterator[bytes]: ...


class Blob:
    """One file in storage: `path` (as listings give it), `name` (its file name last), `key`
    and `size` from the listing, `shown` (how errors name it, as the user named its folder)."""

    def __init__(self, path: str, key: str, size: int, shown: str) -> None:
        self.path, self.key, self.size, self.shown = path, key, size, shown
        self.name = path.partition("/")[2]

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` (fewer at the blob's end)."""
        if length <= 0 or offset >= self.size:
            return b""
        return self._stream(offset, min(length, self.size - offset)).readall()

    def chunks(self) -> Iterator[bytes]:
        """The whole blob, in the chunks it is downloaded in."""
        if self.size:
            yield from self._stream(0, self.size).chunks()

    def file(self) -> BlobFile:
        return BlobFile(self)

    def _stream(self, offset: int, length: int) -> _Answer:
        """The answer to a request for `length` bytes from `offset`, of the listed content."""
        raise NotImplementedError


class AzureBlob(Blob):
    """A blob in a container of Azure storage (`path` is `<container>/<name>`)."""

    def __init__(
        self, container: ContainerClient, path: str, key: str, size: int, shown: str
    ) -> None:
        super().__init__(path, key, size, shown)
        self.container = container

    def _stream(self, offset: int, length: int) -> Any:
        stream = self.container.download_blob(self.name, offset=offset, length=length)
        if remote.content_key(self.path, remote.blob_info(stream.properties)) != self.key:
            raise remote.changed(self.shown)
        return stream


class HttpFile(Blob):
    """A file at a public http(s) URL (`path`), its key from its ETag, else its size and
    Last-Modified. Every read is a Range request (on a kept-alive connection,
    batchml.store.http_connections), which must be answered 206 with the bytes asked: a
    server that ignores ranges (200, the whole file) is refused, not read whole."""

    def _stream(self, offset: int, length: int) -> _Answer:
        answer = http_connections.request(
            "GET", self.path, {"Range": f"bytes={offset}-{offset + length - 1}", **_IDENTITY}
        )
        got = answer.headers.get("Content-Range", "")
        if answer.status != 206 or not got.startswith(f"bytes {offset}-"):
            answer.close()
            raise UsageError(
                f"{self.shown}: the server answered a Range request with {answer.status} "
                f"{answer.reason} ({got or 'no Content-Range'}); batchml reads a table at an "
                "http URL by ranges, so its server must honour them"
            )
        if http_key(self.path, int(got.rpartition("/")[2]), answer.headers) != self.key:
            answer.close()
            raise remote.changed(self.shown)
        return _HttpAnswer(answer)


class _HttpAnswer:
    def __init__(self, answer: http_connections.Answer) -> None:
        self._answer = answer

    def readall(self) -> bytes:
        return self._answer.readall()

    def chunks(self) -> Iterator[bytes]:
        return self._answer.chunks(_CHUNK)


def http_key(url: str, size: int, headers: Any) -> str:
    """The content key of the file at `url` from an answer's headers."""
    info = {
        "ETag": headers.get("ETag"),
        "size": size,
        "last_modified": headers.get("Last-Modified"),
    }
    return remote.content_key(url, info)


def http_file(url: str, shown: str) -> HttpFile:
    """The file at `url`, its size and key asked of its server (HEAD; an index page lists
    neither). Errors are the storage clients' (batchml.store.remote.storage_errors maps them)."""
    with http_connections.request("HEAD", url, _IDENTITY) as answer:
        size = answer.headers.get("Content-Length")
        if size is None or answer.headers.get("Accept-Ranges") == "none":
            raise UsageError(
                f"{shown}: the server says no {'size' if size is None else 'ranges'} for it; "
                "batchml reads a table at an http URL by ranges of a file of known size"
            )
        return HttpFile(url, http_key(url, int(size), answer.headers), int(size), shown)


def http_get(url: str) -> bytes:
    """The whole of a small file at `url` (an MLTable file)."""
    return http_connections.request("GET", url, _IDENTITY).readall()


def each(function: Callable[[_In], _Out], items: Iterable[_In]) -> list[_Out]:
    """`function` of each of `items` (files in storage), in order, a few at once: planning
    a table's files is mostly waiting for answers. The first error, in order, is raised."""
    items = list(items)
    if len(items) < 2:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(_AT_ONCE, len(items)), thread_name_prefix="plan") as pool:
        return list(pool.map(function, items))


class BlobFile(io.RawIOBase):
    """A read-only, seekable file over a blob, each read one ranged download (pyarrow reads a
    parquet footer with two or three)."""

    def __init__(self, blob: Blob) -> None:
        super().__init__()
        self._blob, self._at = blob, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._blob.size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def readinto(self, buffer: Any) -> int:
        data = self._blob.read(self._at, len(buffer))
        buffer[: len(data)] = data
        self._at += len(data)
        return len(data)

    def readall(self) -> bytes:
        data = self._blob.read(self._at, self._blob.size - self._at)
        self._at += len(data)
        return data


def range_key(blob: Blob, span: tuple[int, int] | None, head: int) -> str:
    """The cache key of a range: the blob's content key, the span (None: the whole blob) and
    the length of the header line put before it."""
    text = f"{blob.key}\0{span}\0{head}"
    return "range-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_range(cache: InputCache, blob: Blob, span: tuple[int, int] | None, head: int = 0) -> str:
    """The local path of the bytes `span` of `blob` (None: all of it), after its first `head`
    bytes (its header line) when `head`: from the cache, else downloaded into it. The file is
    named as the blob is."""
    file_name = blob.name.rsplit("/", 1)[-1]
    key = range_key(blob, span, head)
    found = cache.lookup(key, file_name)
    if found is not None:
        return str(found)
    temporary = cache.temporary()
    try:
        with remote.storage_errors(blob.shown), open(temporary, "wb") as out:
            if span is None:
                for chunk in blob.chunks():
                    out.write(chunk)
            else:
                start, end = span
                if head and start > head:
                    out.write(blob.read(0, head))
                    out.write(blob.read(start, end - start))
                else:  # the header line and the range are one run of bytes
                    out.write(blob.read(0 if head else start, end - (0 if head else start)))
        stored = cache.store(temporary, key, file_name)
    finally:
        temporary.unlink(missing_ok=True)
    cache.trim(keep={stored})
    return str(stored)


def local_item(cache: InputCache, blob: Blob, item: str) -> str:
    """The row range `item` of `blob` as the same rows of a file in the cache: a CSV or JSON
    lines range as the whole of a file of its bytes (after the header line), a parquet range
    as the same rows of the whole blob, cached once."""
    part = parse(item)
    options = {key: value for key, value in part.options.items() if key != "head"}
    options["shown"] = blob.shown  # the Path column names the blob, not the cache
    if part.format == "parquet" or part.span is None:
        path = cached_range(cache, blob, None)
        return RowRange(path, part.format, options, part.span, part.where).item()
    _, start, end = part.span
    path = cached_range(cache, blob, (start, end), int(part.options.get("head", "0")))
    return RowRange(path, part.format, options, None, part.where).item()
