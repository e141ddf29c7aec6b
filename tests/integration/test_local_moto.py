"""The local stack's moto (infra/local/moto_server.py): its shortcuts answer what moto answers,
its doorbell names what a request wrote, and the API's requests go first."""

from __future__ import annotations

import io
import json
import threading
import time
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


def test_queue_attributes_read_through_the_shortcut_are_the_attributes_moto_computes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a queue with a dead-letter queue and messages in flight, and a FIFO queue that
    # deduplicates by content
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName="failed")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
        work = sqs.create_queue(QueueName="work", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
        fifo = sqs.create_queue(
            QueueName="work.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )["QueueUrl"]
        for n in range(5):
            sqs.send_message(QueueUrl=work, MessageBody=f"m{n}")
        sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=2)  # two in flight
        original = {
            url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            for url in (work, fifo)
        }

        # When they are read, and a FIFO message sent twice, through the local moto's mapping
        monkeypatch.setattr(moto_server.Queue, "attributes", property(moto_server.QueueAttributes))
        shortcut = {
            url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            for url in (work, fifo)
        }
        for _ in range(2):
            sqs.send_message(QueueUrl=fifo, MessageBody="once", MessageGroupId="g")
        counted = sqs.get_queue_attributes(
            QueueUrl=work,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        fifo_count = sqs.get_queue_attributes(
            QueueUrl=fifo, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]

    # Then the SDK reads the very same attributes, counts included, and the FIFO queue still
    # drops the duplicate
    assert shortcut == original
    assert json.loads(original[work]["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn
    assert counted == {
        "ApproximateNumberOfMessages": "3",
        "ApproximateNumberOfMessagesNotVisible": "2",
    }
    assert fifo_count == {"ApproximateNumberOfMessages": "1"}


CHOOSE = {
    "StartAt": "Which",
    "States": {
        "Which": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": True},
    },
}


def test_executions_sharing_a_definitions_components_each_get_their_own_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a workflow whose executions share its evaluation components (no Map, no Parallel)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(
        moto_server.ExecutionWorker,
        "_get_evaluation_entrypoint",
        moto_server._evaluation_entrypoint,
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="choose",
            definition=json.dumps(CHOOSE),
            roleArn="arn:aws:iam::123456789012:role/workflow",
        )["stateMachineArn"]

        # When twenty executions with different inputs run at once
        arns = [
            sfn.start_execution(stateMachineArn=machine, name=f"n{n}", input=json.dumps({"n": n}))[
                "executionArn"
            ]
            for n in range(20)
        ]
        outputs: dict[int, Any] = {}
        deadline = time.monotonic() + 20
        while len(outputs) < len(arns) and time.monotonic() < deadline:
            for n, arn in enumerate(arns):
                described = sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    outputs[n] = (described["status"], json.loads(described.get("output", "null")))
            time.sleep(0.05)

    # Then each ran its own path and gave its own output, and the definition was built once
    assert outputs == {
        n: ("SUCCEEDED", {"n": n, "size": "big" if n > 1 else "small"}) for n in range(20)
    }
    assert json.dumps(CHOOSE) in moto_server._PROGRAMS
    assert moto_server._stateless(json.dumps(CHOOSE))
    assert not moto_server._stateless(
        json.dumps({"StartAt": "M", "States": {"M": {"Type": "Map", "End": True}}})
    )


def _put_and_read(dynamodb: Any, item: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """What moto answers to a put of `item` (the error code, or "") and then holds for its key."""
    try:
        dynamodb.put_item(TableName="records-test", Item=item)
        refused = ""
    except dynamodb.exceptions.ClientError as err:
        refused = f"{err.response['Error']['Code']}: {err.response['Error']['Message']}"
    got = dynamodb.get_item(TableName="records-test", Key={"id": item["id"]}).get("Item")
    return refused, got


def test_items_built_with_one_size_check_are_the_items_and_refusals_moto_gives(
    streams: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given items of every shape, one just under moto's size limit and one over it
    dynamodb, _client, _arn = streams
    nested = {"M": {"list": {"L": [{"S": "秒批"}, {"N": "1"}, {"M": {"b": {"BOOL": True}}}]}}}
    cases: list[dict[str, Any]] = [
        {"id": {"S": "small"}, "n": {"N": "3"}, "nested": nested, "set": {"SS": ["a", "b"]}},
        {"id": {"S": "near"}, "big": {"S": "x" * 399_000}},
        {"id": {"S": "over"}, "big": {"S": "x" * 300_000}, "more": {"S": "y" * 110_000}},
    ]

    # When moto builds them itself, and then with the patch
    plain = [_put_and_read(dynamodb, item) for item in cases]
    for item in cases:
        dynamodb.delete_item(TableName="records-test", Key={"id": item["id"]})
    monkeypatch.setattr(moto_server.Item, "__init__", moto_server.item_init)
    patched = [_put_and_read(dynamodb, item) for item in cases]

    # Then the same items are stored, and the same one is refused with the same error
    assert patched == plain
    assert [refused == "" for refused, _ in plain] == [True, True, False]
    assert "size" in plain[2][0]


def test_a_response_class_lists_the_same_actions_once_patched(
    streams: tuple[Any, Any, str],
) -> None:
    # Given moto's own list of a response class's functions
    from moto.core.utils import method_names_from_class
    from moto.dynamodb.responses import DynamoHandler

    # When the patched lookup is asked, twice
    listed = moto_server.method_names_from_class(DynamoHandler)
    again = moto_server.method_names_from_class(DynamoHandler)

    # Then it names every action moto names, and the second answer is the kept one
    assert listed == frozenset(method_names_from_class(DynamoHandler))
    assert "transact_write_items" in listed
    assert again is listed


def test_answers_with_plain_attribute_values_put_as_they_are_are_the_answers_moto_serializes(
    streams: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given items of every attribute type (binary among them, which takes moto's own walk)
    dynamodb, _client, _arn = streams
    items: list[dict[str, Any]] = [
        {
            "id": {"S": "rich"},
            "text": {"S": '秒批 "quoted" \\ \n'},
            "empty": {"S": ""},
            "number": {"N": "12.50"},
            "flag": {"BOOL": False},
            "nothing": {"NULL": True},
            "names": {"SS": ["甲", "乙"]},
            "numbers": {"NS": ["1", "2.5"]},
            "deep": {"M": {"l": {"L": [{"M": {}}, {"L": []}, {"N": "0"}, {"BOOL": True}]}}},
        },
        {"id": {"S": "binary"}, "blob": {"B": b"\x00\x01"}, "m": {"M": {"b": {"BS": [b"a"]}}}},
    ]
    for item in items:
        dynamodb.put_item(TableName="records-test", Item=item)

    def answers() -> list[Any]:
        return [
            dynamodb.get_item(TableName="records-test", Key={"id": {"S": "rich"}})["Item"],
            dynamodb.get_item(TableName="records-test", Key={"id": {"S": "binary"}})["Item"],
            dynamodb.get_item(TableName="records-test", Key={"id": {"S": "absent"}}).get("Item"),
            sorted(dynamodb.scan(TableName="records-test")["Items"], key=lambda i: str(i["id"])),
            dynamodb.batch_get_item(
                RequestItems={"records-test": {"Keys": [{"id": {"S": "rich"}}]}}
            )["Responses"],
            dynamodb.update_item(
                TableName="records-test",
                Key={"id": {"S": "rich"}},
                UpdateExpression="SET #n = :n",
                ExpressionAttributeNames={"#n": "number"},
                ExpressionAttributeValues={":n": {"N": "12.50"}},
                ReturnValues="ALL_NEW",
            )["Attributes"],
        ]

    # When they are read back through moto's serializer, and then with the shortcut
    walked = answers()
    monkeypatch.setattr(moto_server.BaseJSONSerializer, "_serialize", moto_server.serialize_json)
    shortcut = answers()

    # Then the answers are the same, and they are the items as written
    assert shortcut == walked
    assert walked[0] == items[0]
    assert walked[1] == items[1]


def test_only_dynamodb_json_with_nothing_to_convert_counts_as_plain() -> None:
    # Given attribute values of every kind
    plain = [{"S": "x"}, {"N": "1"}, {"NULL": True}, {"SS": ["a"]}, {"M": {"k": {"L": []}}}]
    walked = [
        {"B": b"x"},
        {"BS": [b"x"]},
        {"M": {"k": {"B": b"x"}}},
        {"N": 1},
        {"S": "x", "N": "1"},
    ]

    # When each is judged / Then only those the walk would copy as they are count as plain
    assert all(moto_server.plain_attribute_value(v) for v in plain)
    assert not any(moto_server.plain_attribute_value(v) for v in walked)


def test_queries_over_their_candidates_answer_what_moto_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a table with a range key and two indexes (one keyed by a string, one by a number),
    # and items spread over several keys
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="q",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": t}
                for n, t in (("pk", "S"), ("sk", "N"), ("owner", "S"), ("at", "S"), ("n", "N"))
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "byOwner",
                    "KeySchema": [
                        {"AttributeName": "owner", "KeyType": "HASH"},
                        {"AttributeName": "at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]},
                },
                {
                    "IndexName": "byNumber",
                    "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                },
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(40):
            item = {
                "pk": {"S": f"p{i % 4}"},
                "sk": {"N": str(i)},
                "at": {"S": f"2026-11-{i % 28 + 1:02d}T{i:02d}"},
                "n": {"N": str(i % 3)},
                "x": {"S": "秒" * i},
            }
            if i % 5:  # a sparse index: some items have no owner
                item["owner"] = {"S": f"o{i % 3}"}
            dynamodb.put_item(TableName="q", Item=item)
        queries: list[dict[str, Any]] = [
            {"KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": {":v": {"S": "p1"}}},
            {
                "KeyConditionExpression": "pk = :v AND sk BETWEEN :a AND :b",
                "ExpressionAttributeValues": {
                    ":v": {"S": "p2"},
                    ":a": {"N": "5"},
                    ":b": {"N": "30"},
                },
                "ScanIndexForward": False,
            },
            {
                "KeyConditionExpression": "pk = :v",
                "ExpressionAttributeValues": {":v": {"S": "nope"}},
            },
            {
                "IndexName": "byOwner",
                "KeyConditionExpression": "#o = :o AND #a < :t",
                "ExpressionAttributeNames": {"#o": "owner", "#a": "at"},
                "ExpressionAttributeValues": {":o": {"S": "o1"}, ":t": {"S": "2026-11-20"}},
                "ScanIndexForward": False,
            },
            {
                "IndexName": "byOwner",
                "KeyConditionExpression": "#o = :o",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {":o": {"S": "o2"}, ":s": {"N": "10"}},
                "FilterExpression": "sk > :s",
            },
            {
                "IndexName": "byNumber",
                "KeyConditionExpression": "n = :n",
                "ExpressionAttributeValues": {":n": {"N": "1.0"}},
            },
        ]

        def answers() -> list[Any]:
            out = []
            for query in queries:
                pages, start = [], None
                while True:  # in pages of 3, to check where each page starts
                    kwargs = {"TableName": "q", "Limit": 3, **query}
                    if start:
                        kwargs["ExclusiveStartKey"] = start
                    answer = dynamodb.query(**kwargs)
                    pages.append((answer["Items"], answer["Count"]))
                    start = answer.get("LastEvaluatedKey")
                    if not start:
                        break
                out.append(pages)
            return out

        # When the queries are answered by moto, and then over their candidates alone
        plain = answers()
        monkeypatch.setattr(moto_server.Table, "query", moto_server.table_query)
        patched = answers()

    # Then every page of every query is the same, and the queries did find items
    assert patched == plain
    assert all(any(items for items, _ in pages) for pages in plain[:2] + plain[3:])
