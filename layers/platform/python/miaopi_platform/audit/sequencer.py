"""The chain sequencer: appends every new decision record to its hash chain.

A chain is one service's records of one China day in one write shard (indexes.chain_of). Its
head (last sequence number and hash) lives in the chain heads table. Appending a record is one
transaction: advance the head from the value read (optimistic concurrency: a sequencer that
lost a race re-reads the head and tries again), and give the record its chain fields
(chainId, chainSeq, prevHash, hash, chainedAt) on condition that it has none yet and that its
content hash is the one checked. So a record is chained once, in one place, whatever the
redeliveries; its content is never edited. A record whose content does not match its content
hash is refused: it is not chained, and the stream delivery fails (then the failures queue).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import (
    CONDITION_FAILED,
    TRANSACTION_CONFLICT,
    ConditionFailed,
    Item,
    TransactionConflicted,
    dynamodb_errors,
    from_item,
)
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.records.indexes import chain_of
from miaopi_platform.records.items import DecisionRecord
from miaopi_platform.records.seal import GENESIS, content_hash, link_hash

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

#: a conflict means another sequencer appended first; the next attempt reads its head
MAX_ATTEMPTS = 20
_BACKOFF_S = 0.02


class Appended(StrEnum):
    CHAINED = "CHAINED"
    #: chained already (a redelivered or retried stream record): nothing done
    ALREADY = "ALREADY"
    #: not a new record (the sequencer's own updates come back on the stream as MODIFY)
    SKIPPED = "SKIPPED"


class ContentMismatch(Exception):
    """A record's content does not hash to its contentHash: it is refused, never chained."""


class NotChainable(Exception):
    """The record vanished, or changed, between the stream and its chaining."""


class ChainContention(Exception):
    """Too many sequencers appended to one chain at once; the stream delivery retries."""


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


_EMPTY = Head(0, GENESIS)


class ChainStore:
    """Chain heads and the chain fields of decision records."""

    def __init__(self, client: DynamoDBClient, decisions_table: str, heads_table: str) -> None:
        self._client = client
        self._decisions = decisions_table
        self._heads_table = heads_table
        #: the heads this execution environment last wrote: usually still current, which
        #: saves a read per record; a stale one fails its condition and is read again
        self._heads: dict[str, Head] = {}

    def head(self, chain_id: str) -> Head:
        answer = self._client.get_item(
            TableName=self._heads_table, Key={"chainId": {"S": chain_id}}, ConsistentRead=True
        )
        item = answer.get("Item")
        if not item:
            return _EMPTY
        return Head(int(item["seq"]["N"]), item["hash"]["S"])

    def append(
        self, chain_id: str, decision_id: str, content: str, now: dt.datetime | None = None
    ) -> Appended:
        for attempt in range(MAX_ATTEMPTS):
            head = self._heads.get(chain_id) or self.head(chain_id)
            seq = head.seq + 1
            link = link_hash(chain_id, seq, head.hash, content)
            try:
                with dynamodb_errors("the hash chains"):
                    self._client.transact_write_items(
                        TransactItems=[
                            self._advance(chain_id, head, seq, link, now),
                            self._chain_fields(
                                chain_id, decision_id, content, seq, head, link, now
                            ),
                        ]
                    )
            except (ConditionFailed, TransactionConflicted) as refused:
                head_moved, record_refused = _cancelled(refused.reasons)
                self._heads.pop(chain_id, None)
                if record_refused:
                    return self._already_chained(decision_id)
                if not head_moved:
                    raise
                metrics.add_metric(name="ChainConflicts", unit="Count", value=1)
                time.sleep(random.uniform(0, _BACKOFF_S * (attempt + 1)))  # noqa: S311 - jitter
                continue
            self._heads[chain_id] = Head(seq, link)
            return Appended.CHAINED
        raise ChainContention(f"chain {chain_id}: no append after {MAX_ATTEMPTS} attempts")

    def _advance(
        self, chain_id: str, head: Head, seq: int, link: str, now: dt.datetime | None
    ) -> TransactWriteItemTypeDef:
        values: Item = {
            ":seq": {"N": str(seq)},
            ":hash": {"S": link},
            ":at": {"S": iso(now or dt.datetime.now(dt.UTC))},
        }
        if head.seq == 0:
            condition = "attribute_not_exists(chainId)"
        else:
            condition = "#seq = :expected"
            values[":expected"] = {"N": str(head.seq)}
        return {
            "Update": {
                "TableName": self._heads_table,
                "Key": {"chainId": {"S": chain_id}},
                "UpdateExpression": "SET #seq = :seq, #hash = :hash, updatedAt = :at",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#seq": "seq", "#hash": "hash"},
                "ExpressionAttributeValues": values,
            }
        }

    def _chain_fields(
        self,
        chain_id: str,
        decision_id: str,
        content: str,
        seq: int,
        head: Head,
        link: str,
        now: dt.datetime | None,
    ) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self._decisions,
                "Key": {"decisionId": {"S": decision_id}},
                "UpdateExpression": "SET chainId = :chain, chainSeq = :seq, prevHash = :prev, "
                "#hash = :hash, chainedAt = :at",
                "ConditionExpression": "attribute_exists(decisionId) "
                "AND attribute_not_exists(#hash) AND contentHash = :content",
                "ExpressionAttributeNames": {"#hash": "hash"},
                "ExpressionAttributeValues": {
                    ":chain": {"S": chain_id},
                    ":seq": {"N": str(seq)},
                    ":prev": {"S": head.hash},
                    ":hash": {"S": link},
                    ":at": {"S": iso(now or dt.datetime.now(dt.UTC))},
                    ":content": {"S": content},
                },
            }
        }

    def _already_chained(self, decision_id: str) -> Appended:
        answer = self._client.get_item(
            TableName=self._decisions,
            Key={"decisionId": {"S": decision_id}},
            ProjectionExpression="decisionId, #hash",
            ExpressionAttributeNames={"#hash": "hash"},
            ConsistentRead=True,
        )
        if "hash" in answer.get("Item", {}):
            return Appended.ALREADY
        raise NotChainable(f"{decision_id}: gone or changed before it was chained")


def _cancelled(reasons: tuple[str, ...]) -> tuple[bool, bool]:
    """(the head moved, the record's condition failed) for a cancelled append transaction."""
    codes = [*reasons, "None", "None"]
    # a conflicting concurrent transaction (real DynamoDB) is another sequencer: try again
    head_moved = codes[0] in (CONDITION_FAILED, TRANSACTION_CONFLICT)
    head_moved = head_moved or codes[1] == TRANSACTION_CONFLICT
    return head_moved, codes[1] == CONDITION_FAILED


def sequence(chains: ChainStore, stream_record: dict[str, Any]) -> Appended:
    """Chain the decision record of one stream record (a DynamoDB INSERT)."""
    image = (stream_record.get("dynamodb") or {}).get("NewImage")
    if stream_record.get("eventName") != "INSERT" or not image:
        return Appended.SKIPPED
    return chain_record(chains, cast(DecisionRecord, from_item(image)))


def chain_record(chains: ChainStore, record: DecisionRecord) -> Appended:
    """Chain one stored decision record: the stream's path, and the reconciler's for a record
    the stream's deliveries gave up on (the same conditional append: whichever comes first
    chains it, the other finds it chained)."""
    decision_id = str(record["decisionId"])
    stated = record.get("contentHash")
    if not stated or content_hash(record) != stated:
        # ids only: the record's content is personal data
        logger.error(
            "decision record refused: content does not match its hash",
            extra={"decisionId": decision_id},
        )
        metrics.add_metric(name="ChainContentMismatch", unit="Count", value=1)
        raise ContentMismatch(decision_id)
    chain_id = chain_of(record)
    done = chains.append(chain_id, decision_id, str(stated))
    if done is Appended.CHAINED:
        metrics.add_metric(name="RecordsChained", unit="Count", value=1)
    logger.info(
        "decision record chained" if done is Appended.CHAINED else "chained already",
        extra={"decisionId": decision_id, "chainId": chain_id},
    )
    return done
