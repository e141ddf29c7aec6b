"""Malformed and unwelcome input over the handlers: errors a person can act on, nesting that
would exhaust the stack, bodies that are not JSON, invisible characters in names, and identifiers
typed in full-width. Each answer is a 4xx in the API's error format and writes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from miaopi.workdays import CHINA

from tests.integration.conftest import Invoke, Stack, staff
from tests.integration.test_submit_handler import submit

ADMIN = staff("44444444-aaaa-bbbb-cccc-000000000004", "admin:*")
AUDITOR = staff("55555555-aaaa-bbbb-cccc-000000000005", "auditor:*")
REVIEWER = staff("33333333-aaaa-bbbb-cccc-000000000003", "reviewer:*")
ELDERLY = "elderly-allowance"
GRADUATE = "graduate-hukou"
_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")

#: every route that takes a body: (function, resource, path, path parameters, caller)
BODY_ROUTES: list[tuple[str, str, str, dict[str, str] | None, dict[str, Any]]] = [
    ("ReviewsFunction", "/reviews/{taskId}/decision", "/reviews/TSK1/decision",
     {"taskId": "TSK1"}, REVIEWER),
    ("CreditAdminFunction", "/credit-list/lookup", "/credit-list/lookup", None, ADMIN),
    ("CreditAdminFunction", "/credit-list/entries", "/credit-list/entries", None, ADMIN),
    ("CreditAdminFunction", "/credit-list/repair", "/credit-list/repair", None, ADMIN),
    ("AuditFunction", "/audit/what-if", "/audit/what-if", None, AUDITOR),
]  # fmt: skip


def post(
    invoke: Invoke,
    stack: Stack,
    route: tuple[str, str, str, dict[str, str] | None, dict[str, Any]] | None,
    raw: str,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """POST a raw body to a route (None: the elderly allowance's submit route)."""
    if route is None:
        return submit(invoke, stack, None, raw_body=raw, headers={"Content-Type": content_type})
    function, resource, path, params, caller = route
    return invoke(
        function,
        "POST",
        resource,
        path,
        raw_body=raw,
        headers={"Content-Type": content_type},
        path_parameters=params,
        caller=caller,
    )


def written(stack: Stack) -> list[dict[str, Any]]:
    return stack.items("APPLICATIONS_TABLE") + stack.items("DECISIONS_TABLE")


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The error object, checked to be in the API's format."""
    error: dict[str, Any] = answer["json"]["error"]
    assert set(error) == {"code", "message", "details"}
    return error


# ---------------------------------------------------------------- 6. errors a person can act on


def test_a_date_sent_as_a_number_says_which_field_and_what_it_expects(
    stack: Stack, invoke: Invoke
) -> None:
    # Given a graduate's application whose graduation date is sent as a Unix time
    persona = stack.persona(GRADUATE, "PENDING_REVIEW")
    application = {**persona.application, "graduationDate": 1_719_792_000}
    # When it is submitted
    answer = submit(invoke, stack, application, service_id=GRADUATE)
    # Then the one error names the field and the format it takes, in the API's words
    assert answer["statusCode"] == 422
    [detail] = error_of(answer)["details"]
    assert detail["field"] == "graduationDate"
    assert detail["message"] == "graduationDate: expected a date as YYYY-MM-DD"
    assert "1719792000" not in answer["body"]
    assert written(stack) == []


def test_request_parameters_and_bodies_say_what_they_expect(stack: Stack, invoke: Invoke) -> None:
    # Given an audit question with an impossible date, and a listing with a date as a number
    question = invoke(
        "AuditFunction",
        "GET",
        "/audit/decisions",
        "/audit/decisions",
        query={"serviceId": ELDERLY, "from": "2024-13-01", "to": "2024-12-31"},
        caller=AUDITOR,
    )
    listing = invoke(
        "CreditAdminFunction",
        "POST",
        "/credit-list/entries",
        "/credit-list/entries",
        body={
            "subjectId": stack.persona(ELDERLY, "APPROVED", []).application["idNumber"],
            "reasonCode": "OTHER",
            "reason": {"zh": "示意", "en": "illustrative"},
            "validUntil": 20991231,
        },
        caller=ADMIN,
    )
    # Then each is a 422 whose message names the field and the form it takes
    assert (question["statusCode"], listing["statusCode"]) == (422, 422)
    assert [d["message"] for d in error_of(question)["details"]] == [
        "from: expected a date as YYYY-MM-DD"
    ]
    assert [d["message"] for d in error_of(listing)["details"]] == [
        "validUntil: expected a date as YYYY-MM-DD"
    ]
    assert "20991231" not in listing["body"]


def test_an_unknown_key_is_refused_without_echoing_what_it_holds(
    stack: Stack, invoke: Invoke
) -> None:
    # Given an application with a mistyped field and a key that is an ID number
    persona = stack.persona(ELDERLY, "APPROVED", [])
    number = persona.application["idNumber"]
    application = {**persona.application, "nmae": "x", number: "x"}
    # When it is submitted
    answer = submit(invoke, stack, application)
    # Then the mistyped field is named, the ID number is not
    assert answer["statusCode"] == 422
    messages = sorted(d["message"] for d in error_of(answer)["details"])
    assert messages == [
        "(unknown field): not an accepted field",
        "nmae: not an accepted field",
    ]
    assert number not in answer["body"]


# ---------------------------------------------------------------- 10. deep nesting


@pytest.mark.parametrize("levels", [1_000, 20_000])
@pytest.mark.parametrize("route", [None, *BODY_ROUTES], ids=lambda r: r[1] if r else "submit")
def test_a_deeply_nested_body_is_a_400_on_every_route_that_takes_one(
    stack: Stack, invoke: Invoke, route: Any, levels: int
) -> None:
    # Given a body nested `levels` deep (20,000 levels fit in 64 KB)
    raw = '{"name": ' + "[" * levels + "]" * levels + "}"
    # When it is posted
    answer = post(invoke, stack, route, raw)
    # Then it is refused as malformed, in the error format, and nothing is written
    assert answer["statusCode"] == 400, answer["body"][:300]
    error = error_of(answer)
    assert error["code"] == "BAD_REQUEST" and "deeper than 32 levels" in error["message"]
    assert written(stack) == []


@pytest.mark.parametrize("what", ["/audit/decisions", "/audit/chains"])
def test_a_deeply_nested_page_token_is_a_400(stack: Stack, invoke: Invoke, what: str) -> None:
    # Given a nextToken of a 1,500-deep array, within the 4,096-character limit
    token = base64.urlsafe_b64encode(("[" * 1_500 + "]" * 1_500).encode()).decode().rstrip("=")
    assert len(token) <= 4_096
    today = dt.datetime.now(CHINA).date().isoformat()
    # When it is sent with an audit question
    answer = invoke(
        "AuditFunction",
        "GET",
        what,
        what,
        query={"serviceId": ELDERLY, "from": today, "to": today, "nextToken": token},
        caller=AUDITOR,
    )
    # Then it is an invalid token, not a server error
    assert answer["statusCode"] == 400
    assert error_of(answer)["details"] == [{"field": "nextToken", "code": "invalid"}]


# ---------------------------------------------------------------- 11. input hygiene


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("林\u0000兰秀", "unprintable_character"),  # NUL
        ("林兰秀\u202e", "unprintable_character"),  # right-to-left override
        ("林\u200b兰秀", "unprintable_character"),  # zero-width space
        ("林\u2066兰秀\u2069", "unprintable_character"),  # left-to-right isolate
        ("林\n兰秀", "unprintable_character"),  # a line break in a name
        ("林兰\ud800秀", "string_unicode"),  # an unpaired surrogate (pydantic's own check)
    ],
)
def test_names_with_control_bidi_or_invisible_characters_are_refused(
    stack: Stack, invoke: Invoke, name: str, code: str
) -> None:
    # Given an elder's application whose agent's name hides a control or format character
    persona = stack.persona(ELDERLY, "APPROVED", [])
    agent = {"name": name, "idNumber": persona.application["idNumber"], "relation": "CHILD"}
    application = {**persona.application, "agent": agent}
    # When it is submitted
    answer = submit(invoke, stack, application)
    # Then the field is named and nothing is written
    assert answer["statusCode"] == 422
    [detail] = error_of(answer)["details"]
    assert detail["field"] == "agent.name" and detail["code"] == code
    assert detail["message"].startswith("agent.name: ")
    assert written(stack) == []


def test_a_reviewers_comment_keeps_its_lines_but_not_a_bidi_override(
    stack: Stack, invoke: Invoke
) -> None:
    # Given a decision whose comment holds a right-to-left override
    answer = invoke(
        "ReviewsFunction",
        "POST",
        "/reviews/{taskId}/decision",
        "/reviews/TSK1/decision",
        body={"decision": "APPROVE", "comment": "核实无误\n\u202e已电话联系"},
        path_parameters={"taskId": "TSK1"},
        caller=REVIEWER,
    )
    # Then it is refused naming the comment (a plain multi-line comment reaches the task lookup)
    assert answer["statusCode"] == 422
    assert [d["field"] for d in error_of(answer)["details"]] == ["comment"]
    plain = invoke(
        "ReviewsFunction",
        "POST",
        "/reviews/{taskId}/decision",
        "/reviews/TSK1/decision",
        body={"decision": "APPROVE", "comment": "核实无误\n\t已电话联系"},
        path_parameters={"taskId": "TSK1"},
        caller=REVIEWER,
    )
    assert plain["statusCode"] == 404


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
@pytest.mark.parametrize("route", [None, *BODY_ROUTES], ids=lambda r: r[1] if r else "submit")
def test_a_body_that_is_not_declared_json_is_a_415(
    stack: Stack, invoke: Invoke, route: Any, content_type: str
) -> None:
    # Given a body that parses as JSON, sent as another media type
    persona = stack.persona(ELDERLY, "APPROVED", [])
    raw = json.dumps(persona.application, ensure_ascii=False)
    # When it is posted
    answer = post(invoke, stack, route, raw, content_type)
    # Then it is refused as an unsupported media type, in the error format
    assert answer["statusCode"] == 415
    error = error_of(answer)
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert error["details"] == [{"field": "Content-Type", "code": "unsupported"}]
    assert written(stack) == []


def test_json_with_a_utf8_charset_is_accepted_and_other_charsets_are_not(
    stack: Stack, invoke: Invoke
) -> None:
    # Given one application sent as JSON with a charset parameter
    persona = stack.persona(ELDERLY, "APPROVED", [])
    raw = json.dumps(persona.application, ensure_ascii=False)
    # When it is declared UTF-8 (any spelling), or Latin-1
    accepted = post(invoke, stack, None, raw, 'application/json; charset="UTF-8"')
    latin = post(invoke, stack, None, raw, "application/json; charset=iso-8859-1")
    # Then UTF-8 is decided and Latin-1 refused
    assert (accepted["statusCode"], latin["statusCode"]) == (201, 415)


def test_full_width_identifiers_are_the_same_identifiers(stack: Stack, invoke: Invoke) -> None:
    # Given a clean elder's application typed in full-width: ID number, card and phone
    persona = stack.persona(ELDERLY, "APPROVED", [])
    typed = {
        **persona.application,
        **{
            field: persona.application[field].translate(_FULL_WIDTH)
            for field in ("idNumber", "bankCardNumber", "phone")
        },
    }
    # When it is submitted
    answer = submit(invoke, stack, typed)
    # Then it is decided as the ASCII application is: the same subject, the same evidence
    assert answer["statusCode"] == 201, answer["json"]
    assert answer["json"]["status"] == "APPROVED"
    # And the ASCII application is the same elder's: refused as a second grant of one subject
    again = submit(invoke, stack, persona.application, key="key-00000002")
    [first, second] = sorted(
        stack.items("DECISIONS_TABLE"), key=lambda item: item["decidedAt"]["S"]
    )
    assert again["json"]["status"] == "REJECTED"
    assert [r["ruleId"] for r in again["json"]["decision"]["reasons"]] == ["EA-ONCE"]
    assert first["subjectHash"] == second["subjectHash"]
    assert first["application"] == second["application"]
