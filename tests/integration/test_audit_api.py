"""The auditors' API in process: every access pattern answered from its index (never a scan),
paginated across write shards and days, one decision in full with its personal data masked,
statistics, and who may read (auditors) and write (nobody)."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from typing import Any

import pytest
from miaopi.loader import load_service
from miaopi.workdays import CHINA
from miaopi_platform.records.indexes import SHARDS
from miaopi_platform.records.seal import NOT_CONTENT
from miaopi_rules import SERVICES_DIR

from infra.local.seed import Persona
from tests.integration.conftest import CITIZEN, Invoke, Stack, _Context, staff
from tests.integration.test_submit_handler import function_of, submit

AUDITOR = staff("44444444-aaaa-bbbb-cccc-000000000004", "auditor:*")
REVIEWER = staff("33333333-aaaa-bbbb-cccc-000000000003", "reviewer:*")
ELDERLY = "elderly-allowance"
_RESOURCES = {
    "decisions": "/audit/decisions",
    "stats": "/audit/stats",
    "chains": "/audit/chains",
    "replays": "/audit/replays",
    "what-if": "/audit/what-if",
}


class Audit:
    """Makes decisions (now or on past days), chains them as the sequencer's stream mapping
    would, and calls the audit API."""

    def __init__(self, stack: Stack, invoke: Invoke) -> None:
        self.stack = stack
        self.invoke = invoke
        self.dynamodb = stack.clients.dynamodb
        self.decisions_table = stack.table("DECISIONS_TABLE")

    def decide(
        self,
        persona: Persona,
        when: dt.datetime | None = None,
        caller: dict[str, Any] | None = None,
        *,
        same_person: bool = False,
    ) -> dict[str, Any]:
        """Submit a persona's application (signed in as whom it is for, unless `caller` says
        otherwise): through its function now, or decided at `when`. Each call is someone new
        in the persona's situation, unless `same_person` (a second grant is then refused)."""
        key = f"audit-{uuid.uuid4().hex}"
        persona = persona if same_person else self.stack.fresh(persona)
        caller = caller or self.stack.applicant(persona.service_id, persona.application)
        if when is None:
            answer = submit(
                self.invoke,
                self.stack,
                persona.application,
                key=key,
                service_id=persona.service_id,
                caller=caller,
            )
            assert answer["statusCode"] == 201, answer["json"]
            return dict(answer["json"])
        from miaopi_platform.applications.capacity import Caller
        from miaopi_platform.applications.flow import submit as decide
        from miaopi_platform.identity.context import from_context

        module = self.stack.module(function_of(self.stack, persona.service_id))
        deps = module.dependencies
        done = decide(
            module.service,
            persona.application,
            Caller(from_context(caller)),
            key,
            evidence=deps.evidence,
            store=deps.store,
            hasher=deps.hasher,
            now=when,
        )
        return dict(done.item)

    def records(self) -> list[dict[str, Any]]:
        from miaopi_platform.aws.dynamo import from_item

        return [from_item(i) for i in self.stack.items("DECISIONS_TABLE")]

    def stream_event(self, items: list[dict[str, Any]], event: str = "INSERT") -> dict[str, Any]:
        """The decisions stream's records for these stored items, in decision order."""
        records = []
        for n, item in enumerate(sorted(items, key=lambda i: i["decidedAt"]["S"])):
            records.append(
                {
                    "eventID": str(n),
                    "eventName": event,
                    "eventSource": "aws:dynamodb",
                    "dynamodb": {
                        "Keys": {"decisionId": item["decisionId"]},
                        "NewImage": item,
                        "SequenceNumber": f"{n + 1:021d}",
                        "StreamViewType": "NEW_IMAGE",
                    },
                }
            )
        return {"Records": records}

    def copies(self, record: dict[str, Any], count: int) -> list[dict[str, Any]]:
        """`count` more records like `record` (new ids, in its chain), stored as writers store
        them, oldest first: quick material for chains."""
        from miaopi_platform.aws.clock import iso
        from miaopi_platform.aws.dynamo import to_item
        from miaopi_platform.records.decision import sealed
        from miaopi_platform.records.indexes import chain_of

        made: list[dict[str, Any]] = []
        start = dt.datetime.fromisoformat(record["decidedAt"].replace("Z", "+00:00"))
        while len(made) < count:
            copy = {k: v for k, v in record.items() if k not in NOT_CONTENT}
            copy["decisionId"] = "DEC" + uuid.uuid4().hex[:21].upper()
            copy["decidedAt"] = iso(start + dt.timedelta(milliseconds=len(made) + 1))
            if chain_of(copy) != chain_of(record):
                continue
            made.append(sealed(copy))
            self.dynamodb.put_item(TableName=self.decisions_table, Item=to_item(made[-1]))
        return made

    def chain(self, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Deliver INSERT records for `items` (default: every record not chained yet)."""
        if items is None:
            items = [i for i in self.stack.items("DECISIONS_TABLE") if "hash" not in i]
        module = self.stack.module("ChainSequencerFunction")
        answer: dict[str, Any] = module.lambda_handler(
            self.stream_event(items), _Context("sequencer")
        )
        return answer

    def api(
        self,
        what: str,
        query: dict[str, str] | None = None,
        caller: dict[str, Any] | None = AUDITOR,
        method: str = "GET",
        **kw: Any,
    ) -> dict[str, Any]:
        if what.startswith("decisions/"):
            decision_id = what.split("/", 1)[1]
            return self.invoke(
                "AuditFunction",
                method,
                "/audit/decisions/{decisionId}",
                f"/audit/{what}",
                path_parameters={"decisionId": decision_id},
                query=query,
                caller=caller,
                **kw,
            )
        return self.invoke(
            "AuditFunction",
            method,
            _RESOURCES[what],
            _RESOURCES[what],
            query=query,
            caller=caller,
            **kw,
        )

    def pages(self, what: str, query: dict[str, str], **kw: Any) -> list[dict[str, Any]]:
        """Every page of a paginated GET, in order."""
        pages: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            answer = self.api(what, {**query, **({"nextToken": token} if token else {})}, **kw)
            assert answer["statusCode"] == 200, answer["json"]
            pages.append(answer["json"])
            token = answer["json"].get("nextToken")
            if not token:
                return pages


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def version_in_force() -> str:
    """The elderly allowance's rule-set version that decides today's applications."""
    rule_set = load_service(SERVICES_DIR / ELDERLY).rule_set_on(today())
    assert rule_set is not None
    return rule_set.version


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of a China day (hours 0-23 in China time)."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CHINA)


def period(start: dt.date, end: dt.date, **extra: str) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat(), **extra}


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [item["decisionId"] for page in pages for item in page["items"]]


def clean(stack: Stack, service_id: str = ELDERLY) -> Persona:
    return next(
        p
        for p in stack.personas
        if p.service_id == service_id and p.expected_outcome == "APPROVED" and not p.bulk
    )


def test_a_service_and_period_lists_every_decision_in_time_order_across_shards_and_days(
    stack: Stack, audit: Audit
) -> None:
    # Given elderly-allowance decisions on three days (early morning in China is the previous
    # day in UTC), and another service's on the same days
    day = today() - dt.timedelta(days=3)
    persona, other = clean(stack), clean(stack, "graduate-hukou")
    for offset in range(3):
        for hour in (0, 7, 12, 23):
            audit.decide(persona, at(day + dt.timedelta(days=offset), hour, offset))
        audit.decide(other, at(day + dt.timedelta(days=offset), 9))
    records = [r for r in audit.records() if r["serviceId"] == ELDERLY]
    assert len({r["serviceDayShard"].rsplit("#", 1)[1] for r in records}) > 1  # several shards
    # When an auditor pages through the service's first two days three at a time
    pages = audit.pages(
        "decisions", period(day, day + dt.timedelta(days=1), serviceId=ELDERLY, limit="3")
    )
    # Then every decision of those China days is listed once, oldest first, from byServiceDay
    wanted = sorted(
        (r for r in records if r["applicationDate"] <= (day + dt.timedelta(days=1)).isoformat()),
        key=lambda r: (r["decidedAt"], r["decisionId"]),
    )
    assert ids(pages) == [r["decisionId"] for r in wanted]
    assert len(wanted) == 8 and len(pages) >= 3
    assert {p["index"] for p in pages} == {"byServiceDay"}
    assert {i["serviceId"] for p in pages for i in p["items"]} == {ELDERLY}
    # And a summary shows what the decision was and why, and never the application
    first = pages[0]["items"][0]
    assert first["ruleSetVersion"] == "2024.1" and first["decidedBy"] == "SYSTEM"
    assert "application" not in first and "trace" not in first


def test_rejections_of_a_service_this_week_come_with_their_reasons(
    stack: Stack, audit: Audit
) -> None:
    # Given approvals, referrals and rejections of the elderly allowance
    under_age = stack.persona(ELDERLY, "REJECTED", ["EA-AGE"])
    for persona in (clean(stack), under_age, stack.persona(ELDERLY, "PENDING_REVIEW", ["EA-BANK"])):
        audit.decide(persona)
        audit.decide(persona)
    # When an auditor asks for this week's rejections
    week = today() - dt.timedelta(days=today().weekday())
    pages = audit.pages("decisions", period(week, today(), serviceId=ELDERLY, outcome="REJECTED"))
    # Then exactly the two rejections come, from byOutcome, each with its failing rule and why
    items = [i for p in pages for i in p["items"]]
    assert [i["outcome"] for i in items] == ["REJECTED", "REJECTED"]
    assert {p["index"] for p in pages} == {"byOutcome"}
    reason = items[0]["reasons"][0]
    assert reason["ruleId"] == "EA-AGE" and reason["message"]["en"] and reason["legalBasis"]


def test_decisions_by_rule_set_version(stack: Stack, audit: Audit) -> None:
    # Given decisions under the elderly allowance's rule set in force today
    audit.decide(clean(stack))
    audit.decide(stack.persona(ELDERLY, "REJECTED", ["EA-AGE"]))
    week = period(today() - dt.timedelta(days=6), today(), serviceId=ELDERLY)
    # When an auditor asks for that version, and for one that never decided anything
    current = audit.pages("decisions", {**week, "ruleSetVersion": version_in_force()})
    unknown = audit.pages("decisions", {**week, "ruleSetVersion": "2099.1"})
    # Then the version's decisions come from byRuleSet, and the other is empty
    assert len(ids(current)) == 2 and current[0]["index"] == "byRuleSet"
    assert ids(unknown) == []


def test_decisions_by_decider(stack: Stack, audit: Audit) -> None:
    # Given a system decision and a reviewer's decision on it (as the workflow records it)
    from miaopi_platform.aws.dynamo import to_item
    from miaopi_platform.records.decision import REVIEWER as BY_REVIEWER
    from miaopi_platform.records.decision import sealed

    audit.decide(stack.persona(ELDERLY, "PENDING_REVIEW", ["EA-BANK"]))
    (source,) = audit.records()
    decided_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    review = {
        **{k: source[k] for k in ("applicationId", "serviceId", "applicantId", "subjectHash")},
        **{k: source[k] for k in ("ruleSetVersion", "ruleSetHash", "applicationDate")},
        "decisionId": "DEC" + uuid.uuid4().hex[:21].upper(),
        "decidedAt": decided_at,
        "sequence": 2,
        "outcome": "APPROVED",
        "decidedBy": BY_REVIEWER,
        "deciderId": REVIEWER["principalId"],
        "kind": "REFERRAL",
        "reviewOf": source["decisionId"],
        "reasons": [],
        "outputs": {},
        "latencyMs": 1000.0,
    }
    audit.dynamodb.put_item(TableName=audit.decisions_table, Item=to_item(sealed(review)))
    # When an auditor asks for the reviewer's decisions, and for the rules' own
    by_reviewer = audit.pages("decisions", {"decider": REVIEWER["principalId"]})
    week = period(today() - dt.timedelta(days=6), today(), serviceId=ELDERLY)
    by_system = audit.pages("decisions", {**week, "decider": "system"})
    # Then each gets exactly its own: the reviewer's from the sparse byDecider index
    assert ids(by_reviewer) == [review["decisionId"]]
    assert by_reviewer[0]["index"] == "byDecider"
    assert by_reviewer[0]["items"][0]["reviewOf"] == source["decisionId"]
    assert ids(by_system) == [source["decisionId"]]


def test_decisions_of_one_applicant_by_their_id_number(
    stack: Stack, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two applicants' decisions in two services
    from miaopi_platform.aws.observability import logger

    elder = clean(stack)
    audit.decide(elder, same_person=True)
    audit.decide(elder, same_person=True)
    audit.decide(clean(stack, "graduate-hukou"))
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    # When an auditor asks for the elder's decisions by ID number (a header, never the URL)
    number = elder.application["idNumber"]
    found = audit.pages("decisions", {}, headers={"X-Subject-Id": number.lower()})
    # Then both of the elder's come, from bySubject, and the number is in no log
    assert len(ids(found)) == 2 and found[0]["index"] == "bySubject"
    assert {i["serviceId"] for p in found for i in p["items"]} == {ELDERLY}
    assert number not in stream.getvalue()
    # And the subject's hash (as the detail view shows it) finds the same decisions
    detail = audit.api(f"decisions/{ids(found)[0]}")["json"]
    by_hash = audit.pages("decisions", {"subjectHash": detail["subjectHash"]})
    assert ids(by_hash) == ids(found)
    # And a malformed number is a 422 that does not repeat it
    bad = audit.api("decisions", headers={"X-Subject-Id": number[:-1] + "Z"})
    assert bad["statusCode"] == 422 and number[:-1] not in bad["body"]


def test_one_decision_in_full_with_personal_data_masked(stack: Stack, audit: Audit) -> None:
    # Given a chained referral whose bank card is in someone else's name
    persona = stack.persona(ELDERLY, "PENDING_REVIEW", ["EA-BANK"])
    decided = audit.decide(persona)
    assert audit.chain() == {"batchItemFailures": []}
    # When an auditor opens it
    answer = audit.api(f"decisions/{decided['decision']['decisionId']}")
    body = answer["json"]
    # Then it shows the trace, evidence, rule set, chain position and that it verifies
    assert answer["statusCode"] == 200
    assert body["ruleSetVersion"] == version_in_force()
    assert body["ruleSetHash"].startswith("sha256:")
    assert {t["ruleId"]: t["result"] for t in body["trace"]}["EA-BANK"] == "FAIL"
    assert {e["alias"] for e in body["evidence"]} == set(
        load_service(SERVICES_DIR / ELDERLY).evidence
    )
    assert body["chain"]["seq"] >= 1 and body["chain"]["chainId"].startswith(ELDERLY + "#")
    assert body["hashes"] == {
        "contentHash": body["hashes"]["contentHash"],
        "contentMatches": True,
        "chained": True,
        "linkMatches": True,
        "predecessorMatches": True,
    }
    assert body["replay"]["status"] == "REPRODUCED"
    # And no personal value appears anywhere: form, evidence or trace
    bank = next(e for e in body["evidence"] if e["alias"] == "bank")["record"]
    for value in (
        persona.application["idNumber"],
        persona.application["name"],
        persona.application["bankCardNumber"],
        persona.application["phone"],
        persona.evidence["bank"]["holderIdNumber"],
        persona.evidence["bank"]["holderName"],
    ):
        assert value not in answer["body"]
    assert body["application"]["idNumber"].startswith(persona.application["idNumber"][:3] + "*")
    assert bank["holderName"].endswith("*")
    # And an unknown decision is a 404
    assert audit.api("decisions/DECNOSUCHTHING")["statusCode"] == 404


def test_statistics_of_a_service_and_period(stack: Stack, audit: Audit) -> None:
    # Given 3 approvals, 2 rejections and 1 referral today
    for persona, times in (
        (clean(stack), 3),
        (stack.persona(ELDERLY, "REJECTED", ["EA-AGE"]), 2),
        (stack.persona(ELDERLY, "PENDING_REVIEW", ["EA-BANK"]), 1),
    ):
        for _ in range(times):
            audit.decide(persona)
    # When an auditor asks for the figures of this week
    answer = audit.api("stats", period(today() - dt.timedelta(days=6), today(), serviceId=ELDERLY))
    stats = answer["json"]
    # Then volumes, rates, the failing rules and the latency are the records'
    assert answer["statusCode"] == 200, stats
    assert stats["total"] == 6
    assert stats["byOutcome"] == {"APPROVED": 3, "PENDING_REVIEW": 1, "REJECTED": 2}
    assert stats["system"]["autoApprovalRate"] == 0.5
    assert stats["system"]["rejectionRate"] == pytest.approx(0.3333)
    assert stats["topFailingRules"][0] == {"ruleId": "EA-AGE", "count": 2, "share": 0.3333}
    assert stats["latencyMs"]["count"] == 6
    assert 0 < stats["latencyMs"]["median"] <= stats["latencyMs"]["p95"]
    assert stats["reviews"]["decisions"] == 0 and stats["revocations"] == 0


def test_only_auditors_read_and_nobody_writes(stack: Stack, audit: Audit) -> None:
    # Given a decision
    decided = audit.decide(clean(stack))
    decision_id = decided["decision"]["decisionId"]
    week = period(today() - dt.timedelta(days=6), today(), serviceId=ELDERLY)
    # When an applicant, a reviewer and a caller without a token read the audit API
    reads = [
        audit.api("decisions", week, caller=caller)["statusCode"]
        for caller in (CITIZEN, REVIEWER, None)
    ]
    detail = audit.api(f"decisions/{decision_id}", caller=CITIZEN)["statusCode"]
    # Then it is 403 for the signed-in and 401 without a token
    assert reads == [403, 403, 401] and detail == 403
    # And no write method exists for an auditor: the record is as it was
    before = audit.records()
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        answer = audit.api(f"decisions/{decision_id}", method=method, body={"outcome": "APPROVED"})
        assert answer["statusCode"] in (403, 404, 405), method
        answer = audit.api("decisions", week, method=method, body={"outcome": "APPROVED"})
        assert answer["statusCode"] in (403, 404, 405), method
    assert audit.records() == before


def test_the_audit_function_may_only_read() -> None:
    # Given the audit function's policies in the template
    from infra.local.template import load_yaml
    from tests.integration.test_local_template import TEMPLATE

    function = load_yaml(TEMPLATE)["Resources"]["AuditFunction"]["Properties"]
    actions = {
        action
        for policy in function["Policies"]
        for statement in policy.get("Statement", [])
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    # Then its role can read the decision records and nothing else
    assert actions == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "secretsmanager:GetSecretValue",
    }


def test_questions_without_a_key_are_refused_and_tokens_stay_with_their_query(
    stack: Stack, audit: Audit
) -> None:
    # Given enough decisions for two pages
    for _ in range(3):
        audit.decide(clean(stack))
    week = period(today() - dt.timedelta(days=6), today(), serviceId=ELDERLY)
    first = audit.api("decisions", {**week, "limit": "1"})["json"]
    # When a question names no index key, or a token is used with another query or forged
    no_key = audit.api("decisions", {"outcome": "REJECTED"})
    no_period = audit.api("decisions", {"serviceId": ELDERLY})
    elsewhere = audit.api(
        "decisions", {**week, "outcome": "APPROVED", "nextToken": first["nextToken"]}
    )
    forged = audit.api("decisions", {**week, "nextToken": "eyJxIjoxfQ"})
    unknown = audit.api("decisions", period(today(), today(), serviceId="no-such-service"))
    backwards = audit.api(
        "decisions", period(today(), today() - dt.timedelta(days=1), serviceId=ELDERLY)
    )
    # Then each is refused, never answered with a scan
    assert [no_key["statusCode"], no_period["statusCode"]] == [422, 422]
    assert [elsewhere["statusCode"], forged["statusCode"]] == [400, 400]
    assert unknown["statusCode"] == 404 and backwards["statusCode"] == 422


def test_each_shard_of_a_day_is_its_own_partition(stack: Stack, audit: Audit) -> None:
    # Given many decisions of one service on one day
    for _ in range(12):
        audit.decide(clean(stack))
    # Then their index keys spread over the write shards, and each names the China day
    keys = {r["serviceDayShard"] for r in audit.records()}
    assert 1 < len(keys) <= SHARDS
    assert all(k.startswith(f"{ELDERLY}#{today().isoformat()}#") for k in keys)
    outcome_keys = {r["serviceOutcomeShard"] for r in audit.records()}
    assert all(k.startswith(f"{ELDERLY}#APPROVED#") for k in outcome_keys)
    assert all("deciderKey" not in r for r in audit.records())  # the rules' own: not byDecider
    json.dumps(audit.records())  # plain data
