"""Working days on the Chinese calendar: public holidays off, make-up workdays (调休) on.

The State Council publishes each year's holidays in an annual notice, usually late in the year
before. The policy owners keep those notices as data in the rules layer (one file per year,
`miaopi_rules/calendar/<year>.yaml`, loaded by `miaopi.loader.load_calendar`), so next year's
holidays need a data release, not a library release. A year without such a file falls back to
the `chinese-calendar` package's data; a year that neither covers is counted Monday to Friday,
and every due date counted through it says it is not official.

Pure: the calendar is data passed in by whoever counts the days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

#: working days are days in China, whatever the clock's zone
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class OfficialYear:
    """One year's official calendar as published: the days off and the make-up workdays, and
    the notice they come from (its document number, for the record)."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    notice: str

    def is_workday(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() < 5


@dataclass(frozen=True, slots=True)
class Calendar:
    """The official years from the policy owners' files, checked before the library."""

    years: Mapping[int, OfficialYear] = field(default_factory=dict)

    @classmethod
    def of(cls, years: Iterable[OfficialYear]) -> Calendar:
        return cls({y.year: y for y in years})

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        """(is a working day, known from official data). Unknown years fall back to Mon-Fri."""
        official = self.years.get(day.year)
        if official is not None:
            return official.is_workday(day), True
        import chinese_calendar  # on the first referral, not at every function's cold start

        try:
            return chinese_calendar.is_workday(day), True
        except NotImplementedError:
            return day.weekday() < 5, False

    def is_official(self, day: dt.date) -> bool:
        return self.is_workday(day)[1]

    def uncovered_days(self, start: dt.date, days: int) -> int:
        """How many of the `days` days from `start` (inclusive) lack official data."""
        return sum(
            not self.is_official(start + dt.timedelta(days=offset)) for offset in range(days)
        )

    def add_working_days(self, start: dt.date, days: int) -> tuple[dt.date, bool]:
        """The date `days` working days after `start` (start itself not counted), and whether
        every day counted came from official data (False: a year nobody published yet)."""
        day, left, known = start, days, True
        while left > 0:
            day += dt.timedelta(days=1)
            workday, official = self.is_workday(day)
            known = known and official
            if workday:
                left -= 1
        return day, known


def add_working_days(start: dt.date, days: int, *, calendar: Calendar) -> tuple[dt.date, bool]:
    """`calendar.add_working_days`: the due date and whether it was counted on official data."""
    return calendar.add_working_days(start, days)


def end_of_day(day: dt.date) -> dt.datetime:
    """The moment a day ends in China: a deadline "by" that day falls due then."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=CHINA)
