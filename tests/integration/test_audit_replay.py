"""Replay and what-if through the audit API: every decision of a period reproduces from its
record alone, and a candidate rule set shows how outcomes would change, writing nothing.
(The test that decides every persona comes last: the next test would spend long emptying
the tables it filled.)"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from miaopi.loader import load_service
from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import to_item
from miaopi_platform.records.decision import REVIEWER, sealed
from miaopi_rules import SERVICES_DIR

from tests.integration.conftest import Stack
from tests.integration.test_audit_api import ELDERLY, Audit, period, today

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = ROOT / "infra/whatif/elderly-allowance-minimum-age-85.yaml"
OVERRIDES = ROOT / "infra/whatif/elderly-allowance-minimum-age-85-overrides.yaml"


def in_force_with_minimum_age_85() -> str:
    """The candidate a policy owner makes of the rule set in force today: a copy with the
    minimum age raised from 80 to 85."""
    rule_set = load_service(SERVICES_DIR / ELDERLY).rule_set_on(today())
    assert rule_set is not None
    text = Path(rule_set.path).read_text(encoding="utf-8")
    published = "{from: 2024-01-01, value: 80}"
    assert published in text
    text = text.replace(published, "{from: 2024-01-01, value: 85}")
    return text.replace(f'version: "{rule_set.version}"', 'version: "2027.1"')


def decide_everyone(stack: Stack, audit: Audit, service_ids: set[str] | None = None) -> None:
    """Every persona of the services (each path of each rule, sources down) decided today."""
    for persona in stack.personas:
        if not persona.bulk and (service_ids is None or persona.service_id in service_ids):
            audit.decide(persona)


def reviewer_record(source: dict[str, Any]) -> dict[str, Any]:
    """A reviewer's approval of a referral, as the review workflow records it."""
    return sealed(
        {
            **{k: source[k] for k in ("applicationId", "serviceId", "applicantId", "subjectHash")},
            **{k: source[k] for k in ("ruleSetVersion", "ruleSetHash", "applicationDate")},
            "decisionId": "DEC" + uuid.uuid4().hex[:21].upper(),
            "decidedAt": iso(dt.datetime.now(dt.UTC)),
            "sequence": 2,
            "outcome": "APPROVED",
            "decidedBy": REVIEWER,
            "deciderId": "33333333-aaaa-bbbb-cccc-000000000003",
            "kind": "REFERRAL",
            "reviewOf": source["decisionId"],
            "reasons": [],
            "outputs": {},
            "latencyMs": 5000.0,
        }
    )


def test_a_record_that_no_longer_reproduces_is_reported(stack: Stack, audit: Audit) -> None:
    # Given an approval whose evidence snapshot was changed in the table (hash recomputed)
    approved = audit.decide(next(p for p in stack.personas if p.service_id == ELDERLY))
    record = next(
        r for r in audit.records() if r["decisionId"] == approved["decision"]["decisionId"]
    )
    record["evidence"]["population"]["record"]["alive"] = False
    audit.dynamodb.put_item(TableName=audit.decisions_table, Item=to_item(sealed(record)))
    # When the period is replayed
    (page,) = audit.pages("replays", period(today(), today(), serviceId=ELDERLY))
    (result,) = page["items"]
    # Then it is a MISMATCH naming what differs from the record
    assert result["status"] == "MISMATCH"
    fields = {d["field"]: d for d in result["differences"]}
    assert fields["outcome"]["recorded"] == approved["status"]
    assert fields["outcome"]["replayed"] == "REJECTED"


def test_a_what_if_raising_the_minimum_age_shows_the_approvals_it_would_reject(
    stack: Stack, audit: Audit
) -> None:
    # Given every elderly-allowance persona decided today, under the minimum age of 80
    decide_everyone(stack, audit, {ELDERLY})
    before = audit.records()
    under_85 = [r for r in before if (r.get("facts") or {}).get("age") is not None]
    under_85 = [r for r in under_85 if r["facts"]["age"] < 85 and r["outcome"] != "REJECTED"]
    assert any(r["outcome"] == "APPROVED" for r in under_85)
    # When a policy owner runs the candidate that raises it to 85 over today, four per page
    body = {
        "serviceId": ELDERLY,
        "from": today().isoformat(),
        "to": today().isoformat(),
        "ruleSet": in_force_with_minimum_age_85(),
        "limit": 4,
    }
    pages = []
    while True:
        answer = audit.api("what-if", method="POST", body=body)
        assert answer["statusCode"] == 200, answer["json"]
        pages.append(answer["json"])
        if not answer["json"].get("nextToken"):
            break
        body["nextToken"] = answer["json"]["nextToken"]
    # Then exactly the approvals and referrals of elders under 85 would become REJECTED,
    # because EA-AGE now fails; every other decision keeps its outcome
    changed: dict[tuple[str, str], list[str]] = {}
    rules: dict[str, int] = {}
    for page in pages:
        for t in page["transitions"]:
            if t["from"] != t["to"]:
                changed.setdefault((t["from"], t["to"]), []).extend(t["examples"])
                for effect in t["rules"]:
                    rules[effect["rule"]] = rules.get(effect["rule"], 0) + effect["count"]
    expected: dict[tuple[str, str], list[str]] = {}
    for r in under_85:
        expected.setdefault((r["outcome"], "REJECTED"), []).append(r["decisionId"])
    assert {k: sorted(v) for k, v in changed.items()} == {k: sorted(v) for k, v in expected.items()}
    assert rules == {"EA-AGE now fails": len(under_85)}
    assert sum(p["evaluated"] for p in pages) == len(before)
    assert pages[0]["candidate"]["version"] == "2027.1"
    # And nothing was written
    assert audit.records() == before


def test_a_candidate_that_does_not_load_is_refused(audit: Audit) -> None:
    # Given a candidate whose rule reads a field the form does not have
    text = CANDIDATE.read_text(encoding="utf-8").replace("app.district", "app.distrikt")
    # When it is run
    answer = audit.api(
        "what-if",
        method="POST",
        body={"serviceId": ELDERLY, "from": "2024-01-01", "to": "2024-01-02", "ruleSet": text},
    )
    # Then it is a 422 naming the rule and the problem
    assert answer["statusCode"] == 422
    (detail,) = answer["json"]["error"]["details"]
    assert "EA-DISTRICT" in detail["message"] and "distrikt" in detail["message"]


def test_the_same_what_if_as_parameter_overrides_shows_the_same_changes(
    stack: Stack, audit: Audit
) -> None:
    # Given every elderly-allowance persona decided today, under the minimum age of 80
    decide_everyone(stack, audit, {ELDERLY})
    before = audit.records()

    def run(candidate: Path) -> tuple[dict[str, Any], list[tuple[str, str, int, Any]]]:
        body = {
            "serviceId": ELDERLY,
            "from": today().isoformat(),
            "to": today().isoformat(),
            "ruleSet": candidate.read_text(encoding="utf-8"),
        }
        answer = audit.api("what-if", method="POST", body=body)
        assert answer["statusCode"] == 200, answer["json"]
        page = answer["json"]
        assert not page.get("nextToken")
        moved = [(t["from"], t["to"], t["count"], t["rules"]) for t in page["transitions"]]
        return page["candidate"], sorted(moved)

    # When the policy owner runs the copied rule set, then the file that only overrides the
    # minimum age (infra/whatif/elderly-allowance-minimum-age-85-overrides.yaml)
    full, full_moves = run(CANDIDATE)
    overrides, override_moves = run(OVERRIDES)
    # Then both show the same transitions, with approvals rejected by EA-AGE
    assert override_moves == full_moves
    assert any(was == "APPROVED" and now == "REJECTED" for was, now, _, _ in override_moves)
    # And the overrides candidate is named by its base and label, with a hash of its own
    assert overrides["version"] == "2024.1+minimum-age-85"
    assert overrides["hash"] not in {full["hash"], before[0]["ruleSetHash"]}
    # And nothing was written
    assert audit.records() == before


def test_replaying_a_period_reproduces_every_decision_of_every_service(
    stack: Stack, audit: Audit
) -> None:
    # Given every persona of every service decided today (approvals, each failing rule,
    # each evidence source unavailable) and a reviewer's decision on one referral
    decide_everyone(stack, audit)
    decided = audit.records()
    review = reviewer_record(next(r for r in decided if r["outcome"] == "PENDING_REVIEW"))
    audit.dynamodb.put_item(TableName=audit.decisions_table, Item=to_item(review))
    decided.append(review)
    # When an auditor replays today's decisions of each service, a page of 40 at a time
    results: dict[str, dict[str, Any]] = {}
    for service_id in sorted({r["serviceId"] for r in decided}):
        pages = audit.pages("replays", period(today(), today(), serviceId=service_id, limit="40"))
        results |= {i["decisionId"]: i for p in pages for i in p["items"]}
    # Then every rules' decision reproduces (outcome, failing rules, outputs) and the
    # reviewer's is reported as a human decision, not replayed
    assert set(results) == {r["decisionId"] for r in decided}
    assert len(results) > 150
    not_reproduced = {k: v for k, v in results.items() if v["status"] != "REPRODUCED"}
    assert list(not_reproduced) == [review["decisionId"]]
    assert not_reproduced[review["decisionId"]]["status"] == "NOT_REPLAYED"
    assert "human" in not_reproduced[review["decisionId"]]["note"]
