"""The public catalogue's API models: services, their forms and the rule set in force."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from miaopi_platform.aws.api import ApiModel, Localized
from miaopi_platform.records.views import LegalBasisView


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
