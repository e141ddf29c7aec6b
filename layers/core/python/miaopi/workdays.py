"""Working days on the Chinese calendar: public holidays off, make-up workdays (调休) on."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar

#: working days are days in China, whatever the clock's zone
CHINA = ZoneInfo("Asia/Shanghai")


def is_workday(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, known from the official calendar). Unknown years fall back to Mon-Fri."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:
        return day.weekday() < 5, False


def add_working_days(start: dt.date, days: int) -> tuple[dt.date, bool]:
    """The date `days` working days after `start` (start itself not counted), and whether every
    day counted came from the official calendar (False: the package lacks that year's holidays)."""
    day, left, known = start, days, True
    while left > 0:
        day += dt.timedelta(days=1)
        workday, official = is_workday(day)
        known = known and official
        if workday:
            left -= 1
    return day, known


def end_of_day(day: dt.date) -> dt.datetime:
    """The moment a day ends in China: a deadline "by" that day falls due then."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=CHINA)
