"""Outcome events over HTTP against the local stack (结果推送、主动送达): the applications stream
feeds the publisher, moto's EventBridge delivers through the template's rules to the
departments' queues and the inbox queue, the department stand-ins change the reference data."""

from __future__ import annotations

import time
from typing import Any

import boto3

from tests.e2e.conftest import Api, Client
from tests.e2e.test_review_http import cli, referred, wait_for


def licence_record(api: Api, number: str) -> dict[str, Any]:
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=api.info["motoEndpoint"],
        region_name=api.info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = dynamodb.Table(api.info["tables"]["ReferenceDataTable"])
    item = table.get_item(Key={"source": "e-licence-library", "key": number}).get("Item") or {}
    record: dict[str, Any] = item.get("record") or {}
    return record


def inbox(client: Client) -> list[dict[str, Any]]:
    answer = client.get("/notifications")
    assert answer.status == 200, answer.text
    items: list[dict[str, Any]] = answer.body["items"]
    return items


def test_an_approved_cancellation_cancels_the_licence_and_a_second_one_is_rejected(
    api: Api,
) -> None:
    # Given a pharmacy chain whose store's licence is VALID in the e-licence library
    persona, chain = api.fresh_applicant(
        next(
            p
            for p in api.live_personas
            if p.service_id == "drug-license-cancellation" and p.expected_outcome == "APPROVED"
        )
    )
    number = persona.application["licenceNumber"]
    assert licence_record(api, number)["status"] == "VALID"
    # When the chain cancels it and the cancellation is approved
    first = chain.submit("drug-license-cancellation", persona.application)
    assert first.status == 201 and first.body["status"] == "APPROVED", first.text
    # Then the e-licence library shows it CANCELLED, marked with the approval that did it
    cancelled = wait_for(
        lambda: (r := licence_record(api, number)).get("status") == "CANCELLED" and r,
        "the licence CANCELLED",
    )
    assert cancelled["effectOf"]["applicationId"] == first.body["applicationId"]
    # And a second cancellation of the same licence is rejected, naming the licence's state
    again = chain.submit("drug-license-cancellation", persona.application)
    assert again.status == 201 and again.body["status"] == "REJECTED", again.text
    failing = {r["ruleId"] for r in again.body["decision"]["reasons"]}
    assert "DL-VALID" in failing
    # And supervision leaves the approval standing: the cancellation is its own effect
    time.sleep(1.0)
    mine = chain.get(f"/applications/{first.body['applicationId']}").body
    assert mine["status"] == "APPROVED"
    # And the chain's inbox says the cancellation was approved
    notes = wait_for(
        lambda: [n for n in inbox(chain) if n["applicationId"] == first.body["applicationId"]],
        "the approval in the inbox",
    )
    assert notes[0]["outcome"] == "APPROVED" and notes[0]["read"] is False


def test_the_inbox_shows_a_reviewers_decision_without_polling_the_application(api: Api) -> None:
    # Given a referred application whose applicant's inbox has nothing about it yet
    application, applicant = referred(api)
    app_id = application["applicationId"]
    assert not [n for n in inbox(applicant) if n["applicationId"] == app_id]
    task_id = "TSK" + app_id[3:]
    reviewer = api.client("reviewer")
    wait_for(lambda: reviewer.get(f"/reviews/{task_id}").status == 200, "the review task")
    # When a reviewer approves it
    decided = cli(api, "decide", task_id, "approve", "--comment", "diploma checked")
    assert decided.exit_code == 0, decided.output
    # Then the applicant's inbox shows the reviewer's approval, newest first, unread
    note = wait_for(
        lambda: next((n for n in inbox(applicant) if n["applicationId"] == app_id), None),
        "the reviewer's decision in the inbox",
    )
    assert note["outcome"] == "APPROVED" and note["decidedBy"] == "REVIEWER"
    assert note["certificateNumber"] and note["read"] is False
    assert note["message"]["zh"] and note["message"]["en"]
    # And marking it read shows it read; someone else cannot read or mark it
    read = applicant.request(
        "PATCH", f"/notifications/{note['notificationId']}", json={"read": True}
    )
    assert read.status == 200 and read.body["read"] is True, read.text
    other = api.new_applicant()
    assert (
        other.request(
            "PATCH", f"/notifications/{note['notificationId']}", json={"read": True}
        ).status
        == 404
    )
    assert not [n for n in inbox(other) if n["applicationId"] == app_id]
