"""The credit list's API models: requests by subject identifier (in bodies, never in URLs),
entries answered masked."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from miaopi.identifiers import KINDS
from miaopi.inputs import MULTI_LINE, IsoDate, Paragraphs
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from miaopi_platform.aws.api import ApiModel, Localized

#: identifier kinds a credit-list subject may have: a person or an enterprise
SUBJECT_KINDS = ("cn.ric", "cn.uscc")


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SubjectRef(_Body):
    #: the resident ID number or unified social credit code
    subject_id: Annotated[
        str,
        Field(
            min_length=15,
            max_length=20,
            description=" Or: ".join(KINDS[kind].rule for kind in SUBJECT_KINDS),
            json_schema_extra={"x-identifier-kinds": list(SUBJECT_KINDS), "x-personal": True},
        ),
    ]


class ReasonText(_Body):
    """A reason as admins write it, in both languages (text without control characters)."""

    zh: Paragraphs
    en: Paragraphs


class ListRequest(SubjectRef):
    reason_code: Literal["FALSE_DATA", "COURT_JUDGMENT", "ADMINISTRATIVE_PENALTY", "OTHER"]
    reason: ReasonText
    valid_until: IsoDate
    source_decision_id: Annotated[str | None, Field(max_length=64)] = None


class RepairRequest(SubjectRef):
    reason: Annotated[str, Field(min_length=1, max_length=1000), MULTI_LINE]


class CreditEntryView(ApiModel):
    subject: str
    status: Literal["LISTED", "REPAIRED"]
    in_force: bool
    reason_code: str
    reason: Localized
    valid_until: dt.date
    listed_at: dt.datetime
    listed_by: str
    source_decision_id: str | None = None
    service_id: str | None = None
    repaired_at: dt.datetime | None = None
    repaired_by: str | None = None
    repair_reason: str | None = None
    version: int = 1


class CreditChangeView(ApiModel):
    action: str
    by: str
    why: str
    at: dt.datetime
    source_decision_id: str | None = None


class CreditEntryDetail(CreditEntryView):
    history: list[CreditChangeView] = Field(default_factory=list)
