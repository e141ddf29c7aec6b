"""The auditors' API (role `auditor`), read-only: decisions by the auditors' questions, one
decision in full, statistics, chain verification, replay and what-if.

An auditor sees the decisions of the services of the authorities their roles name
(`auditor:market-regulation`), or of every service (`auditor:*`), signed in at L3: a route about
one service or one decision of another authority is 403; a list shows the decisions in scope
only (a page may then hold fewer than `limit`; `nextToken` goes on).

Verification, replay and what-if run here, next to the records, and answer with ids, hashes,
outcomes and rule ids: the unmasked application and evidence they need never leave AWS. A
subject's identifier (to find an applicant's decisions) travels in the X-Subject-Id header,
not the URL, so no access log or proxy holds it; it is hashed at once and never logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from miaopi.errors import UnknownService
from miaopi.identifiers import IdentifierInvalid, normalize

from miaopi_platform.audit.auditor import (
    decision_detail,
    list_decisions,
    period_stats,
    replay_page,
    what_if_page,
)
from miaopi_platform.audit.chainwalk import chains_page
from miaopi_platform.audit.queries import DecisionFilter, chains_of, period_of, required_period
from miaopi_platform.audit.replay import load_candidate
from miaopi_platform.audit.store import AuditStore
from miaopi_platform.audit.views import (
    ChainPage,
    DecisionDetail,
    DecisionPage,
    ReplayPage,
    StatsView,
    SupervisionView,
    WhatIfPage,
    WhatIfRequest,
)
from miaopi_platform.aws.api import errors, request_body, signed_in
from miaopi_platform.aws.errors import NotFound, UnprocessableEntity
from miaopi_platform.aws.http import json_body, json_response, parse_body
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import find
from miaopi_platform.identity.caller import out_of_scope, require_role
from miaopi_platform.identity.context import EVERY_AUTHORITY, Identity
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records.ids import APPLICATION_ID_PATTERN

router = Router()
AUDITOR = "auditor"

ServiceId = Annotated[str, Query(alias="serviceId", max_length=64)]
From = Annotated[dt.date, Query(alias="from", description="first China date, included")]
To = Annotated[dt.date, Query(alias="to", description="last China date, included")]
NextToken = Annotated[str | None, Query(alias="nextToken", max_length=4096)]
Outcome = Literal["APPROVED", "REJECTED", "PENDING_REVIEW", "REVOKED"]
_TAGS = ["Audit"]
#: records a chain verification page reads by default, and at most (a page stays well inside
#: the function's timeout whatever the day's volume: make bench, audit.chains_*)
CHAIN_PAGE = 400
MAX_CHAIN_PAGE = 2000
_SECURITY = signed_in(AUDITOR)
#: the errors every auditors' operation can answer; 404: an unknown service
_ERRORS = (401, 403, 422, 503)


class SupervisionRecords(Protocol):
    """Supervision's records, read by decision id (supervision sits above audit: no import of
    its item type; audit only shows them)."""

    def get(self, decision_id: str) -> Mapping[str, Any] | None: ...


class AuditPorts(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def audit(self) -> AuditStore: ...
    @property
    def hasher(self) -> PiiHasher: ...
    @property
    def supervision(self) -> SupervisionRecords: ...


def _deps() -> AuditPorts:
    ports: AuditPorts = router.context["deps"]
    return ports


def _auditor(service_id: str | None = None) -> Identity:
    """The caller, an auditor (of the service's authority when one is named: 404 for an
    unknown service, 403 for one of another authority)."""
    auditor = require_role(router, AUDITOR)
    if service_id is not None:
        authority = find(service_id).authority_id
        if not auditor.may(AUDITOR, authority):
            raise out_of_scope(AUDITOR, authority)
    return auditor


@router.get(
    "/audit/decisions",
    summary="Decision records by service and period, outcome, rule-set version, decider, "
    "applicant or application; oldest first, paginated",
    operation_id="listAuditDecisions",
    responses={
        200: {"description": "A page", "content": {"application/json": {"model": DecisionPage}}},
        **errors([400, *_ERRORS], {404: "Unknown service"}),
    },
    security=_SECURITY,
    tags=_TAGS,
)
def list_audit_decisions(
    service_id: Annotated[str | None, Query(alias="serviceId", max_length=64)] = None,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    rule_set_version: Annotated[str | None, Query(alias="ruleSetVersion", max_length=64)] = None,
    decider: Annotated[
        str | None, Query(max_length=128, description="a reviewer's id, supervision or system")
    ] = None,
    subject_hash: Annotated[
        str | None, Query(alias="subjectHash", pattern=r"^[0-9a-f]{64}$")
    ] = None,
    application_id: Annotated[
        str | None,
        Query(
            alias="applicationId",
            pattern=APPLICATION_ID_PATTERN,
            description="an application's decisions, all time unless from and to are given",
        ),
    ] = None,
    subject_id: Annotated[
        str | None,
        Header(
            alias="X-Subject-Id",
            max_length=40,
            description="the applicant's ID number (or credit code): hashed, never stored",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: NextToken = None,
) -> Response[str]:
    auditor = _auditor(service_id)  # an unknown service is a 404, not an empty (or full) list
    deps = _deps()
    if subject_id and not subject_hash:
        subject_hash = deps.hasher.digest(_subject(subject_id))
    query = DecisionFilter(
        service_id=service_id,
        period=period_of(start, end),
        outcome=outcome,
        rule_set_version=rule_set_version,
        decider=decider,
        subject_hash=subject_hash,
        application_id=application_id,
    )
    page = list_decisions(deps.audit, query, limit, next_token)
    if not auditor.may(AUDITOR, EVERY_AUTHORITY):
        page.items = [i for i in page.items if _covers(auditor, i.service_id)]
    logger.info("audit query", extra={"index": page.index, "count": len(page.items)})
    return json_response(200, page.wire())


@router.get(
    "/audit/decisions/<decisionId>",
    summary="One decision record: trace, evidence snapshot, rule set, chain position, hash "
    "checks and its replay; personal data masked",
    operation_id="getAuditDecision",
    responses={
        200: {
            "description": "The record",
            "content": {"application/json": {"model": DecisionDetail}},
        },
        **errors(_ERRORS, {404: "No such decision"}),
    },
    security=_SECURITY,
    tags=_TAGS,
)
def get_audit_decision(
    decision_id: Annotated[str, Path(alias="decisionId", max_length=64)],
) -> Response[str]:
    auditor = _auditor()
    deps = _deps()
    record = deps.audit.get(decision_id)
    if record is None:
        raise NotFound("no such decision")
    service = find(str(record["serviceId"]))
    if not auditor.may(AUDITOR, service.authority_id):
        raise out_of_scope(AUDITOR, service.authority_id)
    # a comment is in clear for its author only
    detail = decision_detail(deps.audit, service, record, auditor.subject)
    supervised = deps.supervision.get(decision_id)
    if supervised is not None:
        detail.supervision = SupervisionView.model_validate(supervised)
    return json_response(200, detail.wire())


@router.get(
    "/audit/stats",
    summary="A service's figures for a period: volumes, rates, failing rules, latency, "
    "reviewer overturns, revocations",
    operation_id="getAuditStats",
    responses={
        200: {"description": "The figures", "content": {"application/json": {"model": StatsView}}},
        **errors(_ERRORS, {404: "Unknown service"}),
    },
    security=_SECURITY,
    tags=_TAGS,
)
def get_audit_stats(service_id: ServiceId, start: From, end: To) -> Response[str]:
    _auditor(service_id)
    deps = _deps()
    stats = period_stats(deps.audit, service_id, required_period(start, end))
    return json_response(200, stats.wire())


@router.get(
    "/audit/chains",
    summary="Verify the hash chains of a service and period: altered, missing or inserted "
    "records; a page of chain positions at a time (a long chain continues on the next page)",
    operation_id="verifyAuditChains",
    responses={
        200: {
            "description": "Chain reports",
            "content": {"application/json": {"model": ChainPage}},
        },
        **errors([400, *_ERRORS], {404: "Unknown service"}),
    },
    security=_SECURITY,
    tags=_TAGS,
)
def verify_audit_chains(
    service_id: ServiceId,
    start: From,
    end: To,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_CHAIN_PAGE,
            description="records read per page at most: chain positions, then the records "
            "of each chain's day and shard",
        ),
    ] = CHAIN_PAGE,
    next_token: NextToken = None,
) -> Response[str]:
    _auditor(service_id)
    deps = _deps()
    chains = chains_of(service_id, required_period(start, end))
    now = dt.datetime.now(dt.UTC)
    items, token = chains_page(deps.audit, chains, limit, next_token, deps.hasher.digest, now)
    broken = [i.chain_id for i in items if i.complete and not i.verified]
    if broken:
        metrics.add_metric(name="ChainsNotVerified", unit="Count", value=len(broken))
        logger.warning("chains not verified", extra={"chains": broken})
    page = ChainPage(items=items, total=len(chains), next_token=token)
    return json_response(200, page.wire())


@router.get(
    "/audit/replays",
    summary="Replay a service's decisions of a period from their records; a page at a time",
    operation_id="replayAuditDecisions",
    responses={
        200: {"description": "Replays", "content": {"application/json": {"model": ReplayPage}}},
        **errors([400, *_ERRORS], {404: "Unknown service"}),
    },
    security=_SECURITY,
    tags=_TAGS,
)
def replay_audit_decisions(
    service_id: ServiceId,
    start: From,
    end: To,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    next_token: NextToken = None,
) -> Response[str]:
    _auditor(service_id)
    deps = _deps()
    service = find(service_id)
    page = replay_page(deps.audit, service, required_period(start, end), limit, next_token)
    mismatched = [i.decision_id for i in page.items if i.status == "MISMATCH"]
    if mismatched:
        metrics.add_metric(name="ReplayMismatches", unit="Count", value=len(mismatched))
        logger.warning("decisions not reproduced", extra={"decisionIds": mismatched})
    return json_response(200, page.wire())


@router.post(
    "/audit/what-if",
    summary="Run a candidate rule set over a service's stored applications of a period "
    "(writes nothing); a page at a time",
    operation_id="runAuditWhatIf",
    openapi_extensions=request_body(WhatIfRequest, "The service, the period and the candidate"),
    responses={
        200: {"description": "Transitions", "content": {"application/json": {"model": WhatIfPage}}},
        **errors(
            [400, 401, 403, 413, 415, 503],
            {404: "Unknown service", 422: "The candidate does not load, or invalid fields"},
        ),
    },
    security=_SECURITY,
    tags=_TAGS,
)
def run_audit_what_if() -> Response[str]:
    _auditor()
    deps = _deps()
    request = _what_if_request(json_body(router, deps.settings.max_body_bytes))
    _auditor(request.service_id)
    service = find(request.service_id)
    candidate = load_candidate(service, request.rule_set)
    page = what_if_page(
        deps.audit,
        service,
        candidate,
        required_period(request.start, request.end),
        request.limit,
        request.next_token,
    )
    logger.info("what-if page", extra={"candidate": candidate.hash, "evaluated": page.evaluated})
    return json_response(200, page.wire())


def _covers(auditor: Identity, service_id: str) -> bool:
    """Whether the auditor's roles cover a recorded decision's service (one no longer published
    is covered city-wide only)."""
    try:
        return auditor.may(AUDITOR, find(service_id).authority_id)
    except UnknownService:
        return auditor.may(AUDITOR, EVERY_AUTHORITY)


def _subject(value: str) -> str:
    try:
        return normalize(("cn.ric", "cn.uscc"), value)
    except IdentifierInvalid:
        raise UnprocessableEntity(
            "X-Subject-Id is not a resident ID number or a unified social credit code",
            [{"field": "X-Subject-Id", "code": "invalid"}],
        ) from None


def _what_if_request(body: object) -> WhatIfRequest:
    return parse_body(WhatIfRequest, body, "what-if request")
