"""Mini-batches by size: the bound's forms, and files packed in input order up to it."""

from __future__ import annotations

import pytest

from batchml.core.errors import InvalidSpecError
from batchml.core.run_settings import RunSettings
from batchml.core.sizes import parse_size
from batchml.runner.plan import plan_mini_batches
from batchml.services.job_plans import spread


@pytest.mark.parametrize(
    ("value", "bytes_"),
    [("10MB", 10**7), ("512kb", 512_000), ("1gb", 10**9), ("1.5 MB", 1_500_000), ("100b", 100)],
)
def test_the_size_forms(value: str, bytes_: int) -> None:
    assert RunSettings(mini_batch_size=value).mini_batch_bytes == bytes_


def test_a_number_as_a_string_counts_files_as_azure_takes_it() -> None:
    assert RunSettings(mini_batch_size=" 10").mini_batch_size == 10


@pytest.mark.parametrize("value", ["10 parsecs", "0kb", "-1MB", "MB", "0"])
def test_what_is_not_a_size(value: str) -> None:
    with pytest.raises(InvalidSpecError, match="mini_batch_size must be a number of files"):
        RunSettings(mini_batch_size=value)
    assert parse_size("10 parsecs") is None


def test_files_are_packed_in_order_up_to_the_bound_a_bigger_one_alone() -> None:
    files = ["a", "b", "c", "d", "e", "f"]
    sizes = [400, 500, 200, 3000, 1000, 1]
    batches = plan_mini_batches(files, "1kb", local=False, sizes=sizes)
    assert batches == [("a", "b"), ("c",), ("d",), ("e",), ("f",)]


def test_sampled_mini_batches_spread_over_the_plan() -> None:
    assert spread(10, 1) == [0]
    assert spread(10, 3) == [0, 4, 9]  # first, middle, last
    assert spread(2, 5) == [0, 1]
