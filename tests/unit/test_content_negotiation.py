"""What a client's Accept header gets, and the address a printed link points at."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from miaopi_platform.aws.http import first_accepted, public_base_url

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
    ("accept", "pdf"),
    [
        (None, False),
        ("*/*", False),
        ("application/pdf", True),
        ("Application/PDF", True),
        ("application/pdf;q=0.9, application/json", True),
        ("application/json, application/pdf", False),
        # preferred by q, but not first: API Gateway would send the bytes as base64 text
        ("application/json;q=0.5, application/pdf", False),
        ("application/pdf;q=0, application/json", False),
        ("application/pdf;q=bad", False),
        ("text/html", False),
    ],
)
def test_a_pdf_is_chosen_only_when_the_first_accepted_type_is_pdf(
    accept: str | None, pdf: bool
) -> None:
    # Given a request with this Accept header
    router = router_for([("Accept", accept)] if accept is not None else [])
    # When the route decides whether to answer with the PDF (bytes API Gateway must decode)
    # Then only a first accepted type of application/pdf gets it: anything else gets JSON
    assert (first_accepted(router) == PDF) is pdf


def test_a_printed_link_points_at_the_address_and_stage_the_caller_reached() -> None:
    # Given a request through API Gateway's own domain (its stage in the path) over https
    router = router_for([("Host", "abc.execute-api.cn-north-1.amazonaws.com.cn")])
    # Then links are made under that domain and stage, https by default
    assert public_base_url(router) == "https://abc.execute-api.cn-north-1.amazonaws.com.cn/v1"
    # And through the local gateway (plain http, its X-Forwarded-Proto says so), no stage
    local = router_for([("Host", "127.0.0.1:8080"), ("X-Forwarded-Proto", "http")], stage="")
    assert public_base_url(local) == "http://127.0.0.1:8080"
    # And a forwarded scheme other than http or https is not trusted into a printed link
    odd = router_for([("Host", "api.example.cn"), ("X-Forwarded-Proto", "javascript")])
    assert public_base_url(odd) == "https://api.example.cn/v1"
