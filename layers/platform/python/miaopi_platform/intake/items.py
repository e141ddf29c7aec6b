"""What the loader stores and writes, as types: a source's last load (one small item per source,
in the reference-data table under a partition no source can be named) and the report of one
delivered file. No personal data in either: counts, file names, line numbers, field names.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

#: the reference-data partition of the loads' items: not a source name (sources match
#: `^[a-z][a-z0-9-]*$`), so no department's record can land there
LOADS_PARTITION = "_loads"
#: the stored version of a delivered record (the source's own order of changes)
VERSION_ATTRIBUTE = "sourceVersion"


class Counts(TypedDict):
    """What one file did: lines read, records stored, records that changed nothing (the same or
    an older version, or an entry the platform made itself), lines refused."""

    lines: int
    loaded: int
    unchanged: int
    rejected: int


class Reject(TypedDict):
    """One refused line: where and why, never what it held."""

    line: int
    field: str
    reason: str


class LoadReport(TypedDict):
    """reports/<file>.json, next to the delivered files."""

    file: str
    source: str
    at: str
    counts: Counts
    rejects: list[Reject]
    #: rejects beyond the report's limit, counted only
    rejectsNotListed: int


class SourceLoad(TypedDict):
    """A source's freshness: its last delivered file and its last load that stored anything."""

    source: str
    key: str
    lastFile: str
    lastFileAt: str
    lastCounts: Counts
    lastLoadAt: NotRequired[str]
