"""What the applications and decisions tables hold, as types: the stored items every capability
reads and writes. TypedDicts, not classes: items stay the plain dicts DynamoDB (de)serializes
and the content hash covers, while mypy checks every key a flow reads or writes.

Writers build them (`applications.items`, `review.tasks`, `supervision.items`); readers get them
from `records.store`. Keys are camelCase, as stored.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Outcome = Literal["APPROVED", "REJECTED", "PENDING_REVIEW", "REVOKED"]
DecidedBy = Literal["SYSTEM", "REVIEWER"]


class LocalizedText(TypedDict):
    zh: str
    en: str


class StoredReason(TypedDict):
    """A failing rule as the applicant reads it: the rule's words, remedy and legal basis."""

    ruleId: str
    onFail: str
    result: str
    message: LocalizedText
    remedy: LocalizedText
    legalBasis: dict[str, Any]


class TraceEntry(TypedDict):
    ruleId: str
    result: str
    onFail: str
    values: dict[str, Any]
    missing: list[str]
    error: str | None


class EvidenceSnapshot(TypedDict):
    status: str
    record: dict[str, Any] | None


class DecisionInForce(TypedDict):
    """The application item's copy of the decision in force (what its applicant sees)."""

    decisionId: str
    outcome: Outcome
    decidedBy: DecidedBy
    ruleSetVersion: str
    ruleSetHash: str
    reasons: list[StoredReason]
    decidedAt: str
    latencyMs: float
    revokes: NotRequired[str]


class ReviewDue(TypedDict):
    dueBy: str
    dueAt: str
    dueByOfficial: bool


class Certificate(TypedDict):
    kind: str
    title: LocalizedText
    number: str
    issuedAt: str
    status: NotRequired[Literal["VALID", "REVOKED"]]
    revokedAt: NotRequired[str]
    revokedBy: NotRequired[str]


class SpotCheckNote(TypedDict):
    result: str
    decisionId: str
    at: str


class ApplicationItem(TypedDict):
    """ApplicationsTable: one application and the decision in force on it."""

    applicationId: str
    serviceId: str
    status: Outcome
    submittedAt: str
    decision: DecisionInForce
    outputs: dict[str, Any]
    #: the form as submitted, personal data masked
    form: dict[str, Any]
    #: internal, never returned: ownership, idempotency, the subject's keyed hash
    applicantId: str
    requestHash: str
    subjectHash: str
    review: NotRequired[ReviewDue]
    certificate: NotRequired[Certificate]
    spotCheck: NotRequired[SpotCheckNote]


class DecisionRecord(TypedDict):
    """DecisionsTable: one immutable decision — the system's, a reviewer's or a revocation —
    sealed with the auditors' index keys and its content hash, later chained."""

    decisionId: str
    applicationId: str
    serviceId: str
    decidedAt: str
    sequence: int
    outcome: Outcome
    decidedBy: DecidedBy
    deciderId: str
    applicantId: str
    subjectHash: str
    ruleSetVersion: str
    ruleSetHash: str
    applicationDate: str
    reasons: list[StoredReason]
    outputs: dict[str, Any]
    latencyMs: float
    #: the normalized application and the evidence it was decided on (replay needs both)
    application: NotRequired[dict[str, Any]]
    evidence: NotRequired[dict[str, EvidenceSnapshot]]
    facts: NotRequired[dict[str, Any]]
    trace: NotRequired[list[TraceEntry]]
    #: a reviewer's decision or a spot check
    kind: NotRequired[str]
    reviewOf: NotRequired[str]
    taskId: NotRequired[str]
    reasonCodes: NotRequired[list[str]]
    comment: NotRequired[str | None]
    #: a revocation
    revokes: NotRequired[str]
    cause: NotRequired[str]
    #: the seal (records.decision.sealed) and the chain position (audit.sequencer)
    serviceDayShard: NotRequired[str]
    serviceOutcomeShard: NotRequired[str]
    serviceRuleSetShard: NotRequired[str]
    deciderKey: NotRequired[str]
    contentHash: NotRequired[str]
    chainId: NotRequired[str]
    chainSeq: NotRequired[int]
    prevHash: NotRequired[str]
    hash: NotRequired[str]
    chainedAt: NotRequired[str]
