"""What manual review stores and sends, as types: the task the review workflow carries, the
message it puts on the review queue, the review task a reviewer works (ReviewTasksTable), the
reviewer's claim on it and the workflow output that records the decision.

TypedDicts, not classes: they stay the plain dicts that DynamoDB (de)serializes and Step
Functions passes on (infra/statemachines/review.asl.json reads these names), while mypy checks
every key a builder writes or a flow reads. Keys are camelCase, as stored and sent.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from miaopi_platform.records.items import DecidedBy, Outcome

TaskKind = Literal["REFERRAL", "SPOT_CHECK"]
TaskStatus = Literal["OPEN", "DECIDING", "DECIDED"]


class WorkflowTask(TypedDict):
    """The task in the workflow's input (`$.task`), and in every message it sends."""

    taskId: str
    kind: TaskKind
    applicationId: str
    serviceId: str
    sourceDecisionId: str
    applicantId: str
    dueBy: str
    dueAt: str
    #: how long the workflow waits before escalating (at least 1 s)
    timeoutSeconds: int
    referredRules: list[str]
    #: escalated already: a restarted workflow waits without a deadline
    escalated: bool
    #: a spot check's reason (SAMPLED, RECHECK_UNCONFIRMED); a restart sends it, null or not
    checkReason: NotRequired[str | None]


class WorkflowInput(TypedDict):
    """What a review workflow is started with."""

    task: WorkflowTask


class TaskMessage(TypedDict):
    """What the workflow puts on the review queue (its AwaitReview states' MessageBody)."""

    task: WorkflowTask
    taskToken: str
    escalated: NotRequired[bool]
    #: when the workflow sent the token: only a newer message replaces a stored one
    sentAt: NotRequired[str]


class QueueKeys(TypedDict):
    """A task's index keys in its status: the whole queue, and one service's queue."""

    queue: TaskStatus
    serviceQueue: str


class ReviewClaim(TypedDict):
    """A reviewer's decision as the task holds it while the workflow records it (DECIDING)."""

    claimId: str
    decisionId: str
    outcome: Outcome
    reviewerId: str
    reasonCodes: list[str]
    comment: str | None
    claimedAt: str


class ReviewTask(QueueKeys):
    """ReviewTasksTable: one task, stored from the workflow's message and worked by a reviewer.

    The token is stored so the reviewer API can hand the decision to the waiting workflow; it
    is never shown (the API models leave it out)."""

    taskId: str
    kind: TaskKind
    status: TaskStatus
    serviceId: str
    applicationId: str
    sourceDecisionId: str
    applicantId: str
    dueBy: str
    dueAt: str
    referredRules: list[str]
    #: a spot check's reason; a referral's is None (not stored)
    checkReason: NotRequired[str | None]
    escalated: bool
    createdAt: str
    #: the workflow's task token and when it was sent; removed when the decision is recorded
    taskToken: NotRequired[str]
    tokenAt: NotRequired[str]
    #: set by the workflow when the deadline passed
    escalatedAt: NotRequired[str]
    #: the claim (ReviewClaim), while DECIDING and once DECIDED
    claimId: NotRequired[str]
    decisionId: NotRequired[str]
    outcome: NotRequired[Outcome]
    reviewerId: NotRequired[str]
    reasonCodes: NotRequired[list[str]]
    comment: NotRequired[str | None]
    claimedAt: NotRequired[str]
    #: set by the workflow when it recorded the decision
    decidedAt: NotRequired[str]


class DecisionNotice(TypedDict):
    """What the applicant is told of a final decision: ids and status, no personal data."""

    kind: Literal["DECISION", "SPOT_CHECK"]
    applicationId: str
    serviceId: str
    status: Outcome
    decisionId: str
    decidedBy: DecidedBy
    decidedAt: str


class ApplicationChange(TypedDict):
    """An UpdateItem of the application, as the workflow passes it on."""

    update: str
    names: dict[str, str]
    #: ExpressionAttributeValues, DynamoDB-typed
    values: dict[str, Any]


class TaskChange(TypedDict):
    #: ExpressionAttributeValues, DynamoDB-typed
    values: dict[str, Any]


class CreditListing(TypedDict):
    """A subject's credit-list entry and its history record (DynamoDB-typed items), written
    with a revocation for false data; the entry only under `condition` (credit/store.py)."""

    entry: dict[str, Any]
    change: dict[str, Any]
    condition: str
    #: the condition's ExpressionAttributeValues, DynamoDB-typed
    values: dict[str, Any]


class WorkflowOutput(TypedDict):
    """The reviewer's decision as SendTaskSuccess hands it to the workflow (`$.review`): the
    decision record (a DynamoDB-typed item), the application's and the task's updates, the
    task's release if the record cannot be written, and the applicant's notification; for a
    spot check found INVALID, the subject's credit listing, recorded in the same transaction."""

    decision: dict[str, Any]
    application: ApplicationChange
    task: TaskChange
    release: TaskChange
    notification: DecisionNotice
    #: the application's grant confirmed (an approval) or released (a rejection, a revocation):
    #: a `records.grants.change`
    grant: dict[str, Any]
    listing: NotRequired[CreditListing]
