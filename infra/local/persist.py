"""The local stack's DynamoDB data on disk, so a restart (a new, empty moto) loses nothing.

A snapshot is a directory, `<state_dir>/data/<stack_name>/`: one `<LogicalId>.jsonl` per table
(one item a line, in DynamoDB JSON, binary values in base64 as in DynamoDB's own exports) and
`manifest.json` with the item counts. It is written whole into a temporary directory and then
swapped in, so the snapshot on disk is always one complete read: a crash in the middle of the
swap leaves the previous one as `<stack_name>.old`, which `restore` falls back to.

Items are read from the moto backend in this process, not with Scan: moto's Scan sorts and
deep-copies the whole table for every 1 MB page, which takes 6.6 s for the ~12,000 seeded
reference items, and every other DynamoDB request waits meanwhile (moto_server serializes them);
the direct read takes ~0.15 s and blocks no request. Restoring goes through the API
(BatchWriteItem), like any other write.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from infra.local.journal import Journal
from infra.local.moto_server import record_json

log = logging.getLogger("miaopi.local.persist")

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: a table's stream records not yet processed by every poller, beside its items
STREAM_SUFFIX = ".stream.jsonl"
BATCH_SIZE = 25  # BatchWriteItem's limit


class SnapshotError(RuntimeError):
    """A snapshot that cannot be restored onto this deployment."""


@dataclass(frozen=True)
class TableData:
    """One table's items, one DynamoDB JSON document a line."""

    logical_id: str
    table: str
    lines: list[str]


def read_tables(
    tables: dict[str, str], region: str, account_id: str = DEFAULT_ACCOUNT_ID
) -> list[TableData]:
    """Every item of every table (logical id -> name) of the moto running in this process."""
    backend = dynamodb_backends[account_id][region]
    return [
        TableData(logical_id, name, _read_table(backend.get_table(name)))
        for logical_id, name in sorted(tables.items())
    ]


def _read_table(table: Any) -> list[str]:
    return _lines(_items(table))


def _lines(items: list[Any]) -> list[str]:
    return [json.dumps(i, default=_b64, ensure_ascii=False) for i in items]


def table_items(name: str, region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[Any]:
    """Every item of a table of the moto running in this process, in DynamoDB JSON (as a Scan
    would answer, without its cost: local tooling reads this way, never an API path)."""
    return _items(dynamodb_backends[account_id][region].get_table(name))


def _items(table: Any, attempts: int = 5) -> list[Any]:
    for _attempt in range(attempts):
        try:
            slots = list(table.items.values())
            items = (
                [i for slot in slots for i in list(slot.values())]
                if table.range_key_attr
                else slots
            )
            return [i.to_json()["Attributes"] for i in items]
        except RuntimeError:  # a write resized a dict while we read it: read again
            time.sleep(0.01)
    raise SnapshotError(f"{table.name}: changing too fast to read")


def _b64(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def digest(data: list[TableData]) -> str:
    """A content hash, to skip writing a snapshot identical to the last one."""
    sha = hashlib.sha256()
    for table in data:
        sha.update(f"\0{table.logical_id}\0".encode())
        for line in table.lines:
            sha.update(line.encode())
            sha.update(b"\n")
    return sha.hexdigest()


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _sync_directory(path: Path) -> None:
    """A directory's entries (the files made or renamed in it) on disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class SnapshotStore:
    """The snapshot directory of one stack: save, restore, discard."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._tmp = directory.with_name(f".{directory.name}.tmp")
        self._old = directory.with_name(f"{directory.name}.old")
        self._lock = threading.Lock()

    @classmethod
    def for_stack(cls, state_dir: Path, stack_name: str) -> SnapshotStore:
        return cls(state_dir / "data" / stack_name)

    def _current(self) -> Path | None:
        for directory in (self.directory, self._old):
            if (directory / MANIFEST).is_file():
                return directory
        return None

    def manifest(self) -> dict[str, Any] | None:
        """The saved snapshot's manifest; None when there is no snapshot."""
        directory = self._current()
        if directory is None:
            return None
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return manifest

    def discard(self) -> None:
        with self._lock:
            for directory in (self.directory, self._old, self._tmp):
                shutil.rmtree(directory, ignore_errors=True)

    def save(
        self,
        data: list[TableData],
        meta: dict[str, Any] | None = None,
        streams: dict[str, list[str]] | None = None,
    ) -> None:
        """Write a whole snapshot, then swap it in for the previous one. `streams`: each
        table's stream records not yet processed by every poller (logical id -> JSON lines)."""
        streams = {lid: lines for lid, lines in (streams or {}).items() if lines}
        with self._lock:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp.mkdir(parents=True)
            for table in data:
                text = "".join(line + "\n" for line in table.lines)
                _write_synced(self._tmp / f"{table.logical_id}.jsonl", text)
            for logical_id, lines in streams.items():
                text = "".join(line + "\n" for line in lines)
                _write_synced(self._tmp / f"{logical_id}{STREAM_SUFFIX}", text)
            manifest = {
                "version": FORMAT_VERSION,
                "savedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                "tables": {t.logical_id: {"table": t.table, "items": len(t.lines)} for t in data},
                "streams": {lid: len(lines) for lid, lines in streams.items()},
                "meta": meta or {},
            }
            _write_synced(self._tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
            _sync_directory(self._tmp)
            shutil.rmtree(self._old, ignore_errors=True)
            if self.directory.exists():
                self.directory.replace(self._old)
            self._tmp.replace(self.directory)
            # on disk, names and all, before the journal it replaces is deleted (a power cut
            # would otherwise lose both; a kill -9 loses neither way)
            _sync_directory(self.directory.parent)
            shutil.rmtree(self._old, ignore_errors=True)

    def restore(self, dynamodb: Any, tables: dict[str, str]) -> dict[str, int] | None:
        """Put every saved item back; item counts by logical id, None without a snapshot."""
        with self._lock:
            directory = self._current()
            if directory is None:
                return None
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("version") != FORMAT_VERSION:
                raise SnapshotError(f"{directory}: unknown format {manifest.get('version')}")
            counts: dict[str, int] = {}
            for logical_id in manifest["tables"]:
                if logical_id not in tables:
                    log.warning(
                        "snapshot table %s is not in the template: not restored", logical_id
                    )
                    continue
                path = directory / f"{logical_id}.jsonl"
                with path.open(encoding="utf-8") as lines:
                    items = [_decode(json.loads(line)) for line in lines if line.strip()]
                try:
                    put_items(dynamodb, tables[logical_id], items)
                except Exception as err:
                    raise SnapshotError(f"{path} does not fit {tables[logical_id]}: {err}") from err
                counts[logical_id] = len(items)
            return counts

    def stream_backlog(self) -> dict[str, list[dict[str, Any]]]:
        """The saved stream records no poller had processed yet (logical id -> records)."""
        directory = self._current()
        if directory is None:
            return {}
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return {
            logical_id: [
                json.loads(line)
                for line in (directory / f"{logical_id}{STREAM_SUFFIX}")
                .read_text(encoding="utf-8")
                .splitlines()
                if line.strip()
            ]
            for logical_id in manifest.get("streams", {})
        }


def put_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    """BatchWriteItem in chunks of 25, retrying UnprocessedItems with a growing pause."""
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start : start + BATCH_SIZE]
        request: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        for attempt in range(20):
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise SnapshotError(f"{table}: items still unprocessed after 20 attempts")


def _decode(item: dict[str, Any]) -> dict[str, Any]:
    """File form -> boto3 form: base64 text of B and BS values back to bytes, through M and L."""
    return {name: _decode_value(value) for name, value in item.items()}


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    (kind, inner), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": _decode(inner)}
    if kind == "L":
        return {"L": [_decode_value(v) for v in inner]}
    return value


#: a table's key attributes (hash, range or None)
Schema = tuple[str, str | None]
#: an item's key as the snapshot keeps it: its key attributes' values, type and value
RowKey = tuple[str, ...]


def _stream_records(table: Any, first: int) -> list[dict[str, Any]]:
    """A table's stream records from sequence number `first` on (each never changes)."""
    shard = table.stream_shard
    if shard is None:
        return []
    return [r.to_json() for r in shard.items[max(0, first - shard.starting_sequence_number) :]]


class _RestoredRecord:
    """A saved stream record put back into a moto stream (as moto's own, it has to_json)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def to_json(self) -> dict[str, Any]:
        return self.record


def stream_positions(tables: dict[str, str], region: str) -> dict[str, tuple[str, int]]:
    """Table name -> its stream's shard id and the sequence number of its last record (one
    before the first when empty), for the tables with a stream, of the moto in this process."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    out = {}
    for name in tables.values():
        shard = backend.get_table(name).stream_shard
        if shard is not None:
            out[name] = (shard.id, shard.starting_sequence_number + len(shard.items) - 1)
    return out


def put_back_streams(
    backlog: dict[str, list[dict[str, Any]]], tables: dict[str, str], region: str
) -> int:
    """Append saved stream records (logical id -> records) to the tables' streams, numbered
    on from their last record; how many."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    count = 0
    for logical_id, records in backlog.items():
        if logical_id not in tables:
            continue
        shard = backend.get_table(tables[logical_id]).stream_shard
        if shard is None:
            continue
        for record in records:
            sequence = shard.starting_sequence_number + len(shard.items)
            record.setdefault("dynamodb", {})["SequenceNumber"] = str(sequence)
            shard.items.append(_RestoredRecord(record))  # type: ignore[arg-type]
            count += 1
    return count


def _schema(table: Any) -> Schema:
    return table.hash_key_attr, table.range_key_attr


def _key_part(value: dict[str, Any]) -> str | None:
    """A key attribute's value as text (None for a type the snapshot does not follow: binary)."""
    if "S" in value:
        return "S:" + str(value["S"])
    if "N" in value:
        return "N:" + str(Decimal(str(value["N"])).normalize())
    return None


def _row_key(item: dict[str, Any], hash_attr: str, range_attr: str | None) -> RowKey:
    parts = [_key_part(item[hash_attr])]
    if range_attr is not None:
        parts.append(_key_part(item[range_attr]))
    return tuple(str(p) for p in parts)


def _item(table: Any, hash_and_range: tuple[dict[str, Any], dict[str, Any] | None]) -> Any:
    """One item of a moto table in DynamoDB JSON; None when there is none (deleted)."""
    hash_value, range_value = hash_and_range
    found = table.get_item(
        DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None
    )
    return None if found is None else found.to_json()["Attributes"]


class _Changes:
    """The items a list of journaled writes changed, by table: their keys (and the key
    attributes' values to read them with), or the whole table when a key cannot be followed."""

    def __init__(self, schemas: dict[str, Schema]) -> None:
        self.schemas = schemas
        self.keys: dict[str, dict[RowKey, tuple[dict[str, Any], dict[str, Any] | None]]] = {}
        self.whole: set[str] = set()

    def add(self, written: list[tuple[str, bytes]] | None) -> None:
        """Sort out some writes; None (too many were noted) reads every table whole."""
        if written is None:
            self.whole |= set(self.schemas)
            self.keys.clear()
            return
        for operation, body in written:
            for table, attributes in _touched(operation, json.loads(body or b"{}")):
                self._note(table, attributes)

    def _note(self, table: str, attributes: dict[str, Any]) -> None:
        if table not in self.schemas or table in self.whole:
            return
        hash_attr, range_attr = self.schemas[table]
        try:
            hash_value = attributes[hash_attr]
            range_value = attributes[range_attr] if range_attr is not None else None
            parts = [_key_part(hash_value)] + (
                [_key_part(range_value)] if range_value is not None else []
            )
        except (KeyError, TypeError):
            parts = [None]
        if None in parts:
            self.whole.add(table)
            self.keys.pop(table, None)
            return
        self.keys.setdefault(table, {})[tuple(str(p) for p in parts)] = (hash_value, range_value)


def _touched(operation: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, the item's or key's attributes) of every item a write request changes."""
    if operation == "PutItem":
        return [(request.get("TableName", ""), request.get("Item") or {})]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(request.get("TableName", ""), request.get("Key") or {})]
    out: list[tuple[str, dict[str, Any]]] = []
    if operation == "BatchWriteItem":
        for table, requests in (request.get("RequestItems") or {}).items():
            for entry in requests:
                put, delete = entry.get("PutRequest"), entry.get("DeleteRequest")
                out.append((table, (put or {}).get("Item") or (delete or {}).get("Key") or {}))
    elif operation == "TransactWriteItems":
        for entry in request.get("TransactItems") or []:
            for kind, attributes in (("Put", "Item"), ("Update", "Key"), ("Delete", "Key")):
                if kind in entry:
                    change = entry[kind]
                    out.append((change.get("TableName", ""), change.get(attributes) or {}))
    return out


class PeriodicSnapshot(threading.Thread):
    """Save a snapshot every `interval` seconds (never if 0) when the data changed, and once
    more on `stop()`."""

    def __init__(
        self,
        store: SnapshotStore,
        tables: dict[str, str],
        region: str,
        *,
        interval: float = 10.0,
        meta: dict[str, Any] | None = None,
        journal: Journal | None = None,
        unprocessed: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        """`unprocessed`: the first sequence number some poller has not processed, by table
        name (called under the journal's lock: no AWS call); those records are saved too."""
        super().__init__(name="snapshot", daemon=True)
        self.unprocessed = unprocessed
        self.journal = journal
        self.store = store
        self.tables = dict(tables)
        self.region = region
        self.interval = interval
        self.meta = meta or {}
        self._stopping = threading.Event()
        self._save_lock = threading.Lock()
        self._last_digest: str | None = None
        #: what the last read read again (table name -> items)
        self.last_read: dict[str, int] = {}
        #: how long the last read held the DynamoDB lock (seconds; None without a journal)
        self.last_held_s: float | None = None
        #: every table as last read (name -> item key -> its JSON line): only what was written
        #: since is read again
        self._rows: dict[str, dict[tuple[str, ...], str]] = {}

    def save(self) -> bool:
        """Read the tables now and write them if they changed; True if written."""
        with self._save_lock:
            started = time.monotonic()
            generation = None
            streams: dict[str, list[str]] = {}
            if self.journal is None:
                data = read_tables(self.tables, self.region)
            else:
                data, streams, generation, held = self._read_at_one_point(self.journal)
                self.last_held_s = held
            # the stream backlog counts too: it shrinks as the pollers catch up
            current = digest(data + [TableData(lid, "", lines) for lid, lines in streams.items()])
            if current == self._last_digest:
                return False
            meta = self.meta if generation is None else {**self.meta, "journalFrom": generation}
            self.store.save(data, meta, streams)
            if generation is not None and self.journal is not None:
                self.journal.discard_before(generation)  # the snapshot on disk holds them
            self._last_digest = current
            log.info(
                "snapshot: %d items saved in %.0f ms%s",
                sum(len(t.lines) for t in data),
                (time.monotonic() - started) * 1000,
                "" if generation is None else f" (DynamoDB held {held * 1000:.0f} ms)",
            )
            return True

    def _read_at_one_point(
        self, journal: Journal
    ) -> tuple[list[TableData], dict[str, list[str]], int, float]:
        """The tables at one point of the journal. Under its lock (no write in between) the
        items written since the last read are read again and the journal's next generation
        starts; every other item is as the last read found it. The writes are sorted out
        before the lock, their JSON made after it: the lock is held for the changed items."""
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region]
        names = dict(sorted(self.tables.items()))
        schemas = {name: _schema(backend.get_table(name)) for name in names.values()}
        changes = _Changes(schemas)
        changes.add(journal.take_written())  # most of them, sorted out before the lock
        with journal.lock:
            locked = time.monotonic()
            changes.add(journal.take_written())  # those since
            whole = {name for name in names.values() if name not in self._rows}
            whole |= changes.whole
            read = {name: _items(backend.get_table(name)) for name in whole}
            changed = {
                name: {
                    key: _item(backend.get_table(name), hash_and_range)
                    for key, hash_and_range in keys.items()
                }
                for name, keys in changes.keys.items()
                if name not in whole
            }
            backlog = {
                logical_id: _stream_records(backend.get_table(names[logical_id]), first)
                for logical_id, first in self._firsts(names).items()
            }
            generation = journal.rotate()
            held = time.monotonic() - locked
        for name, items in read.items():
            hash_attr, range_attr = schemas[name]
            self._rows[name] = {
                _row_key(item, hash_attr, range_attr): line
                for item, line in zip(items, _lines(items), strict=True)
            }
        for name, found in changed.items():
            rows = self._rows[name]
            for key, item in found.items():
                if item is None:
                    rows.pop(key, None)
                else:
                    rows[key] = _lines([item])[0]
        self.last_read = {
            **{name: len(items) for name, items in read.items()},
            **{name: len(found) for name, found in changed.items()},
        }
        data = [
            TableData(logical_id, name, list(self._rows[name].values()))
            for logical_id, name in names.items()
        ]
        streams = {lid: [record_json(r) for r in records] for lid, records in backlog.items()}
        return data, streams, generation, held

    def _firsts(self, names: dict[str, str]) -> dict[str, int]:
        """Logical id -> the first stream record some poller has not processed."""
        if self.unprocessed is None:
            return {}
        by_name = self.unprocessed()
        return {lid: by_name[name] for lid, name in names.items() if name in by_name}

    def run(self) -> None:
        if self.interval <= 0:  # saved on stop only
            return
        while not self._stopping.wait(self.interval):
            try:
                self.save()
            except Exception:
                log.exception("periodic snapshot failed")

    def stop(self) -> None:
        """End the thread and save a last time (while moto is still up)."""
        self._stopping.set()
        if self.is_alive():
            self.join()
        self.save()
