"""batchml.store.blob_ranges at its seam: a container client whose `download_blob(name,
offset, length)` serves bytes and records each request, as azure-storage-blob's does."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from batchml.core.errors import BatchmlError
from batchml.runner.line_cuts import byte_cuts
from batchml.store import remote
from batchml.store.blob_ranges import AzureBlob, Blob, cached_range
from batchml.store.input_cache import InputCache

ETAG = "0x8DC"


@dataclass
class _Settings:
    content_md5: bytes | None = None


@dataclass
class _Properties:
    etag: str
    size: int
    content_settings: _Settings = field(default_factory=_Settings)
    last_modified: None = None


class _Stream:
    def __init__(self, data: bytes, properties: _Properties) -> None:
        self.data, self.properties = data, properties

    def readall(self) -> bytes:
        return self.data

    def chunks(self) -> list[bytes]:
        return [self.data[at : at + 7] for at in range(0, len(self.data), 7)]


class Container:
    """Serves `data` as blob `dir/t.csv`; `requests` holds each (offset, length) asked."""

    def __init__(self, data: bytes, etag: str = ETAG) -> None:
        self.data, self.etag = data, etag
        self.requests: list[tuple[int, int]] = []

    def download_blob(self, name: str, offset: int = 0, length: int | None = None) -> _Stream:
        assert name == "dir/t.csv"
        length = len(self.data) - offset if length is None else length
        self.requests.append((offset, length))
        properties = _Properties(f'"{self.etag}"', len(self.data))
        return _Stream(self.data[offset : offset + length], properties)


def blob(container: Container) -> Blob:
    info = {"etag": ETAG, "size": len(container.data)}
    key = remote.content_key("c/dir/t.csv", info)
    shown = "azureml://datastores/d/paths/dir/t.csv"
    return AzureBlob(container, "c/dir/t.csv", key, len(container.data), shown)  # type: ignore[arg-type]


def test_reads_ask_only_for_what_is_there() -> None:
    container = Container(b"0123456789")
    found = blob(container)

    assert found.read(8, 100) == b"89"
    assert found.read(10, 5) == b"" and found.read(3, 0) == b""
    assert container.requests == [(8, 2)]


def test_the_line_cutter_reads_a_blob_by_small_ranges() -> None:
    lines = b"".join(f"{index:04d},row\n".encode() for index in range(1000))  # 9 bytes each
    container = Container(lines)

    cuts = byte_cuts(blob(container).read, 0, len(lines), 900, probe=16)

    assert cuts == [900 * k for k in range(1, 10)]
    assert all(length <= 16 for _, length in container.requests)
    assert sum(length for _, length in container.requests) < 200


def test_a_parquet_footer_is_read_by_ranges_not_the_whole_blob() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    table = pa.table({"id": list(range(50_000)), "text": [f"row {i}" for i in range(50_000)]})
    pq.write_table(table, out, row_group_size=10_000)
    container = Container(out.getvalue())

    metadata = pq.ParquetFile(blob(container).file()).metadata

    assert (metadata.num_rows, metadata.num_row_groups) == (50_000, 5)
    assert sum(length for _, length in container.requests) < len(container.data) // 4


def test_a_blob_changed_since_its_listing_is_an_error_naming_it() -> None:
    container = Container(b"a,b\n1,2\n")
    listed = blob(container)
    container.etag = "0x9FF"  # written again since

    with pytest.raises(BatchmlError) as raised:
        listed.read(0, 4)

    assert raised.value.message == (
        "azureml://datastores/d/paths/dir/t.csv changed since the job listed it "
        "(a new job scores it as it is now)"
    )


def test_a_range_is_cached_with_its_header_line_and_downloaded_once(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n3,4\n5,6\n"
    container = Container(data)
    cache = InputCache(tmp_path / "cache", limit=10**6)
    found = blob(container)

    first = cached_range(cache, found, (12, 16), head=4)
    again = cached_range(cache, found, (12, 16), head=4)
    whole = cached_range(cache, found, (4, 16), head=4)

    assert first == again and first.endswith("/t.csv")
    assert Path(first).read_bytes() == b"a,b\n5,6\n"
    assert Path(whole).read_bytes() == data  # the header line and the range: one request
    assert container.requests == [(0, 4), (12, 4), (0, 16)]
    assert (cache.stored, cache.hits) == (2, 1)


def test_a_failed_download_caches_nothing(tmp_path: Path) -> None:
    container = Container(b"a,b\n1,2\n")
    cache = InputCache(tmp_path / "cache", limit=10**6)
    found = blob(container)
    container.etag = "changed"

    with pytest.raises(BatchmlError):
        cached_range(cache, found, (4, 8), head=4)

    assert not [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
