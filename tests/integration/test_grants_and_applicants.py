"""Who may apply, the counter channel and one grant per subject, through the submit flow on
moto (tables from template.yaml, the synthetic personas' reference data)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from miaopi.identifiers import normalize
from miaopi.model import (
    GRANT_ALIAS,
    GRANT_SOURCE,
    EvidenceItem,
    EvidenceRequest,
    EvidenceStatus,
    Outcome,
)
from miaopi_platform.applications.capacity import Caller, IdentityCheck
from miaopi_platform.applications.flow import submit
from miaopi_platform.aws.errors import Forbidden
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import find
from miaopi_platform.identity.context import Assurance, Identity, Role, SubjectType
from miaopi_platform.wiring import Dependencies

from infra.local.seed import Persona
from tests.integration.conftest import Stack

ELDERLY = "elderly-allowance"
_accounts = itertools.count(1)


@pytest.fixture
def deps(stack: Stack) -> Dependencies:
    stack.clear("GRANTS_TABLE")
    function = next(f for f in stack.deployment.functions.values() if f.service_id == ELDERLY)
    return Dependencies(Settings.from_env(function.environment))


def person(deps: Dependencies, id_number: str, *roles: str, acr: str = "L2") -> Identity:
    """A signed-in person, as the authorizer hands them over: the ID number's keyed hash."""
    return Identity(
        subject=f"account-{next(_accounts)}",
        subject_type=SubjectType.PERSON,
        subject_id_hash=deps.hasher.digest(normalize(("cn.ric",), id_number)),
        assurance=Assurance[acr],
        roles=frozenset(Role.parse(r) for r in roles),
    )


def apply(
    deps: Dependencies, persona: Persona, caller: Identity | Caller, key: str, **form: Any
) -> Any:
    return submit(
        find(persona.service_id),
        {**persona.application, **form},
        caller if isinstance(caller, Caller) else Caller(caller),
        key,
        evidence=deps.evidence,
        store=deps.store,
        hasher=deps.hasher,
    )


def grant_rule(service_id: str) -> str:
    """The id of the rule that reads the grants register in the rule set in force today."""
    rule_set = find(service_id).rule_set_on(dt.date.today())
    assert rule_set is not None
    return next(r.id for r in rule_set.rules if GRANT_ALIAS in r.sources)


def elder(stack: Stack) -> Persona:
    return stack.persona(ELDERLY, "APPROVED", [])


def test_the_elder_in_person_is_approved_and_holds_the_grant(
    stack: Stack, deps: Dependencies
) -> None:
    # Given the elder signed in with their own ID number
    persona = elder(stack)
    me = person(deps, persona.application["idNumber"])
    # When they apply
    result = apply(deps, persona, me, "grant-key-0001")
    # Then it is approved, recorded as submitted in person online
    assert result.item["status"] == "APPROVED"
    assert result.item["submittedBy"] == {"capacity": "SELF", "channel": "ONLINE"}
    record = deps.store.get_decision(result.item["decision"]["decisionId"])
    assert record is not None and record["submittedBy"]["capacity"] == "SELF"
    # And the grant is held by that application, under a key that is no ID number
    [held] = stack.items("GRANTS_TABLE")
    assert held["applicationId"]["S"] == result.item["applicationId"]
    assert held["status"]["S"] == "IN_FORCE"
    assert persona.application["idNumber"] not in str(held)


def test_a_second_application_for_the_same_elder_is_rejected_by_the_grant_rule(
    stack: Stack, deps: Dependencies
) -> None:
    # Given the elder's allowance approved
    persona = elder(stack)
    me = person(deps, persona.application["idNumber"])
    first = apply(deps, persona, me, "grant-key-0002")
    assert first.item["status"] == "APPROVED"
    # When the elder applies again with another Idempotency-Key
    second = apply(deps, persona, me, "grant-key-0003")
    # Then the second is a new application, rejected by the one-grant rule with a remedy
    assert second.created and second.item["applicationId"] != first.item["applicationId"]
    assert second.item["status"] == "REJECTED"
    [reason] = second.item["decision"]["reasons"]
    assert reason["ruleId"] == grant_rule(ELDERLY)
    assert reason["remedy"]["en"] and reason["legalBasis"]["citation"]
    # And nobody but the first holds the grant, with no certificate for the second
    [held] = stack.items("GRANTS_TABLE")
    assert held["applicationId"]["S"] == first.item["applicationId"]
    assert "certificate" not in second.item


def test_someone_else_cannot_apply_in_the_elders_name(stack: Stack, deps: Dependencies) -> None:
    # Given a person who is neither the elder nor the agent the form names
    persona = elder(stack)
    stranger = person(deps, other_id_number(stack, persona))
    # When they submit the elder's application
    with pytest.raises(Forbidden) as refused:
        apply(deps, persona, stranger, "grant-key-0004")
    # Then it is refused with a clear error naming no identifier, and nothing is written
    assert refused.value.details == [{"code": "not_the_applicant"}]
    assert persona.application["idNumber"] not in refused.value.message
    assert stack.items("APPLICATIONS_TABLE") == []
    assert stack.items("DECISIONS_TABLE") == []
    assert stack.items("GRANTS_TABLE") == []


def test_applying_needs_assurance_l2(stack: Stack, deps: Dependencies) -> None:
    # Given the elder signed in with a name-and-number check only (L1)
    persona = elder(stack)
    me = person(deps, persona.application["idNumber"], acr="L1")
    # When they apply, Then it is refused before anything is written
    with pytest.raises(Forbidden) as refused:
        apply(deps, persona, me, "grant-key-0005")
    assert refused.value.details == [{"code": "insufficient_assurance"}]
    assert stack.items("APPLICATIONS_TABLE") == []


def test_the_agent_the_form_names_applies_and_the_elder_sees_it(
    stack: Stack, deps: Dependencies
) -> None:
    # Given a child signed in, named on the form as the elder's agent
    persona = elder(stack)
    child_id = other_id_number(stack, persona)
    agent = {"name": "陈小明", "idNumber": child_id, "relation": "CHILD"}
    child = person(deps, child_id)
    # When the child applies for the elder
    result = apply(deps, persona, child, "grant-key-0006", agent=agent)
    # Then it is recorded as submitted by an agent (decided by the rules: approved or referred)
    assert result.item["submittedBy"] == {"capacity": "AGENT", "channel": "ONLINE"}
    assert result.item["status"] in ("APPROVED", "PENDING_REVIEW")
    # And it is in the child's list and in the elder's own list when the elder signs in
    me = person(deps, persona.application["idNumber"])
    mine, _ = deps.store.list_own(me.subject, me.subject_id_hash, 10, None)
    theirs, _ = deps.store.list_own(child.subject, child.subject_id_hash, 10, None)
    assert [i["applicationId"] for i in mine] == [result.item["applicationId"]]
    assert [i["applicationId"] for i in theirs] == [result.item["applicationId"]]


def test_a_counter_clerk_applies_for_a_person_present(stack: Stack, deps: Dependencies) -> None:
    # Given a clerk of the civil affairs bureau at a service hall, who read the elder's ID card
    persona = elder(stack)
    clerk = person(deps, other_id_number(stack, persona), "counter:baoan-civil-affairs", acr="L3")
    # When the clerk submits the elder's application
    result = apply(deps, persona, Caller(clerk, IdentityCheck.ID_CARD_READER), "counter-0001")
    # Then the same rules decide, and the records say COUNTER, which clerk and which check
    assert result.item["status"] == "APPROVED"
    assert result.item["submittedBy"] == {
        "capacity": "SELF",
        "channel": "COUNTER",
        "clerkId": clerk.subject,
        "identityCheck": "ID_CARD_READER",
    }
    record = deps.store.get_decision(result.item["decision"]["decisionId"])
    assert record is not None and record["submittedBy"]["channel"] == "COUNTER"
    # And the elder sees it in their own list when they sign in
    me = person(deps, persona.application["idNumber"])
    mine, _ = deps.store.list_own(me.subject, me.subject_id_hash, 10, None)
    assert [i["applicationId"] for i in mine] == [result.item["applicationId"]]


def test_a_clerk_of_another_authority_cannot_submit_at_the_counter(
    stack: Stack, deps: Dependencies
) -> None:
    # Given a transport bureau clerk
    persona = elder(stack)
    clerk = person(deps, other_id_number(stack, persona), "counter:transport", acr="L3")
    # When they submit an elderly-allowance application at the counter, Then 403, nothing written
    with pytest.raises(Forbidden):
        apply(deps, persona, Caller(clerk, IdentityCheck.ID_CARD_READER), "counter-0002")
    assert stack.items("APPLICATIONS_TABLE") == []


class _StaleGrants:
    """The evidence port as a concurrent winner leaves it: the first read of the grants
    register is from before the winner's write."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.reads = 0

    def gather(self, requests: list[EvidenceRequest]) -> dict[str, EvidenceItem]:
        self.reads += 1
        found = self.port.gather(requests)
        if self.reads == 1:
            for request in requests:
                if request.source == GRANT_SOURCE:
                    found[request.alias] = EvidenceItem(EvidenceStatus.ABSENT)
        return found


def test_the_loser_of_a_race_for_the_grant_is_decided_again_and_rejected(
    stack: Stack, deps: Dependencies
) -> None:
    # Given the elder's grant taken by another application after this one read the register
    persona = elder(stack)
    me = person(deps, persona.application["idNumber"])
    winner = apply(deps, persona, me, "race-key-0001")
    stale = _StaleGrants(deps.evidence)
    # When the elder's second application writes as if the grant were free
    result = submit(
        find(ELDERLY),
        persona.application,
        Caller(me),
        "race-key-0002",
        evidence=stale,
        store=deps.store,
        hasher=deps.hasher,
    )
    # Then its write is refused by the grant's condition, it is decided again with the fresh
    # register, and rejected by the grant rule: one approval
    assert stale.reads == 2
    assert result.item["status"] == Outcome.REJECTED.value
    assert [r["ruleId"] for r in result.item["decision"]["reasons"]] == [grant_rule(ELDERLY)]
    [held] = stack.items("GRANTS_TABLE")
    assert held["applicationId"]["S"] == winner.item["applicationId"]


def test_a_retry_with_the_same_key_returns_the_approval_not_a_rejection(
    stack: Stack, deps: Dependencies
) -> None:
    # Given an approved application
    persona = elder(stack)
    me = person(deps, persona.application["idNumber"])
    first = apply(deps, persona, me, "retry-key-0001")
    # When the client retries with the same Idempotency-Key and body
    again = apply(deps, persona, me, "retry-key-0001")
    # Then it gets the approval back, not a rejection by its own grant
    assert not again.created
    assert again.item["applicationId"] == first.item["applicationId"]
    assert again.item["status"] == "APPROVED"


def other_id_number(stack: Stack, persona: Persona) -> str:
    """The ID number of another persona: a real person who is not this one."""
    return next(
        p.application["idNumber"]
        for p in stack.personas
        if p.service_id == ELDERLY and p.application["idNumber"] != persona.application["idNumber"]
    )


def test_ones_own_list_pages_through_what_one_submitted_and_what_was_submitted_for_one(
    stack: Stack, deps: Dependencies
) -> None:
    # Given 7 applications of mine (submitted by me, for me by others, both, at one same
    # second twice) and 3 of someone else
    table = stack.table("APPLICATIONS_TABLE")
    mine = {"applicantId": "me", "holderHash": "h-me"}
    rows = [
        ("A1", "2026-11-01T00:00:01Z", {"applicantId": "me", "holderHash": "h-other"}),
        ("A2", "2026-11-01T00:00:02Z", {"applicantId": "agent", "holderHash": "h-me"}),
        ("A3", "2026-11-01T00:00:03Z", mine),
        ("A4", "2026-11-01T00:00:03Z", {"applicantId": "clerk", "holderHash": "h-me"}),
        ("A5", "2026-11-01T00:00:03Z", {"applicantId": "me", "holderHash": "h-x"}),
        ("A6", "2026-11-01T00:00:05Z", mine),
        ("A7", "2026-11-01T00:00:06Z", {"applicantId": "clerk", "holderHash": "h-me"}),
        ("B1", "2026-11-01T00:00:04Z", {"applicantId": "other", "holderHash": "h-other"}),
        ("B2", "2026-11-01T00:00:07Z", {"applicantId": "clerk", "holderHash": "h-x"}),
        ("B3", "2026-11-01T00:00:08Z", {"applicantId": "other", "holderHash": "h-x"}),
    ]
    for app_id, at, keys in rows:
        item = {"applicationId": app_id, "submittedAt": at, **keys}
        stack.clients.dynamodb.put_item(
            TableName=table, Item={k: {"S": v} for k, v in item.items()}
        )
    # When I read my list two at a time
    seen: list[str] = []
    token = None
    for _page in range(10):
        page, token = deps.store.list_own("me", "h-me", 2, token)
        assert len(page) <= 2
        seen += [i["applicationId"] for i in page]
        if token is None:
            break
    # Then I see each of mine once, newest first, and none of anyone else's
    assert seen == ["A7", "A6", "A5", "A4", "A3", "A2", "A1"]
