"""The API contract (v1): JSON, camelCase on the wire. Models here are what clients see."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Localized(ApiModel):
    zh: str
    en: str


class LegalBasisView(ApiModel):
    citation: str
    article: str | None = None
    url: str | None = None
    illustrative: bool = False


class ReasonView(ApiModel):
    rule_id: str
    on_fail: Literal["REJECT", "REFER"]
    result: Literal["FAIL", "EVIDENCE_MISSING", "ERROR"]
    message: Localized
    remedy: Localized
    legal_basis: LegalBasisView


Status = Literal["APPROVED", "REJECTED", "PENDING_REVIEW", "REVOKED"]


class DecisionView(ApiModel):
    decision_id: str
    outcome: Literal["APPROVED", "REJECTED", "PENDING_REVIEW", "REVOKED"]
    decided_by: Literal["SYSTEM", "REVIEWER"]
    #: a revocation names the decision it overturns
    revokes: str | None = None
    rule_set_version: str
    rule_set_hash: str
    reasons: list[ReasonView]
    decided_at: dt.datetime
    latency_ms: float


class ReviewView(ApiModel):
    due_by: dt.date
    #: the end of the due day in China; past it the review is escalated (never decided)
    due_at: dt.datetime | None = None
    #: false when the official holiday calendar for a year counted was not yet published
    due_by_official: bool = True


class CertificateView(ApiModel):
    kind: str
    title: Localized
    number: str
    issued_at: dt.datetime
    #: REVOKED when the approval was overturned after the fact
    status: Literal["VALID", "REVOKED"] = "VALID"
    revoked_at: dt.datetime | None = None


class ApplicationView(ApiModel):
    application_id: str
    service_id: str
    status: Status
    submitted_at: dt.datetime
    decision: DecisionView
    review: ReviewView | None = None
    certificate: CertificateView | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    #: the application as submitted, personal data masked
    form: dict[str, Any] = Field(default_factory=dict)


class ApplicationPage(ApiModel):
    items: list[ApplicationView]
    next_token: str | None = None


class EvidenceView(ApiModel):
    alias: str
    source: str
    title: Localized


class RuleSetRef(ApiModel):
    version: str
    effective_from: dt.date
    hash: str


class ServiceSummary(ApiModel):
    service_id: str
    name: Localized
    authority: Localized
    description: Localized
    sla_working_days: int
    certificate_kind: str
    rule_set: RuleSetRef | None = None


class ServiceDetail(ServiceSummary):
    form_schema: dict[str, Any]
    evidence: list[EvidenceView]


class ServiceList(ApiModel):
    items: list[ServiceSummary]


class RuleView(ApiModel):
    rule_id: str
    title: Localized
    reason: Localized
    remedy: Localized
    legal_basis: LegalBasisView
    on_fail: Literal["REJECT", "REFER"]
    when: str | None = None
    condition: str


class ParameterView(ApiModel):
    name: str
    title: Localized
    unit: str | None = None
    value: Any
    legal_basis: LegalBasisView


class NoteView(ApiModel):
    id: str
    text: Localized
    legal_basis: LegalBasisView


class TableView(ApiModel):
    name: str
    title: Localized
    hit_policy: str
    legal_basis: LegalBasisView
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    rows: list[dict[str, Any]]


class RuleSetView(ApiModel):
    service_id: str
    date: dt.date
    version: str
    effective_from: dt.date
    hash: str
    rules: list[RuleView]
    parameters: list[ParameterView]
    tables: list[TableView]
    notes: list[NoteView]


class ErrorDetail(ApiModel):
    field: str | None = None
    code: str
    message: str | None = None


class ErrorInfo(ApiModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorBody(ApiModel):
    error: ErrorInfo


# ---------------------------------------------------------------- reviewers

TaskStatus = Literal["OPEN", "DECIDING", "DECIDED"]
TaskKind = Literal["REFERRAL", "SPOT_CHECK"]


class ReviewTaskSummary(ApiModel):
    task_id: str
    kind: TaskKind
    status: TaskStatus
    service_id: str
    application_id: str
    due_by: dt.date
    due_at: dt.datetime
    escalated: bool = False
    escalated_at: dt.datetime | None = None
    created_at: dt.datetime
    #: the rules whose failure (or missing evidence) sent the case to a person
    referred_rules: list[str] = Field(default_factory=list)
    #: a spot check's reason: SAMPLED (the random draw) or RECHECK_UNCONFIRMED
    check_reason: str | None = None
    outcome: Literal["APPROVED", "REJECTED", "REVOKED"] | None = None
    reviewer_id: str | None = None
    decision_id: str | None = None
    decided_at: dt.datetime | None = None


class ReviewTaskPage(ApiModel):
    items: list[ReviewTaskSummary]
    next_token: str | None = None


class EvidenceSnapshotView(ApiModel):
    alias: str
    source: str
    status: str
    record: dict[str, Any] | None = None


class TraceView(ApiModel):
    rule_id: str
    result: str
    on_fail: str
    values: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    error: str | None = None


class ReviewTaskDetail(ReviewTaskSummary):
    application: ApplicationView
    #: the referring decision's reasons: which rules referred it and why
    reasons: list[ReasonView]
    #: what each referring rule saw
    trace: list[TraceView]
    evidence: list[EvidenceSnapshotView]
    facts: dict[str, Any] = Field(default_factory=dict)
    rule_set_version: str
    rule_set_hash: str
    comment: str | None = None
    reason_codes: list[str] = Field(default_factory=list)


class ReviewDecisionRequest(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    #: a referral: APPROVE or REJECT; a spot check: VALID (the approval stands) or INVALID
    #: (false data: the approval is revoked and the subject listed)
    decision: Literal["APPROVE", "REJECT", "VALID", "INVALID"]
    #: rule ids of the case's rule set the reviewer found failed (REJECT and INVALID need one)
    reason_codes: list[str] = Field(default_factory=list, max_length=20)
    comment: str | None = Field(default=None, max_length=2000)


class ReviewDecisionAccepted(ApiModel):
    task_id: str
    status: TaskStatus
    decision_id: str
    outcome: Literal["APPROVED", "REJECTED", "REVOKED"]
