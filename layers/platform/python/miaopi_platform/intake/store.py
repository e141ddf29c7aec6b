"""Where delivered records go: the reference-data table (source, key), and for the credit list
its own table by the keyed hash of the subject (as the data-sharing port reads them).

A record replaces what is stored only when its version is newer: the same file twice writes
nothing. Each chunk reads the stored versions first (one BatchGetItem) and writes only what is
newer in one conditional transaction; when another load raced it, the chunk is written item by
item, each under the same condition, so an older version never overwrites a newer one. A
credit-list entry the platform made itself (a listing after a revocation, with its history) has
no source version and is never replaced by a delivery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from miaopi_platform.aws.dynamo import ConditionFailed, Item, dynamodb_errors, from_item, to_item
from miaopi_platform.evidence.port import CREDIT_LIST_SOURCE
from miaopi_platform.intake.items import (
    LOADS_PARTITION,
    VERSION_ATTRIBUTE,
    Counts,
    SourceLoad,
)

_WHAT = "the reference data"
#: TransactWriteItems' and BatchGetItem's limit
CHUNK = 100


@dataclass(frozen=True, slots=True)
class Delivered:
    """One record to store: its table key (plain key, or the subject's hash), the version, and
    the item's content besides the key (the record, or the rejected mark)."""

    key: str
    version: int
    content: dict[str, Any]


@dataclass
class Written:
    loaded: int = 0
    unchanged: int = 0


class SourceRecords:
    """The records of one source, written by version."""

    def __init__(self, client: Any, reference_table: str, credit_list_table: str) -> None:
        self._client = client
        self._reference = reference_table
        self._credit = credit_list_table

    def _table_and_key(self, source: str, key: str) -> tuple[str, Item]:
        if source == CREDIT_LIST_SOURCE:
            return self._credit, {"subjectHash": {"S": key}}
        return self._reference, {"source": {"S": source}, "key": {"S": key}}

    def _condition(self, source: str) -> str:
        if source == CREDIT_LIST_SOURCE:  # the platform's own entries have no source version
            return f"attribute_not_exists(subjectHash) OR {VERSION_ATTRIBUTE} < :v"
        return (
            f"attribute_not_exists(#k) OR attribute_not_exists({VERSION_ATTRIBUTE})"
            f" OR {VERSION_ATTRIBUTE} < :v"
        )

    def _put(self, source: str, record: Delivered) -> dict[str, Any]:
        table, key = self._table_and_key(source, record.key)
        put: dict[str, Any] = {
            "TableName": table,
            "Item": key | to_item({**record.content, VERSION_ATTRIBUTE: record.version}),
            "ConditionExpression": self._condition(source),
            "ExpressionAttributeValues": {":v": {"N": str(record.version)}},
        }
        if source != CREDIT_LIST_SOURCE:
            put["ExpressionAttributeNames"] = {"#k": "key"}
        return put

    def write(self, source: str, records: list[Delivered]) -> Written:
        """Store each record unless what is stored is as new or newer (or the platform's own)."""
        written = Written()
        newest: dict[str, Delivered] = {}
        for record in records:  # one key twice in a chunk: the newer, or the later line
            kept = newest.get(record.key)
            if kept is None or record.version >= kept.version:
                newest[record.key] = record
        written.unchanged += len(records) - len(newest)
        pending = list(newest.values())
        for start in range(0, len(pending), CHUNK):
            self._write_chunk(source, pending[start : start + CHUNK], written)
        return written

    def _write_chunk(self, source: str, chunk: list[Delivered], written: Written) -> None:
        stored = self._stored_versions(source, [r.key for r in chunk])
        newer = [r for r in chunk if _replaces(source, stored, r)]
        written.unchanged += len(chunk) - len(newer)
        if not newer:
            return
        try:
            with dynamodb_errors(_WHAT):
                self._client.transact_write_items(
                    TransactItems=[{"Put": self._put(source, r)} for r in newer]
                )
            written.loaded += len(newer)
            return
        except ConditionFailed:
            pass  # another load wrote some of them meanwhile: one by one, each by its version
        for record in newer:
            try:
                with dynamodb_errors(_WHAT):
                    self._client.put_item(**self._put(source, record))
                written.loaded += 1
            except ConditionFailed:
                written.unchanged += 1

    def _stored_versions(self, source: str, keys: list[str]) -> dict[str, int | None]:
        """Key -> the stored item's source version (None: stored without one); absent: none."""
        table, _ = self._table_and_key(source, "")
        key_name = "subjectHash" if table == self._credit else "key"
        pending: list[Item] = [self._table_and_key(source, k)[1] for k in keys]
        found: dict[str, int | None] = {}
        attempt = 0
        while pending:
            with dynamodb_errors(_WHAT):
                answer = self._client.batch_get_item(
                    RequestItems={
                        table: {
                            "Keys": pending,
                            "ProjectionExpression": f"#k, {VERSION_ATTRIBUTE}",
                            "ExpressionAttributeNames": {"#k": key_name},
                            "ConsistentRead": True,
                        }
                    }
                )
            for item in answer.get("Responses", {}).get(table, []):
                version = item.get(VERSION_ATTRIBUTE, {}).get("N")
                found[str(item[key_name]["S"])] = int(version) if version is not None else None
            pending = list((answer.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", []))
            attempt += 1
            if pending:
                time.sleep(min(0.05 * 2**attempt, 1.0))
        return found


def _replaces(source: str, stored: dict[str, int | None], record: Delivered) -> bool:
    if record.key not in stored:
        return True
    version = stored[record.key]
    if version is None:  # a platform-made credit entry stays; an unversioned record is replaced
        return source != CREDIT_LIST_SOURCE
    return version < record.version


class SourceLoads:
    """Each source's last load, for ops (infra/cli/sources.py) and the freshness check."""

    def __init__(self, client: Any, reference_table: str) -> None:
        self._client = client
        self._table = reference_table

    def record(self, source: str, file: str, at: str, counts: Counts) -> None:
        """A file was read: its counts; a load that stored or confirmed records is fresh."""
        names = {"#f": "lastFile", "#fa": "lastFileAt", "#c": "lastCounts"}
        values: dict[str, Any] = {":f": file, ":fa": at, ":c": dict(counts)}
        update = "SET #f = :f, #fa = :fa, #c = :c"
        if counts["loaded"] + counts["unchanged"] > 0:
            names["#la"] = "lastLoadAt"
            values[":la"] = at
            update += ", #la = :la"
        with dynamodb_errors(_WHAT):
            self._client.update_item(
                TableName=self._table,
                Key={"source": {"S": LOADS_PARTITION}, "key": {"S": source}},
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )

    def all(self) -> dict[str, SourceLoad]:
        """Every source's last load, by source (one query of one small partition)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "source"},
            "ExpressionAttributeValues": {":s": {"S": LOADS_PARTITION}},
            "ConsistentRead": True,
        }
        out: dict[str, SourceLoad] = {}
        while True:
            with dynamodb_errors(_WHAT):
                answer = self._client.query(**query)
            for item in answer.get("Items", []):
                load = cast("SourceLoad", from_item(item))
                out[load["key"]] = load
            if not answer.get("LastEvaluatedKey"):
                return out
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
