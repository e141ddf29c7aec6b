"""The credit list (信用黑名单): entries with validity periods and repair (信用修复), each change
written together with its history record, so every change is audited.

Subjects are identified by the keyed hash of their identifier (ID number or credit code); the
list never holds the identifier itself, only a masked form for people to recognise it.

A listing is prepared from the entry as read and written either here or inside another
transaction: a revocation for false data writes the subject's listing with it, so the two
become visible together (`writes`, and the review workflow's RecordDecisionAndListing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, Unpack, cast

from miaopi.workdays import CHINA

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import ConditionFailed, dynamodb_errors, from_item, to_item
from miaopi_platform.aws.errors import Conflict, NotFound
from miaopi_platform.credit.items import CreditChange, CreditEntry, EntryState, EntryStatus
from miaopi_platform.records.items import LocalizedText

LISTED: EntryStatus = "LISTED"
REPAIRED: EntryStatus = "REPAIRED"
_WHAT = "the credit list"
#: an entry is written only over the version it was prepared from (none read: `:seen` is 0)
ENTRY_UNCHANGED = "attribute_not_exists(version) OR version = :seen"
#: a history record is never overwritten
NEW_CHANGE = "attribute_not_exists(changeId)"
#: items of a TransactWriteItems call
TransactItems = list[dict[str, Any]]


def in_force(entry: CreditEntry | None, now: dt.datetime) -> bool:
    """Whether an entry bars its subject now: LISTED, valid through today in China."""
    today = now.astimezone(CHINA).date().isoformat()
    return bool(entry and entry.get("status") == LISTED and str(entry.get("validUntil")) >= today)


class AlreadyListed(Conflict):
    """An entry is in force for the subject: nothing to add."""


class EntryChanged(Conflict):
    """Someone changed the entry between its read and this write: read it again."""


@dataclass(frozen=True, slots=True)
class Listing:
    """A change of a subject's entry, prepared from the entry as read: the new entry and its
    history record, written together; the entry only over the version read (`seen`)."""

    entry: CreditEntry
    change: CreditChange
    #: the version of the entry as read (0: there was none)
    seen: int

    def condition_values(self) -> dict[str, Any]:
        """ENTRY_UNCHANGED's values, as DynamoDB takes them."""
        return {":seen": {"N": str(self.seen)}}


class ListingOf(TypedDict):
    """What a listing says: the masked subject, why, until when, by whom and on what decision."""

    subject_masked: str
    reason_code: str
    reason: LocalizedText
    valid_until: dt.date
    by: str
    now: dt.datetime
    source_decision_id: NotRequired[str | None]
    service_id: NotRequired[str | None]


class CreditList:
    def __init__(self, client: Any, table: str, history_table: str) -> None:
        self._client = client
        self._table = table
        self._history = history_table

    def get(self, subject_hash: str) -> CreditEntry | None:
        with dynamodb_errors(_WHAT):
            answer = self._client.get_item(
                TableName=self._table, Key={"subjectHash": {"S": subject_hash}}, ConsistentRead=True
            )
        item = answer.get("Item")
        return cast("CreditEntry", from_item(item)) if item else None

    def history(self, subject_hash: str) -> list[CreditChange]:
        """Every change of the subject's entry, oldest first (all pages)."""
        query: dict[str, Any] = {
            "TableName": self._history,
            "KeyConditionExpression": "subjectHash = :s",
            "ExpressionAttributeValues": {":s": {"S": subject_hash}},
            "ConsistentRead": True,
        }
        changes: list[CreditChange] = []
        while True:
            with dynamodb_errors(_WHAT):
                answer = self._client.query(**query)
            changes += [cast("CreditChange", from_item(i)) for i in answer.get("Items", [])]
            if not answer.get("LastEvaluatedKey"):
                return changes
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def list(self, subject_hash: str, **listing_of: Unpack[ListingOf]) -> CreditEntry | None:
        """List a subject (or list them again after repair or expiry). None when this source
        decision listed them already (a retry); 409 when an entry is in force."""
        listing = self.prepare(subject_hash, **listing_of)
        if listing is None:
            return None
        self.write(listing)
        return listing.entry

    def prepare(self, subject_hash: str, **listing_of: Unpack[ListingOf]) -> Listing | None:
        """A listing from the entry as it is now, to write here (`write`) or in another
        transaction (`writes`). None when this source decision listed the subject already;
        AlreadyListed (409) when an entry is in force."""
        now, reason, source_decision_id = (
            listing_of["now"],
            listing_of["reason"],
            listing_of.get("source_decision_id"),
        )
        current = self.get(subject_hash)
        if current and source_decision_id and current.get("sourceDecisionId") == source_decision_id:
            return None
        if in_force(current, now):
            raise AlreadyListed(
                "the subject is on the credit list already",
                [{"field": "subjectId", "code": "listed"}],
            )
        version = int(current.get("version", 0)) + 1 if current else 1
        entry: CreditEntry = {
            "subjectHash": subject_hash,
            "subjectMasked": listing_of["subject_masked"],
            "status": LISTED,
            "reasonCode": listing_of["reason_code"],
            "reason": reason,
            "validUntil": listing_of["valid_until"].isoformat(),
            "listedAt": iso(now),
            "listedBy": listing_of["by"],
            "sourceDecisionId": source_decision_id,
            "serviceId": listing_of.get("service_id"),
            "version": version,
        }
        why = reason.get("en", listing_of["reason_code"])
        return _listing(entry, current, LISTED, listing_of["by"], why, now)

    def repair(self, subject_hash: str, reason: str, by: str, now: dt.datetime) -> CreditEntry:
        """信用修复: the entry stays (audited) but no longer bars anyone."""
        current = self.get(subject_hash)
        if current is None:
            raise NotFound("the subject is not on the credit list")
        if current.get("status") != LISTED:
            raise Conflict(
                "the entry is not in force", [{"field": "subjectId", "code": "not_listed"}]
            )
        entry: CreditEntry = {
            **current,
            "status": REPAIRED,
            "repairedAt": iso(now),
            "repairedBy": by,
            "repairReason": reason,
            "version": int(current.get("version", 0)) + 1,
        }
        self.write(_listing(entry, current, REPAIRED, by, reason, now))
        return entry

    def writes(self, listing: Listing) -> TransactItems:
        """The listing's two writes, for a transaction with other writes (a revocation)."""
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(listing.entry),
                    "ConditionExpression": ENTRY_UNCHANGED,
                    "ExpressionAttributeValues": listing.condition_values(),
                }
            },
            {
                "Put": {
                    "TableName": self._history,
                    "Item": to_item(listing.change),
                    "ConditionExpression": NEW_CHANGE,
                }
            },
        ]

    def write(self, listing: Listing) -> None:
        """The entry and its history record together; the entry only if nobody changed it
        since it was read (optimistic concurrency on `version`)."""
        try:
            with dynamodb_errors(_WHAT):
                self._client.transact_write_items(TransactItems=self.writes(listing))
        except ConditionFailed:
            raise EntryChanged(
                "the entry changed meanwhile; read it again",
                [{"field": "subjectId", "code": "changed"}],
            ) from None


def _listing(
    entry: CreditEntry,
    current: CreditEntry | None,
    action: EntryStatus,
    by: str,
    why: str,
    now: dt.datetime,
) -> Listing:
    change: CreditChange = {
        "subjectHash": entry["subjectHash"],
        "changeId": f"{iso(now)}#{entry['version']:06d}",
        "action": action,
        "by": by,
        "why": why,
        "at": iso(now),
        "sourceDecisionId": entry.get("sourceDecisionId"),
        # the entry's content: every key but the subject's hash (the history's own key)
        "entry": cast("EntryState", {k: v for k, v in entry.items() if k != "subjectHash"}),
    }
    seen = int(current.get("version", 0)) if current is not None else 0
    return Listing(entry, change, seen)
