"""The newline cutter: cuts at line ends found by small reads, at the seams of its probes."""

from __future__ import annotations

import io
import itertools

from batchml.runner.line_cuts import byte_cuts, file_reader, line_end


class Reads:
    """`read` over bytes that records every (offset, length) asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        return self.data[offset : offset + length]


def _lines(cuts: list[int], data: bytes) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def test_a_bound_landing_just_past_a_newline_cuts_there() -> None:
    data = b"aaa\nbbb\nccc\n"
    assert byte_cuts(Reads(data), 0, len(data), 4) == [4, 8]


def test_a_bound_inside_a_line_cuts_past_its_end() -> None:
    data = b"aaa\nbbb\nccc\n"
    assert byte_cuts(Reads(data), 0, len(data), 5) == [8]


def test_a_line_longer_than_the_probe_takes_more_probes_not_a_wrong_cut() -> None:
    data = b"x" * 100 + b"\n" + b"y\n"
    reads = Reads(data)
    assert byte_cuts(reads, 0, len(data), 1, probe=8) == [101]
    assert len(reads.calls) == 13 + 1  # ceil(101 / 8) to the cut, one to the last line end
    assert all(length <= 8 for _, length in reads.calls)


def test_a_last_line_with_no_newline_is_not_cut() -> None:
    data = b"aaa\nbbb"
    assert byte_cuts(Reads(data), 0, len(data), 5) == []
    assert line_end(Reads(data), 4, len(data)) == len(data)


def test_reads_stay_inside_the_range_and_near_the_cut_points() -> None:
    data = b"".join(b"%05d\n" % n for n in range(2000))  # 12000 bytes, lines of 6
    reads = Reads(data)
    cuts = byte_cuts(reads, 0, len(data), 3000, probe=16)
    assert cuts == [3000, 6000, 9000]
    assert sum(length for _, length in reads.calls) == 3 * 16
    assert all(line.endswith(b"\n") for line in _lines(cuts, data))


def test_a_file_on_disk_cuts_as_the_bytes_do() -> None:
    data = b"".join(b"row %d,%s\n" % (n, b"z" * (n % 37)) for n in range(500))
    from_disk = byte_cuts(file_reader(io.BytesIO(data)), 0, len(data), 1000, probe=7)
    assert from_disk == byte_cuts(Reads(data), 0, len(data), 1000)
    assert all(line.endswith(b"\n") for line in _lines(from_disk, data))
