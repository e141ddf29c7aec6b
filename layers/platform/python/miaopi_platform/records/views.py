"""The application resource as its applicant (and a reviewer) sees it: the API contract's
view of an application item and of the decision in force on it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, computed_field

from miaopi_platform.aws.api import BUILT_ON_FIRST_USE, ApiModel, Localized
from miaopi_platform.records.items import ApplicationItem


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
    #: ISSUING for a second or two until signed; REVOKED when the approval was overturned
    status: Literal["ISSUING", "VALID", "REVOKED"] = "VALID"
    revoked_at: dt.datetime | None = None

    #: the same, absolute: under the address the caller reached the API at (a link to share)
    verification_url: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verification_path(self) -> str:
        """Where anyone checks it, under the API's base URL (no sign-in)."""
        return f"/certificates/{self.number}"


class SubmittedByView(ApiModel):
    """In what capacity it was submitted (for oneself, as an agent, for an enterprise or as its
    registered operator) and through which channel (online, or by a clerk at a counter)."""

    capacity: Literal["SELF", "AGENT", "LEGAL_PERSON", "OPERATOR"]
    channel: Literal["ONLINE", "COUNTER"]


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
    #: absent on applications recorded before who submitted was recorded
    submitted_by: SubmittedByView | None = None


class ApplicationPage(ApiModel):
    model_config = BUILT_ON_FIRST_USE

    items: list[ApplicationView]
    next_token: str | None = None


class EvidenceSnapshotView(ApiModel):
    model_config = BUILT_ON_FIRST_USE

    alias: str
    source: str
    status: str
    record: dict[str, Any] | None = None


class TraceView(ApiModel):
    model_config = BUILT_ON_FIRST_USE

    rule_id: str
    result: str
    on_fail: str
    values: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    error: str | None = None


def view(item: ApplicationItem, base_url: str | None = None) -> ApplicationView:
    """The application as shown. What the rules computed (an allowance, its first month) is
    shown only while it is granted: not while pending, rejected or after a revocation. With the
    API's `base_url`, the certificate's verification link is absolute."""
    shown = ApplicationView.model_validate(item)
    if shown.status != "APPROVED":
        shown.outputs = {}
    if base_url is not None and shown.certificate is not None:
        shown.certificate.verification_url = base_url + shown.certificate.verification_path
    return shown
