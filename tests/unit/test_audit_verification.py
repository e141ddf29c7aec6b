"""Chain verification on hand-built chains: an intact chain verifies; each kind of tampering is
reported as the first problem, at the right position, once."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from miaopi_platform.audit.chainwalk import chains_page
from miaopi_platform.audit.verification import GRACE, HeadState, verify_chain
from miaopi_platform.aws.errors import BadRequest
from miaopi_platform.records.indexes import chain_of, index_keys, shard_of
from miaopi_platform.records.seal import GENESIS, content_hash, link_hash, with_content_hash

NOW = dt.datetime(2025, 3, 4, 8, 0, tzinfo=dt.UTC)
SERVICE = "elderly-allowance"


#: decision ids that fall in write shard 0 (one chain per service, day and shard)
_IDS = [i for i in (f"DEC{k:021d}" for k in range(1200)) if shard_of(i) == 0]


def record(n: int, minutes_ago: float = 10) -> dict[str, Any]:
    decided = (NOW - dt.timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    content = {
        "decisionId": _IDS[n],
        "serviceId": SERVICE,
        "decidedAt": decided,
        "outcome": "APPROVED",
        "ruleSetVersion": "2024.1",
        "reasons": [],
    }
    return with_content_hash({**content, **index_keys(content)})


def build(count: int) -> tuple[str, list[dict[str, Any]], HeadState]:
    """A chain as the sequencer makes one (records of one day; the shard is ignored here)."""
    records, prev = [], GENESIS
    chain_id = ""
    for n in range(1, count + 1):
        r = record(n)
        chain_id = chain_id or chain_of(r)
        r |= {"chainId": chain_id, "chainSeq": n, "prevHash": prev, "chainedAt": "x"}
        r["hash"] = prev = link_hash(chain_id, n, r["prevHash"], r["contentHash"])
        records.append(r)
    return chain_id, records, HeadState(count, prev)


def kinds(report: Any) -> list[tuple[str, int | None]]:
    return [(f.kind.value, f.seq) for f in report.findings]


def rehash(r: dict[str, Any]) -> dict[str, Any]:
    """A record's hashes recomputed after an edit, as a careful forger would."""
    r = {**r, **index_keys(r)}
    r["contentHash"] = content_hash(r)
    r["hash"] = link_hash(r["chainId"], r["chainSeq"], r["prevHash"], r["contentHash"])
    return r


def test_an_intact_chain_verifies() -> None:
    chain_id, records, head = build(5)
    report = verify_chain(chain_id, records, head, records, NOW)
    assert report.verified and report.first is None and report.records == 5


def test_an_empty_chain_without_a_head_verifies() -> None:
    report = verify_chain("svc#2025-03-04#0", [], None, [], NOW)
    assert report.verified and report.records == 0


def test_altered_content_is_reported_at_its_position() -> None:
    chain_id, records, head = build(5)
    records[2] = {**records[2], "outcome": "REJECTED"}
    assert kinds(verify_chain(chain_id, records, head, records, NOW)) == [("ALTERED", 3)]


def test_an_altered_link_is_reported() -> None:
    chain_id, records, head = build(5)
    records[1] = {**records[1], "hash": "f" * 64}
    report = verify_chain(chain_id, records, head, records, NOW)
    assert report.first is not None and (report.first.kind, report.first.seq) == ("ALTERED", 2)


def test_a_missing_record_is_reported_once() -> None:
    chain_id, records, head = build(5)
    del records[2]
    assert kinds(verify_chain(chain_id, records, head, records, NOW)) == [("MISSING", 3)]


def test_several_missing_records_are_one_gap() -> None:
    chain_id, records, head = build(6)
    del records[1:4]
    report = verify_chain(chain_id, records, head, records, NOW)
    assert kinds(report) == [("MISSING", 2)] and "2..4" in report.findings[0].detail


def test_missing_last_records_are_found_by_the_head() -> None:
    chain_id, records, head = build(5)
    del records[3:]
    report = verify_chain(chain_id, records, head, records, NOW)
    assert kinds(report) == [("MISSING", 4)] and "4..5" in report.findings[0].detail


def test_a_deleted_head_is_missing() -> None:
    chain_id, records, _head = build(3)
    assert kinds(verify_chain(chain_id, records, None, records, NOW)) == [("MISSING", None)]


def test_a_record_replaced_with_recomputed_hashes_is_inserted() -> None:
    chain_id, records, head = build(5)
    records[2] = rehash({**records[2], "outcome": "REJECTED"})
    report = verify_chain(chain_id, records, head, records, NOW)
    assert kinds(report) == [("INSERTED", 3)]
    assert report.findings[0].decision_id == records[2]["decisionId"]


def test_the_last_record_replaced_is_found_by_the_head() -> None:
    chain_id, records, head = build(4)
    records[3] = rehash({**records[3], "outcome": "REJECTED"})
    assert kinds(verify_chain(chain_id, records, head, records, NOW)) == [("INSERTED", 4)]


def test_a_second_record_at_a_position_is_inserted_and_the_genuine_one_stands() -> None:
    chain_id, records, head = build(4)
    forged = rehash({**records[1], "decisionId": _IDS[40]})
    for order in ([*records, forged], [forged, *records]):
        report = verify_chain(chain_id, order, head, order, NOW)
        assert kinds(report) == [("INSERTED", 2)]
        assert report.findings[0].decision_id == forged["decisionId"]


def test_a_record_beyond_the_head_is_inserted() -> None:
    chain_id, records, head = build(4)
    extra = rehash(
        {**record(5), "chainId": chain_id, "chainSeq": 5, "prevHash": records[-1]["hash"]}
    )
    all_records = [*records, extra]
    assert kinds(verify_chain(chain_id, all_records, head, all_records, NOW)) == [("INSERTED", 5)]


def test_a_record_that_never_got_a_chain_is_inserted_after_the_grace_period() -> None:
    chain_id, records, head = build(3)
    old, new = record(7, minutes_ago=GRACE.total_seconds() / 60 + 1), record(8, minutes_ago=0.1)
    report = verify_chain(chain_id, records, head, [*records, old, new], NOW)
    assert kinds(report) == [("INSERTED", None)]
    assert report.findings[0].decision_id == old["decisionId"] and report.pending == 1


def test_a_record_chained_elsewhere_is_inserted() -> None:
    chain_id, records, head = build(3)
    stray = {**record(9), "chainId": "another#2025-03-04#1", "chainSeq": 1, "hash": "0"}
    report = verify_chain(chain_id, records, head, [*records, stray], NOW)
    assert [(f.kind.value, f.decision_id) for f in report.findings] == [
        ("INSERTED", stray["decisionId"])
    ]


def test_a_record_moved_into_another_chain_is_inserted() -> None:
    _, records, _ = build(2)
    moved_id = "elderly-allowance#2025-01-01#0"
    moved = rehash({**records[0], "chainId": moved_id, "prevHash": GENESIS})
    head = HeadState(1, moved["hash"])
    report = verify_chain(moved_id, [moved], head, [], NOW)
    assert [(f.kind.value, f.detail) for f in report.findings] == [
        ("INSERTED", "belongs to another chain")
    ]


def test_a_record_its_writer_did_not_index_is_reported() -> None:
    # a writer that hashed its record without the index keys: no list query would find it
    chain_id, records, head = build(3)
    unindexed = {k: v for k, v in records[1].items() if k != "serviceOutcomeShard"}
    unindexed["contentHash"] = content_hash(unindexed)
    unindexed["hash"] = link_hash(chain_id, 2, unindexed["prevHash"], unindexed["contentHash"])
    records[1] = unindexed
    records[2] = rehash({**records[2], "prevHash": records[1]["hash"]})
    head = HeadState(3, records[2]["hash"])
    assert kinds(verify_chain(chain_id, records, head, records, NOW)) == [("UNINDEXED", 2)]


@pytest.mark.parametrize("position", [0, 2, 4])
def test_findings_come_in_chain_order(position: int) -> None:
    chain_id, records, head = build(5)
    records[position] = {**records[position], "outcome": "REJECTED"}
    del records[(position + 2) % 5]
    report = verify_chain(chain_id, records, head, records, NOW)
    seqs = [f.seq for f in report.findings]
    assert seqs == sorted(seqs) and len(seqs) == 2


def test_a_forged_record_before_the_chain_start_is_named_and_the_first_stands() -> None:
    # Given a forged record at position 0 (and one at -1), its hashes valid
    chain_id, records, head = build(3)
    forged = [
        rehash({**record(20 + n), "chainId": chain_id, "chainSeq": seq, "prevHash": GENESIS})
        for n, seq in enumerate((0, -1))
    ]
    # When verified
    report = verify_chain(chain_id, [*forged, *records], head, records, NOW)
    # Then each forged record is INSERTED before the chain's start, and nothing else
    assert sorted((f.kind.value, f.detail, f.decision_id) for f in report.findings) == sorted(
        ("INSERTED", "before the chain's start", f["decisionId"]) for f in forged
    )


def _fresh(r: dict[str, Any], seconds_ago: float) -> dict[str, Any]:
    """A record chained `seconds_ago` before NOW (chainedAt is no part of the hashes)."""
    return {**r, "chainedAt": (NOW - dt.timedelta(seconds=seconds_ago)).isoformat()}


def test_a_head_advanced_past_the_records_read_is_pending_while_the_chain_is_active() -> None:
    # Given a chain of 5 whose last record the byChain index does not list yet, chained 2 s
    # before the read (the head, read first, is at 5)
    chain_id, records, head = build(5)
    seen = [_fresh(r, 2) for r in records[:4]]
    # When verified, then position 5 is pending, not MISSING
    report = verify_chain(chain_id, seen, head, seen, NOW)
    assert report.verified and report.pending == 1
    # and known from the head's updatedAt alone just as well
    active = HeadState(head.seq, head.hash, (NOW - dt.timedelta(seconds=1)).isoformat())
    report = verify_chain(chain_id, records[:4], active, records[:4], NOW)
    assert report.verified and report.pending == 1
    # but once the chain is quiet past the grace period, it is MISSING
    quiet = [_fresh(r, GRACE.total_seconds() + 5) for r in records[:4]]
    assert kinds(verify_chain(chain_id, quiet, head, quiet, NOW)) == [("MISSING", 5)]


def test_a_record_chained_after_the_head_was_read_is_pending() -> None:
    # Given a head read at 4, then a fifth record chained a second later
    chain_id, records, _ = build(5)
    head = HeadState(4, records[3]["hash"])
    latest = _fresh(records[4], 1)
    # When verified, then the fifth is pending, not INSERTED beyond the head
    report = verify_chain(chain_id, [*records[:4], latest], head, records, NOW)
    assert report.verified and report.pending == 1


def test_a_record_waiting_behind_a_stream_backlog_is_pending() -> None:
    # Given a record decided 5 minutes ago, unchained, in a chain last advanced 10 minutes ago
    # (the sequencer is behind: a stream backlog)
    chain_id, records, head = build(3)
    waiting = record(9, minutes_ago=5)
    idle = HeadState(head.seq, head.hash, (NOW - dt.timedelta(minutes=10)).isoformat())
    # When verified, then it is pending, not INSERTED
    report = verify_chain(chain_id, records, idle, [*records, waiting], NOW)
    assert report.verified and report.pending == 1
    # but once the chain advanced well after it was decided, it was skipped: INSERTED
    moved_on = HeadState(head.seq, head.hash, (NOW - dt.timedelta(seconds=5)).isoformat())
    report = verify_chain(chain_id, records, moved_on, [*records, waiting], NOW)
    assert [(f.kind.value, f.detail) for f in report.findings] == [("INSERTED", "never chained")]


class FakeStore:
    """The reads the paged verification makes (audit.store.AuditStore's), from hand-built
    records: the indexes as they were read (possibly stale), the full records as they are now;
    a query answers at most `limit` items and says whether there are more, like DynamoDB."""

    def __init__(
        self,
        head: HeadState | None,
        by_chain: list[dict[str, Any]],
        by_day: list[dict[str, Any]],
        full: list[dict[str, Any]],
    ) -> None:
        self._head = head
        self._by_chain = sorted(by_chain, key=lambda r: (r["chainSeq"], r["decisionId"]))
        self._by_day = sorted(by_day, key=lambda r: (r["decidedAt"], r["decisionId"]))
        self._full = {r["decisionId"]: r for r in full}
        self.reads = 0

    def head(self, chain_id: str) -> HeadState | None:
        return self._head

    def chain(
        self, chain_id: str, start: int | None = None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        entries = [e for e in self._by_chain if start is None or e["chainSeq"] >= start]
        limit = len(entries) if limit is None else limit
        self.reads += min(limit, len(entries))
        return entries[:limit], len(entries) > limit

    def at(self, chain_id: str, seq: int) -> list[dict[str, Any]]:
        return [e for e in self._by_chain if e["chainSeq"] == seq]

    def query(
        self, index: str, key: str, low: Any, high: Any, after: Any, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        rows = [
            r for r in self._by_day if after is None or (r["decidedAt"], r["decisionId"]) > after
        ]
        self.reads += min(limit, len(rows))
        return rows[:limit], len(rows) > limit

    def records(self, ids: Any, fields: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
        return {i: self._full[i] for i in ids if i in self._full}


def sign(body: str) -> str:
    return hashlib.sha256(b"key" + body.encode()).hexdigest()


def verify_in_pages(
    store: FakeStore, chain_id: str, limit: int, now: dt.datetime = NOW
) -> tuple[list[Any], int]:
    """Every page of one chain's verification: its items, and how many pages it took."""
    items, token, pages = [], None, 0
    while True:
        page, token = chains_page(store, [chain_id], limit, token, sign, now)  # type: ignore[arg-type]
        items += page
        pages += 1
        if token is None:
            return items, pages


def test_a_record_the_day_index_listed_unchained_then_chained_here_is_no_other_chain() -> None:
    # Given a chain of 3 (head at 3, read first), then a fourth record, which the day index
    # listed and the byChain index did not, chained into it a moment later
    now = dt.datetime.now(dt.UTC)
    chain_id, records, head = build(4)
    records = [{**r, "chainedAt": (now - dt.timedelta(seconds=2)).isoformat()} for r in records]
    store = FakeStore(HeadState(3, records[2]["hash"]), records[:3], records, records)
    # When the chain is verified
    (report,), _ = verify_in_pages(store, chain_id, 100, now)
    # Then the fourth is a member, pending (beyond the head read), not "another chain"
    assert report.verified and report.problems == [] and report.pending == 1
    # and a stale byChain entry of a record now in another chain is not this chain's
    moved = {**records[3], "chainId": "elderly-allowance#2025-01-01#0"}
    store = FakeStore(head, records, records[:3], [*records[:3], moved])
    (report,), _ = verify_in_pages(store, chain_id, 100, now)
    assert [p.kind for p in report.problems] == [] and report.pending == 1


def merged(items: list[Any]) -> tuple[Any, list[tuple[str, int | None, str | None]]]:
    """A chain's verdict (its last item) and its problems over every page, in order."""
    problems = [(p.kind, p.seq, p.decision_id) for i in items for p in i.problems]
    return items[-1], problems


def test_a_chain_longer_than_a_page_verifies_across_pages() -> None:
    # Given an intact chain of 40 records
    chain_id, records, head = build(40)
    store = FakeStore(head, records, records, records)
    # When verified 7 records a page
    items, pages = verify_in_pages(store, chain_id, 7)
    # Then it took many pages, each reading at most 7 records, and the chain verifies in full
    verdict, problems = merged(items)
    assert pages >= 80 // 7 and all(i.chain_id == chain_id for i in items)
    assert [i.complete for i in items] == [False] * (len(items) - 1) + [True]
    assert verdict.verified and problems == [] and verdict.records == 40
    assert verdict.walked == 40 and verdict.head.seq == 40


def test_a_problem_on_a_later_page_is_found_and_the_first_problem_stays_first() -> None:
    # Given a chain of 30 whose record 5 was altered and record 22 deleted
    chain_id, records, head = build(30)
    records[4] = {**records[4], "outcome": "REJECTED"}
    deleted = records.pop(21)
    store = FakeStore(head, records, records, records)
    # When verified 8 records a page
    items, _ = verify_in_pages(store, chain_id, 8)
    # Then both are found, on their pages, in chain order; the first stays the chain's first
    verdict, problems = merged(items)
    assert problems == [("ALTERED", 5, records[4]["decisionId"]), ("MISSING", 22, None)]
    assert not verdict.verified and verdict.problem_count == 2
    assert (verdict.first_problem.kind, verdict.first_problem.seq) == ("ALTERED", 5)
    found_on = [n for n, i in enumerate(items) if i.problems]
    assert found_on[0] < found_on[1]  # not all on one page
    assert deleted["decisionId"] not in {p[2] for p in problems}


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 9, 64])
@pytest.mark.parametrize("forged_id", [0, 60])  # read before the genuine one, or after
def test_every_page_size_finds_what_one_read_finds(limit: int, forged_id: int) -> None:
    # Given a chain with a second record at position 3, one replaced at 7 (hashes recomputed),
    # a record never chained and one chained into another chain
    chain_id, records, head = build(12)
    forged = rehash({**records[2], "decisionId": _IDS[forged_id]})
    records[6] = rehash({**records[6], "outcome": "REJECTED"})
    stray = {**record(13, minutes_ago=5), "chainId": "another#2025-03-04#1", "hash": "0"}
    never = record(14, minutes_ago=5)
    chained = [*records, forged]
    day = [*chained, stray, never]
    whole = verify_chain(chain_id, chained, head, day, NOW)
    # When verified `limit` records a page
    store = FakeStore(head, chained, day, day)
    items, _ = verify_in_pages(store, chain_id, limit)
    # Then the pages find exactly what reading the whole chain at once finds, in its order
    verdict, problems = merged(items)
    assert problems == [(f.kind.value, f.seq, f.decision_id) for f in whole.findings]
    assert len(problems) == 4 and verdict.first_problem.kind == whole.findings[0].kind
    assert (verdict.records, verdict.pending) == (whole.records, whole.pending)


def test_a_page_reads_a_bounded_number_of_records() -> None:
    # Given a chain of 200
    chain_id, records, head = build(200)
    store = FakeStore(head, records, records, records)
    # When one page of 50 is asked for
    items, token = chains_page(store, [chain_id], 50, None, sign, NOW)  # type: ignore[arg-type]
    # Then it read about 50 records, walked that far, and says where to go on
    assert store.reads <= 50 and token is not None
    assert not items[0].complete and 40 <= items[0].walked <= 50


def test_an_edited_page_token_is_refused() -> None:
    # Given the token of a chain's first page
    chain_id, records, head = build(20)
    records[15] = {**records[15], "outcome": "REJECTED"}
    store = FakeStore(head, records, records, records)
    _, token = chains_page(store, [chain_id], 5, None, sign, NOW)  # type: ignore[arg-type]
    assert token is not None
    # When it is edited to skip the rest of the chain
    outer = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    state = json.loads(outer["b"])
    state["w"]["p"] = "done"
    outer["b"] = json.dumps(state)
    forged = base64.urlsafe_b64encode(json.dumps(outer).encode()).decode()
    # Then the next page is refused
    with pytest.raises(BadRequest):
        chains_page(store, [chain_id], 5, forged, sign, NOW)  # type: ignore[arg-type]
