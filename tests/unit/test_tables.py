"""Decision table cells: intervals, comparisons and sets."""

from __future__ import annotations

import pytest
from miaopi.tables import TableError, parse_interval, parse_set


@pytest.mark.parametrize(
    "cell,inside,outside",
    [
        ("[80..90)", [80, 89.99], [79.99, 90]),
        ("(1..2]", [1.5, 2], [1, 2.01]),
        (">= 100", [100, 1e9], [99.99]),
        ("< 5", [4.9, -1e9], [5]),
        ("7", [7], [6.9, 7.1]),
        ("-", [0, 1e12, -3], []),
    ],
)
def test_interval_cells(cell: str, inside: list[float], outside: list[float]) -> None:
    interval = parse_interval(cell)
    assert all(interval.contains(x) for x in inside)
    assert not any(interval.contains(x) for x in outside)


def test_an_empty_interval_is_an_error() -> None:
    with pytest.raises(TableError):
        parse_interval("[5..1]")


def test_set_cells() -> None:
    assert parse_set(["A", "B"]) == frozenset({"A", "B"})
    assert parse_set('"A"') == frozenset({"A"})
    assert parse_set("-") is None
