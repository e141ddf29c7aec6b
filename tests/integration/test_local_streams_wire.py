"""The stream pollers read GetRecords off moto's answer (infra/local/streams.WireGetRecords):
the events they build from it are the events boto3's parsed records made, and its errors are
boto3's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.server import ThreadedMotoServer

from infra.local import moto_server
from infra.local.events import dynamodb_stream_event
from infra.local.stack import free_port
from infra.local.streams import WireGetRecords

REGION = "us-east-1"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/wire-test/stream/x"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # the stack's GetRecords (moto_server point 5), as the local stack serves it
    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_server.get_records)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        moto.stop()


def clients(endpoint: str) -> tuple[Any, Any]:
    def make(service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make("dynamodb"), make("dynamodbstreams")


def test_events_from_the_wire_are_the_events_from_boto3s_records(server: str) -> None:
    # Given a table whose stream holds an INSERT, a MODIFY and a REMOVE of items of every type
    dynamodb, streams = clients(server)
    arn = dynamodb.create_table(
        TableName="wire-test",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    item = {
        "id": {"S": "a-1"},
        "text": {"S": '秒批 "quoted" \\'},
        "number": {"N": "12.50"},
        "blob": {"B": b"\x00\x01binary"},
        "blobs": {"BS": [b"x", b"y"]},
        "names": {"SS": ["甲", "乙"]},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "deep": {"M": {"l": {"L": [{"N": "1"}, {"M": {"b": {"B": b"z"}}}]}}},
    }
    dynamodb.put_item(TableName="wire-test", Item=item)
    dynamodb.put_item(TableName="wire-test", Item={**item, "number": {"N": "13"}})
    dynamodb.delete_item(TableName="wire-test", Key={"id": {"S": "a-1"}})
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def iterator() -> str:
        return str(
            streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        )

    # When they are read through boto3 and off the wire, and made into Lambda's event
    parsed = streams.get_records(ShardIterator=iterator(), Limit=10)
    wire = WireGetRecords(server, REGION)(ShardIterator=iterator(), Limit=10)
    from_boto3 = dynamodb_stream_event(parsed["Records"], ARN, REGION)
    from_wire = dynamodb_stream_event(wire["Records"], ARN, REGION)

    # Then the events are the same JSON, record for record
    assert [r["eventName"] for r in from_wire["Records"]] == ["INSERT", "MODIFY", "REMOVE"]
    assert json.dumps(from_wire, sort_keys=True) == json.dumps(from_boto3, sort_keys=True)
    assert from_wire["Records"][0]["dynamodb"]["NewImage"]["blob"] == {"B": "AAFiaW5hcnk="}
    assert "NextShardIterator" in wire


def test_a_bad_iterator_and_an_unreachable_moto_raise_what_boto3_raises(server: str) -> None:
    # Given boto3's client and the wire reader of a running moto, and one of a closed port
    _dynamodb, streams = clients(server)
    reader = WireGetRecords(server, REGION)
    closed = WireGetRecords(f"http://127.0.0.1:{free_port()}", REGION)

    # When each is asked for the records of an iterator moto never gave
    with pytest.raises(ClientError) as by_boto3:
        streams.get_records(ShardIterator="not-an-iterator", Limit=1)
    with pytest.raises(ClientError) as by_wire:
        reader(ShardIterator="not-an-iterator", Limit=1)
    with pytest.raises(EndpointUnreachable):
        closed(ShardIterator="any", Limit=1)

    # Then the refusal has boto3's error code and operation, and a closed port is unreachable
    assert by_wire.value.response["Error"]["Code"] == by_boto3.value.response["Error"]["Code"]
    assert by_wire.value.operation_name == by_boto3.value.operation_name == "GetRecords"
