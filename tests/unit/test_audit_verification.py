"""Chain verification on hand-built chains: an intact chain verifies; each kind of tampering is
reported as the first problem, at the right position, once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from miaopi_platform.audit.verification import GRACE, HeadState, verify_chain
from miaopi_platform.records.indexes import chain_of, index_keys, shard_of
from miaopi_platform.records.seal import GENESIS, content_hash, link_hash, with_content_hash

NOW = dt.datetime(2025, 3, 4, 8, 0, tzinfo=dt.UTC)
SERVICE = "elderly-allowance"


#: decision ids that fall in write shard 0 (one chain per service, day and shard)
_IDS = [i for i in (f"DEC{k:021d}" for k in range(400)) if shard_of(i) == 0]


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
    """The reads chain_report makes, from hand-built records: the indexes as they were read
    (possibly stale), the full records as they are now."""

    def __init__(
        self,
        head: HeadState,
        by_chain: list[str],
        by_day: list[str],
        full: list[dict[str, Any]],
    ) -> None:
        self._head, self._by_chain, self._by_day = head, by_chain, by_day
        self._full = {r["decisionId"]: r for r in full}

    def head(self, chain_id: str) -> HeadState:
        return self._head

    def chain(self, chain_id: str) -> list[dict[str, Any]]:
        return [{"decisionId": i} for i in self._by_chain]

    def partition(self, key: str) -> list[str]:
        return list(self._by_day)

    def records(self, ids: Any) -> dict[str, dict[str, Any]]:
        return {i: self._full[i] for i in ids if i in self._full}


def test_a_record_the_day_index_listed_unchained_then_chained_here_is_no_other_chain() -> None:
    # Given a chain of 3 (head at 3, read first), then a fourth record, which the day index
    # listed and the byChain index did not, chained into it a moment later
    from miaopi_platform.audit.auditor import chain_report

    now = dt.datetime.now(dt.UTC)
    chain_id, records, head = build(4)
    records = [{**r, "chainedAt": (now - dt.timedelta(seconds=2)).isoformat()} for r in records]
    ids = [r["decisionId"] for r in records]
    store = FakeStore(HeadState(3, records[2]["hash"]), ids[:3], ids, records)
    # When the chain is verified
    report = chain_report(store, chain_id, now)  # type: ignore[arg-type]
    # Then the fourth is a member, pending (beyond the head read), not "another chain"
    assert report.verified and report.problems == [] and report.pending == 1
    # and a stale byChain entry of a record now in another chain is not this chain's
    moved = {**records[3], "chainId": "elderly-allowance#2025-01-01#0"}
    store = FakeStore(head, ids, ids[:3], [*records[:3], moved])
    report = chain_report(store, chain_id, now)  # type: ignore[arg-type]
    assert [p.kind for p in report.problems] == [] and report.pending == 1
