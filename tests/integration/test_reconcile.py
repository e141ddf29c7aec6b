"""Nothing stranded: each thing the stream-driven steps can leave undone is broken on purpose
in process (moto, the template's tables and workflow), and the scheduled reconciler repairs it
once — a second run repairs nothing."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from miaopi_platform.reconcile.flow import Repairs, reconcile

from tests.integration.conftest import Invoke, Stack
from tests.integration.test_submit_handler import submit

REFERRED = "graduate-hukou"


class Reconciler:
    def __init__(self, stack: Stack, invoke: Invoke) -> None:
        self.stack = stack
        self.invoke = invoke
        self.deps = stack.module("ReconcilerFunction").dependencies
        self.ddb = stack.clients.dynamodb
        self.sfn = stack.clients.stepfunctions
        self.machine = stack.deployment.state_machines["ReviewStateMachine"]

    def run(self) -> Repairs:
        # two minutes from now: every item written by the test is past the grace minute
        return reconcile(self.deps, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2))

    def submit(self, service_id: str, outcome: str, key: str) -> dict[str, Any]:
        persona = self.stack.fresh(self.stack.persona(service_id, outcome))
        response = submit(
            self.invoke, self.stack, persona.application, key=key, service_id=service_id
        )
        assert response["json"]["status"] == outcome, response["json"]
        return dict(response["json"])

    def execution(self, name: str) -> dict[str, Any]:
        arn = self.machine.replace(":stateMachine:", ":execution:") + f":{name}"
        return dict(self.sfn.describe_execution(executionArn=arn))


@pytest.fixture
def reconciler(stack: Stack, invoke: Invoke) -> Reconciler:
    stack.clear("REVIEW_TASKS_TABLE", "SUPERVISION_TABLE", "CHAIN_HEADS_TABLE")
    return Reconciler(stack, invoke)


def test_a_referral_whose_workflow_never_started_or_was_stopped_gets_one_once(
    reconciler: Reconciler,
) -> None:
    # Given a referred application whose stream record never reached the review starter
    app_id = reconciler.submit(REFERRED, "PENDING_REVIEW", "key-reconcile-0001")["applicationId"]
    # When the reconciler runs
    first = reconciler.run()
    # Then its workflow is started under its usual name, and nothing else needed repair
    assert first.review_workflows == 1
    assert reconciler.execution(app_id)["status"] == "RUNNING"
    # And when that workflow fails (its task token answered with a failure, broken on purpose)
    reconciler.sfn.send_task_failure(taskToken=_token(reconciler, app_id), error="Broken")
    _closed(reconciler, app_id)
    second = reconciler.run()
    # Then a new one is started under the next name, and a further run repairs nothing
    assert second.review_workflows == 1
    assert reconciler.execution(f"{app_id}-r1")["status"] == "RUNNING"
    assert reconciler.run().as_metrics() | {"CalendarDaysUncovered": 0} == _nothing()


def test_a_lost_supervision_record_is_written_again_once(reconciler: Reconciler) -> None:
    # Given an automatic approval whose supervision record the stream wrote (here: a first run)
    approval = reconciler.submit("elderly-allowance", "APPROVED", "key-reconcile-0002")
    decision_id = approval["decision"]["decisionId"]
    assert reconciler.run().supervision_records == 1
    table = reconciler.stack.table("SUPERVISION_TABLE")
    # When the record is deleted, and the reconciler runs
    reconciler.ddb.delete_item(TableName=table, Key={"decisionId": {"S": decision_id}})
    repaired = reconciler.run()
    # Then it is written again through supervision's own path, and only once
    assert repaired.supervision_records == 1
    item = reconciler.ddb.get_item(TableName=table, Key={"decisionId": {"S": decision_id}})
    assert item["Item"]["status"]["S"] == "UNDER_SUPERVISION"
    assert reconciler.run().as_metrics() | {"CalendarDaysUncovered": 0} == _nothing()


def test_a_record_without_its_chain_position_is_chained_again_once(
    reconciler: Reconciler,
) -> None:
    # Given two decision records, chained (the first run chains what the stream did not)
    first = reconciler.submit("elderly-allowance", "APPROVED", "key-reconcile-0003")
    reconciler.submit("elderly-allowance", "APPROVED", "key-reconcile-0004")
    assert reconciler.run().chain_positions == 2
    table = reconciler.stack.table("DECISIONS_TABLE")
    key = {"decisionId": {"S": first["decision"]["decisionId"]}}
    before = reconciler.ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    # When one record's chain position is removed
    reconciler.ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="REMOVE chainId, chainSeq, prevHash, #hash, chainedAt",
        ExpressionAttributeNames={"#hash": "hash"},
    )
    repaired = reconciler.run()
    # Then it is appended to its chain again by the sequencer's own conditional append
    assert repaired.chain_positions == 1
    record = reconciler.ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    # (at the head of its chain: the position it lost stays a gap the audit verification shows)
    assert record["chainId"] == before["chainId"]
    assert int(record["chainSeq"]["N"]) == int(before["chainSeq"]["N"]) + 1
    assert record["prevHash"] == before["hash"]
    assert reconciler.run().as_metrics() | {"CalendarDaysUncovered": 0} == _nothing()


def _nothing() -> dict[str, int]:
    return {
        "ReconciledReviewWorkflows": 0,
        "ReconciledSupervisionRecords": 0,
        "ReconciledChainPositions": 0,
        "ReconcileRefused": 0,
        "CalendarDaysUncovered": 0,
    }


def _token(reconciler: Reconciler, application_id: str) -> str:
    """The task token the workflow sent to the review queue for the application."""
    sqs = reconciler.stack.clients.sqs
    url = reconciler.stack.deployment.queues["ReviewQueue"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            body = json.loads(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if body["task"]["applicationId"] == application_id:
                return str(body["taskToken"])
    raise AssertionError("the workflow sent no task")


def _closed(reconciler: Reconciler, name: str) -> None:
    deadline = time.monotonic() + 10
    while reconciler.execution(name)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reconciler.execution(name)["status"] != "RUNNING"


def test_a_failed_stream_batch_is_listed_without_personal_data_and_redriven_once(
    reconciler: Reconciler,
) -> None:
    from infra.cli.redrive import entries, redrive_entry
    from tests.integration.conftest import _Context

    stack = reconciler.stack
    sqs, streams = stack.clients.sqs, stack.clients.dynamodbstreams
    url = stack.deployment.queues["StreamFailuresQueue"]
    sqs.purge_queue(QueueUrl=url)
    # Given an approval whose decisions-stream batch the chain sequencer gave up on (its
    # on-failure document on the queue, as Lambda writes it), and a poison message beside it
    persona = stack.fresh(stack.persona("elderly-allowance", "APPROVED"))
    approval = submit(
        reconciler.invoke,
        stack,
        persona.application,
        key="key-reconcile-0005",
        service_id="elderly-allowance",
    )["json"]
    decision_id = approval["decision"]["decisionId"]
    table = stack.table("DECISIONS_TABLE")
    stream_arn = reconciler.ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard, sequence = _stream_position(streams, stream_arn, decision_id)
    function = stack.deployment.functions["ChainSequencerFunction"]
    document = {
        "requestContext": {
            "functionArn": function.arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11,
        },
        "timestamp": "2026-11-30T00:00:00Z",
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": sequence,
            "endSequenceNumber": sequence,
            "batchSize": 1,
            "streamArn": stream_arn,
        },
    }
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(document))
    sqs.send_message(QueueUrl=url, MessageBody="not a failure document")
    # When ops list the queue
    listed = [e.summary() for e in entries(sqs, url)]
    # Then both entries show, the document's function and table, and no personal data
    assert sorted(str(e.get("function")) for e in listed) == sorted([function.name, "None"])
    assert not any(str(v) in json.dumps(listed) for v in _personal(persona.application))

    def invoke(arn: str, event: dict[str, Any]) -> dict[str, Any]:
        handler = stack.module("ChainSequencerFunction").lambda_handler
        return dict(handler(event, _Context("ChainSequencerFunction")))

    # When they re-drive every entry
    time.sleep(0.1)
    results = [redrive_entry(sqs, streams, url, e, invoke) for e in entries(sqs, url)]
    # Then the batch goes through the sequencer (the record is chained) and leaves the queue,
    # the poison message stays for a person, and a second re-drive changes nothing
    assert sorted(results) == [False, True]
    record = reconciler.ddb.get_item(
        TableName=table, Key={"decisionId": {"S": decision_id}}, ConsistentRead=True
    )["Item"]
    assert "hash" in record
    left = list(entries(sqs, url))
    assert [e.summary()["readable"] for e in left] == [False]
    assert [redrive_entry(sqs, streams, url, e, invoke) for e in left] == [False]
    assert reconciler.run().chain_positions == 0


def _stream_position(streams: Any, stream_arn: str, decision_id: str) -> tuple[str, str]:
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
            keys = record["dynamodb"]["Keys"]
            if record["eventName"] == "INSERT" and keys["decisionId"]["S"] == decision_id:
                return shard["ShardId"], record["dynamodb"]["SequenceNumber"]
    raise AssertionError("no stream record")


def _personal(application: Any) -> list[str]:
    """The string values of an application form (names, ID numbers, ...)."""
    if isinstance(application, dict):
        return [v for value in application.values() for v in _personal(value)]
    return [application] if isinstance(application, str) and len(application) > 5 else []
