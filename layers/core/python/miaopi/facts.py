"""Derived facts: computed in this one visible place, never re-derived inside rules.

A service binds a fact to its inputs in service.yaml, e.g.

    facts:
      age: {fn: ageOn, args: [app.idNumber], title: ...}

Every function receives its evaluated arguments and the application date, and returns a value
ZEN can read (numbers, strings, booleans) or None when an input is missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any


def _full_years(start: dt.date, on: dt.date) -> int:
    years = on.year - start.year
    if (on.month, on.day) < (start.month, start.day):
        years -= 1
    return years


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def age_on(id_number: Any, on: dt.date) -> int | None:
    """Full years of age on the application date, from the birth date in the resident ID."""
    if not id_number:
        return None
    number = str(id_number)  # normalized on submission: digits 7-14 are the birth date
    return _full_years(dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14])), on)


def full_years_since(day: Any, on: dt.date) -> int | None:
    """Full years from a date (a licence's first issue, a graduation) to the application date."""
    start = _as_date(day)
    return None if start is None else _full_years(start, on)


def days_until(day: Any, on: dt.date) -> int | None:
    """Days from the application date to a date (negative once it has passed)."""
    end = _as_date(day)
    return None if end is None else (end - on).days


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ageOn": age_on,
    "fullYearsSince": full_years_since,
    "daysUntil": days_until,
}
