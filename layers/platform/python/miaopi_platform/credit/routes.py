"""The credit list for administrators (group `admins`): look an entry up, list a subject,
repair (信用修复). Identifiers travel in bodies, never in paths or query strings (which end up in
access logs), and are answered masked. Every change is written with its history record."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from miaopi.identifiers import IdentifierInvalid, normalize
from miaopi.workdays import CHINA
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from miaopi_platform.aws.api import ApiModel, Localized
from miaopi_platform.aws.errors import Conflict, NotFound, UnprocessableEntity
from miaopi_platform.aws.http import json_body, json_response, parse_body, require_group
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.credit.store import in_force
from miaopi_platform.privacy.pii import mask_value
from miaopi_platform.wiring import Dependencies

router = Router()
ADMINS = "admins"
#: identifier kinds a credit-list subject may have: a person or an enterprise
SUBJECT_KINDS = ("cn.ric", "cn.uscc")


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SubjectRef(_Body):
    #: the resident ID number or unified social credit code
    subject_id: Annotated[str, Field(min_length=15, max_length=20)]


class ListRequest(SubjectRef):
    reason_code: Literal["FALSE_DATA", "COURT_JUDGMENT", "ADMINISTRATIVE_PENALTY", "OTHER"]
    reason: Localized
    valid_until: dt.date
    source_decision_id: Annotated[str | None, Field(max_length=64)] = None


class RepairRequest(SubjectRef):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


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


def _subject(deps: Dependencies, subject_id: str) -> tuple[str, str]:
    """(keyed hash, masked form) of a valid ID number or credit code; 422 otherwise (the
    value is never echoed)."""
    for kind in SUBJECT_KINDS:
        try:
            value = normalize((kind,), subject_id)
        except IdentifierInvalid:
            continue
        return deps.hasher.digest(value), str(mask_value((kind,), value))
    raise UnprocessableEntity(
        "subjectId is not a valid ID number or unified social credit code",
        [{"field": "subjectId", "code": "invalid_identifier"}],
    )


def _view(entry: dict[str, Any]) -> dict[str, Any]:
    barring = in_force(entry, dt.datetime.now(dt.UTC))
    return {**entry, "subject": entry.get("subjectMasked", "****"), "inForce": barring}


def _today() -> dt.date:
    return dt.datetime.now(CHINA).date()


@router.post(
    "/credit-list/lookup",
    summary="A subject's credit-list entry and its history (admins)",
    responses={
        200: {
            "description": "The entry and its history",
            "content": {"application/json": {"model": CreditEntryDetail}},
        },
        404: {"description": "Not on the list"},
    },
    security=[{"cognito": []}],
    tags=["Credit list"],
)
def lookup() -> Response[str]:
    require_group(router, ADMINS)  # type: ignore[arg-type]
    deps: Dependencies = router.context["deps"]
    request = parse_body(SubjectRef, json_body(router, deps.settings.max_body_bytes), "request")  # type: ignore[arg-type]
    subject_hash, _masked = _subject(deps, request.subject_id)
    entry = deps.credit.get(subject_hash)
    if entry is None:
        raise NotFound("the subject is not on the credit list")
    history = sorted(deps.credit.history(subject_hash), key=lambda c: str(c["changeId"]))
    detail = CreditEntryDetail.model_validate({**_view(entry), "history": history})
    return json_response(200, detail.wire())


@router.post(
    "/credit-list/entries",
    summary="Put a subject on the credit list (admins)",
    responses={
        201: {
            "description": "Listed",
            "content": {"application/json": {"model": CreditEntryView}},
        },
        409: {"description": "An entry is in force already"},
    },
    security=[{"cognito": []}],
    tags=["Credit list"],
)
def add_entry() -> Response[str]:
    admin = require_group(router, ADMINS)  # type: ignore[arg-type]
    deps: Dependencies = router.context["deps"]
    request = parse_body(ListRequest, json_body(router, deps.settings.max_body_bytes), "request")  # type: ignore[arg-type]
    today = _today()
    if request.valid_until < today:
        raise UnprocessableEntity(
            "validUntil is in the past", [{"field": "validUntil", "code": "in_the_past"}]
        )
    subject_hash, masked = _subject(deps, request.subject_id)
    entry = deps.credit.list(
        subject_hash,
        subject_masked=masked,
        reason_code=request.reason_code,
        reason=request.reason.model_dump(),
        valid_until=request.valid_until,
        by=admin,
        now=dt.datetime.now(dt.UTC),
        source_decision_id=request.source_decision_id,
    )
    if entry is None:  # this source decision listed them already
        raise Conflict(
            "this decision listed the subject already",
            [{"field": "sourceDecisionId", "code": "already_listed"}],
        )
    logger.info("credit list entry added", extra={"reasonCode": request.reason_code})
    metrics.add_metric(name="CreditListed", unit="Count", value=1)
    return json_response(201, CreditEntryView.model_validate(_view(entry)).wire())


@router.post(
    "/credit-list/repair",
    summary="Credit repair (信用修复): the entry stays on record but no longer bars (admins)",
    responses={
        200: {
            "description": "Repaired",
            "content": {"application/json": {"model": CreditEntryView}},
        },
        404: {"description": "Not on the list"},
        409: {"description": "The entry is not in force"},
    },
    security=[{"cognito": []}],
    tags=["Credit list"],
)
def repair() -> Response[str]:
    admin = require_group(router, ADMINS)  # type: ignore[arg-type]
    deps: Dependencies = router.context["deps"]
    request = parse_body(RepairRequest, json_body(router, deps.settings.max_body_bytes), "request")  # type: ignore[arg-type]
    subject_hash, _masked = _subject(deps, request.subject_id)
    entry = deps.credit.repair(subject_hash, request.reason, admin, dt.datetime.now(dt.UTC))
    logger.info("credit list entry repaired")
    metrics.add_metric(name="CreditRepaired", unit="Count", value=1)
    return json_response(200, CreditEntryView.model_validate(_view(entry)).wire())
