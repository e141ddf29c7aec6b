"""Chain verification on hand-built chains: an intact chain verifies; each kind of tampering is
reported as the first problem, at the right position, once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from miaopi_platform.audit.indexes import chain_of, index_keys, shard_of
from miaopi_platform.audit.verification import GRACE, HeadState, verify_chain
from miaopi_platform.chain import GENESIS, content_hash, link_hash, with_content_hash

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
