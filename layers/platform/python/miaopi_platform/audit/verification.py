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
- a record chained beyond the head read, chained after GRACE before that read (by its
  chainedAt), and not in the future of the read that found it;
- positions between the last record read and the head (the byChain index not caught up yet),
  while the chain was active within GRACE before the head was read (the head's updatedAt when
  known, else the newest chainedAt read);
- an unchained record of the chain's day and shard, GRACE after its decidedAt (counted to the
  time the head was read); or longer, up to
  the stream's retention (STREAM_RETENTION), while the chain has not advanced since GRACE after
  it was decided: the sequencer is behind (a stream backlog), not past it. Once the chain has
  chained records GRACE after this one was decided and it is still unchained, or the stream no
  longer holds it, nothing will chain it: INSERTED. (A record carries no time of its write: one
  written late by a workflow into a chain that moved on meanwhile is reported until the
  sequencer chains it, seconds later.)

- UNINDEXED: a record whose index keys are not the ones its content gives (indexes.index_keys),
  so some of the auditors' queries would not find it: a writer that does not seal its records.

Resumable, so a chain of any length is verified a page at a time (bounded work per request): a
`Walk` is one chain's verification so far, pinned to the head read when it started (`read_at`),
and it is fed the chain's records in position order (`walk_positions`, any number of times),
then told the chain ended (`finish_walk`), then fed the records of the chain's day and shard
(`check_partition`, any number of times). Findings come in that order: chain order first.
`verify_chain` does all three at once. Pure: the caller reads the records, the head and the
partition (audit/chainwalk.py pages through them).
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


class Phase(StrEnum):
    #: walking the chain's positions
    CHAIN = "chain"
    #: looking at the records of the chain's day and shard for ones not in it
    PARTITION = "partition"
    DONE = "done"


@dataclass(slots=True)
class Walk:
    """One chain's verification so far: where it stands and what it found. Everything in it is
    small and fixed in size, so it can travel in a page token between requests."""

    chain_id: str
    #: the head as read when the verification started, and when that was
    head: HeadState | None
    read_at: dt.datetime
    phase: Phase = Phase.CHAIN
    #: the position the chain expects next, the hash its record must be chained after, and
    #: the id of the record that has that hash (the last position walked is expected - 1)
    expected: int = 1
    prev_hash: str = GENESIS
    last_id: str | None = None
    #: the newest chainedAt of the records walked (the chain's activity without head.updatedAt)
    latest: str | None = None
    #: the highest position read (records chained after the head was read included), and the
    #: position to read from next (None: from the lowest)
    seen: int = 0
    resume: int | None = None
    #: where the look at the day and shard stands: (decidedAt, decisionId) of the last read
    after: tuple[str, str] | None = None
    records: int = 0
    pending: int = 0
    problems: int = 0
    first: Finding | None = None

    @property
    def walked(self) -> int:
        """The last position walked (0: none yet)."""
        return self.expected - 1

    def note(self, findings: list[Finding]) -> list[Finding]:
        self.problems += len(findings)
        if self.first is None and findings:
            self.first = findings[0]
        return findings


def verify_chain(
    chain_id: str,
    chained: list[DecisionRecord],
    head: HeadState | None,
    partition: list[DecisionRecord],
    now: dt.datetime,
) -> ChainReport:
    """Walk `chained` (the full records whose chainId is `chain_id`) against the head, and look
    at `partition` (the full records whose day and shard make this chain) for records that are
    in the chain's day and shard but not in the chain: the whole chain at once."""
    walk = Walk(chain_id, head, now)
    findings = walk_positions(walk, chained, None, now)
    findings += finish_walk(walk)
    findings += check_partition(walk, partition, now)
    return ChainReport(chain_id, walk.records, walk.pending, head, findings)


def walk_positions(
    walk: Walk, chained: list[DecisionRecord], next_prev: str | None, now: dt.datetime
) -> list[Finding]:
    """Walk the next positions of the chain: `chained` holds every record at each of them (the
    full records whose chainId is the walk's), after the positions walked before. `next_prev`
    is the prevHash of the record at the next position, if the caller read it (else, at the
    head's position, the head's hash stands in): it tells which of two records at the last
    position the chain holds. `now` is the time of this read."""
    found: list[Finding] = []
    head = walk.head
    head_seq = head.seq if head else 0
    by_seq: dict[int, list[DecisionRecord]] = defaultdict(list)
    for record in sorted(chained, key=lambda r: _seq(r) or 0):
        walk.records += 1
        seq = _seq(record)
        walk.seen = max(walk.seen, seq or 0)
        if seq is None or seq < 1:
            # a forged position before the first: named, and left out of the walk
            found.append(Finding(Problem.INSERTED, "before the chain's start", seq, _id(record)))
        elif seq > head_seq and _chained_since(record.get("chainedAt"), walk.read_at, now):
            # chained after the head was read: the next verification walks it
            walk.pending += 1
            continue
        else:
            by_seq[seq].append(record)
            walk.latest = _later(walk.latest, record.get("chainedAt"))
    positions = sorted(by_seq)
    for index, seq in enumerate(positions):
        if index + 1 < len(positions):
            successor = by_seq[positions[index + 1]][0].get("prevHash")
        elif next_prev is not None:
            successor = next_prev
        else:
            successor = head.hash if head and head.seq == seq else None
        record, *others = _genuine_first(by_seq[seq], successor, walk.prev_hash)
        found += _position(walk, seq, record, others)
        walk.expected, walk.prev_hash, walk.last_id = seq + 1, str(record.get("hash")), _id(record)
    return walk.note(found)


def _position(
    walk: Walk, seq: int, record: DecisionRecord, others: list[DecisionRecord]
) -> list[Finding]:
    """What is wrong at one position: its record (the one the chain holds) and any others."""
    found = [
        Finding(Problem.INSERTED, "a second record at this position", seq, _id(o)) for o in others
    ]
    expected = walk.expected
    if seq > expected:
        gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
        found.append(Finding(Problem.MISSING, f"no record at position {gap}", expected))
    content_ok, link_ok = record_checks(record)
    if not content_ok:
        found.append(Finding(Problem.ALTERED, "content does not match its hash", seq, _id(record)))
    if not link_ok:
        found.append(Finding(Problem.ALTERED, "hash is not its link hash", seq, _id(record)))
    if link_ok and seq == expected and record.get("prevHash") != walk.prev_hash:
        # the predecessor is not the record this one was chained after: it was replaced
        if seq == 1:
            found.append(
                Finding(Problem.INSERTED, "not chained after the chain's start", 1, _id(record))
            )
        else:
            found.append(
                Finding(
                    Problem.INSERTED,
                    f"not the record position {seq} was chained after (replaced)",
                    seq - 1,
                    walk.last_id,
                )
            )
    if content_ok and _expected_chain(record) != walk.chain_id:
        found.append(Finding(Problem.INSERTED, "belongs to another chain", seq, _id(record)))
    elif content_ok and not _indexed(record):
        found.append(
            Finding(Problem.UNINDEXED, "its index keys are not its content's", seq, _id(record))
        )
    if walk.head and seq > walk.head.seq:
        found.append(Finding(Problem.INSERTED, "beyond the chain's head", seq, _id(record)))
    return found


def finish_walk(walk: Walk) -> list[Finding]:
    """Every position was walked: compare where the walk ended with the head."""
    found: list[Finding] = []
    head, last = walk.head, walk.walked
    if head is None:
        if last:
            found.append(Finding(Problem.MISSING, "the chain has records but no head"))
    elif head.seq > last and _recent(_activity(head, walk.latest), walk.read_at):
        # the head was advanced to records the byChain index does not list yet
        walk.pending += head.seq - last
    elif head.seq > last:
        gap = f"{last + 1}" if head.seq == last + 1 else f"{last + 1}..{head.seq}"
        found.append(
            Finding(Problem.MISSING, f"no record at position {gap} (the head's)", last + 1)
        )
    elif head.seq == last and last and walk.prev_hash != head.hash:
        found.append(
            Finding(
                Problem.INSERTED,
                "not the record the chain's head was advanced to (replaced)",
                last,
                walk.last_id,
            )
        )
    walk.phase = Phase.PARTITION
    return walk.note(found)


def check_partition(walk: Walk, records: list[DecisionRecord], now: dt.datetime) -> list[Finding]:
    """Look at records of the chain's day and shard (read after the head, consistently; only
    decisionId, decidedAt and the chain fields are needed) for any not in the chain."""
    found: list[Finding] = []
    head = walk.head
    head_seq = head.seq if head else 0
    activity = _activity(head, walk.latest)
    for record in records:
        if record.get("chainId") == walk.chain_id:
            # a member; one chained after the head was read that the walk did not read (the
            # byChain index not caught up yet) is pending
            seq = _seq(record)
            unseen = seq is not None and seq > max(head_seq, walk.seen)
            if unseen and _chained_since(record.get("chainedAt"), walk.read_at, now):
                walk.pending += 1
            continue
        if "hash" in record:
            found.append(Finding(Problem.INSERTED, "chained into another chain", None, _id(record)))
        elif _waiting(record, head is None, activity, walk.read_at):
            walk.pending += 1
        else:
            found.append(Finding(Problem.INSERTED, "never chained", None, _id(record)))
    return walk.note(found)


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


def _activity(head: HeadState | None, latest: str | None) -> dt.datetime | None:
    """When the sequencer last advanced the chain: the head's updatedAt, else the newest
    chainedAt of its records walked."""
    moment = _moment(head.updated_at) if head else None
    return moment if moment is not None else _moment(latest)


def _later(latest: str | None, value: Any) -> str | None:
    """The later of two ISO times (an unreadable one is ignored)."""
    moment = _moment(value)
    if moment is None:
        return latest
    known = _moment(latest)
    return str(value) if known is None or moment > known else latest


def _chained_since(value: Any, read_at: dt.datetime, now: dt.datetime) -> bool:
    """`value` (a chainedAt) is after GRACE before the head was read, and not in the future of
    this read: a record the sequencer chained after the head was read, not a forgery."""
    moment = _moment(value)
    return moment is not None and read_at - GRACE <= moment <= now + _SKEW


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
