"""POST /services/{serviceId}/applications — one function per service, bound by SERVICE_ID."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.metrics import MetricUnit
from miaopi.errors import UnknownService

from miaopi_platform.applications.capacity import Caller, IdentityCheck
from miaopi_platform.applications.flow import ApplicantPorts, submit
from miaopi_platform.aws.api import errors, signed_in
from miaopi_platform.aws.errors import DependencyUnavailable
from miaopi_platform.aws.http import json_body, json_response, public_base_url
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.identity.caller import identity
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

CounterIdentityCheck = Annotated[
    IdentityCheck | None,
    Header(
        alias="Counter-Identity-Check",
        description="At a service hall only (the `counter` role of the service's authority): how "
        "the clerk checked the identity of the person present, who applies for themselves or, when "
        "the form names an agent, as that agent. The records say channel COUNTER and the clerk.",
    ),
]


@router.post(
    "/services/<serviceId>/applications",
    summary="Submit an application and get its decision in the same request",
    description="The body is the service's application form (GET /services/{serviceId} "
    "publishes it as formSchema); the document lists one operation per service. The caller "
    "applies for themselves, as the agent the form names, for their enterprise or as its "
    "registered operator (the service's `applicants`), with real-name assurance L2 or higher; "
    "anyone else is refused with 403 and nothing is written. A grant is held once per subject: "
    "a second application while one is in force or being decided is REJECTED by a rule.",
    operation_id="submitApplication",
    responses={
        201: {
            "description": "Created and decided",
            "content": {"application/json": {"model": ApplicationView}},
        },
        200: {
            "description": "The same Idempotency-Key and body again: the application already "
            "created",
            "content": {"application/json": {"model": ApplicationView}},
        },
        **errors(
            [400, 401, 413, 415, 422],
            {
                403: "The caller may not submit this application: it is for someone they may not "
                "act for, their real-name assurance is below L2, or a counter submission lacks the "
                "counter role of the service's authority. Nothing is written",
                404: "Unknown service",
                409: "Idempotency-Key reused with another body, or no rule set in force",
                503: "A dependency is down or too slow: retry after Retry-After seconds. Each "
                "detail says whether the application was recorded: false, or 'unknown' (retry with "
                "the same Idempotency-Key: it returns the application if it was)",
            },
        ),
    },
    security=signed_in(),
    tags=["Applications"],
)
def submit_application(
    service_id: Annotated[str, Path(alias="serviceId")],
    idempotency_key: IdempotencyKey,
    identity_check: CounterIdentityCheck = None,
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
            Caller(identity(router), identity_check),
            idempotency_key,
            evidence=deps.evidence,
            store=deps.store,
            hasher=deps.hasher,
        )
    except DependencyUnavailable as exc:  # unless the write said otherwise: before it, nothing
        exc.saying_recorded(False)
        raise
    application = view(result.item, public_base_url(router))
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
                "channel": result.submission.submitted_by["channel"] if result.submission else None,
                "ruleSetVersion": application.decision.rule_set_version,
            },
        )
    return json_response(
        201 if result.created else 200,
        application.wire(),
        {"Location": f"/applications/{application.application_id}"},
    )
