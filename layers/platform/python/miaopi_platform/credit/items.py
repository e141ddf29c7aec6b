"""What the credit list stores, as types: an entry (CreditListTable, one per subject) and each
change of it (CreditListHistoryTable). TypedDicts like records/items.py: plain dicts as DynamoDB
(de)serializes them, keys camelCase as stored, checked by mypy wherever they are built or read.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from miaopi_platform.records.items import LocalizedText

EntryStatus = Literal["LISTED", "REPAIRED"]


class EntryState(TypedDict):
    """An entry's content: what its history records of it at each change."""

    #: the subject's identifier masked, for people to recognise it (never the identifier)
    subjectMasked: str
    status: EntryStatus
    reasonCode: str
    reason: LocalizedText
    validUntil: str
    listedAt: str
    listedBy: str
    #: the decision that listed the subject, and its service (None, not stored: an admin's)
    sourceDecisionId: NotRequired[str | None]
    serviceId: NotRequired[str | None]
    #: one more at every change (optimistic concurrency)
    version: int
    repairedAt: NotRequired[str]
    repairedBy: NotRequired[str]
    repairReason: NotRequired[str]


class CreditEntry(EntryState):
    """CreditListTable: a subject's entry, keyed by the keyed hash of their identifier."""

    subjectHash: str


class CreditChange(TypedDict):
    """CreditListHistoryTable: one change of an entry, written with it."""

    subjectHash: str
    #: when and which version: the history's sort key
    changeId: str
    action: EntryStatus
    by: str
    why: str
    at: str
    sourceDecisionId: NotRequired[str | None]
    entry: EntryState
