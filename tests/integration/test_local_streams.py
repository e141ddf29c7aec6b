"""Local event source mappings: Lambda's retry, partial-batch and OnFailure semantics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from infra.local.deploy import AwsClients, Deployment, deploy
from infra.local.runtime import Runtime
from infra.local.streams import EventSourcePollers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class Harness:
    def __init__(self, deployment: Deployment, clients: AwsClients, log: Path) -> None:
        self.deployment = deployment
        self.clients = clients
        self.log = log

    def put(self, table_id: str, item_id: str, kind: str = "ok") -> None:
        self.clients.dynamodb.put_item(
            TableName=self.deployment.tables[table_id],
            Item={"id": {"S": item_id}, "kind": {"S": kind}},
        )

    def invocations(self, function_id: str) -> list[list[str]]:
        if not self.log.exists():
            return []
        name = self.deployment.functions[function_id].name
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [line["ids"] for line in lines if line["function"] == name]

    def failure_documents(self) -> list[dict[str, Any]]:
        url = self.deployment.queues["FailureQueue"]
        messages = self.clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

    def sequence_numbers(self, table_id: str) -> dict[str, str]:
        streams = self.clients.dynamodbstreams
        arn = self.deployment.stream_arns[table_id]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        return {r["dynamodb"]["Keys"]["id"]["S"]: r["dynamodb"]["SequenceNumber"] for r in records}


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with mock_aws():
        clients = AwsClients.create()
        deployment = deploy(FIXTURES / "streams.yaml", clients, stack_name="streams-test")
        yield Harness(deployment, clients, tmp_path / "invocations.jsonl")


def run_pollers(h: Harness, tmp_path: Path) -> tuple[Runtime, EventSourcePollers]:
    runtime = Runtime(
        h.deployment.functions,
        endpoint_url=None,
        region="us-east-1",
        extra_env={"RECORD_LOG": str(h.log)},
    )
    pollers = EventSourcePollers(
        h.deployment,
        runtime,
        h.clients,
        checkpoint_path=tmp_path / "checkpoints.json",
        poll_interval=0.05,
        retry_delay=0.0,
    ).start()
    return runtime, pollers


def stop(runtime: Runtime, pollers: EventSourcePollers) -> None:
    pollers.stop()
    runtime.close()
    pollers.join()
    assert not any(p.is_alive() for p in pollers.pollers)


def test_partial_batch_failure_retries_only_from_the_failed_record(
    harness: Harness, tmp_path: Path
) -> None:
    # Given four records, the third failing once, written before the mapping starts
    for item_id, kind in [("r1", "ok"), ("r2", "ok"), ("r3", "fail-once"), ("r4", "ok")]:
        harness.put("PartialTable", item_id, kind)
    seqs = harness.sequence_numbers("PartialTable")

    # When the local event source mapping delivers them
    runtime, pollers = run_pollers(harness, tmp_path)
    try:
        calls = wait_for(
            lambda: (
                len(harness.invocations("PartialConsumer")) >= 2
                and harness.invocations("PartialConsumer")
            )
        )
        time.sleep(0.3)  # would a third delivery happen?
        calls = harness.invocations("PartialConsumer")
    finally:
        stop(runtime, pollers)

    # Then one batch, then a retry starting at the failed record, and nothing discarded
    assert calls == [["r1", "r2", "r3", "r4"], ["r3", "r4"]]
    assert harness.failure_documents() == []
    checkpoint = json.loads((tmp_path / "checkpoints.json").read_text())
    assert checkpoint["PartialConsumer/PartialStream"]["shards"].popitem()[1] == seqs["r4"]


def test_records_given_up_wait_for_an_unreachable_failure_queue_and_are_never_dropped(
    harness: Harness, tmp_path: Path
) -> None:
    # Given a poison record, and a failure queue that cannot be reached for its first 3 sends
    # (moto down for a while)
    harness.put("PoisonTable", "q1", "poison")
    send = harness.clients.sqs.send_message
    refused: list[str] = []

    def unreachable_at_first(**kwargs: Any) -> Any:
        if len(refused) < 3:
            refused.append(kwargs["QueueUrl"])
            raise EndpointConnectionError(endpoint_url=kwargs["QueueUrl"])
        return send(**kwargs)

    harness.clients.sqs.send_message = unreachable_at_first  # type: ignore[method-assign]

    # When the mapping gives the record up, and later records come
    runtime, pollers = run_pollers(harness, tmp_path)
    try:
        documents = wait_for(harness.failure_documents)
        harness.put("PoisonTable", "q2", "ok")
        later = wait_for(lambda: [c for c in harness.invocations("PoisonConsumer") if "q2" in c])
    finally:
        stop(runtime, pollers)

    # Then the record reaches the queue once it can be reached, after the refused tries, and
    # the stream goes on behind it
    assert len(refused) == 3
    assert [d["requestContext"]["condition"] for d in documents] == ["RetryAttemptsExhausted"]
    assert later


def test_poison_record_goes_to_the_on_failure_queue_and_the_rest_is_processed(
    harness: Harness, tmp_path: Path
) -> None:
    # Given five records with a poison one in the middle (bisect on, 2 retries)
    for item_id in ["p1", "p2", "p3", "p4", "p5"]:
        harness.put("PoisonTable", item_id, "poison" if item_id == "p3" else "ok")
    seqs = harness.sequence_numbers("PoisonTable")

    # When the mapping runs until the poison record is given up
    runtime, pollers = run_pollers(harness, tmp_path)
    try:
        documents = wait_for(harness.failure_documents)
        calls = harness.invocations("PoisonConsumer")
    finally:
        stop(runtime, pollers)

    # Then only the poison record's metadata goes to the OnFailure queue, as Lambda sends it
    assert len(documents) == 1
    doc = documents[0]
    info = doc["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == seqs["p3"]
    assert info["batchSize"] == 1
    assert info["streamArn"] == harness.deployment.stream_arns["PoisonTable"]
    assert doc["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert (
        doc["requestContext"]["functionArn"] == harness.deployment.functions["PoisonConsumer"].arn
    )
    # And retries are bounded: the batch, then the bisected poison record 1 + 2 times
    delivered = [item for call in calls for item in call]
    assert delivered.count("p3") == 1 + 1 + 2
    # And the records before it were delivered once, those after it until they succeeded
    assert delivered.count("p1") == delivered.count("p2") == 1
    assert {"p4", "p5"} <= set(delivered)
    assert calls[0] == ["p1", "p2", "p3", "p4", "p5"]


def test_an_unreachable_moto_is_one_line_per_poller_and_its_records_come_after_it(
    harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a record, and streams that cannot be read for the first half second (moto down)
    harness.put("PartialTable", "u1", "ok")
    get_records = harness.clients.dynamodbstreams.get_records
    back_at = time.monotonic() + 0.5
    refused: list[str] = []

    def unreachable_for_a_while(**kwargs: Any) -> Any:
        if time.monotonic() < back_at:
            refused.append(kwargs["ShardIterator"])
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:5000/")
        return get_records(**kwargs)

    harness.clients.dynamodbstreams.get_records = unreachable_for_a_while  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="miaopi.local.streams")

    # When the mappings poll through the outage
    runtime, pollers = run_pollers(harness, tmp_path)
    try:
        calls = wait_for(lambda: harness.invocations("PartialConsumer"))
    finally:
        stop(runtime, pollers)

    # Then the record is delivered once moto answers, and each poller said once that moto was
    # unreachable and once that it was back, without a traceback, though it polled many times
    assert calls == [["u1"]]
    mappings = ["PartialConsumer/PartialStream", "PoisonConsumer/PoisonStream"]
    assert len(refused) > 2 * len(mappings)
    lines = [r.getMessage() for r in caplog.records if r.name == "miaopi.local.streams"]
    for mapping in mappings:
        said = [line for line in lines if line.startswith(f"{mapping}: AWS")]
        assert [line.split(" (")[0].split(" after")[0] for line in said] == [
            f"{mapping}: AWS unreachable",
            f"{mapping}: AWS reachable again",
        ]
    assert not [r for r in caplog.records if r.exc_info]
