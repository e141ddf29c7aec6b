"""The OpenAPI document as a client generator reads it: bodies, errors, security, names.

The e2e fuzzer (tests/e2e/test_contract_fuzz.py) checks the API answers what this document
says; these tests check the document says enough for a client to be built from it alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from miaopi.identifiers import KINDS
from miaopi_platform.aws.api import ErrorBody
from miaopi_platform.catalogue.services import all_services
from miaopi_platform.openapi import document
from openapi_spec_validator import validate

from infra.local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
METHODS_WITH_BODY = {"post", "put", "patch"}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document()


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    # Given the document every function serves / When validated / Then it is OpenAPI 3.1
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_operation_ids_are_readable_and_unique(spec: dict[str, Any]) -> None:
    # Given every operation of the document
    ids = [op["operationId"] for _m, _p, op in operations(spec)]
    # Then each id is a lower camel case verb phrase, not a generated path-and-method name
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", i)] == []
    assert {"submitElderlyAllowanceApplication", "listReviews", "decideReview"} <= set(ids)


def test_every_body_a_route_reads_is_described(spec: dict[str, Any]) -> None:
    # Given the operations that take a body
    with_body = [(m, p, op) for m, p, op in operations(spec) if m in METHODS_WITH_BODY]
    assert len(with_body) >= 10
    for method, path, op in with_body:
        # Then each documents a required JSON body whose schema is a named component
        body = op.get("requestBody")
        assert body and body["required"], (method, path)
        schema = resolve(spec, body["content"]["application/json"]["schema"])
        assert schema["type"] == "object" and schema["properties"], (method, path)
    # And a reviewer's decision says which decisions there are
    decide = spec["paths"]["/reviews/{taskId}/decision"]["post"]["requestBody"]
    decision = resolve(spec, decide["content"]["application/json"]["schema"])
    assert decision["properties"]["decision"]["enum"] == ["APPROVE", "REJECT", "VALID", "INVALID"]
    assert decision["additionalProperties"] is False


def test_each_service_is_submitted_with_its_own_form(spec: dict[str, Any]) -> None:
    # Given the elderly allowance's submit operation
    op = spec["paths"]["/services/elderly-allowance/applications"]["post"]
    form = resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
    # Then its body is that service's form, and the idempotency key is a required header
    assert {"idNumber", "name", "bankCardNumber", "phone"} <= set(form["required"])
    headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
    assert headers["Idempotency-Key"]["required"] is True
    assert "/services/{serviceId}/applications" not in spec["paths"]


def test_identifier_fields_say_their_check_digit_rules(spec: dict[str, Any]) -> None:
    # Given every identifier field of every form in the document
    fields = [
        field
        for schema in spec["components"]["schemas"].values()
        for field in schema.get("properties", {}).values()
        if "x-identifier-kinds" in field
    ]
    assert len(fields) >= 10
    for field in fields:
        # Then its description states each accepted kind's rule, where a generator puts it
        for kind in field["x-identifier-kinds"]:
            assert KINDS[kind].rule in field["description"]
    ric = KINDS["cn.ric"].rule
    assert "check character" in ric and "MOD 11-2" in ric


def test_every_error_status_answers_the_error_object(spec: dict[str, Any]) -> None:
    # Given every documented response
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            # Then an error is the API's error object, never a string or Powertools' own shape
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    error = spec["components"]["schemas"]["ErrorInfo"]
    assert set(error["required"]) == {"code", "message"}
    assert error["properties"]["details"]["items"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_statuses_follow_what_an_operation_does(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        statuses = set(op["responses"])
        # Then a signed-in operation can answer 401; one that needs a role, 403
        for requirement in op.get("security", []):
            assert "401" in statuses, (method, path)
            if any(requirement.values()):
                assert "403" in statuses, (method, path)
        # And one that reads a body can answer malformed (400), too large (413), invalid (422)
        if method in METHODS_WITH_BODY:
            assert {"400", "413", "422"} <= statuses, (method, path)
        # And one backed by DynamoDB says a dependency may be down (503, with Retry-After)
        if op.get("security"):
            assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)


def test_the_security_scheme_is_a_bearer_jwt_with_roles(spec: dict[str, Any]) -> None:
    # Given the document's security schemes
    schemes = spec["components"]["securitySchemes"]
    # Then there is one: an HTTP bearer JWT (the identity platform's token)
    assert [s["type"] + "/" + s["scheme"] for s in schemes.values()] == ["http/bearer"]
    assert next(iter(schemes.values()))["bearerFormat"] == "JWT"
    # And each staff operation names the role it needs
    roles = {
        path: op["security"][0]["bearerAuth"]
        for _m, path, op in operations(spec)
        if op.get("security")
    }
    assert roles["/reviews"] == ["reviewer"]
    assert roles["/audit/what-if"] == ["auditor"]
    assert roles["/credit-list/entries"] == ["admin"]
    assert roles["/applications"] == []
    assert "security" not in spec["paths"]["/services"]["get"]


def test_a_service_id_a_client_sends_is_one_of_the_published_services(
    spec: dict[str, Any],
) -> None:
    # Given the services the rules data publishes
    published = sorted(all_services())
    assert len(published) >= 6
    # Then every serviceId parameter and body field offers exactly those
    offered = []
    for _m, _p, op in operations(spec):
        offered += [p["schema"] for p in op.get("parameters", []) if p["name"] == "serviceId"]
    offered.append(spec["components"]["schemas"]["WhatIfRequest"]["properties"]["serviceId"])
    assert len(offered) >= 8
    for schema in offered:
        choices = [o["enum"] for o in schema.get("anyOf", [schema]) if "enum" in o]
        assert choices == [published]


def test_what_api_gateway_answers_itself_is_the_error_object_too() -> None:
    # Given the API's gateway responses in template.yaml (no token, throttled, a failed function)
    api = load_yaml(ROOT / "template.yaml")["Resources"]["MiaopiApi"]["Properties"]
    responses = api["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response in responses.values():
        # When API Gateway fills in its context (messageString comes quoted)
        template = response["ResponseTemplates"]["application/json"]
        body = template.replace("$context.error.responseType", "UNAUTHORIZED")
        body = body.replace("$context.error.messageString", '"Unauthorized"')
        # Then the body is the error object the document promises
        error = ErrorBody.model_validate(json.loads(body)).error
        if "$context.error.responseType" in template:
            assert (error.code, error.message, error.details) == (
                "UNAUTHORIZED",
                "Unauthorized",
                [],
            )
    # And an authorizer that could not check a token is a 503 to retry, not a 401
    failure = responses["AUTHORIZER_FAILURE"]
    assert failure["StatusCode"] == "503"
    assert failure["ResponseParameters"]["Headers"]["Retry-After"] == "'2'"
    assert json.loads(failure["ResponseTemplates"]["application/json"])["error"]["code"] == (
        "SERVICE_UNAVAILABLE"
    )
