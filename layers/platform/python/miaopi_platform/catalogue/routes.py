"""The public catalogue: services, their forms as JSON Schema, and the rules in force."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from miaopi.engine import parameters_on
from miaopi.forms import json_schema
from miaopi.model import RuleSet, ServiceDefinition
from miaopi.workdays import CHINA

from miaopi_platform.aws.api import Localized, errors
from miaopi_platform.aws.errors import NotFound
from miaopi_platform.aws.http import json_response
from miaopi_platform.catalogue.services import all_services, find
from miaopi_platform.catalogue.views import (
    EvidenceView,
    RuleSetRef,
    RuleSetView,
    ServiceDetail,
    ServiceList,
    ServiceSummary,
)

router = Router()


def _today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def _summary(service: ServiceDefinition, on: dt.date) -> ServiceSummary:
    spec = service.file
    rule_set = service.rule_set_on(on)
    return ServiceSummary.model_validate(
        {
            "service_id": service.id,
            "name": spec.name.model_dump(),
            "authority": spec.authority.model_dump(),
            "description": spec.description.model_dump(),
            "sla_working_days": spec.sla_working_days,
            "certificate_kind": spec.certificate.kind,
            "rule_set": RuleSetRef(
                version=rule_set.version, effective_from=rule_set.effective_from, hash=rule_set.hash
            )
            if rule_set
            else None,
        }
    )


@router.get(
    "/services",
    summary="Every service that decides in seconds",
    operation_id="listServices",
    tags=["Catalogue"],
    responses={
        200: {
            "description": "The services",
            "content": {"application/json": {"model": ServiceList}},
        }
    },
)
def list_services() -> Response[str]:
    today = _today()
    items = [_summary(s, today) for s in all_services().values()]
    return json_response(200, ServiceList(items=items).wire())


@router.get(
    "/services/<serviceId>",
    summary="A service with its application form's JSON Schema",
    operation_id="getService",
    tags=["Catalogue"],
    responses={
        200: {
            "description": "The service",
            "content": {"application/json": {"model": ServiceDetail}},
        },
        **errors([422], {404: "Unknown service"}),
    },
)
def get_service(
    service_id: Annotated[str, Path(alias="serviceId", max_length=64)],
) -> Response[str]:
    service = find(service_id)
    detail = ServiceDetail(
        **dict(_summary(service, _today())),
        form_schema=json_schema(service.form_model, service.file.name.en),
        evidence=[
            EvidenceView(alias=e.alias, source=e.source, title=Localized(**e.title.model_dump()))
            for e in service.evidence.values()
        ],
    )
    return json_response(200, detail.wire())


def rule_set_view(service: ServiceDefinition, rule_set: RuleSet, on: dt.date) -> RuleSetView:
    spec = rule_set.file
    values = parameters_on(rule_set, on)
    texts = {rule.id: rule.texts_on(on) for rule in rule_set.rules}  # parameters filled for `on`
    return RuleSetView.model_validate(
        {
            "service_id": service.id,
            "date": on,
            "version": rule_set.version,
            "effective_from": rule_set.effective_from,
            "hash": rule_set.hash,
            "rules": [
                {
                    "rule_id": r.id,
                    "title": texts[r.id].title.model_dump(),
                    "reason": texts[r.id].reason.model_dump(),
                    "remedy": texts[r.id].remedy.model_dump(),
                    "legal_basis": r.legal_basis.model_dump(),
                    "on_fail": r.on_fail,
                    "when": r.when,
                    "condition": r.condition,
                }
                for r in spec.rules
            ],
            "parameters": [
                {
                    "name": name,
                    "title": p.title.model_dump(),
                    "unit": p.unit,
                    "value": values.get(name),
                    "legal_basis": p.legal_basis.model_dump(),
                }
                for name, p in spec.parameters.items()
            ],
            "tables": [
                {
                    "name": name,
                    "title": t.title.model_dump(),
                    "hit_policy": t.hit_policy,
                    "legal_basis": t.legal_basis.model_dump(),
                    "inputs": [i.model_dump(by_alias=True) for i in t.inputs],
                    "outputs": [o.model_dump(by_alias=True) for o in t.outputs],
                    "rows": t.rows,
                }
                for name, t in spec.tables.items()
            ],
            "notes": [
                {"id": n.id, "text": n.text.model_dump(), "legal_basis": n.legal_basis.model_dump()}
                for n in spec.notes
            ],
        }
    )


@router.get(
    "/services/<serviceId>/rules",
    summary="The rule set in force on a date",
    operation_id="getServiceRules",
    tags=["Catalogue"],
    responses={
        200: {
            "description": "The rule set",
            "content": {"application/json": {"model": RuleSetView}},
        },
        **errors([422], {404: "Unknown service, or no rule set in force that day"}),
    },
)
def get_rules(
    service_id: Annotated[str, Path(alias="serviceId", max_length=64)],
    date: Annotated[
        dt.date | None, Query(description="YYYY-MM-DD; today in Shenzhen if absent")
    ] = None,
) -> Response[str]:
    service = find(service_id)
    on = date or _today()
    rule_set = service.rule_set_on(on)
    if rule_set is None:
        raise NotFound(f"no rule set of {service_id} is in force on {on.isoformat()}")
    return json_response(200, rule_set_view(service, rule_set, on).wire())
