"""Tamper evidence end to end: records altered, deleted or inserted directly in the decisions
table are reported by the auditors' chain verification (GET /audit/chains), and an untouched
chain verifies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import to_item
from miaopi_platform.records.decision import sealed
from miaopi_platform.records.indexes import chain_of
from miaopi_platform.records.seal import NOT_CONTENT, link_hash

from tests.integration.conftest import Stack
from tests.integration.test_audit_api import ELDERLY, Audit, clean

LENGTH = 6


@dataclass
class Chain:
    audit: Audit
    chain_id: str
    records: list[dict[str, Any]]

    def report(self, chain_id: str | None = None) -> dict[str, Any]:
        """The chain's verification report, as an auditor gets it."""
        chain_id = chain_id or self.chain_id
        day = dt.date.fromisoformat(chain_id.split("#")[1])
        pages = self.audit.pages(
            "chains",
            {"serviceId": ELDERLY, "from": day.isoformat(), "to": day.isoformat(), "limit": "2"},
        )
        items = [r for p in pages for r in p["items"]]
        assert len({r["chainId"] for r in items}) == 4  # one chain per write shard of the day
        # a chain spans pages (2 records read a page): its last item is its verdict, and its
        # problems are those of all its items, in order
        mine = [r for r in items if r["chainId"] == chain_id]
        assert [r["complete"] for r in mine] == [False] * (len(mine) - 1) + [True]
        return {**mine[-1], "problems": [p for r in mine for p in r["problems"]]}

    def update(self, decision_id: str, **values: Any) -> None:
        self.audit.dynamodb.put_item(
            TableName=self.audit.decisions_table,
            Item=to_item({**self.record(decision_id), **values}),
        )

    def record(self, decision_id: str) -> dict[str, Any]:
        return next(r for r in self.audit.records() if r["decisionId"] == decision_id)

    def delete(self, decision_id: str) -> None:
        self.audit.dynamodb.delete_item(
            TableName=self.audit.decisions_table, Key={"decisionId": {"S": decision_id}}
        )


@pytest.fixture
def chain(stack: Stack, audit: Audit) -> Chain:
    """A chain of six records, sequenced."""
    audit.decide(clean(stack))
    (first,) = audit.records()
    audit.copies(first, LENGTH - 1)
    assert audit.chain() == {"batchItemFailures": []}
    chain_id = chain_of(first)
    records = sorted(
        (r for r in audit.records() if r.get("chainId") == chain_id), key=lambda r: r["chainSeq"]
    )
    assert [r["chainSeq"] for r in records] == list(range(1, LENGTH + 1))
    return Chain(audit, chain_id, records)


def test_an_untouched_chain_verifies(chain: Chain) -> None:
    # When an auditor verifies the day's chains
    report = chain.report()
    # Then the chain verifies, with every record and its head
    assert report["verified"] is True and report["problems"] == []
    assert report["records"] == LENGTH and report["head"]["seq"] == LENGTH
    assert report["head"]["hash"] == chain.records[-1]["hash"]


def test_an_altered_record_is_reported(chain: Chain) -> None:
    # Given the third record's outcome changed in the table
    third = chain.records[2]
    chain.update(third["decisionId"], outcome="REJECTED")
    # When verified, then it is the first problem: ALTERED, its content no longer its hash
    first = chain.report()["firstProblem"]
    assert first["kind"] == "ALTERED" and first["seq"] == 3
    assert first["decisionId"] == third["decisionId"]


def test_a_deleted_record_is_reported_missing(chain: Chain) -> None:
    # Given the third record deleted
    chain.delete(chain.records[2]["decisionId"])
    # When verified, then position 3 is reported MISSING, and nothing else
    report = chain.report()
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("MISSING", 3)]


def test_a_deleted_last_record_is_reported_missing(chain: Chain) -> None:
    # Given the chain's last record deleted (no successor would notice), the chain quiet since
    # (its records chained two minutes ago: within the grace period a tail the byChain index
    # does not list yet is pending, as the index may lag the head)
    chain.delete(chain.records[-1]["decisionId"])
    quiet = iso(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    for r in chain.records[:-1]:
        chain.update(r["decisionId"], chainedAt=quiet)
    heads = chain.audit.stack.table("CHAIN_HEADS_TABLE")
    chain.audit.dynamodb.update_item(
        TableName=heads,
        Key={"chainId": {"S": chain.chain_id}},
        UpdateExpression="SET updatedAt = :quiet",
        ExpressionAttributeValues={":quiet": {"S": quiet}},
    )
    # When verified, then the head's position is reported MISSING
    report = chain.report()
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("MISSING", LENGTH)]


def test_a_record_inserted_without_a_chain_is_reported(chain: Chain) -> None:
    # Given a forged decision put straight into the table, decided two minutes ago (past the
    # grace period in which the sequencer chains a new record)
    forged = _forged(chain.records[0], dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    chain.audit.dynamodb.put_item(TableName=chain.audit.decisions_table, Item=to_item(forged))
    # When its day and shard is verified, then it is INSERTED: never chained
    report = chain.report(chain_of(forged))
    inserted = [p for p in report["problems"] if p["decisionId"] == forged["decisionId"]]
    assert [(p["kind"], p["detail"]) for p in inserted] == [("INSERTED", "never chained")]


def test_a_new_record_not_yet_chained_is_pending_not_a_problem(chain: Chain) -> None:
    # Given a record written just now that the sequencer has not chained yet
    fresh = _forged(chain.records[0], dt.datetime.now(dt.UTC))
    chain.audit.dynamodb.put_item(TableName=chain.audit.decisions_table, Item=to_item(fresh))
    # When verified, then it counts as pending, and the chain verifies
    report = chain.report(chain_of(fresh))
    assert report["pending"] == 1 and report["verified"] is True


def test_a_record_inserted_at_a_taken_position_is_reported(chain: Chain) -> None:
    # Given a forged record claiming position 2, its hashes computed like the sequencer's
    second = chain.records[1]
    forged = _forged(second, dt.datetime.fromisoformat(second["decidedAt"].replace("Z", "+00:00")))
    forged = {
        **forged,
        "chainId": chain.chain_id,
        "chainSeq": 2,
        "prevHash": second["prevHash"],
        "hash": link_hash(chain.chain_id, 2, second["prevHash"], forged["contentHash"]),
        "chainedAt": second["chainedAt"],
    }
    chain.audit.dynamodb.put_item(TableName=chain.audit.decisions_table, Item=to_item(forged))
    # When verified, then it is INSERTED: a second record at position 2 (the genuine one,
    # which the third record was chained after, stands)
    report = chain.report()
    assert [(p["kind"], p["seq"], p["decisionId"]) for p in report["problems"]] == [
        ("INSERTED", 2, forged["decisionId"])
    ]


def test_a_record_replaced_with_recomputed_hashes_is_reported(chain: Chain) -> None:
    # Given the fourth record's outcome changed, and its index keys and both hashes
    # recomputed to match, as the writers compute them
    fourth = chain.records[3]
    changed = {**fourth, **sealed({**fourth, "outcome": "REJECTED"})}
    changed["hash"] = link_hash(chain.chain_id, 4, fourth["prevHash"], changed["contentHash"])
    chain.update(fourth["decisionId"], **changed)
    # When verified, then the fifth record was not chained after it: INSERTED (replaced) at 4
    first = chain.report()["firstProblem"]
    assert (first["kind"], first["seq"], first["decisionId"]) == (
        "INSERTED",
        4,
        fourth["decisionId"],
    )


def _forged(model: dict[str, Any], decided: dt.datetime) -> dict[str, Any]:
    """A record like `model` (same day and shard, new id), sealed as writers seal records."""
    import uuid

    while True:
        record = {k: v for k, v in model.items() if k not in NOT_CONTENT}
        record["decisionId"] = "DEC" + uuid.uuid4().hex[:21].upper()
        record["decidedAt"] = iso(decided)
        record["outcome"] = "APPROVED"
        if chain_of(record).rsplit("#", 1)[1] == chain_of(model).rsplit("#", 1)[1]:
            return sealed(record)
