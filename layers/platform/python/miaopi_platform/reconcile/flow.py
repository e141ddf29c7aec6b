"""The scheduled reconciler: finds what the stream-driven steps left undone and does it again,
each through the step's own code path, so a repair is the very write the step would have made
and racing the step is as safe as a redelivery:

- a PENDING_REVIEW application (or an open review task) without a running workflow gets one
  (review.flow.start: named executions; a restart after a closed one takes the next name);
- an automatic approval without its supervision record gets it (supervision.flow.supervise);
- a decision record older than a minute without its chain position is chained
  (audit.sequencer.chain_record: the sequencer's conditional append on the chain head).

Where to look is bounded: the decisions of the last `lookback_days` China days (2 by default:
the stream keeps 24 hours, so anything it dropped is in them), found through the auditors'
indexes per service, shard and day (byServiceDay, byOutcome, byChain: queries, never a scan),
and every open review task (the reviewers' queue index). A one-off sweep further back is the
same run with a larger `lookbackDays` in its event. Each run reports what it repaired as
metrics (`Reconciled*`); a second run finds nothing to repair.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from botocore.exceptions import ClientError
from miaopi.workdays import CHINA

from miaopi_platform.audit.sequencer import Appended, ChainStore, ContentMismatch, chain_record
from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.catalogue.services import all_services, official_calendar
from miaopi_platform.records.decision import SYSTEM
from miaopi_platform.records.indexes import (
    BY_CHAIN,
    BY_OUTCOME,
    BY_SERVICE_DAY,
    SHARDS,
    day_shard,
    day_start,
)
from miaopi_platform.records.items import ApplicationItem
from miaopi_platform.review.flow import PENDING_REVIEW, start
from miaopi_platform.review.items import ReviewTask
from miaopi_platform.review.store import ReviewStore
from miaopi_platform.review.tasks import (
    DECIDING,
    OPEN,
    REFERRAL,
    execution_name,
    referral_input,
    resumed_input,
    task_id,
)
from miaopi_platform.supervision.flow import SupervisionPorts, supervise

#: what the stream-driven step gets before its item counts as stranded
GRACE = dt.timedelta(minutes=1)
#: China days looked back per scheduled run (today and yesterday)
LOOKBACK_DAYS = 2
MAX_LOOKBACK_DAYS = 400
#: days ahead the official calendar must cover (CalendarDaysUncovered)
CALENDAR_HORIZON_DAYS = 60
#: restarts of one task's workflow before the reconciler stops trying (an alarm says so)
MAX_RESTARTS = 20
_RUNNING = "RUNNING"


class ReconcilePorts(SupervisionPorts, Protocol):
    """Everything supervision needs, plus the review tasks and the hash chains."""

    @property
    def reviews(self) -> ReviewStore: ...
    @property
    def chains(self) -> ChainStore: ...
    @property
    def dynamodb(self) -> Any: ...


@dataclass(slots=True)
class Repairs:
    """What one run repaired (and what it could not), by kind."""

    review_workflows: int = 0
    supervision_records: int = 0
    chain_positions: int = 0
    refused: int = 0
    calendar_days_uncovered: int = 0
    checked: dict[str, int] = field(default_factory=dict)

    def as_metrics(self) -> dict[str, int]:
        return {
            "ReconciledReviewWorkflows": self.review_workflows,
            "ReconciledSupervisionRecords": self.supervision_records,
            "ReconciledChainPositions": self.chain_positions,
            "ReconcileRefused": self.refused,
            "CalendarDaysUncovered": self.calendar_days_uncovered,
        }


def reconcile(
    deps: ReconcilePorts, now: dt.datetime | None = None, lookback_days: int = LOOKBACK_DAYS
) -> Repairs:
    """One run: every check, then its counts as metrics."""
    moment = now or dt.datetime.now(dt.UTC)
    days = _days(moment, max(1, min(lookback_days, MAX_LOOKBACK_DAYS)))
    repairs = Repairs()
    repairs.review_workflows = reviews(deps, moment, days, repairs)
    repairs.supervision_records = supervision(deps, moment, days, repairs)
    repairs.chain_positions = chains(deps, moment, days, repairs)
    today = moment.astimezone(CHINA).date()
    repairs.calendar_days_uncovered = official_calendar().uncovered_days(
        today, CALENDAR_HORIZON_DAYS
    )
    # one literal name per metric: the template's alarms and dashboard are checked against them
    metrics.add_metric(
        name="ReconciledReviewWorkflows", unit="Count", value=repairs.review_workflows
    )
    metrics.add_metric(
        name="ReconciledSupervisionRecords", unit="Count", value=repairs.supervision_records
    )
    metrics.add_metric(name="ReconciledChainPositions", unit="Count", value=repairs.chain_positions)
    metrics.add_metric(name="ReconcileRefused", unit="Count", value=repairs.refused)
    metrics.add_metric(
        name="CalendarDaysUncovered", unit="Count", value=repairs.calendar_days_uncovered
    )
    logger.info("reconciled", extra={**repairs.as_metrics(), "checked": repairs.checked})
    return repairs


def _days(now: dt.datetime, count: int) -> list[dt.date]:
    today = now.astimezone(CHINA).date()
    return [today - dt.timedelta(days=n) for n in range(count)]


# ---------------------------------------------------------------- review workflows


def reviews(deps: ReconcilePorts, now: dt.datetime, days: list[dt.date], out: Repairs) -> int:
    """Every open review task, and every application referred in `days` that is still
    PENDING_REVIEW, has a running workflow, or its workflow is started again."""
    settled_before = iso(now - GRACE)
    tasks: dict[str, ReviewTask] = {}
    for status in (OPEN, DECIDING):
        for listed in _queue(deps.reviews, status):
            tasks[listed["taskId"]] = listed
    referred = {
        str(row["applicationId"]["S"])
        for service in all_services()
        for row in _decisions(deps, BY_OUTCOME, service, days, "PENDING_REVIEW", now - GRACE)
    }
    out.checked["reviewTasks"] = len(tasks)
    out.checked["referred"] = len(referred)
    started = 0
    for listed in tasks.values():
        task = deps.reviews.get(listed["taskId"])
        if task is None or task["status"] not in (OPEN, DECIDING):
            continue
        referred.discard(task["applicationId"])
        started += _ensure_workflow(deps, task, None, now)
    for application_id in sorted(referred):
        application = deps.store.get(application_id)
        if application is None or application.get("status") != PENDING_REVIEW:
            continue
        if str(application.get("submittedAt", "")) >= settled_before:
            continue
        if deps.reviews.get(task_id(REFERRAL, application_id)) is not None:
            continue  # its task moved on meanwhile (decided): nothing stranded
        started += _ensure_workflow(deps, None, application, now)
    return started


def _queue(store: ReviewStore, status: str) -> Iterator[ReviewTask]:
    token: str | None = None
    while True:
        page, token = store.queue(status, None, 100, token)
        yield from page
        if not token:
            return


def _ensure_workflow(
    deps: ReconcilePorts,
    task: ReviewTask | None,
    application: ApplicationItem | None,
    now: dt.datetime,
) -> int:
    """1 when a workflow was started again for this task (or referred application), else 0."""
    workflow_input = (
        resumed_input(task, now)
        if task is not None
        else referral_input(cast("ApplicationItem", application), now)
    )
    base = execution_name(workflow_input["task"])
    name = _next_name(deps, base)
    if name is None:
        return 0  # running
    if task is not None and task["status"] == DECIDING:
        # claimed for a workflow that is gone: open again, so the reviewer can send it again
        deps.reviews.release(task, str(task.get("claimId", "")))
    started = start(deps, workflow_input, name=name)
    if started:
        logger.info(
            "review workflow started again", extra={"taskId": workflow_input["task"]["taskId"]}
        )
    return int(started)


def _next_name(deps: ReconcilePorts, base: str) -> str | None:
    """None when the task's latest execution is running; else the name its next one takes:
    the fixed name if none ran, then `<name>-r1`, `-r2`, ... (Step Functions keeps a closed
    execution's name). Deterministic, so two runs racing start one execution."""
    arn_prefix = deps.settings.review_state_machine_arn.replace(":stateMachine:", ":execution:")
    for restart in range(MAX_RESTARTS + 1):
        name = base if restart == 0 else f"{base}-r{restart}"
        try:
            described = deps.stepfunctions.describe_execution(executionArn=f"{arn_prefix}:{name}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return name
            raise
        if described.get("status") == _RUNNING:
            return None
    logger.error("review workflow not started again: too many restarts", extra={"name": base})
    metrics.add_metric(name="ReconcileRefused", unit="Count", value=1)
    return None


# ---------------------------------------------------------------- supervision


def supervision(deps: ReconcilePorts, now: dt.datetime, days: list[dt.date], out: Repairs) -> int:
    """Every automatic approval of `days` has its supervision record, or gets it now."""
    approvals = [
        str(row["decisionId"]["S"])
        for service in all_services()
        for row in _decisions(deps, BY_OUTCOME, service, days, "APPROVED", now - GRACE)
        if row.get("decidedBy", {}).get("S") == SYSTEM
    ]
    out.checked["approvals"] = len(approvals)
    supervised = _existing(deps, deps.settings.supervision_table, approvals)
    created = 0
    for decision_id in approvals:
        if decision_id in supervised:
            continue
        record = deps.store.get_decision(decision_id)
        if record is None:
            continue
        supervise(deps, record, now)
        created += deps.supervision.get(decision_id) is not None
    return created


def _existing(deps: ReconcilePorts, table: str, ids: list[str]) -> set[str]:
    """Which of `ids` have an item in `table` (BatchGetItem, keys only, 100 at a time)."""
    found: set[str] = set()
    for first in range(0, len(ids), 100):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"decisionId": {"S": i}} for i in dict.fromkeys(ids[first : first + 100])],
                "ProjectionExpression": "decisionId",
                "ConsistentRead": True,
            }
        }
        while request:
            answer = deps.dynamodb.batch_get_item(RequestItems=request)
            found |= {item["decisionId"]["S"] for item in answer["Responses"].get(table, [])}
            request = answer.get("UnprocessedKeys") or {}
    return found


# ---------------------------------------------------------------- hash chains


def chains(deps: ReconcilePorts, now: dt.datetime, days: list[dt.date], out: Repairs) -> int:
    """Every decision record of `days` older than a minute holds its chain position, or is
    chained now: a chain's records (byServiceDay) against its chained ones (byChain)."""
    chained_now = 0
    looked = 0
    for service in all_services():
        for day in days:
            for shard in range(SHARDS):
                chain_id = day_shard(service, day, shard)
                records = _partition(
                    deps, BY_SERVICE_DAY, "serviceDayShard", chain_id, iso(now - GRACE)
                )
                looked += len(records)
                if not records:
                    continue
                chained = _partition(deps, BY_CHAIN, "chainId", chain_id, None)
                for decision_id in sorted(records - chained):
                    chained_now += _rechain(deps, decision_id, out)
    out.checked["records"] = looked
    return chained_now


def _rechain(deps: ReconcilePorts, decision_id: str, out: Repairs) -> int:
    record = deps.store.get_decision(decision_id)
    if record is None or record.get("hash"):
        return 0
    try:
        done = chain_record(deps.chains, record)
    except ContentMismatch:
        out.refused += 1  # reported by the sequencer's own metric and log; never chained
        return 0
    return int(done is Appended.CHAINED)


# ---------------------------------------------------------------- index queries


def _decisions(
    deps: ReconcilePorts,
    index: str,
    service: str,
    days: list[dt.date],
    outcome: str,
    before: dt.datetime,
) -> Iterator[dict[str, Any]]:
    """A service's decisions of an outcome from the first of `days` until `before`."""
    since = day_start(min(days))
    for shard in range(SHARDS):
        yield from _query(
            deps,
            {
                "IndexName": index,
                "KeyConditionExpression": "#k = :k AND decidedAt BETWEEN :since AND :until",
                "ExpressionAttributeNames": {"#k": "serviceOutcomeShard"},
                "ExpressionAttributeValues": {
                    ":k": {"S": f"{service}#{outcome}#{shard}"},
                    ":since": {"S": since},
                    ":until": {"S": iso(before)},
                },
                "ProjectionExpression": "decisionId, applicationId, decidedBy",
            },
        )


def _partition(
    deps: ReconcilePorts, index: str, key: str, value: str, until: str | None
) -> set[str]:
    """The decision ids of one index partition (decided until `until`, if given)."""
    condition = "#k = :k"
    values: dict[str, Any] = {":k": {"S": value}}
    if until is not None:
        condition += " AND decidedAt <= :until"
        values[":until"] = {"S": until}
    rows = _query(
        deps,
        {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "decisionId",
        },
    )
    return {row["decisionId"]["S"] for row in rows}


def _query(deps: ReconcilePorts, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
    paginator = deps.dynamodb.get_paginator("query")
    for page in paginator.paginate(TableName=deps.settings.decisions_table, **query):
        yield from page.get("Items", [])
