"""Manual review over HTTP against the local stack: the real pollers deliver the applications
stream to the workflow starter and the review queue to the task function, moto's Step Functions
executes the workflow, and a reviewer works the queue with the CLI."""

from __future__ import annotations

import json
import time
from typing import Any

from typer.testing import CliRunner

from infra.cli.review import app as review_cli
from tests.e2e.conftest import Api, Client

WAIT_S = 30.0


def referred(api: Api, service_id: str = "graduate-hukou") -> tuple[dict[str, Any], Client]:
    """A referred application of someone new in a referred persona's situation, and its
    applicant (whom it is for, signed in)."""
    persona, applicant = api.fresh_applicant(
        next(
            p
            for p in api.live_personas
            if p.service_id == service_id and p.expected_outcome == "PENDING_REVIEW"
        )
    )
    answer = applicant.submit(service_id, persona.application)
    assert answer.status == 201 and answer.body["status"] == "PENDING_REVIEW", answer.text
    body: dict[str, Any] = answer.body
    return body, applicant


def wait_for(predicate: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def cli(api: Api, *args: str) -> Any:
    result = CliRunner().invoke(
        review_cli, [*args, "--stack-file", str(api.stack_file)], catch_exceptions=False
    )
    return result


def test_a_referred_application_is_decided_by_a_reviewer_with_the_cli(api: Api) -> None:
    # Given an applicant's referred application
    application, applicant = referred(api)
    task_id = "TSK" + application["applicationId"][3:]
    reviewer = api.client("reviewer")
    # When its task reaches the queue (stream -> workflow -> queue -> task function)
    task = wait_for(
        lambda: (
            reviewer.get(f"/reviews/{task_id}").body
            if reviewer.get(f"/reviews/{task_id}").status == 200
            else None
        ),
        "the review task",
    )
    assert task["status"] == "OPEN" and task["dueBy"] == application["review"]["dueBy"]
    # And the reviewer lists the queue as JSON and decides with the CLI
    listed = cli(api, "queue", "--service", "graduate-hukou", "--json", "--all")
    assert listed.exit_code == 0, listed.output
    assert task_id in [json.loads(line)["taskId"] for line in listed.output.splitlines()]
    decided = cli(api, "decide", task_id, "approve", "--comment", "diploma checked")
    # Then the CLI reports the decision recorded, and the applicant sees the reviewer's approval
    assert decided.exit_code == 0, decided.output
    assert "recorded" in decided.output
    mine = applicant.get(f"/applications/{application['applicationId']}").body
    assert mine["status"] == "APPROVED"
    assert mine["decision"]["decidedBy"] == "REVIEWER" and mine["certificate"]["number"]
    # And deciding it again is refused with a clear error and exit status 1
    again = cli(api, "decide", task_id, "reject", "--reason", "GH-FULL-TIME")
    assert again.exit_code == 1 and "409" in again.output


def test_the_cli_rejects_with_the_rules_it_names(api: Api) -> None:
    # Given a referred application in the queue
    application, applicant = referred(api, "ride-hailing-driver-permit")
    task_id = "TSK" + application["applicationId"][3:]
    reviewer = api.client("reviewer")
    task = wait_for(
        lambda: (
            reviewer.get(f"/reviews/{task_id}").body
            if reviewer.get(f"/reviews/{task_id}").status == 200
            else None
        ),
        "the review task",
    )
    rule = task["referredRules"][0]
    shown = cli(api, "show", task_id)
    assert shown.exit_code == 0 and rule in shown.output
    # When the reviewer rejects it naming that rule
    decided = cli(api, "decide", task_id, "reject", "--reason", rule)
    # Then the applicant's application is REJECTED with that rule's reason
    assert decided.exit_code == 0, decided.output
    mine = applicant.get(f"/applications/{application['applicationId']}").body
    assert mine["status"] == "REJECTED"
    assert [r["ruleId"] for r in mine["decision"]["reasons"]] == [rule]


def test_applicants_and_auditors_cannot_use_the_review_api(api: Api, citizen: Client) -> None:
    # Given signed-in users outside the reviewers group
    auditor = api.client("auditor")
    # When they call the reviewer API
    answers = [citizen.get("/reviews"), auditor.get("/reviews"), api.client(None).get("/reviews")]
    # Then it is 403 for the signed-in and 401 without a token
    assert [a.status for a in answers] == [403, 403, 401]
