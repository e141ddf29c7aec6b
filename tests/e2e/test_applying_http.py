"""Applying for oneself, as an agent, for an enterprise or at a counter — and one grant per
subject — over HTTP against the local stack (tokens of its identity provider)."""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from infra.local.idp import random_id_number, random_name
from infra.local.seed import Persona
from infra.local.stack_file import local_client
from tests.e2e.conftest import Api, Client, Response

ELDERLY = "elderly-allowance"
FILING = "enterprise-investment-filing"
WAIT_S = 30.0


def persona(api: Api, service_id: str, outcome: str, failing: list[str] | None = None) -> Persona:
    """Someone new in the situation of the first live persona of that outcome (and failing
    rules): nobody has applied for them yet."""
    found = next(
        p
        for p in api.live_personas
        if p.service_id == service_id
        and p.expected_outcome == outcome
        and (failing is None or p.expected_failing == sorted(failing))
    )
    return api.fresh(found)


def with_agent(api: Api) -> Persona:
    """Someone new in the situation of an elder whose form names an agent of their household
    (the population register says so)."""
    found = next(
        p
        for p in api.live_personas
        if p.service_id == ELDERLY
        and p.expected_outcome == "APPROVED"
        and isinstance(p.application.get("agent"), dict)
    )
    return api.fresh(found)


def household_member(api: Api, elder: Persona) -> dict[str, str]:
    """A new person registered in the elder's household: an agent who may act for them."""
    rng = random.Random(uuid.uuid4().int)
    id_number = random_id_number(rng)
    record = dict(elder.evidence["agentPopulation"])
    local_client(api.info, "dynamodb").put_item(
        TableName=api.info["tables"]["ReferenceDataTable"],
        Item={
            "source": {"S": "population-register"},
            "key": {"S": id_number},
            "record": {"M": {k: {"S": str(v)} for k, v in record.items() if v is not None}},
        },
    )
    return {"name": random_name(rng), "idNumber": id_number, "relation": "CHILD"}


def reasons(answer: Response) -> list[str]:
    return [r["ruleId"] for r in answer.body["decision"]["reasons"]]


def test_fifty_concurrent_applications_for_one_elder_give_exactly_one_approval(api: Api) -> None:
    # Given an elder and four members of their household who may apply as agents
    elder = with_agent(api)
    agents = [elder.application["agent"], *(household_member(api, elder) for _ in range(3))]
    in_person = {k: v for k, v in elder.application.items() if k != "agent"}
    senders: list[tuple[Client, dict[str, Any]]] = [(api.applicant_for(elder), in_person)]
    for agent in agents:
        senders.append(
            (api.person(agent["idNumber"], agent["name"]), {**in_person, "agent": agent})
        )
    # When 50 applications for the elder arrive at once, each with its own Idempotency-Key,
    # from the elder and from the agents in turn
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(
            pool.map(
                lambda n: senders[n % len(senders)][0].submit(
                    ELDERLY, senders[n % len(senders)][1]
                ),
                range(50),
            )
        )
    # Then each is decided (201), and exactly one is approved: the others are rejected by the
    # one-grant rule, which says where to see the first (and, once the approval's outcome has
    # reached the payment roll, by the elder being a current recipient there too)
    assert [a.status for a in answers] == [201] * 50, [a.text for a in answers if a.status != 201]
    outcomes = [a.body["status"] for a in answers]
    assert outcomes.count("APPROVED") == 1, outcomes
    refused = [a for a in answers if a.body["status"] != "APPROVED"]
    assert all(
        a.body["status"] == "REJECTED"
        and "EA-ONCE" in reasons(a)
        and set(reasons(a)) <= {"EA-ONCE", "EA-NOT-RECEIVING"}
        for a in refused
    )
    once = next(r for r in refused[0].body["decision"]["reasons"] if r["ruleId"] == "EA-ONCE")
    assert "GET /applications" in once["remedy"]["en"]
    # And the elder sees all fifty in their own list, one certificate among them
    mine = api.applicant_for(elder).applications()
    assert len(mine) == 50
    assert sum(1 for a in mine if "certificate" in a) == 1


def test_an_application_in_another_persons_name_is_403_and_writes_nothing(api: Api) -> None:
    # Given an elder, and someone else signed in
    elder = persona(api, ELDERLY, "APPROVED", [])
    stranger = api.new_applicant()
    # When the stranger submits the elder's application
    answer = stranger.submit(ELDERLY, elder.application)
    # Then 403 in the API's error format, naming no identifier, and nothing is recorded
    assert answer.status == 403
    assert answer.body["error"]["code"] == "FORBIDDEN"
    assert answer.body["error"]["details"] == [{"code": "not_the_applicant"}]
    assert elder.application["idNumber"] not in answer.text
    assert stranger.applications() == []
    assert api.applicant_for(elder).applications() == []
    # And the elder can still apply in person: nothing was taken in their name
    assert api.applicant_for(elder).submit(ELDERLY, elder.application).body["status"] == "APPROVED"


def test_a_second_application_while_the_first_is_in_force_is_rejected_by_a_rule(
    api: Api,
) -> None:
    # Given an elder's approved allowance
    elder = persona(api, ELDERLY, "APPROVED", [])
    me = api.applicant_for(elder)
    first = me.submit(ELDERLY, elder.application)
    assert first.body["status"] == "APPROVED"
    # When they apply again with another Idempotency-Key
    second = me.submit(ELDERLY, elder.application)
    # Then it is a new application, REJECTED by the one-grant rule with a reason, a remedy and
    # its legal basis, and no second certificate
    assert second.status == 201 and second.body["applicationId"] != first.body["applicationId"]
    assert second.body["status"] == "REJECTED" and reasons(second) == ["EA-ONCE"]
    [reason] = second.body["decision"]["reasons"]
    assert reason["message"]["zh"] and reason["remedy"]["en"] and reason["legalBasis"]["citation"]
    assert "certificate" not in second.body


def test_an_agent_in_the_household_applies_and_one_outside_it_is_referred(api: Api) -> None:
    # Given an elder whose form names a child of the household, and another elder whose form
    # names an agent the population register puts in another household
    elder = with_agent(api)
    outsider = persona(api, ELDERLY, "PENDING_REVIEW", ["EA-AGENT-HOUSEHOLD"])
    # When each agent applies for their elder
    inside = api.person(elder.application["agent"]["idNumber"], "agent").submit(
        ELDERLY, elder.application
    )
    outside = api.person(outsider.application["agent"]["idNumber"], "agent").submit(
        ELDERLY, outsider.application
    )
    # Then the household member's is approved and the other's goes to a reviewer
    assert inside.body["status"] == "APPROVED"
    assert inside.body["submittedBy"] == {"capacity": "AGENT", "channel": "ONLINE"}
    assert outside.body["status"] == "PENDING_REVIEW"
    assert reasons(outside) == ["EA-AGENT-HOUSEHOLD"]
    # And each elder finds the application in their own list
    assert [a["applicationId"] for a in api.applicant_for(elder).applications()] == [
        inside.body["applicationId"]
    ]


def test_an_enterprise_and_its_registered_operator_may_file_for_it(api: Api) -> None:
    # Given two enterprises' clean project filings
    first, second = (persona(api, FILING, "APPROVED", []) for _ in range(2))
    operator_id = second.evidence["enterprise"]["operatorIdNumber"]
    # When the first enterprise files itself, and the second's registered operator files for it
    itself = api.applicant_for(first).submit(FILING, first.application)
    operator = api.person(operator_id, "operator").submit(FILING, second.application)
    # Then both are approved, in their capacities
    assert itself.body["status"] == "APPROVED", itself.text
    assert itself.body["submittedBy"]["capacity"] == "LEGAL_PERSON"
    assert operator.body["status"] == "APPROVED", operator.text
    assert operator.body["submittedBy"]["capacity"] == "OPERATOR"
    # And an employee who is not the registered operator may not
    employee = api.new_applicant().submit(FILING, {**second.application, "projectName": "二期"})
    assert employee.status == 403


def test_a_counter_clerk_applies_for_a_person_present_who_then_sees_it(api: Api) -> None:
    # Given an elder at the Bao'an civil affairs service hall, and its clerk
    elder = persona(api, ELDERLY, "APPROVED", [])
    clerk = api.staff("counter:baoan-civil-affairs")
    check = {"Counter-Identity-Check": "ID_CARD_READER"}
    # When the clerk submits the elder's application after reading their ID card
    answer = clerk.submit(ELDERLY, elder.application, headers=check)
    # Then the same rules decide, and the application says it came through the counter
    assert answer.status == 201 and answer.body["status"] == "APPROVED"
    assert answer.body["submittedBy"] == {"capacity": "SELF", "channel": "COUNTER"}
    # And the elder sees it when they sign in; the clerk sees the ones they submitted
    app_id = answer.body["applicationId"]
    assert [a["applicationId"] for a in api.applicant_for(elder).applications()] == [app_id]
    assert [a["applicationId"] for a in clerk.applications()] == [app_id]
    # And a clerk of another authority, or a citizen claiming the counter, is refused
    other = persona(api, ELDERLY, "APPROVED", [])
    transport = api.staff("counter:transport").submit(ELDERLY, other.application, headers=check)
    citizen = api.new_applicant().submit(ELDERLY, other.application, headers=check)
    assert (transport.status, citizen.status) == (403, 403)
    # And a check that is no known kind is a 422
    odd = clerk.submit(ELDERLY, other.application, headers={"Counter-Identity-Check": "TRUST_ME"})
    assert odd.status == 422


def test_a_reviewers_rejection_releases_the_grant(api: Api) -> None:
    # Given an elder's referred application, and a second one refused while it is decided
    elder = persona(api, ELDERLY, "PENDING_REVIEW", ["EA-BANK"])
    me = api.applicant_for(elder)
    referred = me.submit(ELDERLY, elder.application).body
    assert referred["status"] == "PENDING_REVIEW"
    second = me.submit(ELDERLY, elder.application)
    assert second.body["status"] == "REJECTED" and "EA-ONCE" in reasons(second)
    # When a reviewer rejects the referral
    reviewer = api.client("reviewer")
    task_id = "TSK" + referred["applicationId"][3:]
    deadline = time.monotonic() + WAIT_S
    while reviewer.get(f"/reviews/{task_id}").status != 200:
        assert time.monotonic() < deadline, "the task never reached the queue"
        time.sleep(0.2)
    decided = reviewer.request(
        "POST",
        f"/reviews/{task_id}/decision",
        json={"decision": "REJECT", "reasonCodes": ["EA-BANK"]},
    )
    assert decided.status == 202, decided.text
    while me.get(f"/applications/{referred['applicationId']}").body["status"] != "REJECTED":
        assert time.monotonic() < deadline, "the reviewer's decision was never recorded"
        time.sleep(0.2)
    # Then the elder may apply again: decided by the rules, not refused as a second grant
    again = me.submit(ELDERLY, elder.application)
    assert again.body["status"] == "PENDING_REVIEW" and reasons(again) == ["EA-BANK"]
