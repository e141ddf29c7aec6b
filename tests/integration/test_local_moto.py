"""The local stack's moto (infra/local/moto_server.py): its shortcuts answer what moto answers,
its doorbell names what a request wrote, and the API's requests go first."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from infra.local import doorbell, moto_server
from infra.local.priority import RequestPriority


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        table = dynamodb.create_table(
            TableName="records-test",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield (
            dynamodb,
            boto3.client("dynamodbstreams"),
            table["TableDescription"]["LatestStreamArn"],
        )


def read_stream(client: Any, arn: str) -> list[dict[str, Any]]:
    shard = client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = client.get_records(ShardIterator=iterator)["Records"]
    return records


def test_stream_records_read_through_the_shortcut_are_the_records_moto_serves(
    streams: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an item of every attribute type written, then changed (an INSERT and a MODIFY)
    dynamodb, client, arn = streams
    item = {
        "id": {"S": "a-1"},
        "text": {"S": '秒批 "quoted"'},
        "number": {"N": "12.50"},
        "blob": {"B": b"\x00\x01binary"},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "strings": {"SS": ["x", "y"]},
        "numbers": {"NS": ["1", "2"]},
        "blobs": {"BS": [b"\x02", b"\x03"]},
        "list": {"L": [{"S": "one"}, {"N": "2"}, {"M": {"deep": {"B": b"\x04"}}}]},
        "map": {"M": {"inner": {"L": [{"BOOL": False}]}, "s": {"S": "v"}}},
    }
    dynamodb.put_item(TableName="records-test", Item=item)
    dynamodb.update_item(
        TableName="records-test",
        Key={"id": {"S": "a-1"}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "text"},
        ExpressionAttributeValues={":t": {"S": "changed"}},
    )
    original = read_stream(client, arn)

    # When the same stream is read through the local moto's GetRecords
    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_server.get_records)
    shortcut = read_stream(client, arn)
    again = read_stream(client, arn)  # the records' JSON as kept from the first read

    # Then the SDK reads the very same records
    assert [r["eventName"] for r in original] == ["INSERT", "MODIFY"]
    assert shortcut == original
    assert again == original


def environ(target: str, body: dict[str, Any] | bytes, content_type: str = "") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {
        "HTTP_X_AMZ_TARGET": target,
        "wsgi.input": io.BytesIO(raw),
        "CONTENT_TYPE": content_type,
    }


def test_the_doorbell_names_the_tables_and_queues_a_request_writes() -> None:
    # Given requests as the SDK sends them
    transact = {
        "TransactItems": [
            {"Put": {"TableName": "apps", "Item": {"TableName": {"S": "not a table"}}}},
            {"Update": {"TableName": "decisions", "Key": {}}},
            {"ConditionCheck": {"TableName": "apps", "Key": {}}},
        ]
    }
    batch = {"RequestItems": {"reference": [], "credit": []}}
    send = {"QueueUrl": "http://127.0.0.1:5000/123456789012/review-queue", "MessageBody": "x"}

    # When the doorbell's names are taken from them
    # Then writes name what they write, reads nothing
    assert moto_server.written(environ("DynamoDB_20120810.TransactWriteItems", transact)) == [
        doorbell.table("apps"),
        doorbell.table("decisions"),
    ]
    assert moto_server.written(environ("DynamoDB_20120810.BatchWriteItem", batch)) == [
        doorbell.table("reference"),
        doorbell.table("credit"),
    ]
    assert moto_server.written(environ("AmazonSQS.SendMessage", send)) == [
        doorbell.queue("review-queue")
    ]
    assert moto_server.written(environ("AWSEvents.PutEvents", {"Entries": []})) == [
        doorbell.EVERY_QUEUE
    ]
    publish = b"Action=Publish&TopicArn=arn"
    assert moto_server.written(environ("", publish, "application/x-www-form-urlencoded")) == [
        doorbell.EVERY_QUEUE
    ]
    assert moto_server.written(environ("DynamoDB_20120810.GetItem", {"TableName": "a"})) == []
    assert moto_server.written(environ("AmazonSQS.ReceiveMessage", send)) == []


def test_a_waiter_wakes_for_its_own_name_and_every_queue_ring_not_for_another() -> None:
    # Given a bell and the counts a waiter saw
    bell = doorbell.Doorbell()
    queue, other = doorbell.queue("inbox"), doorbell.table("apps")
    seen = bell.count(queue)

    # When another name is rung, then every queue
    bell.ring([other])
    woke_for_other = bell.wait(queue, seen, 0.01)
    bell.ring([doorbell.EVERY_QUEUE])

    # Then only the second wakes the queue's waiter
    assert not woke_for_other
    assert bell.wait(queue, seen, 5.0)


def test_background_work_waits_for_the_requests_in_flight() -> None:
    # Given a request being answered
    priority = RequestPriority(max_wait=0.01)
    answered = threading.Event()
    waited: list[bool] = []

    def background() -> None:
        waited.append(priority.yield_to_requests(max_wait=10.0))

    with priority.request():
        # When background work asks to go ahead, a moment later the request is answered
        worker = threading.Thread(target=background)
        worker.start()
        busy = priority.yield_to_requests()  # bounded: goes ahead after max_wait
        answered.set()
    worker.join(10.0)

    # Then it went ahead when the request was done (and a bounded wait gives up)
    assert busy is False
    assert waited == [True]
    assert priority.in_flight == 0
