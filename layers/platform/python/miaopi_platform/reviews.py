"""Manual review, as data: the workflow's input for a referred application, the review task a
reviewer works, and the reviewer's decision in the shape the workflow records it.

The review workflow (infra/statemachines/review.asl.json) owns the order of things; this module
owns their content, so the function that starts a workflow, the one that stores its task and the
reviewer API agree on every name. Nothing here talks to AWS.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from miaopi.model import Outcome, ServiceDefinition

from miaopi_platform.chain import with_content_hash
from miaopi_platform.dynamo import to_item
from miaopi_platform.errors import UnprocessableEntity
from miaopi_platform.records import REVIEWER, certificate, iso

REFERRAL = "REFERRAL"
SPOT_CHECK = "SPOT_CHECK"

OPEN = "OPEN"
DECIDING = "DECIDING"
DECIDED = "DECIDED"

#: the task id's prefix per kind; the rest is the application id's, so one task per kind
_PREFIX = {REFERRAL: "TSK", SPOT_CHECK: "SPT"}

#: reviewers' choices and the outcome each records
OUTCOMES = {"APPROVE": Outcome.APPROVED, "REJECT": Outcome.REJECTED}


def task_id(kind: str, application_id: str) -> str:
    return _PREFIX[kind] + application_id.removeprefix("APP")


def queue_keys(service_id: str, status: str) -> dict[str, str]:
    """The index keys of a task in a status: the whole queue, and one service's queue."""
    return {"queue": status, "serviceQueue": f"{service_id}#{status}"}


def referral_input(
    application: dict[str, Any], now: dt.datetime, escalated: bool = False
) -> dict[str, Any]:
    """The review workflow's input for a PENDING_REVIEW application (its stored item).
    `escalated`: the task was escalated already (a workflow started again for it)."""
    review = application["review"]
    due_at = dt.datetime.fromisoformat(review["dueAt"])
    decision = application["decision"]
    task = {
        "taskId": task_id(REFERRAL, application["applicationId"]),
        "kind": REFERRAL,
        "applicationId": application["applicationId"],
        "serviceId": application["serviceId"],
        "sourceDecisionId": decision["decisionId"],
        "applicantId": application["applicantId"],
        "dueBy": review["dueBy"],
        "dueAt": review["dueAt"],
        # Step Functions waits this long before escalating; at least 1 s even when processed late
        "timeoutSeconds": max(1, math.ceil((due_at - now).total_seconds())),
        "referredRules": [
            r["ruleId"] for r in decision.get("reasons", []) if r.get("onFail") == "REFER"
        ],
        "escalated": escalated,
    }
    return {"task": task}


def execution_name(task: dict[str, Any]) -> str:
    """One workflow per task: the application id for a referral, so a retry cannot start two."""
    if task["kind"] == REFERRAL:
        return str(task["applicationId"])
    return str(task["taskId"])


def task_item(
    task: dict[str, Any], token: str, escalated: bool, now: dt.datetime
) -> dict[str, Any]:
    """A new review task from the workflow's message. The token is stored, never shown."""
    return {
        "taskId": task["taskId"],
        "kind": task["kind"],
        "status": OPEN,
        **queue_keys(task["serviceId"], OPEN),
        "serviceId": task["serviceId"],
        "applicationId": task["applicationId"],
        "sourceDecisionId": task["sourceDecisionId"],
        "applicantId": task["applicantId"],
        "dueBy": task["dueBy"],
        "dueAt": task["dueAt"],
        "referredRules": list(task.get("referredRules", [])),
        "escalated": escalated,
        "createdAt": iso(now),
        "taskToken": token,
    }


@dataclass(frozen=True, slots=True)
class ReviewerChoice:
    decision: str
    reason_codes: tuple[str, ...]
    comment: str | None
    reviewer_id: str


@dataclass(frozen=True, slots=True)
class ReviewerDecision:
    """What the reviewer API claims on the task and hands the workflow to record."""

    decision_id: str
    outcome: Outcome
    claim: dict[str, Any]
    workflow_output: dict[str, Any]


def reviewer_decision(
    service: ServiceDefinition,
    task: dict[str, Any],
    source: dict[str, Any],
    choice: ReviewerChoice,
    decision_id: str,
    now: dt.datetime,
) -> ReviewerDecision:
    """The reviewer's decision on a referral: a decision record like a system one, the
    application's new state, the task's closing values and the applicant's notification.

    A rejection must name at least one rule of the rule set the case was decided under: the
    applicant gets that rule's reason, remedy and legal basis, as for a system rejection.
    """
    outcome = OUTCOMES[choice.decision]
    rules = {r.id: r for r in _rule_set(service, source["ruleSetVersion"]).rules}
    unknown = [c for c in choice.reason_codes if c not in rules]
    if unknown:
        raise UnprocessableEntity(
            "reasonCodes must be rule ids of the case's rule set",
            [{"field": "reasonCodes", "code": "unknown_rule", "message": c} for c in unknown],
        )
    if outcome is Outcome.REJECTED and not choice.reason_codes:
        raise UnprocessableEntity(
            "a rejection names the rules it rests on",
            [{"field": "reasonCodes", "code": "required_for_reject"}],
        )
    decided_at = iso(now)
    reasons = (
        [
            {
                "ruleId": code,
                "onFail": rules[code].on_fail,
                "result": "FAIL",
                "message": rules[code].reason.model_dump(),
                "remedy": rules[code].remedy.model_dump(),
                "legalBasis": rules[code].legal_basis.model_dump(exclude_none=True),
            }
            for code in choice.reason_codes
        ]
        if outcome is Outcome.REJECTED
        else []
    )
    submitted = dt.datetime.fromisoformat(source["decidedAt"])
    latency_ms = round((now - submitted).total_seconds() * 1000, 3)
    record = {
        "decisionId": decision_id,
        "applicationId": task["applicationId"],
        "serviceId": task["serviceId"],
        "serviceDay": f"{task['serviceId']}#{decided_at[:10]}",
        "decidedAt": decided_at,
        "sequence": int(source.get("sequence", 1)) + 1,
        "outcome": outcome.value,
        "decidedBy": REVIEWER,
        "deciderId": choice.reviewer_id,
        "reviewOf": source["decisionId"],
        "taskId": task["taskId"],
        "applicantId": source["applicantId"],
        "subjectHash": source["subjectHash"],
        "ruleSetVersion": source["ruleSetVersion"],
        "ruleSetHash": source["ruleSetHash"],
        "applicationDate": source["applicationDate"],
        "reasonCodes": list(choice.reason_codes),
        "comment": choice.comment,
        "reasons": reasons,
        "outputs": source.get("outputs", {}) if outcome is Outcome.APPROVED else {},
        "latencyMs": latency_ms,
    }
    view = {
        "decisionId": decision_id,
        "outcome": outcome.value,
        "decidedBy": REVIEWER,
        "ruleSetVersion": source["ruleSetVersion"],
        "ruleSetHash": source["ruleSetHash"],
        "reasons": reasons,
        "decidedAt": decided_at,
        "latencyMs": latency_ms,
    }
    values: dict[str, Any] = {
        ":status": outcome.value,
        ":expected": Outcome.PENDING_REVIEW.value,
        ":decision": view,
    }
    update = "SET #status = :status, decision = :decision"
    if outcome is Outcome.APPROVED:
        application_date = dt.date.fromisoformat(source["applicationDate"])
        values[":certificate"] = certificate(service, application_date, decision_id, decided_at)
        update += ", certificate = :certificate"
    claim = {
        "decisionId": decision_id,
        "outcome": outcome.value,
        "reviewerId": choice.reviewer_id,
        "reasonCodes": list(choice.reason_codes),
        "comment": choice.comment,
        "claimedAt": decided_at,
    }
    closing = {
        ":decided": DECIDED,
        ":queue": DECIDED,
        ":serviceQueue": f"{task['serviceId']}#{DECIDED}",
        ":at": decided_at,
        ":deciding": DECIDING,
        ":decisionId": decision_id,
    }
    output = {
        "decision": to_item(with_content_hash(record)),
        "application": {
            "update": update + " REMOVE review",
            "names": {"#status": "status"},
            "values": to_item(values),
        },
        "task": {"values": to_item(closing)},
        "notification": {
            "kind": "DECISION",
            "applicationId": task["applicationId"],
            "serviceId": task["serviceId"],
            "status": outcome.value,
            "decisionId": decision_id,
            "decidedBy": REVIEWER,
            "decidedAt": decided_at,
        },
    }
    return ReviewerDecision(decision_id, outcome, claim, output)


def _rule_set(service: ServiceDefinition, version: str) -> Any:
    for rule_set in service.rule_sets:
        if rule_set.version == version:
            return rule_set
    raise LookupError(f"{service.id} has no rule set {version}")
