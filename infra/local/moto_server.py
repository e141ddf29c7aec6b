"""Fixes to moto (5.2.x) for a local stack serving concurrent requests (start_moto).

Set MIAOPI_PLAIN_MOTO=1 to run without them and see moto's race and slowness.

1. moto's DynamoDB backend is not thread-safe, and ThreadedMotoServer serves each request on
   its own thread. DynamoDB requests (X-Amz-Target DynamoDB_* and DynamoDBStreams_*) are run
   one at a time here. Without it, concurrent submissions fail with "dictionary changed size
   during iteration" (HTTP 500, the API answers 503), and a duplicate that loses the race rolls
   its whole-table snapshot back over the winner's write: the application vanishes.
2. transact_write_items deep-copies every table it touches (items and all stream records) as
   its rollback snapshot: each write costs O(table size), about 3 ms per stored application,
   so a stack slows down as it fills (~300 ms per submission after 180). Here it snapshots
   only the items the transaction touches, and the stream records' count, and restores those
   in place; safe because of (1): nothing else changes the tables in between.
3. Projecting an item (every item an index with an INCLUDE projection answers, and every
   ProjectionExpression) converted the whole item to plain JSON once per projected attribute:
   about 30 ms for a decision record through the auditors' summary indexes, so a page of 1,000
   took half a minute. Here only the projected top-level attributes are converted, once.
4. werkzeug's development server closes the connection after every response, so each AWS call
   of every function and poller paid a new TCP connection and a new server thread. Here the
   same moto application is served on kept-alive HTTP/1.1 connections (the body is read whole,
   the answer sent with its Content-Length), and moto's dispatcher remembers which backend
   serves a host instead of listing moto's package directory on every request.
5. GetRecords answered through moto's generic response serializer, which walks the output shape
   attribute by attribute: ~10 ms for a batch of decision records, paid by each of the three
   consumers of the decisions stream, inside (1). A stream record is DynamoDB JSON already and
   never changes, so it is dumped once and reused.
6. Every Step Functions execution parsed its state machine's definition again with ANTLR (~50 ms
   of CPU for the review workflow, with every other thread of the stack waiting for the GIL),
   and every JSONPath (a workflow's paths, EventBridge's input templates) built a new parser
   (~0.7 ms). Here a definition's parse tree and a path's parsed form are kept. The evaluation
   components built from the tree (~28 ms a review workflow) are kept too, and shared by the
   executions of a definition without Map or Parallel states: their components hold no state
   of an execution (retries count in the execution's environment); a Map's run record and a
   Parallel's workers do, so those definitions get fresh components each time.
7. Every AWS call a workflow's task made created a new boto3 client (~20 ms of CPU under the GIL,
   and a new TCP connection, so a new moto server thread): a restart resuming 2,000 review
   workflows spent most of its time there. Here one client per region and service is made and
   shared (botocore clients are thread-safe); its connections are kept alive.
8. An SQS queue's `attributes` computed every attribute, the three message counts among them
   (each a pass over every message in the queue), and SendMessage reads it three times for one
   flag: a send cost O(messages), ~10 ms with 2,000 waiting review tasks in the queue. Here
   the attributes are a mapping that computes an attribute when it is read.
9. Building an item checked the item's size at every attribute it set, each time summing the
   size of every attribute set before (nested maps and lists walked again): O(attributes²) per
   item, for every item a put, an update or a transaction builds; ~10% of moto's DynamoDB time
   under the load bench. Here an item's size is summed once, with the same limit and the same
   error (the sizes only add up, so the last check was the one that counted).
10. Every request listed its response class's methods with `inspect.getmembers` to see whether
   it has the action (~3% of moto's DynamoDB time). A class's methods do not change once moto
   is patched: the list is made once per class.
11. Every item in an answer (GetItem, Query, BatchGetItem, UpdateItem's ALL_NEW, ...) went through
   moto's generic serializer attribute value by attribute value, each a walk of the output shape
   with a picker and a path: ~15% of moto's DynamoDB time under the load bench. An attribute
   value moto holds is DynamoDB JSON already; one made only of strings, numbers (as strings),
   booleans, nulls, string sets, maps and lists is put in the answer as it is, which is what
   the walk makes of it. Binary values (base64 on the wire) still take the walk.
12. A Query sorted every item of the table (`Table.all_items`, DynamoType comparisons through
   their `cast_value` property) to then keep those with the key asked for: O(n log n) per query,
   so the consumers' queries (an application's decisions, a person's devices) slowed down as
   the tables filled. Here a query on the table's own hash key takes that key's items directly,
   and a query on an index by a string key picks the items with that value by plain comparison;
   moto's own query then runs on those candidates alone (it sorts its results itself, so the
   answer is the same). Other queries (a number or binary key) are moto's own.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import copy
import functools
import importlib
import io
import json
import re
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
import jsonpath_ng.ext as jsonpath_ext
import moto.dynamodb.models as dynamodb_models
from botocore.config import Config
from botocore.utils import merge_dicts
from moto.core import responses as moto_responses
from moto.core.model import Shape
from moto.core.models import botocore_stubber
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import camelcase_to_underscores
from moto.core.utils import method_names_from_class as original_method_names
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import (
    DynamoType,
    Item,
    LimitedSizeDict,
    deserializer,
    serializer,
)
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize, find_nested_key
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.settings import moto_server_port
from moto.sqs.models import Queue
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from werkzeug.serving import DechunkedInput, make_server

from infra.local import doorbell
from infra.local.journal import WRITES, Journal, request_headers
from infra.local.priority import BACKGROUND_APP_ID, RequestPriority

_jsonpath_parse = jsonpath_ext.parse

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


_TABLE_NAME = re.compile(rb'"TableName"\s*:\s*"((?:[^"\\]|\\.)*)"')
_QUEUE_URL = re.compile(rb'"QueueUrl"\s*:\s*"([^"]*)"')
_TABLE_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
)
_QUEUE_WRITES = frozenset({"SendMessage", "SendMessageBatch", "ChangeMessageVisibility"})


def tables_written(operation: str, body: bytes) -> list[str]:
    """The tables a DynamoDB write request (`operation`, its JSON `body`) names."""
    if operation == "BatchWriteItem":
        names = list(json.loads(body or b"{}").get("RequestItems") or {})
    else:  # a key in JSON: a quote inside a value is escaped, so this is one
        names = [json.loads(b'"' + m + b'"') for m in _TABLE_NAME.findall(body)]
    return list(dict.fromkeys(names))


def written(environ: dict[str, Any]) -> list[str]:
    """The doorbell's names of what this request writes (nothing for a read)."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    service, _, operation = target.partition(".")
    stream = environ.get("wsgi.input")
    body = stream.getvalue() if isinstance(stream, io.BytesIO) else b""
    if service.startswith("DynamoDB_") and operation in _TABLE_WRITES:
        return [doorbell.table(name) for name in tables_written(operation, body)]
    if service == "AmazonSQS" and operation in _QUEUE_WRITES:
        return [doorbell.queue(url.decode().rsplit("/", 1)[-1]) for url in _QUEUE_URL.findall(body)]
    if target == "AWSEvents.PutEvents" or (not target and b"Action=Publish" in body):
        return [doorbell.EVERY_QUEUE]  # moto delivers to the rules' and topics' queues itself
    return []


def serialize_dynamodb(
    app: Wsgi,
    bell: doorbell.Doorbell | None = None,
    priority: RequestPriority | None = None,
    journal: Journal | None = None,
) -> Wsgi:
    """DynamoDB requests one at a time (1); each accepted write journaled before its answer
    (`journal`, journal.py); `bell` rung after each write; a background function's call waits
    for the API's requests in flight (`priority`)."""
    lock = journal.lock if journal is not None else threading.Lock()
    background = f"app/{BACKGROUND_APP_ID}"

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if priority is not None and background in str(environ.get("HTTP_USER_AGENT", "")):
            priority.yield_to_requests()
        names = written(environ) if bell is not None else []
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("DynamoDB"):
            status: list[str] = []

            def recorded(code: str, headers: Any, *args: Any) -> Any:
                status.append(code)
                return start_response(code, headers, *args)

            journaled = None
            with lock:
                answer = list(app(environ, recorded))
                operation = target.partition(".")[2]
                if journal is not None and operation in WRITES and status[0].startswith("2"):
                    stream = environ.get("wsgi.input")
                    body = stream.getvalue() if isinstance(stream, io.BytesIO) else b""
                    journal.wrote(operation, body)
                    journaled = journal.append(request_headers(environ), body)
            Journal.sync(journaled)  # on disk before the answer, out of the lock
        else:
            answer = list(app(environ, start_response))
        if names and bell is not None:
            bell.ring(names)
        return answer

    return serialized


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering the backend of each host (it is always the same)."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        # called under the dispatcher's own lock
        if host not in self._backends:
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler on HTTP/1.1 connections that stay open between requests."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this, Nagle holds the body back
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return DechunkedInput(self.rfile).readall() or b""  # type: ignore[arg-type]
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        body = self._body()  # read whole: the next request starts right after it
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        answer: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            answer[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            self.log_error("Error on request:\n%s", traceback.format_exc())
            answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            chunks[:] = [b"internal server error"]
        status, headers = answer
        code, _, reason = str(status).partition(" ")
        payload = b"".join(chunks)
        self.send_response(int(code), reason)
        declared: str | None = None
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                declared = str(value)
            elif lowered not in ("connection", "transfer-encoding"):
                self.send_header(name, value)
        # a HEAD answer declares the length of the body it does not send
        no_body = self.command == "HEAD" or int(code) in (204, 304) or int(code) < 200
        if not (no_body and declared is None and not payload):
            length = declared if no_body and declared is not None else str(len(payload))
            self.send_header("Content-Length", length)
        self.end_headers()
        if not no_body:
            self.wfile.write(payload)
        self.wfile.flush()


class SerializedDynamoMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose DynamoDB requests never overlap, on kept-alive connections;
    it rings `bell` (infra/local/doorbell.py) after every write to a table or a queue, and
    serves the API's calls before the background functions' (infra/local/priority.py)."""

    def __init__(
        self,
        *args: Any,
        bell: doorbell.Doorbell | None = None,
        priority: RequestPriority | None = None,
        journal: Journal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.bell = bell
        self.priority = priority
        self.journal = journal

    def _server_entry(self) -> None:
        app = serialize_dynamodb(_Dispatcher(), self.bell, self.priority, self.journal)
        server = make_server(
            self._ip_address, self._port, app, True, request_handler=KeepAliveRequestHandler
        )
        server.connections = set()  # type: ignore[attr-defined]
        self._server = server
        self._server_ready_event.set()
        server.serve_forever()

    def stop(self) -> None:
        server = self._server
        super().stop()
        # kept-alive connections would go on being served by this (stopped) moto
        for connection in list(getattr(server, "connections", ())):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _TablesNotCopied:
    """moto.dynamodb.models' `copy`: a table "snapshot" is the table itself (see below)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_original_transact = DynamoDBBackend.transact_write_items


def _slot(table: Table, op_type: str, op: dict[str, Any]) -> tuple[Any, Any]:
    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved: list[tuple[Table, Any, Any, Any]] = []
    streams: dict[int, tuple[Table, int]] = {}
    for entry in transact_items:
        for op_type, op in entry.items():
            table = self.tables.get(op.get("TableName", ""))
            if table is None or op_type == "ConditionCheck":
                continue
            hash_value, range_value = _slot(table, op_type, op)
            current = table.get_item(hash_value, range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table, len(table.stream_shard.items)))
    try:
        _original_transact(self, transact_items)
    except BaseException:
        for table, hash_value, range_value, item in reversed(saved):
            slot = table.items[hash_value] if range_value is not None else table.items
            key = range_value if range_value is not None else hash_value
            if item is None:
                slot.pop(key, None)
            else:
                slot[key] = item
            if range_value is not None and not table.items[hash_value]:
                table.items.pop(hash_value, None)
        for table, count in streams.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[count:]
        raise


#: moto's limit on an item's size (dynamo_type.LimitedSizeDict: between DynamoDB's 400 KB and
#: what DynamoDB was seen to accept)
_ITEM_SIZE_LIMIT = 405000


def item_init(
    self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]
) -> None:
    """moto's Item.__init__ with one size check (point 9)."""
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(bytesize(key) + value.size() for key, value in values.items()) > _ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    sized = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(sized, values)  # the check is made: not again per attribute
    self.attrs = sized


@functools.cache
def _method_names(cls: type) -> frozenset[str]:
    return frozenset(original_method_names(cls))


def method_names_from_class(clazz: object) -> frozenset[str]:
    """The functions of a response class, listed once per class (point 10)."""
    return _method_names(clazz if isinstance(clazz, type) else type(clazz))


def project(self: Item, projection_expressions: list[list[str]]) -> Item:
    """moto's Item.project, converting only the attributes projected, once each."""
    tops = {expr[0].split("[", 1)[0] for expr in projection_expressions if expr}
    regular = {
        name: deserializer.deserialize(self.attrs[name].to_regular_json())
        for name in tops
        if name in self.attrs
    }
    result: dict[str, Any] = {}
    for expr in projection_expressions:
        merge_dicts(result, find_nested_key(expr, regular))
    return Item(
        hash_key=self.hash_key,
        range_key=self.range_key,
        attrs=dict(serializer.serialize(result)["M"]),
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):  # as the JSON protocol sends a timestamp: epoch seconds
        return calendar.timegm(value.timetuple()) + (value.microsecond // 1000) / 1000.0
    if isinstance(value, bytes):  # a blob: base64
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} in a stream record")


#: id of a stream record (moto's dict, kept alive here) -> (the record, its JSON)
_RECORDS_JSON: dict[int, tuple[dict[str, Any], str]] = {}
_RECORDS_JSON_MAX = 20_000
_RECORDS_JSON_LOCK = threading.Lock()


def record_json(record: dict[str, Any]) -> str:
    with _RECORDS_JSON_LOCK:
        cached = _RECORDS_JSON.get(id(record))
        if cached is not None and cached[0] is record:
            return cached[1]
    dumped = json.dumps(record, default=_json_value, ensure_ascii=False, separators=(",", ":"))
    with _RECORDS_JSON_LOCK:
        if len(_RECORDS_JSON) >= _RECORDS_JSON_MAX:
            _RECORDS_JSON.clear()
        _RECORDS_JSON[id(record)] = (record, dumped)
    return dumped


_SCALARS = frozenset({"S", "N"})
_FLAGS = frozenset({"BOOL", "NULL"})
_STRING_SETS = frozenset({"SS", "NS"})


def plain_attribute_value(value: Any) -> bool:
    """True for DynamoDB JSON the serializer would copy as it is: one type key, and no binary
    (nor anything else the walk would convert) anywhere in it."""
    if type(value) is not dict or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in _SCALARS:
        return type(inner) is str
    if kind in _FLAGS:
        return type(inner) is bool
    if kind in _STRING_SETS:
        return type(inner) is list and all(type(i) is str for i in inner)
    if kind == "M":
        return type(inner) is dict and all(
            type(k) is str and plain_attribute_value(v) for k, v in inner.items()
        )
    if kind == "L":
        return type(inner) is list and all(plain_attribute_value(v) for v in inner)
    return False


_serialize_walk = BaseJSONSerializer._serialize


def serialize_json(
    self: BaseJSONSerializer, serialized: Any, value: Any, shape: Shape, key: str
) -> None:
    """moto's JSON serializer, with plain attribute values put as they are (point 11)."""
    if shape.name == "AttributeValue" and plain_attribute_value(value):
        serialized[self.get_serialized_name(shape, key)] = value
        return
    _serialize_walk(self, serialized, value, shape, key)


_table_query = Table.query
#: the types a key attribute can have
_KEY_TYPES = frozenset({"S", "N", "B"})


def _query_candidates(
    table: Table,
    hash_key: DynamoType | None,
    index_name: str | None,
    hash_key_conditions: list[tuple[str, DynamoType]] | None,
) -> list[Item] | None:
    """The items a query can return, found without sorting the table (point 12); None: let
    moto look at every item."""
    #: hash key -> the item, or -> {range key: item} (moto's layout)
    stored: dict[Any, Any] = table.items
    if not index_name:
        if hash_key is None or hash_key.type not in _KEY_TYPES:
            return None  # a key no table has (a set, a map): moto's own answer
        bucket = stored.get(hash_key)
        if bucket is None:
            return []
        return list(bucket.values()) if table.range_key_attr else [bucket]
    by_string = [(n, v) for n, v in hash_key_conditions or () if v.type == "S"]
    if not by_string:
        return None
    name, wanted = by_string[0]
    out: list[Item] = []
    for bucket in list(stored.values()):
        for item in bucket.values() if table.range_key_attr else (bucket,):
            value = item.attrs.get(name)
            if value is not None and value.type == "S" and value.value == wanted.value:
                out.append(item)
    return out


def table_query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    """moto's Table.query over the candidates `_query_candidates` finds (point 12)."""
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    candidates = _query_candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
    if candidates is None:
        return _table_query(self, hash_key, *args, **kwargs)
    view = copy.copy(self)  # the same table, whose items are these candidates
    view.all_items = lambda: candidates  # type: ignore[method-assign]
    return _table_query(view, hash_key, *args, **kwargs)


def get_records(self: DynamoDBStreamsHandler) -> str:
    """moto's GetRecords, its records dumped as they are (and once each)."""
    limit = self._get_param("Limit")
    result = self.backend.get_records(
        self._get_param("ShardIterator"), 1000 if limit is None else limit
    )
    records = ",".join(record_json(record) for record in result["Records"])
    iterator = json.dumps(result["NextShardIterator"])
    return f'{{"NextShardIterator":{iterator},"Records":[{records}]}}'


#: a state machine's definition -> its ANTLR parse tree (only read once built)
_PARSE_TREES: dict[str, Any] = {}


#: a definition without Map or Parallel states -> its evaluation components (see 6)
_PROGRAMS: dict[str, Any] = {}
_STATEFUL_STATES = frozenset({"Map", "Parallel"})
_PARSING = threading.Lock()


def _stateless(definition: str) -> bool:
    """True when no state of the definition (nested ones too) is a Map or a Parallel."""

    def states(node: Any) -> Iterable[Any]:
        if isinstance(node, dict):
            if isinstance(node.get("Type"), str):
                yield node["Type"]
            for value in node.values():
                yield from states(value)
        elif isinstance(node, list):
            for value in node:
                yield from states(value)

    try:
        return not _STATEFUL_STATES & set(states(json.loads(definition)))
    except ValueError:
        return False


def _evaluation_entrypoint(self: ExecutionWorker) -> Any:
    """moto's ExecutionWorker._get_evaluation_entrypoint, the definition parsed once."""
    definition = self._evaluation_details.state_machine_details.definition
    program = _PROGRAMS.get(definition)
    if program is not None:
        return program
    with _PARSING:  # the executions started together wait for one parse, not one each
        return _parsed(definition)


def _parsed(definition: str) -> Any:
    program = _PROGRAMS.get(definition)
    if program is not None:
        return program
    tree = _PARSE_TREES.get(definition)
    if tree is None:
        _program, tree = AmazonStateLanguageParser.parse(definition)
        if len(_PARSE_TREES) >= 64:
            _PARSE_TREES.clear()
        _PARSE_TREES[definition] = tree
    program = Preprocessor().visit(tree)
    if _stateless(definition):
        if len(_PROGRAMS) >= 64:
            _PROGRAMS.clear()
        _PROGRAMS[definition] = program
    return program


@functools.lru_cache(maxsize=1024)
def _jsonpath(path: str, debug: bool | None = None) -> Any:
    return _jsonpath_parse(path, debug)


#: the modules of moto's Step Functions that import `boto_client_for` (those that exist)
_BOTO_CLIENT_USERS = [
    "moto.stepfunctions.parser.asl.component.state.exec.state_task." + name
    for name in (
        "lambda_eval_utils",
        *(
            f"service.state_task_service_{kind}"
            for kind in ("aws_sdk", "dynamodb", "events", "sfn", "sns", "sqs", "unsupported")
        ),
    )
]
_CLIENTS: dict[tuple[str, str, bool, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()
#: connections kept per client: every waiting workflow's task may call at once
_POOL = 64


def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's boto_client_for, one client per region, service and moto port, made once (as
    moto makes it: no retries, its timeouts, no parameter validation)."""
    intercepted = botocore_stubber.enabled  # moto in process (mock_aws): no endpoint
    key = (region, service, intercepted, moto_server_port())
    client = _CLIENTS.get(key)
    if client is None:
        with _CLIENTS_LOCK:  # boto3's default session does not make clients thread-safely
            client = _CLIENTS.get(key)
            if client is None:
                client = boto3.client(  # type: ignore[call-overload]
                    service,
                    region_name=region,
                    aws_access_key_id="ak",
                    aws_secret_access_key="sk",  # noqa: S106 - moto's
                    config=Config(
                        parameter_validation=False,
                        retries={"max_attempts": 0, "total_max_attempts": 1},
                        connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                        read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                        max_pool_connections=_POOL,
                    ),
                    endpoint_url=None if intercepted else f"http://127.0.0.1:{key[3]}",
                )
                _CLIENTS[key] = client
    return client


class QueueAttributes(Mapping[str, Any]):
    """moto's Queue.attributes (the same keys and values), each computed when it is read."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        names = list(Queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += Queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:  # type: ignore[attr-defined]
            names += Queue.KMS_ATTRIBUTES
        self._names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        queue = self._queue
        value = getattr(queue, camelcase_to_underscores(name))
        if name == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def patches() -> list[tuple[Any, str, Any]]:
    """What `apply` sets: (module or class, attribute, the value set). A test that starts the
    local stack in its own process restores each attribute afterwards (monkeypatch)."""
    out: list[tuple[Any, str, Any]] = [
        (dynamodb_models, "copy", _TablesNotCopied()),
        (DynamoDBBackend, "transact_write_items", transact_write_items),
        (Item, "project", project),
        (Table, "query", table_query),
        (Item, "__init__", item_init),
        (moto_responses, "method_names_from_class", method_names_from_class),
        (Queue, "attributes", property(QueueAttributes)),
        (DynamoDBStreamsHandler, "get_records", get_records),
        (BaseJSONSerializer, "_serialize", serialize_json),
        (ExecutionWorker, "_get_evaluation_entrypoint", _evaluation_entrypoint),
        (json_path, "parse", _jsonpath),  # the workflows' paths
        (jsonpath_ext, "parse", _jsonpath),  # EventBridge's input templates, when they run
    ]
    for name in _BOTO_CLIENT_USERS:
        with contextlib.suppress(ImportError):
            module = importlib.import_module(name)
            if hasattr(module, "boto_client_for"):
                out.append((module, "boto_client_for", boto_client_for))
    return out


def apply() -> type[SerializedDynamoMotoServer]:
    """Patch moto in this process; returns the server class to use instead of moto's."""
    for target, name, value in patches():
        setattr(target, name, value)
    return SerializedDynamoMotoServer
