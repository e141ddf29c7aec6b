"""Manual review, as data: the workflow's input for a referred application, the review task a
reviewer works, and the reviewer's decision in the shape the workflow records it.

The review workflow (infra/statemachines/review.asl.json) owns the order of things; this module
owns their content, so the function that starts a workflow, the one that stores its task and the
reviewer API agree on every name (their types: review/items.py). Nothing here talks to AWS.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from miaopi.model import CompiledRule, Outcome, ServiceDefinition

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import to_item
from miaopi_platform.aws.errors import UnprocessableEntity
from miaopi_platform.credit.store import ENTRY_UNCHANGED, Listing
from miaopi_platform.records import grants
from miaopi_platform.records.certificate import certificate
from miaopi_platform.records.decision import FALSE_DATA, legal_basis, localized, sealed
from miaopi_platform.records.items import (
    ApplicationItem,
    DecisionInForce,
    DecisionRecord,
    SpotCheckNote,
    StoredReason,
)
from miaopi_platform.review.items import (
    CreditListing,
    DecisionNotice,
    QueueKeys,
    ReviewClaim,
    ReviewTask,
    TaskKind,
    TaskStatus,
    WorkflowInput,
    WorkflowOutput,
    WorkflowTask,
)

REFERRAL: TaskKind = "REFERRAL"
SPOT_CHECK: TaskKind = "SPOT_CHECK"

OPEN: TaskStatus = "OPEN"
DECIDING: TaskStatus = "DECIDING"
DECIDED: TaskStatus = "DECIDED"

#: the task id's prefix per kind; the rest is the application id's, so one task per kind
_PREFIX = {REFERRAL: "TSK", SPOT_CHECK: "SPT"}

#: per task kind, the reviewers' choices and the outcome each records: a referral is approved
#: or rejected; a spot check finds the approval VALID (it stands) or INVALID (it is revoked)
OUTCOMES = {
    REFERRAL: {"APPROVE": Outcome.APPROVED, "REJECT": Outcome.REJECTED},
    SPOT_CHECK: {"VALID": Outcome.APPROVED, "INVALID": Outcome.REVOKED},
}


def task_id(kind: TaskKind, application_id: str) -> str:
    return _PREFIX[kind] + application_id.removeprefix("APP")


def queue_keys(service_id: str, status: TaskStatus) -> QueueKeys:
    """The index keys of a task in a status: the whole queue, and one service's queue."""
    return {"queue": status, "serviceQueue": f"{service_id}#{status}"}


def referral_input(
    application: ApplicationItem, now: dt.datetime, escalated: bool = False
) -> WorkflowInput:
    """The review workflow's input for a PENDING_REVIEW application (its stored item).
    `escalated`: the task was escalated already (a workflow started again for it)."""
    review = application["review"]
    due_at = dt.datetime.fromisoformat(review["dueAt"])
    decision = application["decision"]
    task: WorkflowTask = {
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


def resumed_input(task: ReviewTask, now: dt.datetime) -> WorkflowInput:
    """The workflow's input again, from a stored task (its workflow is gone: a restart)."""
    due_at = dt.datetime.fromisoformat(task["dueAt"])
    return {
        "task": {
            "taskId": task["taskId"],
            "kind": task["kind"],
            "applicationId": task["applicationId"],
            "serviceId": task["serviceId"],
            "sourceDecisionId": task["sourceDecisionId"],
            "applicantId": task["applicantId"],
            "dueBy": task["dueBy"],
            "dueAt": task["dueAt"],
            "referredRules": task["referredRules"],
            # sent null when the task has none (a referral): the workflow passes it on as is
            "checkReason": task.get("checkReason"),
            "timeoutSeconds": max(1, math.ceil((due_at - now).total_seconds())),
            "escalated": bool(task.get("escalated")),
        }
    }


def execution_name(task: WorkflowTask) -> str:
    """One workflow per task: the application id for a referral, so a retry cannot start two."""
    if task["kind"] == REFERRAL:
        return task["applicationId"]
    return task["taskId"]


def task_item(
    task: WorkflowTask, token: str, escalated: bool, now: dt.datetime, sent_at: str | None = None
) -> ReviewTask:
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
        "checkReason": task.get("checkReason"),
        "escalated": escalated,
        "createdAt": iso(now),
        "taskToken": token,
        #: when the workflow sent this token: only a newer one replaces it
        "tokenAt": sent_at or iso(now),
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
    claim: ReviewClaim
    workflow_output: WorkflowOutput


def reviewer_decision(
    service: ServiceDefinition,
    task: ReviewTask,
    source: DecisionRecord,
    choice: ReviewerChoice,
    decision_id: str,
    now: dt.datetime,
    claim_id: str = "",
    listing: Listing | None = None,
    *,
    grant_key: str,
) -> ReviewerDecision:
    """The reviewer's decision on a task: a decision record like a system one, the
    application's new state, the task's closing values and the applicant's notification.

    A rejection (or a spot check finding the approval INVALID) must name at least one rule of
    the rule set the case was decided under: the applicant gets that rule's reason, remedy and
    legal basis, as for a system rejection. An INVALID spot check revokes the approval for false
    data (its certificate too) and puts the subject on the credit list: `listing`, which the
    workflow records in the same transaction, so the revocation and the listing are seen
    together (None: an entry is in force already). The application's grant (`grant_key`,
    records.grants.held_by) is confirmed by an approval and released otherwise, in the same
    transaction, so the subject may apply again once refused or revoked.
    """
    kind = task["kind"]
    outcome = OUTCOMES[kind].get(choice.decision)
    if outcome is None:
        raise UnprocessableEntity(
            f"a {kind} task is decided with one of {', '.join(OUTCOMES[kind])}",
            [{"field": "decision", "code": "not_for_this_task", "message": choice.decision}],
        )
    rules = {r.id: r for r in service.rule_set_named(source["ruleSetVersion"]).rules}
    unknown = [c for c in choice.reason_codes if c not in rules]
    if unknown:
        raise UnprocessableEntity(
            "reasonCodes must be rule ids of the case's rule set",
            [{"field": "reasonCodes", "code": "unknown_rule", "message": c} for c in unknown],
        )
    adverse = outcome in (Outcome.REJECTED, Outcome.REVOKED)
    if adverse and not choice.reason_codes:
        raise UnprocessableEntity(
            "an adverse decision names the rules it rests on",
            [{"field": "reasonCodes", "code": "required"}],
        )
    decided_at = iso(now)
    # the rule's words with its parameters as in force on the application date, as decide fills them
    application_date = dt.date.fromisoformat(source["applicationDate"])
    reasons = [
        _failed(rules[code], application_date) for code in (choice.reason_codes if adverse else ())
    ]
    submitted = dt.datetime.fromisoformat(source["decidedAt"])
    latency_ms = round((now - submitted).total_seconds() * 1000, 3)
    record: DecisionRecord = {
        "decisionId": decision_id,
        "applicationId": task["applicationId"],
        "serviceId": task["serviceId"],
        "decidedAt": decided_at,
        "sequence": int(source.get("sequence", 1)) + 1,
        "outcome": outcome.value,
        "decidedBy": "REVIEWER",
        "deciderId": choice.reviewer_id,
        "kind": kind,
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
    view: DecisionInForce = {
        "decisionId": decision_id,
        "outcome": outcome.value,
        "decidedBy": "REVIEWER",
        "ruleSetVersion": source["ruleSetVersion"],
        "ruleSetHash": source["ruleSetHash"],
        "reasons": reasons,
        "decidedAt": decided_at,
        "latencyMs": latency_ms,
    }
    if kind == SPOT_CHECK:
        update, names, values = _spot_check_update(record, view, choice, source, decided_at)
    else:
        update, names, values = _referral_update(service, outcome, view, source, decision_id)
    claim: ReviewClaim = {
        "claimId": claim_id,
        "decisionId": decision_id,
        "outcome": outcome.value,
        "reviewerId": choice.reviewer_id,
        "reasonCodes": list(choice.reason_codes),
        "comment": choice.comment,
        "claimedAt": decided_at,
    }
    closing = {
        ":decided": DECIDED,
        **_keyed(queue_keys(task["serviceId"], DECIDED)),
        ":at": decided_at,
        ":deciding": DECIDING,
        ":decisionId": decision_id,
        ":claimId": claim_id,
    }
    output: WorkflowOutput = {
        "decision": to_item(sealed(record)),
        "application": {"update": update, "names": names, "values": to_item(values)},
        "task": {"values": to_item(closing)},
        # if the decision cannot be recorded, the workflow reopens the task with these
        "release": {
            "values": to_item(
                {
                    ":open": OPEN,
                    ":deciding": DECIDING,
                    **_keyed(queue_keys(task["serviceId"], OPEN)),
                }
            )
        },
        "notification": _notice(task, kind, outcome, decision_id, decided_at),
        "grant": grants.change(
            grant_key,
            task["applicationId"],
            grants.IN_FORCE if outcome is Outcome.APPROVED else grants.RELEASED,
            decision_id,
            decided_at,
        ),
    }
    if listing is not None and outcome is Outcome.REVOKED:
        output["listing"] = _listing(listing)
    return ReviewerDecision(decision_id, outcome, claim, output)


def _listing(listing: Listing) -> CreditListing:
    return {
        "entry": to_item(listing.entry),
        "change": to_item(listing.change),
        "condition": ENTRY_UNCHANGED,
        "values": listing.condition_values(),
    }


def _failed(rule: CompiledRule, application_date: dt.date) -> StoredReason:
    """A rule the reviewer found failed, stored as the applicant reads it (as a system reason)."""
    texts = rule.texts_on(application_date)
    return {
        "ruleId": rule.id,
        "onFail": rule.on_fail,
        "result": "FAIL",
        "message": localized(texts.reason),
        "remedy": localized(texts.remedy),
        "legalBasis": legal_basis(rule.legal_basis),
    }


def _notice(
    task: ReviewTask, kind: TaskKind, outcome: Outcome, decision_id: str, decided_at: str
) -> DecisionNotice:
    return {
        "kind": "SPOT_CHECK" if kind == SPOT_CHECK else "DECISION",
        "applicationId": task["applicationId"],
        "serviceId": task["serviceId"],
        "status": outcome.value,
        "decisionId": decision_id,
        "decidedBy": "REVIEWER",
        "decidedAt": decided_at,
    }


def _keyed(keys: QueueKeys) -> dict[str, str]:
    return {":queue": keys["queue"], ":serviceQueue": keys["serviceQueue"]}


def _referral_update(
    service: ServiceDefinition,
    outcome: Outcome,
    view: DecisionInForce,
    source: DecisionRecord,
    decision_id: str,
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A referral decided: it leaves PENDING_REVIEW, with a certificate when approved."""
    values: dict[str, Any] = {
        ":status": outcome.value,
        ":expected": Outcome.PENDING_REVIEW.value,
        ":decision": view,
    }
    update = "SET #status = :status, decision = :decision"
    if outcome is Outcome.APPROVED:
        application_date = dt.date.fromisoformat(source["applicationDate"])
        values[":certificate"] = certificate(
            service, application_date, decision_id, view["decidedAt"]
        )
        update += ", certificate = :certificate"
    return update + " REMOVE review", {"#status": "status"}, values


def _spot_check_update(
    record: DecisionRecord,
    view: DecisionInForce,
    choice: ReviewerChoice,
    source: DecisionRecord,
    decided_at: str,
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A spot check settled: VALID notes it on the approved application; INVALID revokes the
    approval in force (and its certificate) for false data."""
    check: SpotCheckNote = {
        "result": choice.decision,
        "decisionId": record["decisionId"],
        "at": decided_at,
    }
    if record["outcome"] == Outcome.APPROVED.value:
        values: dict[str, Any] = {":check": check, ":expected": Outcome.APPROVED.value}
        return "SET spotCheck = :check", {"#status": "status"}, values
    record["revokes"] = source["decisionId"]
    record["cause"] = FALSE_DATA
    view["revokes"] = source["decisionId"]
    values = {
        ":status": Outcome.REVOKED.value,
        ":decision": view,
        ":revoked": "REVOKED",
        ":at": decided_at,
        ":by": record["decisionId"],
        ":check": check,
        ":expected": Outcome.APPROVED.value,
    }
    update = (
        "SET #status = :status, decision = :decision, spotCheck = :check, "
        "certificate.#cstatus = :revoked, certificate.revokedAt = :at, certificate.revokedBy = :by"
    )
    return update, {"#status": "status", "#cstatus": "status"}, values
