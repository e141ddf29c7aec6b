"""The auditors' API contract (camelCase on the wire): decisions, statistics, chains, replays,
what-if. Personal data is masked before anything reaches these models (audit/masking.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from miaopi.inputs import MULTI_LINE, IsoDate
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from miaopi_platform.aws.api import ApiModel, Localized
from miaopi_platform.records.views import EvidenceSnapshotView, LegalBasisView, TraceView


class AuditReason(ApiModel):
    rule_id: str
    on_fail: str | None = None
    result: str | None = None
    message: Localized | None = None
    remedy: Localized | None = None
    legal_basis: LegalBasisView | None = None


class DecisionSummary(ApiModel):
    """One list row. Only the keys every indexed record has are required: a row whose other
    fields are missing or malformed still lists (auditor._summary)."""

    decision_id: str
    application_id: str | None = None
    service_id: str
    decided_at: dt.datetime
    outcome: str
    #: SYSTEM (the rules, or supervision) or REVIEWER
    decided_by: str | None = None
    decider_id: str | None = None
    #: REFERRAL or SPOT_CHECK for reviewer decisions, REVOCATION for revocations
    kind: str | None = None
    rule_set_version: str | None = None
    rule_set_hash: str | None = None
    application_date: dt.date | None = None
    sequence: int | None = None
    reasons: list[AuditReason] = Field(default_factory=list)
    latency_ms: float | None = None
    #: the decision this one reviewed, or revoked
    review_of: str | None = None
    revokes: str | None = None


class DecisionPage(ApiModel):
    items: list[DecisionSummary]
    #: the index that answered (never a scan)
    index: str
    next_token: str | None = None


class ChainPosition(ApiModel):
    chain_id: str
    seq: int
    prev_hash: str
    hash: str
    chained_at: dt.datetime | None = None


class HashCheck(ApiModel):
    content_hash: str | None = None
    #: the record's content hashes to its contentHash: it was not altered
    content_matches: bool
    chained: bool
    #: its hash is the link of its chain, position, predecessor's hash and content hash
    link_matches: bool | None = None
    #: the record before it in the chain has the hash this one was chained after
    predecessor_matches: bool | None = None


class DifferenceView(ApiModel):
    field: str
    recorded: Any = None
    replayed: Any = None


class ReplayView(ApiModel):
    status: str
    recorded_outcome: str
    replayed_outcome: str | None = None
    differences: list[DifferenceView] = Field(default_factory=list)
    note: str | None = None


class SupervisionView(ApiModel):
    """An automatic approval's supervision: the re-verification and the spot-check draw, with
    the seed it can be reproduced from (`random.Random(int(seed, 16)).random()`)."""

    status: str
    supervised_until: str
    verification: dict[str, Any] = Field(default_factory=dict)
    sampling: dict[str, Any] = Field(default_factory=dict)
    recheck: dict[str, Any] | None = None
    revoked_by: str | None = None


class DecisionDetail(DecisionSummary):
    #: keyed hash of the subject's identifier: the applicant filter of GET /audit/decisions
    subject_hash: str | None = None
    application: dict[str, Any] = Field(default_factory=dict)
    evidence: list[EvidenceSnapshotView] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    trace: list[TraceView] = Field(default_factory=list)
    reason_codes: list[str] = Field(default_factory=list)
    comment: str | None = None
    cause: str | None = None
    chain: ChainPosition | None = None
    hashes: HashCheck
    replay: ReplayView
    #: for an automatic approval: its supervision record (part of the audit trail)
    supervision: SupervisionView | None = None


class SystemRates(ApiModel):
    decisions: int
    approved: int
    referred: int
    rejected: int
    auto_approval_rate: float | None = None
    referral_rate: float | None = None
    rejection_rate: float | None = None


class RuleCount(ApiModel):
    rule_id: str
    count: int
    share: float | None = None


class Latency(ApiModel):
    count: int
    median: float | None = None
    p95: float | None = None


class ReviewRates(ApiModel):
    decisions: int
    approved: int
    rejected: int
    #: reviewer approvals of referrals / reviewer decisions of referrals
    overturn_rate: float | None = None


class StatsView(ApiModel):
    service_id: str
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    total: int
    by_outcome: dict[str, int]
    system: SystemRates
    top_failing_rules: list[RuleCount]
    latency_ms: Latency
    reviews: ReviewRates
    spot_checks_valid: int
    revocations: int


class FindingView(ApiModel):
    kind: str
    detail: str
    seq: int | None = None
    decision_id: str | None = None


class HeadView(ApiModel):
    seq: int
    hash: str


class ChainReportView(ApiModel):
    """One chain's part verified on a page (a chain longer than a page has an item on each page
    it spans, in order): the problems found on this page, and the chain's figures so far. The
    item with `complete` true is the chain's verdict."""

    chain_id: str
    #: the chain's records walked so far
    records: int
    #: new records not chained yet (within the sequencer's grace period), so far
    pending: int
    #: the chain's head as read when its verification started
    head: HeadView | None = None
    #: no problem found in the chain so far (the chain's verdict once `complete`)
    verified: bool
    #: the chain's first problem so far
    first_problem: FindingView | None = None
    #: the problems found on this page, first first
    problems: list[FindingView] = Field(default_factory=list)
    #: the chain's problems so far, over all its pages
    problem_count: int = 0
    #: the last chain position walked so far
    walked: int = 0
    #: the chain's verification ended on this page
    complete: bool = True


class ChainPage(ApiModel):
    items: list[ChainReportView]
    #: chains of the service and period (days x write shards), over all pages
    total: int
    next_token: str | None = None


class ReplayItem(ReplayView):
    decision_id: str


class ReplayPage(ApiModel):
    items: list[ReplayItem]
    next_token: str | None = None


class WhatIfRequest(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    service_id: Annotated[str, Field(max_length=64)]
    start: IsoDate = Field(alias="from")
    end: IsoDate = Field(alias="to")
    #: the candidate (YAML): a full rule-set file, or parameter overrides on the rule set in force
    rule_set: Annotated[str, Field(min_length=1, max_length=60_000), MULTI_LINE]
    limit: Annotated[int, Field(ge=1, le=500)] = 200
    next_token: Annotated[str | None, Field(max_length=4096)] = None


class CandidateView(ApiModel):
    version: str
    effective_from: dt.date
    hash: str


class RuleEffect(ApiModel):
    #: e.g. "EA-AGE now fails"
    rule: str
    count: int


class TransitionView(ApiModel):
    recorded: str = Field(alias="from")
    candidate: str = Field(alias="to")
    count: int
    examples: list[str]
    rules: list[RuleEffect]


class WhatIfPage(ApiModel):
    service_id: str
    candidate: CandidateView
    #: the rules' decisions run under the candidate on this page
    evaluated: int
    #: reviewer decisions and revocations on this page (not the rules' to change)
    not_replayed: int
    transitions: list[TransitionView]
    next_token: str | None = None
