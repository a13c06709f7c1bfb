"""Pairing two outputs' rows: by key with repeats, by position, numbers within a tolerance,
rows only one side has."""

from __future__ import annotations

from batchml.core.agreement import Difference, compare, fields_agree


def test_rows_pair_by_key_whatever_their_order_and_repeats_pair_in_turn() -> None:
    a = ["x.png 1 cat", "y.png 2 dog", "y.png 3 dog", "z.png 9 eel"]
    b = ["y.png 2 dog", "x.png 1 cat", "y.png 3.0000001 dog", "w.png 5 ant"]
    tally = compare(a, b, key_field=1, tolerance=1e-6)
    assert (tally.identical, tally.within_tolerance, tally.different) == (2, 1, 0)
    assert (tally.only_in_a, tally.only_in_b, tally.rows) == (1, 1, 5)
    assert tally.ratio == 3 / 5
    assert tally.first_differences == [
        Difference("z.png", "z.png 9 eel", None),
        Difference("w.png", None, "w.png 5 ant"),
    ]


def test_by_position_a_shorter_side_leaves_rows_only_in_the_other() -> None:
    tally = compare(["1", "2"], ["1", "3", "4"], key_field=0, tolerance=0.0)
    assert (tally.identical, tally.different, tally.only_in_b) == (1, 1, 1)
    assert tally.first_differences[0] == Difference("1", "2", "3")


def test_fields_agree_only_when_every_field_does() -> None:
    assert fields_agree("a 1.0 b", "a 1.0005 b", 1e-3)
    assert not fields_agree("a 1.0 b", "a 1.0 c", 1e-3)  # words must be equal
    assert not fields_agree("a 1.0", "a 1.0 extra", 1e-3)
    assert not fields_agree("a nan", "a nan2", 1.0)
    assert not fields_agree("a 1", "a 2", 0.0)


def test_two_empty_outputs_agree() -> None:
    assert compare([], [], key_field=1, tolerance=0.0).ratio == 1.0
