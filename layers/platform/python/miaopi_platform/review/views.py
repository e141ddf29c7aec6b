"""The reviewers' API models: the queue, one task with its case, and a decision."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from miaopi.inputs import MULTI_LINE
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from miaopi_platform.aws.api import ApiModel
from miaopi_platform.records.views import (
    ApplicationView,
    EvidenceSnapshotView,
    ReasonView,
    TraceView,
)
from miaopi_platform.review.items import TaskKind, TaskStatus


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
    comment: Annotated[str, Field(max_length=2000), MULTI_LINE] | None = None


class ReviewDecisionAccepted(ApiModel):
    task_id: str
    status: TaskStatus
    decision_id: str
    outcome: Literal["APPROVED", "REJECTED", "REVOKED"]
