"""The auditors' CLI period options: --to alone is refused, not silently one day."""

from __future__ import annotations

import datetime as dt

import pytest
import typer

from infra.cli.audit import period


def test_to_alone_is_refused() -> None:
    # Given only --to
    # When the period is read, then it is refused, naming --from
    with pytest.raises(typer.BadParameter, match="--from"):
        period(None, dt.datetime(2025, 3, 1))


def test_from_alone_runs_to_today_and_both_give_the_days_between() -> None:
    # Given --from (and --to), then the period starts on --from (and ends on --to)
    first, last = period(dt.datetime(2025, 3, 1), dt.datetime(2025, 3, 9))
    assert (first, last) == (dt.date(2025, 3, 1), dt.date(2025, 3, 9))
    first, last = period(dt.datetime(2025, 3, 1), None)
    assert first == dt.date(2025, 3, 1) and last >= first
