"""Supervision on the local stack, with the real stream pollers: every record of the decisions
stream is either processed or dead-lettered to the on-failure queue — counts in equal counts out."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3

from tests.e2e.conftest import Api

WAIT_S = 60.0


def aws(api: Api, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=api.info["motoEndpoint"],
        region_name=api.info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_counts_in_equal_processed_plus_dead_lettered(api: Api) -> None:
    # Given five automatic approvals and two poison decision records (an unknown service); five
    # elders in the same situation, as one elder is granted the allowance once
    persona = next(
        p
        for p in api.live_personas
        if p.service_id == "elderly-allowance"
        and p.expected_outcome == "APPROVED"
        and not p.expected_failing
    )
    approvals = []
    for elder in api.fresh_all([persona] * 5):
        answer = api.applicant_for(elder).submit("elderly-allowance", elder.application)
        assert answer.body["status"] == "APPROVED", answer.text
        approvals.append(answer.body["decision"]["decisionId"])
    dynamodb, sqs = aws(api, "dynamodb"), aws(api, "sqs")
    tables, queues = api.info["tables"], api.info["queues"]
    poison = [f"DECPOISON{uuid.uuid4().hex[:12].upper()}" for _ in range(2)]
    for decision_id in poison:
        dynamodb.put_item(
            TableName=tables["DecisionsTable"],
            Item={
                "decisionId": {"S": decision_id},
                "applicationId": {"S": "APP-POISON"},
                "serviceId": {"S": "no-such-service"},
                "outcome": {"S": "APPROVED"},
                "decidedBy": {"S": "SYSTEM"},
                "decidedAt": {"S": "2026-11-27T00:00:00.000Z"},
            },
        )
    supervision_arn = api.info["functions"]["SupervisionFunction"]
    # When the decisions stream is delivered to supervision
    processed: set[str] = set()
    dead: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and (len(processed) < 5 or len(dead) < 2):
        for decision_id in set(approvals) - processed:
            item = dynamodb.get_item(
                TableName=tables["SupervisionTable"], Key={"decisionId": {"S": decision_id}}
            )
            if "Item" in item:
                processed.add(decision_id)
        messages = sqs.receive_message(
            QueueUrl=queues["StreamFailuresQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        for message in messages:
            document = json.loads(message["Body"])
            if document["requestContext"]["functionArn"].endswith(f":{supervision_arn}"):
                dead.append(document)
                sqs.delete_message(
                    QueueUrl=queues["StreamFailuresQueue"], ReceiptHandle=message["ReceiptHandle"]
                )
        time.sleep(0.25)
    # Then every approval was supervised and each poison record was dead-lettered on its own
    dead_lettered = sum(d["DDBStreamBatchInfo"]["batchSize"] for d in dead)
    assert len(processed) == 5
    assert dead_lettered == 2
    assert all(d["requestContext"]["condition"] == "RetryAttemptsExhausted" for d in dead)
    # And so counts in (5 + 2) equal counts out (processed + dead-lettered)
    assert len(processed) + dead_lettered == len(approvals) + len(poison)
