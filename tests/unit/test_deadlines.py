"""Review deadlines: N working days on the Chinese calendar (holidays off, make-up days on)."""

from __future__ import annotations

import datetime as dt

import pytest
from miaopi.workdays import add_working_days, end_of_day
from miaopi_platform.review.tasks import referral_input

D = dt.date


@pytest.mark.parametrize(
    ("submitted", "days", "due"),
    [
        # National Day 2026: 1-7 October off; the 2nd working day after 30 September is 9 October
        (D(2026, 9, 30), 2, D(2026, 10, 9)),
        # Saturday 10 October 2026 is a make-up workday (调休): it counts
        (D(2026, 10, 8), 2, D(2026, 10, 10)),
        # Spring Festival 2026: Saturday 14 February works, 15-23 February are off
        (D(2026, 2, 13), 2, D(2026, 2, 24)),
        # an ordinary week: Friday + 2 working days skips the weekend
        (D(2026, 11, 27), 2, D(2026, 12, 1)),
        (D(2026, 11, 27), 1, D(2026, 11, 30)),
    ],
)
def test_due_date_counts_working_days_on_the_chinese_calendar(
    submitted: dt.date, days: int, due: dt.date
) -> None:
    # Given an application date and a service's review period
    # When the due date is computed
    result, official = add_working_days(submitted, days)
    # Then holidays are skipped, make-up workdays count, and the calendar was the official one
    assert result == due
    assert official is True


def test_a_year_without_a_published_calendar_falls_back_to_weekdays_and_says_so() -> None:
    # Given a date in a year the holiday package does not cover yet
    # When a due date is computed across it
    result, official = add_working_days(D(2031, 1, 2), 2)
    # Then Monday-Friday are counted, and the result is flagged as not official
    assert result == D(2031, 1, 6)
    assert official is False


def test_the_deadline_falls_due_at_the_end_of_the_due_day_in_china() -> None:
    # Given a due date
    # When the moment it falls due is asked
    moment = end_of_day(D(2026, 10, 10))
    # Then it is midnight after that day, Beijing time (16:00 UTC the same day)
    assert moment.astimezone(dt.UTC) == dt.datetime(2026, 10, 10, 16, tzinfo=dt.UTC)


def _pending(due_at: str) -> dict[str, object]:
    return {
        "applicationId": "APP123",
        "serviceId": "graduate-hukou",
        "applicantId": "sub-1",
        "status": "PENDING_REVIEW",
        "review": {"dueBy": "2026-10-10", "dueAt": due_at},
        "decision": {
            "decisionId": "DEC1",
            "reasons": [
                {"ruleId": "GH-A", "onFail": "REFER"},
                {"ruleId": "GH-B", "onFail": "REJECT"},
            ],
        },
    }


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        (dt.datetime(2026, 10, 9, 16, tzinfo=dt.UTC), 86_400),
        (dt.datetime(2026, 10, 10, 15, 59, 58, 500_000, tzinfo=dt.UTC), 2),
        # started late (a stream backlog): escalates at once, never waits a negative time
        (dt.datetime(2026, 10, 11, tzinfo=dt.UTC), 1),
    ],
)
def test_the_workflow_waits_until_the_deadline_then_escalates(
    now: dt.datetime, seconds: int
) -> None:
    # Given a referred application due at the end of 10 October 2026 (Beijing)
    application = _pending("2026-10-10T16:00:00.000Z")
    # When its review workflow input is built at `now`
    task = referral_input(application, now)["task"]
    # Then the wait before escalation is the time left (whole seconds, at least one)
    assert task["timeoutSeconds"] == seconds
    # And the task names the referring rules only, and one task per application
    assert task["referredRules"] == ["GH-A"]
    assert task["taskId"] == "TSK123"
