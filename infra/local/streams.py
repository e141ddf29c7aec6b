"""Event source mappings, locally: poll DynamoDB streams and SQS queues, invoke the functions.

Lambda's semantics, as far as a function can observe them:
- streams: per shard, in order, batches of up to BatchSize (waiting up to
  MaximumBatchingWindowInSeconds to fill one); a failed batch is retried and blocks the
  shard; with ReportBatchItemFailures the records before the first reported failure are
  done and the retry starts at it; BisectBatchOnFunctionError splits a failing batch in
  two (splits do not use up retries); after MaximumRetryAttempts retries (or past
  MaximumRecordAgeInSeconds) the batch's metadata goes to DestinationConfig.OnFailure,
  as the JSON document Lambda sends, and the shard moves on.
- SQS: successful messages are deleted; failed ones (all of them on a function error,
  the reported ones with ReportBatchItemFailures) return to the queue when their
  visibility timeout ends, and the queue's RedrivePolicy moves them on.
Event source mappings are not created in moto (MOTO-NOTES: it would swallow the stream).
Stream checkpoints are kept in a JSON file (the last processed sequence number per shard). A
stack restored from a snapshot has brand-new streams whose records are the restore's own writes:
it passes `starting_position="LATEST"`, which also drops the checkpoints of the old streams.
Every stream's starting point is taken in `start()`, as Lambda does when a mapping is created,
so a write made after `start()` returns is delivered even with LATEST.
With a doorbell (infra/local/doorbell.py: the local moto rings it after every write), a poller
that found nothing waits for its table or queue to be written, up to `idle_wait`, instead of
polling every `poll_interval`: idle pollers cost the API nothing, and a record is picked up as
soon as it is written. A busy poller does not wait between batches.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from infra.local import doorbell
from infra.local.deploy import MOTO_CREDENTIAL, AwsClients, Deployment
from infra.local.events import WireRecord, dynamodb_stream_event, sqs_event
from infra.local.priority import RequestPriority
from infra.local.runtime import Invocation, InvokeError, Runtime
from infra.local.template import EventSource, FunctionSpec

log = logging.getLogger("miaopi.local.streams")

#: seconds between two descriptions of a stream's shards (moto's streams have one, for ever)
SHARDS_TTL = 30.0
#: what a poll raises when moto cannot be reached (refused, reset, timed out)
UNREACHABLE = (EndpointUnreachable, HTTPClientError)


def stream_table(stream_arn: str) -> str:
    """The table of a stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)."""
    return stream_arn.split(":", 5)[-1].split("/")[1]


class Reachability:
    """The log of a polling loop's failures: moto unreachable is one line when it starts and
    one when it is back (a 15 s outage would be a traceback per poll of every loop), anything
    else its traceback."""

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self.logger = logger
        #: when moto stopped answering (None: it answers)
        self.unreachable_since: float | None = None

    def failed(self, err: Exception) -> None:
        if not isinstance(err, UNREACHABLE):
            self.logger.error("%s: poll error", self.name, exc_info=err)
        elif self.unreachable_since is None:
            self.unreachable_since = time.monotonic()
            self.logger.warning(
                "%s: AWS unreachable (%s); polling on", self.name, type(err).__name__
            )

    def answered(self) -> None:
        if self.unreachable_since is not None:
            down = time.monotonic() - self.unreachable_since
            self.unreachable_since = None
            self.logger.info("%s: AWS reachable again after %.1f s", self.name, down)


class Checkpoints:
    """Last processed sequence number per (mapping, stream, shard), in a JSON file."""

    def __init__(self, path: Path | None, *, discard: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}
        if path is not None and discard:
            path.unlink(missing_ok=True)
        elif path is not None and path.exists():
            try:
                self._data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("ignoring unreadable checkpoint file %s", path)

    def get(self, mapping: str, stream_arn: str, shard_id: str) -> str | None:
        with self._lock:
            entry = self._data.get(mapping)
            if not entry or entry.get("streamArn") != stream_arn:
                return None
            seq: str | None = entry.get("shards", {}).get(shard_id)
            return seq

    def last(self, mapping: str, stream_arn: str) -> int | None:
        """The last sequence number a mapping processed on a stream (its lowest shard's)."""
        with self._lock:
            entry = self._data.get(mapping)
            if not entry or entry.get("streamArn") != stream_arn or not entry.get("shards"):
                return None
            return min(int(seq) for seq in entry["shards"].values())

    def put(self, mapping: str, stream_arn: str, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            entry = self._data.get(mapping)
            if not entry or entry.get("streamArn") != stream_arn:
                entry = {"streamArn": stream_arn, "shards": {}}
                self._data[mapping] = entry
            entry["shards"][shard_id] = sequence_number
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self._data, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Poller(threading.Thread):
    def __init__(
        self,
        source: EventSource,
        function: FunctionSpec,
        deployment: Deployment,
        runtime: Runtime,
        clients: AwsClients,
        *,
        poll_interval: float,
        retry_delay: float,
        stop: threading.Event,
        bell: doorbell.Doorbell | None = None,
        idle_wait: float = 2.0,
        priority: RequestPriority | None = None,
    ) -> None:
        super().__init__(name=f"poller-{source.function_id}-{source.event_id}", daemon=True)
        self.priority = priority
        self.source = source
        self.function = function
        self.deployment = deployment
        self.runtime = runtime
        self.clients = clients
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.stopping = stop
        self.mapping = f"{source.function_id}/{source.event_id}"
        self.bell = bell
        self.idle_wait = idle_wait
        #: the doorbell's name of what this mapping reads
        self.bell_name = self.source_name()
        self.reach = Reachability(self.mapping, log)

    def source_name(self) -> str:
        raise NotImplementedError

    def rung(self) -> int:
        """The doorbell's count for this mapping's source now (0 without a doorbell)."""
        return self.bell.count(self.bell_name) if self.bell is not None else 0

    def idle(self, rung: int, due: float | None = None) -> bool:
        """Wait before the next poll: for a write since the count was `rung` (or `idle_wait`),
        or `poll_interval` without a doorbell; at most `due` seconds. False when stopping."""
        if self.bell is None:
            return self.sleep(self.poll_interval if due is None else min(self.poll_interval, due))
        self.bell.wait(self.bell_name, rung, self.idle_wait if due is None else due)
        return not self.stopping.is_set()

    def invoke(self, event: dict[str, Any]) -> Invocation | None:
        """None when the stack is stopping (the batch stays unprocessed)."""
        if self.priority is not None:
            self.priority.yield_to_requests()
        try:
            return self.runtime.invoke(self.source.function_id, event)
        except InvokeError:
            return None

    def failed_items(self, result: Invocation, ids: list[str]) -> set[str]:
        """Identifiers of the records that failed (all of them on a function error)."""
        if not result.ok:
            return set(ids)
        if not self.source.report_batch_item_failures:
            return set()
        payload = result.payload
        failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        failed: set[str] = set()
        for failure in failures or []:
            item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not item or item not in ids:
                return set(ids)  # Lambda treats a malformed response as a whole-batch failure
            failed.add(str(item))
        return failed

    def send_to_destination(self, document: dict[str, Any]) -> bool:
        """Hand records given up on to the OnFailure destination, retrying (backing off to 10 s)
        while it cannot be reached: the records stay this poller's until it has them. False
        when the poller stops first (its checkpoint stays before the records: read again)."""
        delay = max(self.retry_delay, 0.1)
        while True:
            try:
                self._send_to_destination(document)
                return True
            except Exception as err:  # moto down, throttled: never drop the records
                log.warning(
                    "%s: OnFailure destination unreachable (%s); retrying in %.1f s",
                    self.mapping,
                    type(err).__name__,
                    delay,
                )
                if not self.sleep(delay):
                    return False
                delay = min(delay * 2, 10.0)

    def _send_to_destination(self, document: dict[str, Any]) -> None:
        arn = self.source.on_failure_destination
        if not arn:
            log.warning("%s: discarding records after retries (no OnFailure)", self.mapping)
            return
        resource = self.deployment.arn_index().get(arn)
        body = json.dumps(document)
        if arn.startswith("arn:aws:sqs:"):
            url = (
                resource.ref
                if resource
                else self.clients.sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            )
            self.clients.sqs.send_message(QueueUrl=url, MessageBody=body)
        elif arn.startswith("arn:aws:sns:"):
            self.clients.sns.publish(TopicArn=arn, Message=body)
        else:
            log.error("%s: unsupported OnFailure destination %s", self.mapping, arn)

    def sleep(self, seconds: float) -> bool:
        """False when stopping."""
        return not self.stopping.wait(seconds)


class WireGetRecords:
    """GetRecords read straight off moto's answer, which is the wire's DynamoDB JSON already
    (moto_server point 5): botocore would parse every attribute value into Python objects and
    the Lambda event be made JSON again from them, the poller's two largest costs. Called as
    the client's `get_records`, with the same arguments, errors and answer (its records as
    `WireRecord`s)."""

    TARGET = "DynamoDBStreams_20120810.GetRecords"

    def __init__(self, endpoint_url: str, region: str) -> None:
        parts = urlsplit(endpoint_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": self.TARGET,
            # moto reads the region and the service from the credential scope
            "Authorization": f"AWS4-HMAC-SHA256 Credential={MOTO_CREDENTIAL}/20200101/"
            f"{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        }
        self._local = threading.local()

    def __call__(self, *, ShardIterator: str, Limit: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"ShardIterator": ShardIterator}
        if Limit is not None:
            body["Limit"] = Limit
        status, data = self._post(json.dumps(body).encode())
        try:
            answer = json.loads(data) if data else {}
        except ValueError:  # an error page, not JSON
            answer = {}
        if status != 200:
            code = str(answer.get("__type", status)).rsplit("#", 1)[-1]  # botocore's, bodiless
            message = str(answer.get("message") or answer.get("Message") or "")
            raise ClientError({"Error": {"Code": code, "Message": message}}, "GetRecords")
        answer["Records"] = [WireRecord(r) for r in answer.get("Records", [])]
        return cast(dict[str, Any], answer)

    def _post(self, body: bytes) -> tuple[int, bytes]:
        """One request on this thread's kept-alive connection (a new one when it was closed);
        an unreachable moto raises what botocore raises for it."""
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
                self._local.connection = connection
            try:
                connection.request("POST", "/", body, self._headers)
                answer = connection.getresponse()
                return answer.status, answer.read()
            except (http.client.HTTPException, ConnectionResetError, BrokenPipeError) as err:
                # a kept-alive connection the server closed, an answer cut short (moto stopped):
                # once more on a new connection, then unreachable as botocore would say
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise EndpointUnreachable(error=err) from err
            except OSError as err:  # refused, timed out
                connection.close()
                self._local.connection = None
                raise EndpointUnreachable(error=err) from err
        raise AssertionError("unreachable")


class StreamPoller(_Poller):
    """A DynamoDB stream event source mapping."""

    def __init__(
        self,
        *args: Any,
        checkpoints: Checkpoints,
        starting_position: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.checkpoints = checkpoints
        self.starting_position = starting_position or self.source.starting_position
        self.stream_arn = self.source.source_arn
        self.table_name = stream_table(self.stream_arn)
        streams = self.clients.dynamodbstreams
        #: GetRecords off the wire when moto is a server (a get_records set on the client, a
        #: test's stand-in, is used as it is)
        self._get_records = (
            WireGetRecords(self.clients.endpoint_url, self.deployment.region)
            if self.clients.endpoint_url and "get_records" not in vars(streams)
            else streams.get_records
        )
        self._iterators: dict[str, str | None] = {}
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._buffer_since: dict[str, float] = {}
        self._shards: list[str] = []
        self._shards_at = 0.0
        #: seconds until a buffered batch's window ends (None: nothing buffered)
        self._due: float | None = None

    def source_name(self) -> str:
        return doorbell.table(stream_table(self.source.source_arn))

    def shards(self) -> list[str]:
        """The stream's shard ids, described again every SHARDS_TTL seconds."""
        if not self._shards or time.monotonic() - self._shards_at > SHARDS_TTL:
            description = self.clients.dynamodbstreams.describe_stream(StreamArn=self.stream_arn)
            self._shards = [s["ShardId"] for s in description["StreamDescription"]["Shards"]]
            self._shards_at = time.monotonic()
        return self._shards

    def _iterator(self, shard_id: str) -> str:
        streams = self.clients.dynamodbstreams
        seq = self.checkpoints.get(self.mapping, self.stream_arn, shard_id)
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
        if seq is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=seq)
        else:
            kwargs["ShardIteratorType"] = self.starting_position
        return str(streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def prime(self) -> None:
        """Take every shard's starting point now (LATEST means: after what is there now)."""
        try:
            description = self.clients.dynamodbstreams.describe_stream(StreamArn=self.stream_arn)
            for shard in description["StreamDescription"]["Shards"]:
                self._iterators[shard["ShardId"]] = self._iterator(shard["ShardId"])
        except ClientError as err:
            log.warning("%s: %s (starting points taken when polling)", self.mapping, err)

    def run(self) -> None:
        while not self.stopping.is_set():
            rung = self.rung()
            try:
                progressed = self.poll_once()
                self.reach.answered()
            except ClientError as err:
                log.warning("%s: %s", self.mapping, err)
                self._shards = []
                progressed = False
            except Exception as err:
                self.reach.failed(err)
                self._shards = []
                progressed = False
            if not progressed and not self.idle(rung, self._due):
                return

    def poll_once(self) -> bool:
        progressed = False
        self._due = None
        for shard_id in self.shards():
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._iterator(shard_id)
            iterator = self._iterators[shard_id]
            buffer = self._buffers.setdefault(shard_id, [])
            if iterator is not None and len(buffer) < self.source.batch_size:
                try:
                    got = self._get_records(
                        ShardIterator=iterator, Limit=self.source.batch_size - len(buffer)
                    )
                except ClientError as err:
                    if "ExpiredIterator" not in str(err):
                        raise
                    self._iterators[shard_id] = self._iterator(shard_id)
                    continue
                self._iterators[shard_id] = got.get("NextShardIterator")
                if got["Records"]:
                    if not buffer:
                        self._buffer_since[shard_id] = time.monotonic()
                    buffer.extend(got["Records"])
                    progressed = True
            if not buffer:
                continue
            waited = time.monotonic() - self._buffer_since.get(shard_id, 0.0)
            if (
                len(buffer) < self.source.batch_size
                and waited < self.source.maximum_batching_window_s
            ):
                due = self.source.maximum_batching_window_s - waited
                self._due = due if self._due is None else min(self._due, due)
            else:
                batch = buffer[: self.source.batch_size]
                del buffer[: len(batch)]
                self._buffer_since[shard_id] = time.monotonic()
                if not self.deliver(shard_id, batch, attempts=0):
                    return False  # stopping: leave the checkpoint where it is
                self.checkpoints.put(
                    self.mapping,
                    self.stream_arn,
                    shard_id,
                    batch[-1]["dynamodb"]["SequenceNumber"],
                )
                progressed = True
        return progressed

    def deliver(self, shard_id: str, records: list[dict[str, Any]], attempts: int) -> bool:
        """Invoke until the records are done or handed to OnFailure; False when stopping."""
        fresh = self._drop_expired(shard_id, records)
        if fresh is None:
            return False
        pending = fresh
        while pending:
            event = dynamodb_stream_event(pending, self.stream_arn, self.deployment.region)
            result = self.invoke(event)
            if result is None or self.stopping.is_set():
                return False
            ids = [r["dynamodb"]["SequenceNumber"] for r in pending]
            failed = self.failed_items(result, ids)
            if not failed:
                return True
            # Records before the first failure are done; retry from it.
            pending = pending[min(ids.index(i) for i in failed) :]
            if self.source.bisect_batch_on_function_error and len(pending) > 1:
                half = len(pending) // 2
                return self.deliver(shard_id, pending[:half], attempts) and self.deliver(
                    shard_id, pending[half:], attempts
                )
            attempts += 1
            retries = self.source.maximum_retry_attempts
            if retries >= 0 and attempts > retries:
                return self.send_to_destination(
                    self.failure_document(
                        shard_id, pending, result, attempts, "RetryAttemptsExhausted"
                    )
                )
            if not self.sleep(self.retry_delay):
                return False
        return True

    def _drop_expired(
        self, shard_id: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """The records young enough to deliver (the others handed to OnFailure); None when
        stopping before they could be handed over."""
        max_age = self.source.maximum_record_age_s
        if max_age < 0:
            return records
        now = time.time()
        fresh: list[dict[str, Any]] = []
        expired: list[dict[str, Any]] = []
        for r in records:
            created = r["dynamodb"].get("ApproximateCreationDateTime")
            ts = created.timestamp() if isinstance(created, datetime) else float(created or now)
            (expired if now - ts > max_age else fresh).append(r)
        if expired and not self.send_to_destination(
            self.failure_document(shard_id, expired, None, 0, "RecordAgeExceeded")
        ):
            return None
        return fresh

    def failure_document(
        self,
        shard_id: str,
        records: list[dict[str, Any]],
        result: Invocation | None,
        attempts: int,
        condition: str,
    ) -> dict[str, Any]:
        """What Lambda sends to a stream mapping's OnFailure destination."""

        def arrival(r: dict[str, Any]) -> str:
            created = r["dynamodb"].get("ApproximateCreationDateTime")
            if isinstance(created, int | float):  # off the wire: epoch seconds
                created = datetime.fromtimestamp(created, UTC)
            if isinstance(created, datetime):
                return created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return str(created)

        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if result is not None and not result.ok:
            response["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": result.request_id if result else str(uuid.uuid4()),
                "functionArn": self.function.arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _now_iso(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(records[0]),
                "approximateArrivalOfLastRecord": arrival(records[-1]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }


class QueuePoller(_Poller):
    """An SQS event source mapping."""

    def source_name(self) -> str:
        return doorbell.queue(self.source.source_arn.rsplit(":", 1)[-1])

    def run(self) -> None:
        resource = self.deployment.arn_index().get(self.source.source_arn)
        self.queue_url = (
            resource.ref
            if resource
            else self.clients.sqs.get_queue_url(
                QueueName=self.source.source_arn.rsplit(":", 1)[-1]
            )["QueueUrl"]
        )
        while not self.stopping.is_set():
            rung = self.rung()
            try:
                progressed = self.poll_once()
                self.reach.answered()
            except Exception as err:
                self.reach.failed(err)
                progressed = False
            if not progressed and not self.idle(rung):
                return

    def poll_once(self) -> bool:
        batch: list[dict[str, Any]] = []
        started = time.monotonic()
        while len(batch) < self.source.batch_size and not self.stopping.is_set():
            got = self.clients.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(batch)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            batch.extend(got)
            if time.monotonic() - started >= self.source.maximum_batching_window_s:
                break
            if not got and not self.sleep(min(self.poll_interval, 0.1)):
                break
        if not batch:
            return False
        result = self.invoke(sqs_event(batch, self.source.source_arn, self.deployment.region))
        if result is None:
            return False
        # Failed messages stay: they reappear after the visibility timeout (then redrive).
        failed = self.failed_items(result, [m["MessageId"] for m in batch])
        done = [m for m in batch if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.clients.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        return True


#: batches of one queue delivered at once (Lambda starts with five and scales with the backlog)
QUEUE_POLLERS = 2


class EventSourcePollers:
    """One poller thread per DynamoDB/SQS event of every function in the deployment."""

    def __init__(
        self,
        deployment: Deployment,
        runtime: Runtime,
        clients: AwsClients,
        *,
        checkpoint_path: Path | None = None,
        poll_interval: float = 0.25,
        retry_delay: float = 0.5,
        sources: Iterable[EventSource] | None = None,
        starting_position: str | None = None,
        resume_after: dict[str, tuple[str, int]] | None = None,
        bell: doorbell.Doorbell | None = None,
        idle_wait: float = 2.0,
        priority: RequestPriority | None = None,
    ) -> None:
        """`starting_position` (LATEST, TRIM_HORIZON) overrides every stream mapping's own and
        discards the saved checkpoints: for streams that are not the ones checkpointed.
        `resume_after` (table name -> its stream's shard id and a sequence number) discards
        them too and starts every mapping of the table's stream after that record (a restored
        stack: its records start with the saved backlog and the journal's writes).
        `bell`: rung by the moto the pollers read (see the module's docstring); `priority`: a
        poller waits for the API's requests before it delivers a batch (infra/local/priority.py)."""
        self._stop = threading.Event()
        self._bell = bell
        self.checkpoints = Checkpoints(
            checkpoint_path, discard=starting_position is not None or resume_after is not None
        )
        if sources is None:
            sources = [s for f in deployment.functions.values() for s in f.event_sources]
        self.pollers: list[_Poller] = []
        for source in sources:
            if not source.enabled:
                continue
            common: dict[str, Any] = {
                "poll_interval": poll_interval,
                "retry_delay": retry_delay,
                "stop": self._stop,
                "bell": bell,
                "idle_wait": idle_wait,
                "priority": priority,
            }
            function = deployment.functions[source.function_id]
            if source.kind == "DynamoDB":
                self.pollers.append(
                    StreamPoller(
                        source,
                        function,
                        deployment,
                        runtime,
                        clients,
                        checkpoints=self.checkpoints,
                        starting_position=starting_position,
                        **common,
                    )
                )
            else:  # Lambda polls a queue with several batches at once; a stream, one per shard
                self.pollers += [
                    QueuePoller(source, function, deployment, runtime, clients, **common)
                    for _ in range(QUEUE_POLLERS)
                ]

        for poller in self.pollers:
            if isinstance(poller, StreamPoller) and resume_after:
                at = resume_after.get(poller.table_name)
                if at is not None:
                    self.checkpoints.put(poller.mapping, poller.stream_arn, at[0], str(at[1]))

    def unprocessed(self) -> dict[str, int]:
        """Table name -> the first sequence number of its stream some mapping has not
        processed (0: it has processed nothing yet). No AWS call: the snapshot asks this
        while every DynamoDB request waits (persist.py)."""
        out: dict[str, int] = {}
        for poller in self.pollers:
            if isinstance(poller, StreamPoller):
                last = self.checkpoints.last(poller.mapping, poller.stream_arn)
                first = 0 if last is None else last + 1
                out[poller.table_name] = min(first, out.get(poller.table_name, first))
        return out

    def start(self) -> EventSourcePollers:
        for poller in self.pollers:
            if isinstance(poller, StreamPoller):
                poller.prime()
        for poller in self.pollers:
            poller.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Signal every poller; call `Runtime.close()` next to cut in-flight invokes short."""
        self._stop.set()
        if self._bell is not None:
            self._bell.ring([doorbell.EVERY_NAME])  # the idle ones are waiting for it

    def join(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            if poller.is_alive():
                poller.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> EventSourcePollers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.join()
