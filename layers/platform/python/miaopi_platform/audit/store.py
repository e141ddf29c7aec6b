"""The decision records as auditors read them: index queries, full records, chain heads.

Read-only: GetItem, BatchGetItem and Query (the audit function's IAM role allows nothing else).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, cast

from miaopi_platform.audit.pages import Position
from miaopi_platform.audit.verification import HeadState
from miaopi_platform.aws.dynamo import Item, dynamodb_errors, from_item
from miaopi_platform.aws.errors import DependencyUnavailable
from miaopi_platform.records.indexes import BY_CHAIN, PARTITION_KEYS, SORT_KEYS
from miaopi_platform.records.items import ChainEntry, DecisionRecord, DecisionSummaryItem

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesUnionTypeDef, QueryInputTypeDef

_WHAT = "the decision records"
#: BatchGetItem takes at most 100 keys
_BATCH = 100
_UNPROCESSED_RETRIES = 8


class AuditStore:
    def __init__(self, client: DynamoDBClient, decisions_table: str, heads_table: str) -> None:
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
    ) -> tuple[list[DecisionSummaryItem], bool]:
        """One page of one index partition, in decidedAt order (pages.Query): summaries (every
        index projects the summary's attributes; byApplication the application too)."""
        pk, sk = PARTITION_KEYS[index], SORT_KEYS[index]
        condition = "#pk = :pk"
        values: Item = {":pk": {"S": key}}
        if low is not None and high is not None:
            condition += " AND #sk BETWEEN :low AND :high"
            values |= {":low": {"S": low}, ":high": {"S": high}}
        request: QueryInputTypeDef = {
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
        with dynamodb_errors(_WHAT):
            answer = self._client.query(**request)
        items = [cast(DecisionSummaryItem, from_item(i)) for i in answer.get("Items", [])]
        return items, bool(answer.get("LastEvaluatedKey"))

    def get(self, decision_id: str) -> DecisionRecord | None:
        with dynamodb_errors(_WHAT):
            answer = self._client.get_item(
                TableName=self._decisions,
                Key={"decisionId": {"S": decision_id}},
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return cast(DecisionRecord, from_item(item)) if item else None

    def records(
        self, decision_ids: Iterable[str], fields: tuple[str, ...] = ()
    ) -> dict[str, DecisionRecord]:
        """Full records by id (those that exist), read consistently; only `fields` of each
        (decisionId included) if given."""
        ids = list(dict.fromkeys(decision_ids))
        found: dict[str, DecisionRecord] = {}
        for start in range(0, len(ids), _BATCH):
            keys: list[Item] = [{"decisionId": {"S": i}} for i in ids[start : start + _BATCH]]
            wanted: KeysAndAttributesUnionTypeDef = {"Keys": keys, "ConsistentRead": True}
            if fields:
                names = {f"#f{n}": name for n, name in enumerate(("decisionId", *fields))}
                wanted["ProjectionExpression"] = ", ".join(names)
                wanted["ExpressionAttributeNames"] = names
            request: Mapping[str, KeysAndAttributesUnionTypeDef] = {self._decisions: wanted}
            for attempt in range(_UNPROCESSED_RETRIES):
                with dynamodb_errors(_WHAT):
                    answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._decisions, []):
                    record = cast(DecisionRecord, from_item(item))
                    found[str(record["decisionId"])] = record
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise DependencyUnavailable(f"{_WHAT} are unavailable, try again shortly")
        return found

    def chain(
        self, chain_id: str, start: int | None = None, limit: int | None = None
    ) -> tuple[list[ChainEntry], bool]:
        """The chained entries of a chain (ids, positions, hashes) in position order, from
        position `start` (default: the lowest, forged ones before 1 included), at most `limit`
        of them (default: all); and whether there are more."""
        request: QueryInputTypeDef = {
            "TableName": self._decisions,
            "IndexName": BY_CHAIN,
            "KeyConditionExpression": "chainId = :c",
            "ExpressionAttributeValues": {":c": {"S": chain_id}},
            "ScanIndexForward": True,
        }
        if start is not None:
            request["KeyConditionExpression"] = "chainId = :c AND chainSeq >= :s"
            request["ExpressionAttributeValues"] = {
                ":c": {"S": chain_id},
                ":s": {"N": str(start)},
            }
        entries: list[ChainEntry] = []
        while limit is None or len(entries) < limit:
            if limit is not None:
                request["Limit"] = limit - len(entries)
            with dynamodb_errors(_WHAT):
                answer = self._client.query(**request)
            entries += [cast(ChainEntry, from_item(i)) for i in answer.get("Items", [])]
            if not answer.get("LastEvaluatedKey"):
                return entries, False
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return entries, True

    def at(self, chain_id: str, seq: int) -> list[ChainEntry]:
        """The chained entries at one position (normally one)."""
        with dynamodb_errors(_WHAT):
            answer = self._client.query(
                TableName=self._decisions,
                IndexName=BY_CHAIN,
                KeyConditionExpression="chainId = :c AND chainSeq = :s",
                ExpressionAttributeValues={":c": {"S": chain_id}, ":s": {"N": str(seq)}},
            )
        return [cast(ChainEntry, from_item(i)) for i in answer.get("Items", [])]

    def head(self, chain_id: str) -> HeadState | None:
        with dynamodb_errors(_WHAT):
            answer = self._client.get_item(
                TableName=self._heads, Key={"chainId": {"S": chain_id}}, ConsistentRead=True
            )
        item = answer.get("Item")
        if not item:
            return None
        updated = item.get("updatedAt", {}).get("S")
        return HeadState(int(item["seq"]["N"]), item["hash"]["S"], updated)
