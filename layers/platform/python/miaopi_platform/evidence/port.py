"""The data-sharing port (数据共享): every source of evidence behind one interface.

In production each source is another department's system; here each source is a partition of
the reference-data table (the credit list and the platform's own grants register their own
tables), all read with ONE BatchGetItem per decision. A source that does not answer yields
UNAVAILABLE for its items, never a guess.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from miaopi.model import GRANT_SOURCE, EvidenceItem, EvidenceRequest, EvidenceStatus

from miaopi_platform.aws.dynamo import Item, from_item, plain
from miaopi_platform.aws.observability import logger
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records import grants

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient

CREDIT_LIST_SOURCE = "credit-list"
#: what a decision sees of a credit-list entry (the rest is for the people who keep the list)
CREDIT_EVIDENCE_ATTRIBUTES = ("status", "validUntil", "reasonCode", "listedAt")
#: local synthetic data only: an item carrying this marks its source as not answering
SIMULATE_ATTRIBUTE = "simulate"
#: a record the departments' loader refused (miaopi_platform.intake): the source said something
#: about this key that could not be believed, so it answers as not answering (refers)
REJECTED_MARK = "rejected"
#: a department's record changed by an outcome event carries what changed it, in the record:
#: {"eventId", "applicationId", "decisionId"} (docs/results.md)
EFFECT_MARK = "effectOf"


class EvidencePort(Protocol):
    def gather(self, requests: list[EvidenceRequest]) -> dict[str, EvidenceItem]: ...


class DynamoEvidence:
    """Reference data in DynamoDB: `reference_table` (source, key), the credit list and the
    grants register (read by the keyed hash `records.grants.scoped` gives a request)."""

    def __init__(
        self,
        client: DynamoDBClient,
        reference_table: str,
        credit_list_table: str,
        grants_table: str,
        hasher: PiiHasher,
        max_attempts: int = 3,
    ) -> None:
        self._client = client
        self._reference = reference_table
        self._credit = credit_list_table
        self._grants = grants_table
        self._hasher = hasher
        self._max_attempts = max_attempts
        self._key_names = {
            credit_list_table: ("subjectHash",),
            grants_table: (grants.GRANT_KEY,),
        }

    def _key(self, request: EvidenceRequest) -> tuple[str, Item]:
        if request.source == CREDIT_LIST_SOURCE:
            return self._credit, {"subjectHash": {"S": self._hasher.digest(request.key)}}
        if request.source == GRANT_SOURCE:
            return self._grants, {grants.GRANT_KEY: {"S": request.key}}
        return self._reference, {"source": {"S": request.source}, "key": {"S": request.key}}

    @staticmethod
    def _identity(table: str, key: Item) -> tuple[str, ...]:
        return (table, *sorted(f"{k}={v['S']}" for k, v in key.items()))

    def gather(self, requests: list[EvidenceRequest]) -> dict[str, EvidenceItem]:
        wanted: dict[tuple[str, ...], tuple[str, Item]] = {}
        by_alias: dict[str, tuple[str, ...]] = {}
        for request in requests:
            table, key = self._key(request)
            identity = self._identity(table, key)
            wanted[identity] = (table, key)
            by_alias[request.alias] = identity
        found: dict[tuple[str, ...], Item] = {}
        #: table -> the keys still to read there
        pending: dict[str, list[Item]] = {}
        for table, key in wanted.values():
            pending.setdefault(table, []).append(key)
        for attempt in range(self._max_attempts):
            if not pending:
                break
            try:
                answer = self._client.batch_get_item(
                    RequestItems={table: {"Keys": keys} for table, keys in pending.items()}
                )
            except (ClientError, BotoCoreError) as exc:
                logger.warning("evidence sources unavailable", extra={"error": type(exc).__name__})
                break
            for table, items in answer.get("Responses", {}).items():
                for item in items:
                    key_names = self._key_names.get(table, ("source", "key"))
                    key = {name: item[name] for name in key_names}
                    found[self._identity(table, key)] = item
            unprocessed = answer.get("UnprocessedKeys") or {}
            pending = {table: spec["Keys"] for table, spec in unprocessed.items()}
            if pending and attempt + 1 < self._max_attempts:
                time.sleep(0.05 * 2**attempt)
        # Still pending (unprocessed, or asked by an attempt that failed) is unanswered; what
        # earlier attempts returned stands.
        unanswered = {self._identity(table, key) for table, keys in pending.items() for key in keys}
        result: dict[str, EvidenceItem] = {}
        for alias, identity in by_alias.items():
            if identity in unanswered:
                result[alias] = EvidenceItem(EvidenceStatus.UNAVAILABLE)
                continue
            stored = found.get(identity)
            if stored is None:
                result[alias] = EvidenceItem(EvidenceStatus.ABSENT)
                continue
            result[alias] = _evidence(identity[0], from_item(stored), self._grants)
        return result


def caused_by(item: EvidenceItem, application_id: str) -> bool:
    """Whether this record is as it is because of the application's own outcome (the mark an
    effect leaves on the record it changes)."""
    mark = (item.record or {}).get(EFFECT_MARK) if item.status is EvidenceStatus.FOUND else None
    return isinstance(mark, dict) and mark.get("applicationId") == application_id


def _evidence(table: str, document: dict[str, Any], grants_table: str) -> EvidenceItem:
    if (
        document.get(SIMULATE_ATTRIBUTE) == EvidenceStatus.UNAVAILABLE.value
        or REJECTED_MARK in document
    ):
        return EvidenceItem(EvidenceStatus.UNAVAILABLE)
    if table == grants_table:
        # a released grant is no grant; the rules see its state, not who holds it
        if document.get("status") == grants.RELEASED:
            return EvidenceItem(EvidenceStatus.ABSENT)
        return EvidenceItem(
            EvidenceStatus.FOUND,
            {k: document[k] for k in grants.EVIDENCE_ATTRIBUTES if k in document},
        )
    record = document.get("record")
    if record is None:  # a credit-list entry: what decisions read of it, not its audit
        record = {k: document[k] for k in CREDIT_EVIDENCE_ATTRIBUTES if k in document}
    return EvidenceItem(EvidenceStatus.FOUND, plain(record))
