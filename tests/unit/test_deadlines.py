"""Review deadlines: N working days on the Chinese calendar (holidays off, make-up days on)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from miaopi.errors import RuleLoadError
from miaopi.loader import load_calendar
from miaopi.workdays import Calendar, add_working_days, end_of_day
from miaopi_platform.catalogue.services import official_calendar
from miaopi_platform.review.tasks import referral_input

D = dt.date
#: the library's data only (no policy owners' files)
LIBRARY = Calendar()
#: a fictional year, 2999 (tests/fixtures/calendar/2999.yaml): never an official date
FICTIONAL = Path(__file__).parents[1] / "fixtures" / "calendar"


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
    result, official = add_working_days(submitted, days, calendar=official_calendar())
    # Then holidays are skipped, make-up workdays count, and the calendar was the official one
    assert result == due
    assert official is True


def test_a_year_without_a_published_calendar_falls_back_to_weekdays_and_says_so() -> None:
    # Given a date in a year the holiday package does not cover yet
    # When a due date is computed across it
    result, official = add_working_days(D(2031, 1, 2), 2, calendar=official_calendar())
    # Then Monday-Friday are counted, and the result is flagged as not official
    assert result == D(2031, 1, 6)
    assert official is False


def test_a_year_published_as_data_is_counted_on_its_notice_before_the_library() -> None:
    # Given the policy owners' file of a (fictional) year the library knows nothing of
    calendar = load_calendar(FICTIONAL, fictional=True)
    # When deadlines are counted across its holidays
    new_year, new_year_official = calendar.add_working_days(D(2998, 12, 31), 1)
    national, national_official = calendar.add_working_days(D(2999, 10, 4), 2)
    # Then its days off are skipped, its make-up Saturday counts, and both are official
    assert (new_year, new_year_official) == (D(2999, 1, 4), True)
    assert (national, national_official) == (D(2999, 10, 14), True)
    # And without the file the same count is Monday to Friday, flagged as not official
    assert LIBRARY.add_working_days(D(2999, 10, 4), 2) == (D(2999, 10, 8), False)


def test_the_days_ahead_without_official_data_are_counted() -> None:
    # Given the fictional year's file and the library's data (through 2026)
    calendar = load_calendar(FICTIONAL, fictional=True)
    # When the next 60 days are checked from three dates
    # Then a stretch inside a covered year has none uncovered, one running into an uncovered
    # year counts its days there, and a published year's end counts the next year's days
    assert calendar.uncovered_days(D(2026, 6, 1), 60) == 0
    assert calendar.uncovered_days(D(2026, 12, 1), 60) == 29
    assert calendar.uncovered_days(D(2999, 12, 20), 60) == 48


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        ({"year": 2998}, "year", "must be named 2998.yaml"),
        (
            {
                "holidays": [
                    {"name": {"zh": "a", "en": "a"}, "from": "2999-05-03", "to": "2999-05-01"}
                ]
            },
            "holidays[0]",
            "'to' is before 'from'",
        ),
        (
            {"makeUpWorkdays": [{"date": "2999-10-14", "for": "x"}]},
            "makeUpWorkdays[0]",
            "a Saturday or a Sunday",
        ),
        (
            {"makeUpWorkdays": [{"date": "3000-01-04", "for": "x"}]},
            "makeUpWorkdays[0]",
            "outside 2999",
        ),
        (
            {
                "notice": {
                    "title": "t",
                    "documentNumber": "n",
                    "issued": "2998-01-01",
                    "url": "http://plain.invalid",
                }
            },
            "notice.url",
            "pattern",
        ),
    ],
)
def test_a_wrong_calendar_file_is_a_load_error_naming_the_file_and_the_key(
    tmp_path: Path, change: dict[str, object], where: str, reason: str
) -> None:
    # Given the fictional year's file with one mistake
    import yaml

    raw = yaml.safe_load((FICTIONAL / "2999.yaml").read_text(encoding="utf-8")) | change
    (tmp_path / "2999.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    # When it is loaded
    with pytest.raises(RuleLoadError) as refused:
        load_calendar(tmp_path, fictional=True)
    # Then the error names the file, the key and the reason
    assert refused.value.file.endswith("2999.yaml")
    assert refused.value.where == where
    assert reason in refused.value.reason


def test_a_fictional_calendar_is_refused_where_official_data_is_read() -> None:
    # Given the tests' fictional year
    # When it is loaded as the official calendar would be
    with pytest.raises(RuleLoadError) as refused:
        load_calendar(FICTIONAL)
    # Then it is refused, and the shipped calendar holds no fictional year
    assert refused.value.where == "notice.fictional"
    assert 2999 not in official_calendar().years


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
