"""Three fixes to moto (5.2.x) for a local stack serving concurrent requests (start_moto).

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
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from typing import Any

import moto.dynamodb.models as dynamodb_models
from botocore.utils import merge_dicts
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, deserializer, serializer
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import find_nested_key
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialize_dynamodb(app: Wsgi) -> Wsgi:
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return serialized


class SerializedDynamoMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose DynamoDB requests never overlap."""

    def _server_entry(self) -> None:
        app = serialize_dynamodb(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


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


def apply() -> type[ThreadedMotoServer]:
    """Patch moto in this process; returns the server class to use instead of moto's."""
    dynamodb_models.copy = _TablesNotCopied()  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Item.project = project  # type: ignore[method-assign]
    return SerializedDynamoMotoServer
