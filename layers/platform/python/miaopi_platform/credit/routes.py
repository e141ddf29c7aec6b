"""The credit list for administrators (group `admins`): look an entry up, list a subject,
repair (信用修复). Identifiers travel in bodies, never in paths or query strings (which end up in
access logs), and are answered masked. Every change is written with its history record."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from miaopi_platform.aws.http import json_body, json_response, parse_body, require_group
from miaopi_platform.aws.settings import Settings
from miaopi_platform.credit import flow
from miaopi_platform.credit.views import (
    CreditEntryDetail,
    CreditEntryView,
    ListRequest,
    RepairRequest,
    SubjectRef,
)

router = Router()
ADMINS = "admins"


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
    require_group(router, ADMINS)
    request = _request(SubjectRef)
    return json_response(200, flow.lookup(_ports(), request.subject_id, _now()).wire())


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
    admin = require_group(router, ADMINS)
    request = _request(ListRequest)
    return json_response(201, flow.add(_ports(), request, admin, _now()).wire())


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
    admin = require_group(router, ADMINS)
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
