"""What the generated requests (tests/e2e/test_contract_fuzz.py) found, one test each, through
the handlers: answers the document did not promise."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import ROOT, Invoke, Stack, staff

AUDITOR = staff("44444444-aaaa-bbbb-cccc-000000000004", "auditor:*")
REVIEWER = staff("33333333-aaaa-bbbb-cccc-000000000003", "reviewer:*")
ELDERLY = "elderly-allowance"


def audit_get(invoke: Invoke, resource: str, query: dict[str, str]) -> dict[str, Any]:
    return invoke("AuditFunction", "GET", resource, resource, query=query, caller=AUDITOR)


@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01", "0001-01-01"), ("0001-01-01", "0001-12-31"), ("9999-12-31", "9999-12-31")],
)
@pytest.mark.parametrize("resource", ["/audit/stats", "/audit/replays", "/audit/chains"])
def test_a_period_at_the_ends_of_the_calendar_is_invalid_not_an_error(
    stack: Stack, invoke: Invoke, resource: str, start: str, end: str
) -> None:
    # Given a period a date type holds but no decision can have (found: 500, OverflowError)
    query = {"serviceId": ELDERLY, "from": start, "to": end}
    # When an auditor asks about it
    answer = audit_get(invoke, resource, query)
    # Then it is a 422 naming the field, in the error object
    assert answer["statusCode"] == 422, answer["json"]
    assert answer["json"]["error"]["details"][0]["field"] in ("from", "to")


def test_a_what_if_over_a_period_at_the_ends_of_the_calendar_is_invalid(
    stack: Stack, invoke: Invoke
) -> None:
    # Given a what-if of a candidate that loads, over a period that starts in year 1
    candidate = (ROOT / "infra/whatif/elderly-allowance-minimum-age-85-overrides.yaml").read_text()
    body = {"serviceId": ELDERLY, "from": "0001-01-01", "to": "0001-01-02", "ruleSet": candidate}
    # When an auditor runs it
    answer = invoke(
        "AuditFunction", "POST", "/audit/what-if", "/audit/what-if", body=body, caller=AUDITOR
    )
    # Then it is refused as invalid, not a server error
    assert answer["statusCode"] == 422, answer["json"]


@pytest.mark.parametrize(
    ("function_id", "resource", "caller", "query"),
    [
        ("ReviewsFunction", "/reviews", REVIEWER, {"serviceId": ""}),
        ("AuditFunction", "/audit/decisions", AUDITOR, {"serviceId": "", "decider": "x"}),
    ],
)
def test_an_empty_service_id_is_no_service_rather_than_every_service(
    stack: Stack,
    invoke: Invoke,
    function_id: str,
    resource: str,
    caller: dict[str, str],
    query: dict[str, str],
) -> None:
    # Given a filter by service whose value is empty (found: answered as if no filter)
    # When a reviewer's queue or an auditor's list is asked for with it
    answer = invoke(function_id, "GET", resource, resource, query=query, caller=caller)
    # Then it is an unknown service, as the document's list of services says
    assert answer["statusCode"] == 404, answer["json"]
    assert answer["json"]["error"]["details"] == [{"field": "serviceId", "code": "unknown"}]


@pytest.mark.parametrize("name", ["outcom", ""])
def test_a_query_parameter_the_operation_does_not_take_is_refused(
    stack: Stack, invoke: Invoke, name: str
) -> None:
    # Given an auditor's question with a misspelt filter (found: `?=null` answered 200, the
    # parameter ignored, so `outcom=REJECTED` would list every outcome)
    query = {"serviceId": ELDERLY, "from": "2026-11-01", "to": "2026-11-07", name: "REJECTED"}
    # When it is asked
    answer = audit_get(invoke, "/audit/decisions", query)
    # Then it is refused with the parameter named, rather than answered more widely
    assert answer["statusCode"] == 422, answer["json"]
    assert answer["json"]["error"]["details"] == [
        {"field": name or "(query)", "code": "unknown_parameter"}
    ]
    # And the documented parameters alone still answer
    del query[name]
    assert audit_get(invoke, "/audit/decisions", query)["statusCode"] == 200
