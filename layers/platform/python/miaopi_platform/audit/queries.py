"""Which index answers an auditor's question: a query plan from the filters given.

The most selective key wins: an application (byApplication: its few decisions, all time, in
order), an applicant (bySubject) or a named decider (byDecider), with or without a period;
otherwise a service and a period are required, and the outcome (byOutcome), then the rule-set
version (byRuleSet), then the day (byServiceDay) picks the index. Filters no key serves are
applied to that index's records (pages.Plan.filters). An application and an applicant are two
keys for one question: asked together, that is a 422 (the application names its applicant).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from miaopi_platform.audit.pages import Plan
from miaopi_platform.aws.errors import UnprocessableEntity
from miaopi_platform.records.indexes import (
    BY_APPLICATION,
    BY_DECIDER,
    BY_OUTCOME,
    BY_RULE_SET,
    BY_SERVICE_DAY,
    BY_SUBJECT,
    SHARDS,
    SYSTEM_DECIDER,
    day_end,
    day_shard,
    day_start,
)

#: the longest period one query may cover (a page reads the days one after the other)
MAX_DAYS = 366
#: the days a period may name: China days whose UTC bounds a datetime holds (year 1 does not)
EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(9998, 12, 31)


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    service_id: str | None = None
    period: Period | None = None
    outcome: str | None = None
    rule_set_version: str | None = None
    decider: str | None = None
    subject_hash: str | None = None
    application_id: str | None = None


def period_of(start: dt.date | None, end: dt.date | None) -> Period | None:
    """The period `from`..`to` (China dates, both included), or 422."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise UnprocessableEntity(
            "give both from and to",
            [{"field": "from" if start is None else "to", "code": "missing"}],
        )
    for name, day in (("from", start), ("to", end)):
        if not EARLIEST <= day <= LATEST:
            raise UnprocessableEntity(
                f"{name} is a date from {EARLIEST} to {LATEST}",
                [{"field": name, "code": "out_of_range"}],
            )
    if end < start:
        raise UnprocessableEntity("to is before from", [{"field": "to", "code": "before_from"}])
    if (end - start).days + 1 > MAX_DAYS:
        raise UnprocessableEntity(
            f"a period is at most {MAX_DAYS} days", [{"field": "to", "code": "too_long"}]
        )
    return Period(start, end)


def required_period(start: dt.date | None, end: dt.date | None) -> Period:
    period = period_of(start, end)
    if period is None:
        raise UnprocessableEntity("give from and to", [{"field": "from", "code": "missing"}])
    return period


def plan_for(query: DecisionFilter) -> Plan:
    period = query.period
    low, high = (day_start(period.start), day_end(period.end)) if period else (None, None)
    shared = [("serviceId", query.service_id)]
    if query.application_id:
        if query.subject_hash:
            raise UnprocessableEntity(
                "give an application or an applicant, not both",
                [{"field": "applicationId", "code": "with_applicant"}],
            )
        filters = [*shared, ("outcome", query.outcome), ("ruleSetVersion", query.rule_set_version)]
        filters.append(("deciderId", query.decider))
        return Plan(BY_APPLICATION, ((query.application_id,),), low, high, _given(filters))
    if query.subject_hash:
        filters = [*shared, ("outcome", query.outcome), ("ruleSetVersion", query.rule_set_version)]
        filters.append(("deciderId", query.decider))
        return Plan(BY_SUBJECT, ((query.subject_hash,),), low, high, _given(filters))
    if query.decider and query.decider != SYSTEM_DECIDER:
        filters = [*shared, ("outcome", query.outcome), ("ruleSetVersion", query.rule_set_version)]
        return Plan(BY_DECIDER, ((query.decider,),), low, high, _given(filters))
    service = query.service_id
    if not service or period is None:
        raise UnprocessableEntity(
            "give serviceId with from and to, or an application, an applicant or a decider",
            [{"field": "serviceId" if not service else "from", "code": "missing"}],
        )
    decider = [("deciderId", query.decider)]
    shards = range(SHARDS)
    if query.outcome:
        keys = tuple(f"{service}#{query.outcome}#{s}" for s in shards)
        filters = [("ruleSetVersion", query.rule_set_version), *decider]
        return Plan(BY_OUTCOME, (keys,), low, high, _given(filters))
    if query.rule_set_version:
        keys = tuple(f"{service}#{query.rule_set_version}#{s}" for s in shards)
        return Plan(BY_RULE_SET, (keys,), low, high, _given(decider))
    days = tuple(tuple(day_shard(service, day, s) for s in shards) for day in period.days)
    return Plan(BY_SERVICE_DAY, days, None, None, _given(decider))


def chains_of(service_id: str, period: Period) -> list[str]:
    """Every hash chain of a service and period: one per day and write shard."""
    return [day_shard(service_id, day, s) for day in period.days for s in range(SHARDS)]


def _given(filters: list[tuple[str, str | None]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in filters if value)
