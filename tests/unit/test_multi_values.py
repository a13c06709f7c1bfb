"""How az's argument habits reach click: `--set a=1 b=2` (several values after one flag) becomes
one flag per value, and an unambiguous prefix of a long option (`--f`) the option."""

from __future__ import annotations

import click
import pytest

from batchml.cli.context import expand_abbreviations, spread_multi_values


@pytest.mark.parametrize(
    ("args", "spread"),
    [
        (["--set", "a=1"], ["--set", "a=1"]),
        (["--set", "a=1", "b=2", "c.d=3"], ["--set", "a=1", "--set", "b=2", "--set", "c.d=3"]),
        (
            ["-f", "x.yml", "--set", "a=1", "b=2", "-n", "dep"],
            ["-f", "x.yml", "--set", "a=1", "--set", "b=2", "-n", "dep"],
        ),
        (
            ["--set", "a=1", "--set", "b=2", "c=3"],
            ["--set", "a=1", "--set", "b=2", "--set", "c=3"],
        ),
        (["--tags", "team=ml", "stage=dev"], ["--tags", "team=ml", "--tags", "stage=dev"]),
        (
            ["--defaults", "workspace=/w", "other=x"],
            ["--defaults", "workspace=/w", "--defaults", "other=x"],
        ),
        (["--add", "a=1", "b=2"], ["--add", "a=1", "--add", "b=2"]),
        (["--remove", "a=1", "b=2"], ["--remove", "a=1", "--remove", "b=2"]),
        # Only key=value words continue a --set; anything else is left to click.
        (["--set", "a=1", "stray"], ["--set", "a=1", "stray"]),
        # Other options end the run of values, even when their value holds '='.
        (["--set", "a=1", "--query", "[?x=='y']"], ["--set", "a=1", "--query", "[?x=='y']"]),
        (["-n", "a=b", "c=d"], ["-n", "a=b", "c=d"]),
        # Values may hold more "=" signs; only the first splits key from value.
        (["--set", "a==1", "b=x=y"], ["--set", "a==1", "--set", "b=x=y"]),
        ([], []),
    ],
)
def test_spread_multi_values(args: list[str], spread: list[str]) -> None:
    assert spread_multi_values(args) == spread


NAMES = ["--file", "--name", "--set", "--stream", "--subscription"]


@pytest.mark.parametrize(
    ("args", "expanded"),
    [
        (["--f", "inputs.yml"], ["--file", "inputs.yml"]),
        (["--fi=inputs.yml", "--na", "ep"], ["--file=inputs.yml", "--name", "ep"]),
        (["--str"], ["--stream"]),
        (["--set", "a=1"], ["--set", "a=1"]),
        (["--nope"], ["--nope"]),  # left to click, which says it does not exist
        (["-f", "x", "--", "--f"], ["-f", "x", "--", "--f"]),
    ],
)
def test_unambiguous_prefixes_of_long_options_expand(args: list[str], expanded: list[str]) -> None:
    assert expand_abbreviations(args, NAMES) == expanded


def test_an_ambiguous_prefix_is_refused() -> None:
    with pytest.raises(click.UsageError) as error:
        expand_abbreviations(["--s"], NAMES)
    assert (
        error.value.message == "ambiguous option: --s could match --set, --stream, --subscription"
    )
