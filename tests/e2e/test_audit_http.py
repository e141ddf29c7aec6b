"""The auditors over HTTP against the local stack: the real stream poller runs the chain
sequencer, and an auditor uses the CLI to list, show, verify, replay, run a what-if and export;
tampering in the running stack's table is caught; only auditors read, nobody writes."""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
from typer.testing import CliRunner

from infra.cli.audit import app as audit_cli
from infra.local.seed import Persona
from tests.e2e.conftest import Api, Client
from tests.e2e.test_review_http import referred, wait_for

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = ROOT / "infra/whatif/elderly-allowance-minimum-age-85.yaml"
OVERRIDES = ROOT / "infra/whatif/elderly-allowance-minimum-age-85-overrides.yaml"
ELDERLY = "elderly-allowance"
WAIT_S = 30.0


def cli(api: Api, *args: str) -> Any:
    return CliRunner().invoke(
        audit_cli, [*args, "--stack-file", str(api.stack_file)], catch_exceptions=False
    )


def today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def submit_all(api: Api, service_id: str, outcome: str | None = None) -> dict[str, Persona]:
    """Every live persona of a service (of one expected outcome), each as someone new in its
    situation applying for themselves: decision id -> whom it is for."""
    personas = api.fresh_all(
        [
            p
            for p in api.live_personas
            if p.service_id == service_id and outcome in (None, p.expected_outcome)
        ]
    )
    decided = {}
    for persona in personas:
        answer = api.applicant_for(persona).submit(service_id, persona.application)
        assert answer.status == 201, answer.text
        decided[answer.body["decision"]["decisionId"]] = persona
    return decided


def wait_chained(api: Api, service_id: str, decision_ids: list[str]) -> None:
    """Until the sequencer (a stream poller of the stack) has chained every one of them."""
    auditor = api.client("auditor")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        chained = [auditor.get(f"/audit/decisions/{d}").body.get("chain") for d in decision_ids]
        if all(chained):
            return
        time.sleep(0.3)
    raise AssertionError("the sequencer did not chain the new records")


def test_an_auditor_answers_the_questions_with_the_cli(api: Api, tmp_path: Path) -> None:
    # Given elders' elderly-allowance applications of every path, chained by the stack
    decided = list(submit_all(api, ELDERLY))
    wait_chained(api, ELDERLY, decided)
    # When the auditor asks for today's rejections of the elderly allowance
    listed = cli(
        api, "decisions", "--service", ELDERLY, "--outcome", "REJECTED", "--today", "--json"
    )
    # Then they come with the rules that failed and why
    assert listed.exit_code == 0, listed.output
    rejections = [json.loads(line) for line in listed.output.splitlines()]
    mine = [r for r in rejections if r["decisionId"] in decided]
    assert mine and all(r["outcome"] == "REJECTED" and r["reasons"] for r in mine)
    assert "EA-AGE" in {reason["ruleId"] for r in mine for reason in r["reasons"]}
    # And one of them in full verifies and replays
    shown = cli(api, "show", mine[0]["decisionId"], "--json")
    detail = json.loads(shown.output)
    assert detail["hashes"]["contentMatches"] and detail["hashes"]["linkMatches"]
    assert detail["replay"]["status"] == "REPRODUCED"
    # And the service's chains verify, and today replays with zero mismatches
    verified = cli(api, "verify", "--service", ELDERLY, "--today")
    assert verified.exit_code == 0, verified.output
    assert "chains verified" in verified.output
    replayed = cli(api, "replay", "--service", ELDERLY, "--today")
    assert replayed.exit_code == 0, replayed.output
    assert "0 mismatches" in replayed.output
    # And the what-if of a minimum age of 85 shows approvals becoming rejections by EA-AGE
    what_if = cli(
        api, "what-if", "--service", ELDERLY, "--rules", str(CANDIDATE), "--today", "--json"
    )
    assert what_if.exit_code == 0, what_if.output
    moved = {(t["from"], t["to"]): t for t in json.loads(what_if.output)["transitions"]}
    assert moved[("APPROVED", "REJECTED")]["rules"] == {
        "EA-AGE now fails": moved[("APPROVED", "REJECTED")]["count"]
    }
    # And the same what-if written as a parameter override shows the same transitions
    overridden = cli(
        api, "what-if", "--service", ELDERLY, "--rules", str(OVERRIDES), "--today", "--json"
    )
    assert overridden.exit_code == 0, overridden.output
    answer = json.loads(overridden.output)
    assert answer["candidate"]["version"] == "2024.1+minimum-age-85"
    assert answer["transitions"] == json.loads(what_if.output)["transitions"]
    # And the decisions export as CSV, one row each
    exported = tmp_path / "decisions.csv"
    done = cli(
        api, "export", "--service", ELDERLY, "--today", "--format", "csv", "-o", str(exported)
    )
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(exported.open(encoding="utf-8")))
    assert set(decided) <= {r["decisionId"] for r in rows}
    assert {r["decisionId"]: r["failingRules"] for r in rows}[mine[0]["decisionId"]]


def test_statistics_and_an_applicants_decisions(api: Api) -> None:
    # Given approvals of the elderly allowance
    decided = submit_all(api, ELDERLY, "APPROVED")
    decision_id, persona = next(iter(decided.items()))
    # When the auditor asks for the figures and for one elder's decisions by ID number
    stats = cli(api, "stats", "--service", ELDERLY, "--today", "--json")
    found = cli(api, "decisions", "--applicant", persona.application["idNumber"], "--json")
    # Then the figures count them, and the elder's decisions are found by the hashed number
    assert stats.exit_code == 0, stats.output
    figures = json.loads(stats.output)
    assert figures["system"]["approved"] >= len(decided)
    assert found.exit_code == 0, found.output
    elders = [json.loads(line) for line in found.output.splitlines()]
    assert {d["serviceId"] for d in elders} == {ELDERLY}
    assert decision_id in {d["decisionId"] for d in elders}


def test_why_an_application_was_referred_is_one_command(api: Api) -> None:
    # Given a referred application that a reviewer rejected on the rule that referred it
    application, applicant = referred(api)
    app_id, task_id = application["applicationId"], "TSK" + application["applicationId"][3:]
    reviewer = api.client("reviewer")
    wait_for(lambda: reviewer.get(f"/reviews/{task_id}").status == 200, "the review task")
    rule = reviewer.get(f"/reviews/{task_id}").body["referredRules"][0]
    decided = reviewer.request(
        "POST",
        f"/reviews/{task_id}/decision",
        json={"decision": "REJECT", "reasonCodes": [rule]},
    )
    assert decided.status == 202, decided.text
    wait_for(
        lambda: applicant.get(f"/applications/{app_id}").body["status"] == "REJECTED",
        "the reviewer's decision recorded",
    )
    # When the auditor asks for the application's decisions, as JSON and as a table
    listed = cli(api, "decisions", "--application", app_id, "--json")
    shown = cli(api, "decisions", "--application", app_id)
    # Then the rules' referral and the reviewer's rejection come in order, each with its reasons
    assert listed.exit_code == 0, listed.output
    found = [json.loads(line) for line in listed.output.splitlines()]
    assert [(d["outcome"], d["decidedBy"]) for d in found] == [
        ("PENDING_REVIEW", "SYSTEM"),
        ("REJECTED", "REVIEWER"),
    ]
    assert rule in [r["ruleId"] for r in found[0]["reasons"]]
    assert found[1]["reviewOf"] == found[0]["decisionId"]
    assert [r["ruleId"] for r in found[1]["reasons"]] == [rule]
    # And the table is titled with the application and the index that answered
    assert shown.exit_code == 0, shown.output
    assert f"{app_id}, all time (2, index byApplication)" in shown.output
    # And a malformed id is refused by the API: exit status 1
    assert cli(api, "decisions", "--application", app_id.lower()).exit_code == 1


def test_only_auditors_read_and_nobody_writes(api: Api, citizen: Client) -> None:
    # Given an applicant, a reviewer, an anonymous caller and an auditor
    auditor = api.client("auditor")
    query = {"serviceId": ELDERLY, "from": today(), "to": today()}
    # When they read, or the auditor tries to write
    reads = [
        c.get("/audit/decisions", params=query).status
        for c in (citizen, api.client("reviewer"), api.client(None), auditor)
    ]
    writes = [
        auditor.request(method, "/audit/decisions", json={"outcome": "APPROVED"}).status
        for method in ("POST", "PUT", "DELETE")
    ]
    # Then only the auditor reads; no write method exists (API Gateway answers 403 there)
    assert reads == [403, 403, 401, 200]
    assert all(status in (403, 404, 405) for status in writes)


def test_tampering_in_the_running_stack_is_caught(api: Api) -> None:
    # Given chained ride-hailing vehicle permits, one then altered straight in the table
    service = "ride-hailing-vehicle-permit"
    decided = list(submit_all(api, service, "APPROVED"))
    wait_chained(api, service, decided)
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=api.info["motoEndpoint"],
        region_name=api.info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = api.info["tables"]["DecisionsTable"]
    dynamodb.update_item(
        TableName=table,
        Key={"decisionId": {"S": decided[0]}},
        UpdateExpression="SET outcome = :o",
        ExpressionAttributeValues={":o": {"S": "REJECTED"}},
    )
    # When the auditor verifies the service's chains
    verified = cli(api, "verify", "--service", service, "--today")
    # Then verification fails, naming the altered record
    assert verified.exit_code == 1
    assert "ALTERED" in verified.output and decided[0] in verified.output.replace("\n", "")
