"""Reading applications (own only, paginated) and the public catalogue."""

from __future__ import annotations

import base64
import json

import pytest
from miaopi.loader import load_catalogue
from miaopi_rules import SERVICES_DIR
from openapi_spec_validator import validate

from tests.integration.conftest import CITIZEN, OTHER, Invoke, Stack
from tests.integration.test_submit_handler import submit


def _list(invoke: Invoke, caller: dict[str, str], **query: str) -> dict:  # type: ignore[type-arg]
    return invoke(
        "ApplicationsFunction", "GET", "/applications", "/applications", caller=caller, query=query
    )


def test_applicants_see_only_their_own_applications(stack: Stack, invoke: Invoke) -> None:
    # Given one application by the citizen
    persona = stack.persona("elderly-allowance", "APPROVED", [])
    created = submit(invoke, stack, persona.application)["json"]
    path = f"/applications/{created['applicationId']}"
    params = {"applicationId": created["applicationId"]}
    # When its owner and another applicant read it
    mine = invoke(
        "ApplicationsFunction",
        "GET",
        "/applications/{applicationId}",
        path,
        path_parameters=params,
        caller=CITIZEN,
    )
    theirs = invoke(
        "ApplicationsFunction",
        "GET",
        "/applications/{applicationId}",
        path,
        path_parameters=params,
        caller=OTHER,
    )
    # Then the owner sees it and the other gets 404, as if it did not exist
    assert mine["statusCode"] == 200 and mine["json"]["applicationId"] == created["applicationId"]
    assert "applicantId" not in mine["json"] and "requestHash" not in mine["json"]
    assert theirs["statusCode"] == 404
    assert _list(invoke, OTHER)["json"]["items"] == []


def test_listing_pages_through_every_application_once(stack: Stack, invoke: Invoke) -> None:
    persona = stack.persona("elderly-allowance", "APPROVED", [])
    ids = {
        submit(invoke, stack, persona.application, key=f"key-page-{i:04d}")["json"]["applicationId"]
        for i in range(5)
    }
    seen: list[str] = []
    token: str | None = None
    while True:
        query = {"limit": "2"} | ({"nextToken": token} if token else {})
        page = _list(invoke, CITIZEN, **query)["json"]
        seen += [item["applicationId"] for item in page["items"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize(
    "start",
    [
        {"applicantId": {"S": "someone-else"}},
        {
            "applicantId": {"S": CITIZEN["principalId"]},
            "applicationId": {"N": "1"},
            "submittedAt": {"S": "x"},
        },
        {"applicantId": {"S": CITIZEN["principalId"]}, "extra": {"S": "x"}},
    ],
)
def test_a_forged_next_token_is_400(stack: Stack, invoke: Invoke, start: dict) -> None:  # type: ignore[type-arg]
    token = base64.urlsafe_b64encode(json.dumps(start).encode()).decode().rstrip("=")
    response = _list(invoke, CITIZEN, nextToken=token)
    assert response["statusCode"] == 400
    assert response["json"]["error"]["details"] == [{"field": "nextToken", "code": "invalid"}]


def test_garbage_next_token_is_400(stack: Stack, invoke: Invoke) -> None:
    assert _list(invoke, CITIZEN, nextToken="%%%not-base64")["statusCode"] == 400


def test_catalogue_lists_every_service_with_its_rule_set(stack: Stack, invoke: Invoke) -> None:
    body = invoke("CatalogueFunction", "GET", "/services", "/services")["json"]
    listed = [item["serviceId"] for item in body["items"]]
    assert sorted(listed) == sorted(load_catalogue(SERVICES_DIR))
    assert all(item["ruleSet"]["hash"].startswith("sha256:") for item in body["items"])


def test_a_service_publishes_its_form_as_json_schema(stack: Stack, invoke: Invoke) -> None:
    body = invoke(
        "CatalogueFunction",
        "GET",
        "/services/{serviceId}",
        "/services/graduate-hukou",
        path_parameters={"serviceId": "graduate-hukou"},
    )["json"]
    schema = body["formSchema"]
    assert schema["type"] == "object" and "idNumber" in schema["properties"]
    assert "idNumber" in schema["required"]


def test_rules_in_force_on_a_date(stack: Stack, invoke: Invoke) -> None:
    def rules(date: str) -> dict:  # type: ignore[type-arg]
        return invoke(
            "CatalogueFunction",
            "GET",
            "/services/{serviceId}/rules",
            "/services/elderly-allowance/rules",
            query={"date": date},
            path_parameters={"serviceId": "elderly-allowance"},
        )

    body = rules("2026-11-27")["json"]
    assert body["version"] == "2024.1" and body["effectiveFrom"] == "2024-01-01"
    assert {r["ruleId"] for r in body["rules"]} >= {"EA-AGE", "EA-CREDIT"}
    assert body["parameters"][0]["legalBasis"]["illustrative"] is True
    assert rules("2020-01-01")["statusCode"] == 404
    assert rules("not-a-date")["statusCode"] == 422


def test_openapi_document_is_valid_and_complete(stack: Stack, invoke: Invoke) -> None:
    # Given every route template.yaml gives the API (each service's submit route its own)
    routed = {
        (route.method.lower(), route.path)
        for function in stack.deployment.functions.values()
        for route in function.api_routes
    }
    # When the API's OpenAPI document is fetched
    spec = invoke("CatalogueFunction", "GET", "/openapi.json", "/openapi.json")["json"]
    # Then it is valid and documents every route but the document and its page themselves, and
    # the catalogue's answer to a submission to a service that does not exist (always a 404)
    validate(spec)
    assert spec["servers"] == [{"url": "/v1"}]
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert routed - documented == {
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("post", "/services/{serviceId}/applications"),
    }
    assert documented <= routed
    page = invoke("CatalogueFunction", "GET", "/docs", "/docs")
    assert page["statusCode"] == 200 and "swagger-ui" in page["body"]
