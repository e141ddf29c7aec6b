"""Chain verification: walk one hash chain and report every record that is not as chained.

Three kinds of problem, each pointing at a position and a decision id where there is one:
- ALTERED: a record's content does not hash to its contentHash, or its hash is not the link
  hash of its chain, position, prevHash and contentHash.
- MISSING: a position with no record (a gap, or the head beyond the last record), or no head
  for a chain that has records.
- INSERTED: a record that is not the one the chain holds at its position: a second record at a
  position, a record the next one (or the head) was not chained after (a replacement), a
  position before the chain's start (chainSeq < 1) or beyond the head, a record chained into a
  chain its content does not belong to, or a record of the chain's day and shard that was never
  chained (past a grace period: the sequencer chains a record within seconds of its write).

A chain is verified while it is being appended to, and the indexes it is read through lag
(DynamoDB GSIs are eventually consistent). The caller reads the head first, then the records;
so what the sequencer did after the head was read is `pending`, never a problem:
- a record chained beyond the head read, chained within GRACE before `now` (by its chainedAt);
- positions between the last record read and the head (the byChain index not caught up yet),
  while the chain was active within GRACE before `now` (the head's updatedAt when known, else
  the newest chainedAt read);
- an unchained record of the chain's day and shard, GRACE after its decidedAt; or longer, up to
  the stream's retention (STREAM_RETENTION), while the chain has not advanced since GRACE after
  it was decided: the sequencer is behind (a stream backlog), not past it. Once the chain has
  chained records GRACE after this one was decided and it is still unchained, or the stream no
  longer holds it, nothing will chain it: INSERTED. (A record carries no time of its write: one
  written late by a workflow into a chain that moved on meanwhile is reported until the
  sequencer chains it, seconds later.)

- UNINDEXED: a record whose index keys are not the ones its content gives (indexes.index_keys),
  so some of the auditors' queries would not find it: a writer that does not seal its records.

Pure: the caller reads the chain (in position order), its head and the partition's records.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from miaopi_platform.records.indexes import chain_of, index_keys
from miaopi_platform.records.items import DecisionRecord
from miaopi_platform.records.seal import GENESIS, content_hash, link_hash

#: how long a new record may stay unchained before it counts as inserted
GRACE = dt.timedelta(seconds=60)
#: DynamoDB Streams keep a record 24 hours: the sequencer can chain nothing older
STREAM_RETENTION = dt.timedelta(hours=24)
#: clocks may differ this much: a chainedAt further in the future than this is not believed
_SKEW = dt.timedelta(seconds=5)


class Problem(StrEnum):
    ALTERED = "ALTERED"
    MISSING = "MISSING"
    INSERTED = "INSERTED"
    UNINDEXED = "UNINDEXED"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Problem
    detail: str
    seq: int | None = None
    decision_id: str | None = None


@dataclass(frozen=True, slots=True)
class HeadState:
    seq: int
    hash: str
    #: when the sequencer last advanced it (ISO), when known
    updated_at: str | None = None


@dataclass(slots=True)
class ChainReport:
    chain_id: str
    records: int = 0
    #: records of the chain's partition not chained yet, within the grace period
    pending: int = 0
    head: HeadState | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def record_checks(record: DecisionRecord) -> tuple[bool, bool | None]:
    """(its content matches its contentHash, its hash is its link hash — None if unchained)."""
    content_ok = content_hash(record) == record.get("contentHash")
    if "hash" not in record:
        return content_ok, None
    link = link_hash(
        str(record.get("chainId")),
        _seq(record) or 0,
        str(record.get("prevHash")),
        str(record.get("contentHash")),
    )
    return content_ok, link == record["hash"]


def verify_chain(
    chain_id: str,
    chained: list[DecisionRecord],
    head: HeadState | None,
    partition: list[DecisionRecord],
    now: dt.datetime,
) -> ChainReport:
    """Walk `chained` (the full records whose chainId is `chain_id`) against the head, and look
    at `partition` (the full records whose day and shard make this chain) for records that are
    in the chain's day and shard but not in the chain."""
    report = ChainReport(chain_id, records=len(chained), head=head)
    found = report.findings.append
    head_seq = head.seq if head else 0
    by_seq: dict[int, list[DecisionRecord]] = defaultdict(list)
    for record in sorted(chained, key=lambda r: _seq(r) or 0):
        seq = _seq(record)
        if seq is None or seq < 1:
            # a forged position before the first: named, and left out of the walk
            found(Finding(Problem.INSERTED, "before the chain's start", seq, _id(record)))
        elif seq > head_seq and _recent(record.get("chainedAt"), now):
            # chained after the head was read: the next verification walks it
            report.pending += 1
        else:
            by_seq[seq].append(record)
    positions = sorted(by_seq)
    expected, prev_hash = 1, GENESIS
    for index, seq in enumerate(positions):
        successor = (
            by_seq[positions[index + 1]][0].get("prevHash")
            if index + 1 < len(positions)
            else (head.hash if head and head.seq == seq else None)
        )
        record, *others = _genuine_first(by_seq[seq], successor, prev_hash)
        for other in others:
            found(Finding(Problem.INSERTED, "a second record at this position", seq, _id(other)))
        if seq > expected:
            gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            found(Finding(Problem.MISSING, f"no record at position {gap}", expected))
        content_ok, link_ok = record_checks(record)
        if not content_ok:
            found(Finding(Problem.ALTERED, "content does not match its hash", seq, _id(record)))
        if not link_ok:
            found(Finding(Problem.ALTERED, "hash is not its link hash", seq, _id(record)))
        if link_ok and seq == expected and record.get("prevHash") != prev_hash:
            # the predecessor is not the record this one was chained after: it was replaced
            if seq == 1:
                found(
                    Finding(Problem.INSERTED, "not chained after the chain's start", 1, _id(record))
                )
            else:
                found(
                    Finding(
                        Problem.INSERTED,
                        f"not the record position {seq} was chained after (replaced)",
                        seq - 1,
                        _id(by_seq[seq - 1][0]),
                    )
                )
        if content_ok and _expected_chain(record) != chain_id:
            found(Finding(Problem.INSERTED, "belongs to another chain", seq, _id(record)))
        elif content_ok and not _indexed(record):
            found(
                Finding(Problem.UNINDEXED, "its index keys are not its content's", seq, _id(record))
            )
        if head and seq > head.seq:
            found(Finding(Problem.INSERTED, "beyond the chain's head", seq, _id(record)))
        expected, prev_hash = seq + 1, str(record.get("hash"))
    last = positions[-1] if positions else 0
    if head is None:
        if positions:
            found(Finding(Problem.MISSING, "the chain has records but no head"))
    elif head.seq > last and _recent(_activity(head, chained), now):
        # the head was advanced to records the byChain index does not list yet
        report.pending += head.seq - last
    elif head.seq > last:
        gap = f"{last + 1}" if head.seq == last + 1 else f"{last + 1}..{head.seq}"
        found(Finding(Problem.MISSING, f"no record at position {gap} (the head's)", last + 1))
    elif head.seq == last and by_seq and prev_hash != head.hash:
        found(
            Finding(
                Problem.INSERTED,
                "not the record the chain's head was advanced to (replaced)",
                last,
                _id(by_seq[last][0]),
            )
        )
    members = {_id(r) for r in chained}
    activity = _activity(head, chained)
    for record in partition:
        if _id(record) in members:
            continue
        if "hash" in record:
            found(Finding(Problem.INSERTED, "chained into another chain", None, _id(record)))
        elif _waiting(record, head is None, activity, now):
            report.pending += 1
        else:
            found(Finding(Problem.INSERTED, "never chained", None, _id(record)))
    return report


def _genuine_first(
    candidates: list[DecisionRecord], successor_prev: str | None, prev_hash: str
) -> list[DecisionRecord]:
    """The records at one position, the one the chain holds first: the one the next record
    (or the head) was chained after, else the one chained after the predecessor."""
    if len(candidates) == 1:
        return candidates

    def rank(record: DecisionRecord) -> tuple[bool, bool, str]:
        return (
            record.get("hash") != successor_prev,
            record.get("prevHash") != prev_hash,
            str(record.get("chainedAt", "")),
        )

    return sorted(candidates, key=rank)


def _expected_chain(record: DecisionRecord) -> str | None:
    try:
        return chain_of(record)
    except (KeyError, ValueError, TypeError):
        return None


def _indexed(record: DecisionRecord) -> bool:
    try:
        expected = index_keys(record)
    except KeyError:
        return False
    extra = "deciderKey" in record and "deciderKey" not in expected
    return not extra and all(record.get(k) == v for k, v in expected.items())


def _id(record: DecisionRecord) -> str:
    return str(record.get("decisionId"))


def _seq(record: DecisionRecord) -> int | None:
    try:
        return int(record["chainSeq"])
    except (KeyError, TypeError, ValueError):
        return None


def _moment(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _recent(value: Any, now: dt.datetime) -> bool:
    """`value` (an ISO time) is within GRACE before `now` (and not in the future)."""
    moment = value if isinstance(value, dt.datetime) else _moment(value)
    return moment is not None and -_SKEW <= now - moment <= GRACE


def _activity(head: HeadState | None, chained: list[DecisionRecord]) -> dt.datetime | None:
    """When the sequencer last advanced the chain: the head's updatedAt, else the newest
    chainedAt of its records."""
    moment = _moment(head.updated_at) if head else None
    if moment is not None:
        return moment
    times = [m for m in (_moment(r.get("chainedAt")) for r in chained) if m is not None]
    return max(times, default=None)


def _waiting(
    record: DecisionRecord, unstarted: bool, activity: dt.datetime | None, now: dt.datetime
) -> bool:
    """An unchained record is still waiting for the sequencer (see the module's doc); a chain
    with no head yet has not advanced at all."""
    decided = _moment(record.get("decidedAt"))
    if decided is None:
        return False
    age = now - decided
    if age <= GRACE:
        return True
    behind = unstarted or (activity is not None and activity < decided + GRACE)
    return behind and age <= STREAM_RETENTION
