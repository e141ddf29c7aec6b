"""The submit function in process: validate -> evidence -> decide -> one atomic write."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from miaopi.loader import load_catalogue
from miaopi.workdays import CHINA
from miaopi_rules import SERVICES_DIR

from tests.integration.conftest import CITIZEN, Invoke, Stack

SERVICE = "elderly-allowance"
RESOURCE = "/services/{serviceId}/applications"
#: `submit`'s default caller: whom the application is for, signed in as the citizen's account
FOR_THEMSELVES: Any = object()


def function_of(stack: Stack, service_id: str) -> str:
    return next(fid for fid, f in stack.deployment.functions.items() if f.service_id == service_id)


def submit(
    invoke: Invoke,
    stack: Stack,
    application: Any,
    key: str = "key-00000001",
    service_id: str = SERVICE,
    **extra: Any,
) -> dict[str, Any]:
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    headers.update(extra.pop("headers", {}))
    if extra.get("caller", FOR_THEMSELVES) is FOR_THEMSELVES:
        extra["caller"] = stack.applicant(service_id, _form_of(application, extra))
    return invoke(
        function_of(stack, service_id) if "function" not in extra else extra.pop("function"),
        "POST",
        RESOURCE,
        f"/services/{service_id}/applications",
        body=application if "raw_body" not in extra else None,
        headers=headers,
        path_parameters={"serviceId": service_id},
        caller=extra.pop("caller", FOR_THEMSELVES),
        **extra,
    )


def _form_of(application: Any, extra: dict[str, Any]) -> Any:
    """The form a request carries: the application, or the raw body's JSON if it is one."""
    if application is not None or "raw_body" not in extra:
        return application
    try:
        return json.loads(extra["raw_body"])
    except (TypeError, ValueError, RecursionError):
        return None


def test_clean_application_is_approved_and_recorded_once(stack: Stack, invoke: Invoke) -> None:
    # Given a clean elderly-allowance persona
    persona = stack.persona(SERVICE, "APPROVED", [])
    # When the citizen submits it
    response = submit(invoke, stack, persona.application)
    # Then it is approved in the same request, with a certificate and the rule set's identity
    assert response["statusCode"] == 201
    body = response["json"]
    assert body["status"] == "APPROVED"
    assert body["certificate"]["number"].startswith("GLJT")
    service = load_catalogue(SERVICES_DIR)[SERVICE]
    in_force = service.rule_set_on(dt.datetime.now(CHINA).date())
    assert in_force is not None and body["decision"]["ruleSetVersion"] == in_force.version
    assert body["decision"]["ruleSetHash"].startswith("sha256:")
    assert body["outputs"]["monthlyAmount"] in ("200.00", "400.00", "1000.00")
    # And one application and one immutable decision record are written
    (application,) = stack.items("APPLICATIONS_TABLE")
    (decision,) = stack.items("DECISIONS_TABLE")
    assert application["applicationId"]["S"] == body["applicationId"]
    assert decision["decisionId"]["S"] == body["decision"]["decisionId"]
    trace = decision["trace"]["L"]
    # every rule passes, but those that do not apply (no agent named: EA-AGENT-HOUSEHOLD)
    assert {t["M"]["result"]["S"] for t in trace} <= {"PASS", "NOT_APPLICABLE"}
    assert "PASS" in {t["M"]["result"]["S"] for t in trace}
    assert set(decision["evidence"]["M"]) == set(service.evidence)


def test_identifiers_are_hashed_and_masked_in_the_application(stack: Stack, invoke: Invoke) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    response = submit(invoke, stack, persona.application)
    id_number = persona.application["idNumber"]
    # The response and the application item show masked identifiers only
    assert id_number not in response["body"]
    assert response["json"]["form"]["idNumber"].startswith(id_number[:3] + "*")
    (application,) = stack.items("APPLICATIONS_TABLE")
    assert id_number not in json.dumps(application, ensure_ascii=False)
    assert len(application["subjectHash"]["S"]) == 64


def test_personal_data_never_reaches_the_logs(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function's log stream captured as Lambda would ship it
    from miaopi_platform.aws.observability import logger

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    persona = stack.persona(SERVICE, "PENDING_REVIEW", ["EA-BANK"])
    submit(invoke, stack, persona.application)
    number = persona.application["idNumber"]
    bad = dict(persona.application, idNumber=number[:-1] + ("1" if number[-1] == "0" else "0"))
    assert submit(invoke, stack, bad, key="key-00000002")["statusCode"] == 422
    logs = stream.getvalue()
    assert "application decided" in logs
    for value in (
        persona.application["idNumber"],
        persona.application["name"],
        persona.application["bankCardNumber"],
        persona.application["phone"],
        bad["idNumber"],
    ):
        assert value not in logs


def test_referral_shows_the_reason_and_a_due_date(stack: Stack, invoke: Invoke) -> None:
    persona = stack.persona(SERVICE, "PENDING_REVIEW", ["EA-BANK"])
    body = submit(invoke, stack, persona.application)["json"]
    assert body["status"] == "PENDING_REVIEW"
    (reason,) = body["decision"]["reasons"]
    assert reason["ruleId"] == "EA-BANK" and reason["onFail"] == "REFER"
    assert reason["message"]["zh"] and reason["remedy"]["en"] and reason["legalBasis"]["citation"]
    assert body["review"]["dueBy"] > body["submittedAt"][:10]
    assert "certificate" not in body
    # And nothing is shown as granted while it is pending (no allowance, no first month)
    assert not body.get("outputs")


def test_sources_down_refer_the_application(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the data-sharing platform throttling every read
    persona = stack.persona(SERVICE, "APPROVED", [])
    module = stack.module(function_of(stack, SERVICE))

    def down(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException"}}, "BatchGetItem"
        )

    monkeypatch.setattr(module.dependencies.dynamodb, "batch_get_item", down)
    # When submitted
    body = submit(invoke, stack, persona.application)["json"]
    # Then nothing passes on missing evidence: the case goes to a reviewer
    assert body["status"] == "PENDING_REVIEW"
    assert {r["result"] for r in body["decision"]["reasons"]} == {"EVIDENCE_MISSING"}


def test_a_transaction_that_fails_halfway_writes_nothing(stack: Stack, invoke: Invoke) -> None:
    # Given a decision record already at the id this submission's decision will take, so the
    # transaction's second Put fails its condition after the first (the application) succeeded
    from miaopi_platform.records.ids import application_id, decision_id

    persona = stack.persona(SERVICE, "APPROVED", [])
    module = stack.module(function_of(stack, SERVICE))
    hasher = module.dependencies.hasher
    app_id = application_id(hasher, CITIZEN["principalId"], SERVICE, "key-00000001")
    stack.clients.dynamodb.put_item(
        TableName=stack.table("DECISIONS_TABLE"),
        Item={"decisionId": {"S": decision_id(hasher, app_id, 1)}, "note": {"S": "in the way"}},
    )
    # When the application is submitted
    response = submit(invoke, stack, persona.application)
    # Then the client is told to retry, and the application's Put was rolled back with the rest
    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "2"
    assert stack.items("APPLICATIONS_TABLE") == []
    assert [i["note"]["S"] for i in stack.items("DECISIONS_TABLE")] == ["in the way"]


@pytest.mark.parametrize(
    "code,status",
    [("ProvisionedThroughputExceededException", 503), ("ValidationException", 500)],
)
def test_a_store_error_is_503_only_when_a_retry_can_cure_it(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, code: str, status: int
) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    module = stack.module(function_of(stack, SERVICE))

    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code}}, "TransactWriteItems")

    monkeypatch.setattr(module.dependencies.dynamodb, "transact_write_items", fail)
    response = submit(invoke, stack, persona.application)
    assert response["statusCode"] == status
    assert ("retry-after" in response["headers"]) == (status == 503)
    assert stack.items("APPLICATIONS_TABLE") == [] and stack.items("DECISIONS_TABLE") == []
    if status == 503:  # the write was answered with a refusal: the client is told so
        assert response["json"]["error"]["details"] == [{"code": code, "recorded": False}]


def test_same_key_and_body_returns_the_same_application(stack: Stack, invoke: Invoke) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    first = submit(invoke, stack, persona.application)
    again = submit(invoke, stack, persona.application)
    assert (first["statusCode"], again["statusCode"]) == (201, 200)
    assert again["json"]["applicationId"] == first["json"]["applicationId"]
    assert again["json"]["decision"] == first["json"]["decision"]
    assert len(stack.items("APPLICATIONS_TABLE")) == 1 and len(stack.items("DECISIONS_TABLE")) == 1


def test_the_same_application_written_differently_is_the_same_application(
    stack: Stack, invoke: Invoke
) -> None:
    # Given an application without an agent, submitted once
    persona = stack.persona(SERVICE, "APPROVED", [])
    without = {k: v for k, v in persona.application.items() if k != "agent"}
    first = submit(invoke, stack, without)
    # When it is sent again with the same key, the absent agent now an explicit null
    again = submit(invoke, stack, dict(without, agent=None))
    # Then it is the same application, not a conflict, and nothing more is written
    assert (first["statusCode"], again["statusCode"]) == (201, 200)
    assert again["json"]["applicationId"] == first["json"]["applicationId"]
    assert len(stack.items("APPLICATIONS_TABLE")) == 1


def test_same_key_with_another_body_is_a_conflict(stack: Stack, invoke: Invoke) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    submit(invoke, stack, persona.application)
    other = dict(persona.application, phone="13900139000")
    response = submit(invoke, stack, other)
    assert response["statusCode"] == 409
    assert response["json"]["error"]["code"] == "CONFLICT"
    assert len(stack.items("APPLICATIONS_TABLE")) == 1


@pytest.mark.parametrize(
    "change,field,code",
    [
        ({"idNumber": "BAD"}, "idNumber", "invalid_length"),
        ({"district": "NOWHERE"}, "district", "literal_error"),
        ({"name": 123}, "name", "string_type"),
        ({"unexpected": 1}, "unexpected", "extra_forbidden"),
    ],
)
def test_invalid_fields_get_422_one_entry_each_and_write_nothing(
    stack: Stack, invoke: Invoke, change: dict[str, Any], field: str, code: str
) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    response = submit(invoke, stack, {**persona.application, **change})
    assert response["statusCode"] == 422
    details = response["json"]["error"]["details"]
    assert [(d["field"], d["code"]) for d in details] == [(field, code)]
    assert stack.items("APPLICATIONS_TABLE") == [] and stack.items("DECISIONS_TABLE") == []


def test_a_wrong_check_digit_is_named_without_echoing_the_number(
    stack: Stack, invoke: Invoke
) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    number = persona.application["idNumber"]
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    response = submit(invoke, stack, {**persona.application, "idNumber": wrong})
    assert response["statusCode"] == 422
    assert response["json"]["error"]["details"][0]["code"] == "invalid_check_digit"
    assert wrong not in response["body"]


@pytest.mark.parametrize(
    "raw,status,code",
    [
        ("{not json", 400, "BAD_REQUEST"),
        ("", 400, "BAD_REQUEST"),
        ("x" * 70_000, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_malformed_and_oversize_bodies(
    stack: Stack, invoke: Invoke, raw: str, status: int, code: str
) -> None:
    response = submit(invoke, stack, None, raw_body=raw)
    assert response["statusCode"] == status
    assert response["json"]["error"]["code"] == code
    assert stack.items("APPLICATIONS_TABLE") == []


def test_a_missing_idempotency_key_is_named(stack: Stack, invoke: Invoke) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    response = invoke(
        function_of(stack, SERVICE),
        "POST",
        RESOURCE,
        f"/services/{SERVICE}/applications",
        body=persona.application,
        path_parameters={"serviceId": SERVICE},
        caller=CITIZEN,
    )
    assert response["statusCode"] == 422
    assert [d["field"] for d in response["json"]["error"]["details"]] == ["Idempotency-Key"]


def test_no_claims_is_401(stack: Stack, invoke: Invoke) -> None:
    persona = stack.persona(SERVICE, "APPROVED", [])
    response = submit(invoke, stack, persona.application, caller=None)
    assert response["statusCode"] == 401
    assert stack.items("APPLICATIONS_TABLE") == []


def test_unknown_service_is_404_from_the_catalogue(stack: Stack, invoke: Invoke) -> None:
    response = submit(
        invoke, stack, {"x": 1}, service_id="no-such-service", function="CatalogueFunction"
    )
    assert response["statusCode"] == 404
    assert response["json"]["error"]["code"] == "NOT_FOUND"


def test_every_service_decides_one_persona_of_each_outcome(stack: Stack, invoke: Invoke) -> None:
    services = {p.service_id for p in stack.personas}
    assert services == set(load_catalogue(SERVICES_DIR))
    for service_id in sorted(services):
        for outcome in ("APPROVED", "REJECTED", "PENDING_REVIEW"):
            persona = stack.persona(service_id, outcome)
            response = submit(
                invoke,
                stack,
                persona.application,
                key=f"k-{service_id}-{outcome}",
                service_id=service_id,
            )
            body = response["json"]
            assert (body["status"], sorted(r["ruleId"] for r in body["decision"]["reasons"])) == (
                outcome,
                persona.expected_failing,
            ), f"{service_id}: {persona.name}"
