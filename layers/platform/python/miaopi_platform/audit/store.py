"""The decision records as auditors read them: index queries, full records, chain heads.

Read-only: GetItem, BatchGetItem and Query (the audit function's IAM role allows nothing else).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from miaopi_platform.audit.pages import Position
from miaopi_platform.audit.verification import HeadState
from miaopi_platform.aws.dynamo import dynamodb_errors, from_item
from miaopi_platform.aws.errors import DependencyUnavailable
from miaopi_platform.records.indexes import BY_CHAIN, BY_SERVICE_DAY, PARTITION_KEYS, SORT_KEYS

_WHAT = "the decision records"
#: BatchGetItem takes at most 100 keys
_BATCH = 100
_UNPROCESSED_RETRIES = 8


class AuditStore:
    def __init__(self, client: Any, decisions_table: str, heads_table: str) -> None:
        self._client = client
        self._decisions = decisions_table
        self._heads = heads_table

    def query(
        self,
        index: str,
        key: str,
        low: str | None,
        high: str | None,
        after: Position | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of one index partition, in decidedAt order (pages.Query)."""
        pk, sk = PARTITION_KEYS[index], SORT_KEYS[index]
        condition = "#pk = :pk"
        values: dict[str, Any] = {":pk": {"S": key}}
        if low is not None and high is not None:
            condition += " AND #sk BETWEEN :low AND :high"
            values |= {":low": {"S": low}, ":high": {"S": high}}
        request: dict[str, Any] = {
            "TableName": self._decisions,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#pk": pk, **({"#sk": sk} if ":low" in values else {})},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {
                "decisionId": {"S": after[1]},
                pk: {"S": key},
                sk: {"S": after[0]},
            }
        answer = self._call("query", request)
        items = [from_item(i) for i in answer.get("Items", [])]
        return items, bool(answer.get("LastEvaluatedKey"))

    def get(self, decision_id: str) -> dict[str, Any] | None:
        answer = self._call(
            "get_item",
            {
                "TableName": self._decisions,
                "Key": {"decisionId": {"S": decision_id}},
                "ConsistentRead": True,
            },
        )
        item = answer.get("Item")
        return from_item(item) if item else None

    def records(self, decision_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Full records by id (those that exist)."""
        ids = list(dict.fromkeys(decision_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _BATCH):
            keys = [{"decisionId": {"S": i}} for i in ids[start : start + _BATCH]]
            request: dict[str, Any] = {self._decisions: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(_UNPROCESSED_RETRIES):
                answer = self._call("batch_get_item", {"RequestItems": request})
                for item in answer.get("Responses", {}).get(self._decisions, []):
                    record = from_item(item)
                    found[str(record["decisionId"])] = record
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise DependencyUnavailable(f"{_WHAT} are unavailable, try again shortly")
        return found

    def chain(self, chain_id: str) -> list[dict[str, Any]]:
        """The chained entries of a chain (ids, positions, hashes), in position order."""
        return self._all(BY_CHAIN, chain_id)

    def at(self, chain_id: str, seq: int) -> list[dict[str, Any]]:
        """The chained entries at one position (normally one)."""
        answer = self._call(
            "query",
            {
                "TableName": self._decisions,
                "IndexName": BY_CHAIN,
                "KeyConditionExpression": "chainId = :c AND chainSeq = :s",
                "ExpressionAttributeValues": {":c": {"S": chain_id}, ":s": {"N": str(seq)}},
            },
        )
        return [from_item(i) for i in answer.get("Items", [])]

    def partition(self, key: str) -> list[str]:
        """The ids of every record written to one day-and-shard partition (byServiceDay)."""
        return [str(i["decisionId"]) for i in self._all(BY_SERVICE_DAY, key, "decisionId")]

    def head(self, chain_id: str) -> HeadState | None:
        answer = self._call(
            "get_item",
            {"TableName": self._heads, "Key": {"chainId": {"S": chain_id}}, "ConsistentRead": True},
        )
        item = answer.get("Item")
        if not item:
            return None
        updated = item.get("updatedAt", {}).get("S")
        return HeadState(int(item["seq"]["N"]), item["hash"]["S"], updated)

    def _all(self, index: str, key: str, projection: str | None = None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._decisions,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEYS[index]},
            "ExpressionAttributeValues": {":pk": {"S": key}},
            "ScanIndexForward": True,
        }
        if projection:
            request["ProjectionExpression"] = projection
        items: list[dict[str, Any]] = []
        while True:
            answer = self._call("query", request)
            items += [from_item(i) for i in answer.get("Items", [])]
            if not answer.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _call(self, operation: str, request: dict[str, Any]) -> Any:
        with dynamodb_errors(_WHAT):
            return getattr(self._client, operation)(**request)
