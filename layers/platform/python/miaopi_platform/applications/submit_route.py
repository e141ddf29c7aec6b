"""POST /services/{serviceId}/applications — one function per service, bound by SERVICE_ID."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.metrics import MetricUnit
from miaopi.errors import UnknownService

from miaopi_platform.applications.flow import ApplicantPorts, submit
from miaopi_platform.aws.errors import DependencyUnavailable
from miaopi_platform.aws.http import caller_id, json_body, json_response
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.records.views import ApplicationView, view

router = Router()

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Client-chosen key: the same key and body again returns the same application",
    ),
]


@router.post(
    "/services/<serviceId>/applications",
    summary="Submit an application and get its decision in the same request",
    responses={
        201: {
            "description": "Created and decided",
            "content": {"application/json": {"model": ApplicationView}},
        },
        200: {"description": "The same key and body again: the application already created"},
        400: {"description": "Malformed JSON"},
        401: {"description": "Missing or bad token"},
        404: {"description": "Unknown service"},
        409: {"description": "Idempotency-Key reused with another body"},
        413: {"description": "Body too large"},
        415: {"description": "The body is not declared application/json"},
        422: {"description": "Invalid fields, one entry per field"},
        503: {
            "description": "A dependency is down or too slow; see Retry-After. Each detail says "
            "whether the application was recorded: false, or 'unknown' (retry with the same "
            "Idempotency-Key: it returns the application if it was)"
        },
    },
    security=[{"cognito": []}],
    tags=["Applications"],
)
def submit_application(
    service_id: Annotated[str, Path(alias="serviceId")],
    idempotency_key: IdempotencyKey,
) -> Response[str]:
    deps: ApplicantPorts = router.context["deps"]
    if service_id != deps.settings.service_id:
        raise UnknownService(service_id)
    service = router.context["service"]
    body = json_body(router, deps.settings.max_body_bytes)
    try:
        result = submit(
            service,
            body,
            caller_id(router),
            idempotency_key,
            evidence=deps.evidence,
            store=deps.store,
            hasher=deps.hasher,
        )
    except DependencyUnavailable as exc:  # unless the write said otherwise: before it, nothing
        exc.saying_recorded(False)
        raise
    application = view(result.item)
    if result.created:
        metrics.add_metric(
            name=f"Decided{application.status.title().replace('_', '')}",
            unit=MetricUnit.Count,
            value=1,
        )
        metrics.add_metric(
            name="DecisionLatency",
            unit=MetricUnit.Milliseconds,
            value=application.decision.latency_ms,
        )
        logger.info(
            "application decided",
            extra={
                "applicationId": application.application_id,
                "outcome": application.status,
                "failingRules": [r.rule_id for r in application.decision.reasons],
                "ruleSetVersion": application.decision.rule_set_version,
            },
        )
    return json_response(
        201 if result.created else 200,
        application.wire(),
        {"Location": f"/applications/{application.application_id}"},
    )
