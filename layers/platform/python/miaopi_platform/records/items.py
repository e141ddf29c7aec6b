"""What the applications and decisions tables hold, as types: the stored items every capability
reads and writes. TypedDicts, not classes: items stay the plain dicts DynamoDB (de)serializes
and the content hash covers, while mypy checks every key a flow reads or writes.

Writers build them (`applications.items`, `review.tasks`, `supervision.items`); readers get them
from `records.store` and `audit.store`. Keys are camelCase, as stored. What stays
`dict[str, Any]` is open JSON by nature: a form, the rules' outputs and facts, the values a rule
looked at, another department's evidence record.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Outcome = Literal["APPROVED", "REJECTED", "PENDING_REVIEW", "REVOKED"]
DecidedBy = Literal["SYSTEM", "REVIEWER"]


class LocalizedText(TypedDict):
    zh: str
    en: str


class StoredLegalBasis(TypedDict):
    """A rule's legal basis as stored (`None` values left out)."""

    citation: str
    article: NotRequired[str]
    url: NotRequired[str]
    illustrative: bool


class StoredReason(TypedDict):
    """A failing rule as the applicant reads it: the rule's words, remedy and legal basis."""

    ruleId: str
    onFail: str
    result: str
    message: LocalizedText
    remedy: LocalizedText
    legalBasis: StoredLegalBasis


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
    #: ISSUING until signed (absent on items recorded before certificates were signed: VALID)
    status: NotRequired[Literal["ISSUING", "VALID", "REVOKED"]]
    #: when the signed document was stored (ISSUING -> VALID)
    signedAt: NotRequired[str]
    revokedAt: NotRequired[str]
    revokedBy: NotRequired[str]


class SpotCheckNote(TypedDict):
    result: str
    decisionId: str
    at: str


class Submitter(TypedDict):
    """Who submitted an application, in what capacity (applications.capacity), and through
    which channel; at a counter, the clerk's account and how they checked the person present."""

    capacity: Literal["SELF", "AGENT", "LEGAL_PERSON", "OPERATOR"]
    channel: Literal["ONLINE", "COUNTER"]
    clerkId: NotRequired[str]
    identityCheck: NotRequired[str]


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
    #: the keyed hash of whom it is for (their own list shows it: byHolder)
    holderHash: NotRequired[str]
    submittedBy: NotRequired[Submitter]
    review: NotRequired[ReviewDue]
    certificate: NotRequired[Certificate]
    spotCheck: NotRequired[SpotCheckNote]


class IndexKeys(TypedDict):
    """The attributes the auditors' indexes are keyed on (records.indexes.index_keys), computed
    from a record's content; `deciderKey` only for a named decider (the index is sparse)."""

    serviceDayShard: str
    serviceOutcomeShard: str
    serviceRuleSetShard: str
    deciderKey: NotRequired[str]


class DecisionSummaryItem(TypedDict):
    """What the auditors' summary indexes hold of a decision record (template.yaml: the keys
    and the `NonKeyAttributes` of byServiceDay, byOutcome, byRuleSet, byDecider, bySubject):
    a list row and the statistics, not the application, evidence or trace. Each index returns
    its own partition key of the four below; byApplication projects the summary and the
    normalised application."""

    decisionId: str
    decidedAt: str
    applicationId: str
    serviceId: str
    outcome: Outcome
    decidedBy: DecidedBy
    deciderId: str
    ruleSetVersion: str
    ruleSetHash: str
    applicationDate: str
    sequence: int
    reasons: list[StoredReason]
    latencyMs: float
    #: a reviewer's decision (REFERRAL, SPOT_CHECK) or a revocation (REVOCATION)
    kind: NotRequired[str]
    reviewOf: NotRequired[str]
    revokes: NotRequired[str]
    #: the seal's index keys (records.decision.sealed)
    serviceDayShard: NotRequired[str]
    serviceOutcomeShard: NotRequired[str]
    serviceRuleSetShard: NotRequired[str]
    deciderKey: NotRequired[str]


class DecisionRecord(DecisionSummaryItem):
    """DecisionsTable: one immutable decision — the system's, a reviewer's or a revocation —
    sealed with the auditors' index keys and its content hash, later chained. Everything a
    summary holds, and:"""

    applicantId: str
    subjectHash: str
    outputs: dict[str, Any]
    #: the system's decision on a submission: who submitted it, how
    submittedBy: NotRequired[Submitter]
    #: the normalized application and the evidence it was decided on (replay needs both)
    application: NotRequired[dict[str, Any]]
    evidence: NotRequired[dict[str, EvidenceSnapshot]]
    facts: NotRequired[dict[str, Any]]
    trace: NotRequired[list[TraceEntry]]
    #: a reviewer's decision or a spot check
    taskId: NotRequired[str]
    reasonCodes: NotRequired[list[str]]
    comment: NotRequired[str | None]
    #: a revocation
    cause: NotRequired[str]
    #: the content hash (records.seal) and the chain position (audit.sequencer)
    contentHash: NotRequired[str]
    chainId: NotRequired[str]
    chainSeq: NotRequired[int]
    prevHash: NotRequired[str]
    hash: NotRequired[str]
    chainedAt: NotRequired[str]


class ChainEntry(TypedDict):
    """What the byChain index holds of a chained record: its position and hashes."""

    decisionId: str
    chainId: str
    chainSeq: int
    contentHash: str
    prevHash: str
    hash: str
    chainedAt: str
