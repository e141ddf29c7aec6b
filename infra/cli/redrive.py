"""`python -m infra.cli.redrive`: inspect and re-drive the stream failures queue (template.yaml's
StreamFailuresQueue), where Lambda puts a stream batch its function gave up on.

    python -m infra.cli.redrive list   [--queue-url URL]        # one line per entry
    python -m infra.cli.redrive show   MESSAGE_ID [--queue-url URL]
    python -m infra.cli.redrive redrive [MESSAGE_ID] [--queue-url URL]   # all, or one

An entry is Lambda's on-failure document: which function, which stream, shard and sequence
numbers, how many attempts, why (`condition`) — metadata only, never a record's content, so
nothing printed here is personal data. `redrive` reads the batch's records back from the stream
(while the stream keeps them: 24 hours), hands them to the function that failed as the same
DynamoDB stream event, and deletes the entry once every record went through; an entry that is
not such a document, or whose records the stream no longer holds, stays (the reconciler repairs
what it can of those: reconcile/flow.py). `--queue-url` defaults to $STREAM_FAILURES_QUEUE_URL.
AWS credentials and region come from the environment (AWS_ENDPOINT_URL too, for moto).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import boto3
import typer

Invoker = Callable[[str, dict[str, Any]], dict[str, Any]]

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0] if __doc__ else None)
QueueUrl = Annotated[str, typer.Option(envvar="STREAM_FAILURES_QUEUE_URL", help="the queue")]
#: the metadata `show` prints; anything else in a document is left out
_SHOWN = ("requestContext", "responseContext", "timestamp", "DDBStreamBatchInfo", "version")


@dataclass(frozen=True, slots=True)
class Entry:
    message_id: str
    receipt: str
    document: dict[str, Any] | None

    @property
    def batch(self) -> dict[str, Any]:
        return dict((self.document or {}).get("DDBStreamBatchInfo") or {})

    @property
    def function_arn(self) -> str:
        return str((self.document or {}).get("requestContext", {}).get("functionArn", ""))

    def summary(self) -> dict[str, Any]:
        if not self.batch:
            return {"messageId": self.message_id, "readable": False}
        context = (self.document or {}).get("requestContext", {})
        return {
            "messageId": self.message_id,
            "function": self.function_arn.rsplit(":", 1)[-1],
            "table": self.batch.get("streamArn", "").split("/")[1:2][0]
            if "/" in self.batch.get("streamArn", "")
            else "",
            "batchSize": self.batch.get("batchSize"),
            "firstSequence": self.batch.get("startSequenceNumber"),
            "lastSequence": self.batch.get("endSequenceNumber"),
            "condition": context.get("condition"),
            "attempts": context.get("approximateInvokeCount"),
            "at": (self.document or {}).get("timestamp"),
        }

    def shown(self) -> dict[str, Any]:
        return {k: (self.document or {})[k] for k in _SHOWN if k in (self.document or {})}


def entries(sqs: Any, queue_url: str) -> list[Entry]:
    """Every entry on the queue, left in place and visible again for the next reader."""
    found: dict[str, Entry] = {}
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in found]
        if not fresh:
            break
        for message in fresh:
            try:
                document = json.loads(message["Body"])
            except ValueError:
                document = None
            found[message["MessageId"]] = Entry(
                message["MessageId"],
                message["ReceiptHandle"],
                document if isinstance(document, dict) else None,
            )
    for entry in found.values():
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=entry.receipt, VisibilityTimeout=0
        )
    return list(found.values())


def batch_records(streams: Any, batch: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's records, read back from its stream shard (first to last sequence number)."""
    iterator = streams.get_shard_iterator(
        StreamArn=batch["streamArn"],
        ShardId=batch["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=batch["startSequenceNumber"],
    )["ShardIterator"]
    last = int(batch["endSequenceNumber"])
    out: list[dict[str, Any]] = []
    while iterator:
        answer = streams.get_records(ShardIterator=iterator, Limit=100)
        for record in answer.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > last:
                return out
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            if created is not None and not isinstance(created, int | float | str):
                record["dynamodb"]["ApproximateCreationDateTime"] = created.timestamp()
            out.append({**record, "eventSourceARN": batch["streamArn"]})
        if not answer.get("Records"):
            break
        iterator = answer.get("NextShardIterator")
    return out


def redrive_entry(sqs: Any, streams: Any, queue_url: str, entry: Entry, invoke: Invoker) -> bool:
    """Hand the entry's batch to its function again; True (and the entry deleted) when every
    record went through."""
    batch = entry.batch
    if not batch or not entry.function_arn:
        return False
    records = batch_records(streams, batch)
    if len(records) != int(batch.get("batchSize", 0)):
        return False  # the stream no longer holds the whole batch
    answer = invoke(entry.function_arn, {"Records": records})
    if answer.get("functionError") or answer.get("batchItemFailures"):
        return False
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=entry.receipt)
    return True


def lambda_invoker(client: Any) -> Invoker:
    def invoke(function_arn: str, event: dict[str, Any]) -> dict[str, Any]:
        answer = client.invoke(FunctionName=function_arn, Payload=json.dumps(event, default=str))
        payload = json.loads(answer["Payload"].read() or b"{}")
        result = payload if isinstance(payload, dict) else {}
        if answer.get("FunctionError"):
            result["functionError"] = answer["FunctionError"]
        return result

    return invoke


@app.command("list")
def list_entries(queue_url: QueueUrl) -> None:
    """One line per entry: function, table, sequence numbers, attempts, why."""
    for entry in entries(boto3.client("sqs"), queue_url):
        typer.echo(json.dumps(entry.summary(), ensure_ascii=False))


@app.command()
def show(message_id: str, queue_url: QueueUrl) -> None:
    """One entry's failure document (metadata only)."""
    for entry in entries(boto3.client("sqs"), queue_url):
        if entry.message_id == message_id:
            typer.echo(json.dumps(entry.shown(), indent=2, ensure_ascii=False))
            return
    typer.echo(f"no entry {message_id}", err=True)
    raise typer.Exit(1)


@app.command()
def redrive(
    queue_url: QueueUrl, message_id: Annotated[str | None, typer.Argument()] = None
) -> None:
    """Re-drive every entry (or one); exit 1 when any stays on the queue."""
    sqs, streams = boto3.client("sqs"), boto3.client("dynamodbstreams")
    invoke = lambda_invoker(boto3.client("lambda"))
    left = 0
    for entry in entries(sqs, queue_url):
        if message_id and entry.message_id != message_id:
            continue
        done = redrive_entry(sqs, streams, queue_url, entry, invoke)
        left += not done
        typer.echo(json.dumps({"messageId": entry.message_id, "redriven": done}))
    if left:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
