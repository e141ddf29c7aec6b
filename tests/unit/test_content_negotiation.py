"""What a client's Accept header gets, and the address a printed link points at."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from miaopi_platform.aws.http import JSON, preferred, public_base_url

from infra.local.events import api_gateway_event

PDF = "application/pdf"


def router_for(headers: list[tuple[str, str]], stage: str = "v1") -> Router:
    router = Router()
    event: dict[str, Any] = api_gateway_event(
        method="GET",
        resource="/applications/{applicationId}/certificate",
        path="/applications/APP1/certificate",
        headers=headers,
        stage=stage,
    )
    router.current_event = APIGatewayProxyEvent(event)
    return router


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/pdf", PDF),
        ("Application/PDF", PDF),
        ("application/json, application/pdf", JSON),
        ("application/json;q=0.5, application/pdf", PDF),
        ("application/pdf;q=0, application/json", JSON),
        ("application/pdf;q=0", JSON),
        ("text/html", JSON),
        ("application/pdf;q=bad, application/json", JSON),
    ],
)
def test_the_accept_header_chooses_the_pdf_only_when_the_client_prefers_it(
    accept: str | None, chosen: str
) -> None:
    # Given a request with this Accept header
    router = router_for([("Accept", accept)] if accept is not None else [])
    # When the route picks between JSON (its default) and a PDF
    # Then it gets what the client prefers most, JSON when it says nothing of either
    assert preferred(router, (JSON, PDF)) == chosen


def test_a_printed_link_points_at_the_address_and_stage_the_caller_reached() -> None:
    # Given a request through API Gateway's own domain (its stage in the path) over https
    router = router_for([("Host", "abc.execute-api.cn-north-1.amazonaws.com.cn")])
    # Then links are made under that domain and stage, https by default
    assert public_base_url(router) == "https://abc.execute-api.cn-north-1.amazonaws.com.cn/v1"
    # And through the local gateway (plain http, its X-Forwarded-Proto says so), no stage
    local = router_for([("Host", "127.0.0.1:8080"), ("X-Forwarded-Proto", "http")], stage="")
    assert public_base_url(local) == "http://127.0.0.1:8080"
