""" "Why was this application referred?" in one question: GET /audit/decisions?applicationId=
answers from the byApplication index with the application's decisions in order (the rules'
referral, then the reviewer's decision), each with its reasons; a malformed id is refused, an
unknown one is an empty page."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Invoke, Stack
from tests.integration.test_audit_api import Audit, clean
from tests.integration.test_review_flow import SERVICE, Review


def referred_and_rejected(stack: Stack, invoke: Invoke, key: str) -> tuple[str, str]:
    """A graduate-hukou application the rules referred and a reviewer then rejected, naming the
    rule that referred it, recorded by the review workflow: (application id, that rule)."""
    stack.clear("REVIEW_TASKS_TABLE")
    review = Review(stack, invoke)
    app_id = review.refer(key=key)
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    rule = review.api("GET", f"/reviews/{task_id}")["json"]["referredRules"][0]
    answer = review.api(
        "POST", f"/reviews/{task_id}/decision", body={"decision": "REJECT", "reasonCodes": [rule]}
    )
    assert answer["statusCode"] == 202, answer["json"]
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    return app_id, rule


def items(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page["items"]]


def test_an_applications_referral_and_its_review_come_in_order_with_their_reasons(
    stack: Stack, invoke: Invoke
) -> None:
    # Given a referred application a reviewer rejected, and another applicant's decision
    audit = Audit(stack, invoke)
    app_id, rule = referred_and_rejected(stack, invoke, "key-audit-by-application-1")
    other = audit.decide(clean(stack))  # someone else, in person
    # When an auditor asks for the application's decisions, one per page
    pages = audit.pages("decisions", {"applicationId": app_id, "limit": "1"})
    # Then both come, oldest first, from byApplication, and nothing of the other application
    found = items(pages)
    assert [(d["outcome"], d["decidedBy"]) for d in found] == [
        ("PENDING_REVIEW", "SYSTEM"),
        ("REJECTED", "REVIEWER"),
    ]
    assert {p["index"] for p in pages} == {"byApplication"} and len(pages) >= 2
    assert {d["applicationId"] for d in found} == {app_id} != {other["applicationId"]}
    referral, review = found
    # And the referral says why: the rules that referred it, in words, with their legal basis
    assert rule in [r["ruleId"] for r in referral["reasons"]]
    assert all(r["onFail"] == "REFER" and r["message"]["en"] for r in referral["reasons"])
    assert all(r["legalBasis"]["citation"] for r in referral["reasons"])
    # And the reviewer's decision names the referral it decided and the rule it rejected on
    assert review["reviewOf"] == referral["decisionId"]
    assert [r["ruleId"] for r in review["reasons"]] == [rule]
    # And a row is a summary: never the application, its evidence or the rules' trace
    assert not {"application", "evidence", "trace", "facts"} & {k for d in found for k in d}


def test_an_application_question_is_checked_and_narrowed_only_where_it_makes_sense(
    stack: Stack, invoke: Invoke
) -> None:
    # Given a referred application a reviewer rejected
    audit = Audit(stack, invoke)
    app_id, _ = referred_and_rejected(stack, invoke, "key-audit-by-application-2")
    first = audit.api("decisions", {"applicationId": app_id, "limit": "1"})["json"]
    # When an auditor asks with an unknown id, malformed ids, a narrowing filter, an applicant
    # as well, or another application's question with this one's page token
    unknown = audit.api("decisions", {"applicationId": "APP" + "0" * 21})
    malformed = [
        audit.api("decisions", {"applicationId": bad})
        for bad in ("APP123", app_id.lower(), "DEC" + app_id[3:], app_id + "0")
    ]
    rejected = audit.pages("decisions", {"applicationId": app_id, "outcome": "REJECTED"})
    by_system = audit.pages("decisions", {"applicationId": app_id, "decider": "system"})
    with_applicant = audit.api(
        "decisions",
        {"applicationId": app_id},
        headers={"X-Subject-Id": stack.persona(SERVICE, "PENDING_REVIEW").application["idNumber"]},
    )
    elsewhere = audit.api(
        "decisions", {"applicationId": "APP" + "0" * 21, "nextToken": first["nextToken"]}
    )
    # Then an unknown application has no decisions (not a 404), a malformed id is a 422
    assert unknown["statusCode"] == 200 and unknown["json"]["items"] == []
    assert unknown["json"]["index"] == "byApplication"
    assert [m["statusCode"] for m in malformed] == [422] * 4
    assert all(m["json"]["error"]["details"][0]["field"] == "applicationId" for m in malformed)
    # And the outcome and the decider narrow the application's decisions
    assert [d["decidedBy"] for d in items(rejected)] == ["REVIEWER"]
    assert [d["outcome"] for d in items(by_system)] == ["PENDING_REVIEW"]
    # And an application with an applicant is refused, and a token stays with its question
    assert with_applicant["statusCode"] == 422
    assert with_applicant["json"]["error"]["details"][0]["field"] == "applicationId"
    assert elsewhere["statusCode"] == 400
