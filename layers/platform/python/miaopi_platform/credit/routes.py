"""The credit list for administrators (role `admin`): look an entry up, list a subject, repair
(信用修复). Identifiers travel in bodies, never in paths or query strings (which end up in
access logs), and are answered masked. Every change is written with its history record.

The credit list is one list for the city (联合惩戒): every service of every authority consults
it, so a listing or a repair bars or frees a subject everywhere. Its routes need `admin:*`
(city-wide); an admin scoped to one authority is refused (403, `out_of_scope`)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from miaopi_platform.aws.api import errors, request_body, signed_in
from miaopi_platform.aws.http import json_body, json_response, parse_body
from miaopi_platform.aws.settings import Settings
from miaopi_platform.credit import flow
from miaopi_platform.credit.views import (
    CreditEntryDetail,
    CreditEntryView,
    ListRequest,
    RepairRequest,
    SubjectRef,
)
from miaopi_platform.identity.caller import require_role
from miaopi_platform.identity.context import EVERY_AUTHORITY

router = Router()
ADMIN = "admin"


@router.post(
    "/credit-list/lookup",
    summary="A subject's credit-list entry and its history (admins)",
    operation_id="lookupCreditEntry",
    openapi_extensions=request_body(SubjectRef, "The subject, by identifier (never in a URL)"),
    responses={
        200: {
            "description": "The entry and its history",
            "content": {"application/json": {"model": CreditEntryDetail}},
        },
        **errors([400, 401, 403, 413, 415, 422, 503], {404: "Not on the list"}),
    },
    security=signed_in(ADMIN),
    tags=["Credit list"],
)
def lookup() -> Response[str]:
    require_role(router, ADMIN, EVERY_AUTHORITY)
    request = _request(SubjectRef)
    return json_response(200, flow.lookup(_ports(), request.subject_id, _now()).wire())


@router.post(
    "/credit-list/entries",
    summary="Put a subject on the credit list (admins)",
    operation_id="addCreditEntry",
    openapi_extensions=request_body(ListRequest, "The subject, why and until when"),
    responses={
        201: {
            "description": "Listed",
            "content": {"application/json": {"model": CreditEntryView}},
        },
        **errors([400, 401, 403, 413, 415, 422, 503], {409: "An entry is in force already"}),
    },
    security=signed_in(ADMIN),
    tags=["Credit list"],
)
def add_entry() -> Response[str]:
    admin = require_role(router, ADMIN, EVERY_AUTHORITY).subject
    request = _request(ListRequest)
    return json_response(201, flow.add(_ports(), request, admin, _now()).wire())


@router.post(
    "/credit-list/repair",
    summary="Credit repair (信用修复): the entry stays on record but no longer bars (admins)",
    operation_id="repairCreditEntry",
    openapi_extensions=request_body(RepairRequest, "The subject and the reason for repair"),
    responses={
        200: {
            "description": "Repaired",
            "content": {"application/json": {"model": CreditEntryView}},
        },
        **errors(
            [400, 401, 403, 413, 415, 422, 503],
            {404: "Not on the list", 409: "The entry is not in force"},
        ),
    },
    security=signed_in(ADMIN),
    tags=["Credit list"],
)
def repair() -> Response[str]:
    admin = require_role(router, ADMIN, EVERY_AUTHORITY).subject
    request = _request(RepairRequest)
    return json_response(200, flow.repair(_ports(), request, admin, _now()).wire())


class _Ports(flow.CreditPorts, Protocol):
    @property
    def settings(self) -> Settings: ...


def _ports() -> _Ports:
    ports: _Ports = router.context["deps"]
    return ports


def _request[RequestT: BaseModel](model: type[RequestT]) -> RequestT:
    return parse_body(model, json_body(router, _ports().settings.max_body_bytes), "request")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
