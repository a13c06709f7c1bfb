"""Parts of a blob in Azure storage, read by ranged downloads (azure-storage-blob's
`download_blob(offset, length)` on a container client of batchml.store.remote), for the
runner's planning and staging of tables in storage: `read(offset, length)` for the line
cutter, a seekable file for pyarrow's parquet footer, the chunks of a whole blob for counting
its lines, and a range copied into the input cache.

The runner reads them (for local workers), and so does a Ray actor staging the row ranges
of its own mini-batches into its node's cache (batchml.backends.ray_actor); a blob's content
key (from its listing) is checked against every response's, so bytes of a blob changed since
it was listed are never planned from nor cached under the old key.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any

from batchml.core.row_ranges import RowRange, parse
from batchml.store import remote

if TYPE_CHECKING:
    from collections.abc import Iterator

    from azure.storage.blob import ContainerClient

    from batchml.store.input_cache import InputCache


class Blob:
    """One blob: `name` in its container, `path` (`<container>/<name>`, as listings give it),
    `key` and `size` from the listing."""

    def __init__(
        self, container: ContainerClient, path: str, key: str, size: int, shown: str
    ) -> None:
        """`shown` names the blob in errors, as the user named its folder."""
        self.container, self.path, self.key, self.size = container, path, key, size
        self.name = path.partition("/")[2]
        self.shown = shown

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

    def _stream(self, offset: int, length: int) -> Any:
        stream = self.container.download_blob(self.name, offset=offset, length=length)
        if remote.content_key(self.path, remote.blob_info(stream.properties)) != self.key:
            raise remote.changed(self.shown)
        return stream


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
