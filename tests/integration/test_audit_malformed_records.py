"""One malformed record, altered directly in the decisions table, does not fail a whole page:
the list still lists it, and the replay reports it as a MISMATCH naming the field, without
its value."""

from __future__ import annotations

from typing import Any

from miaopi_platform.aws.dynamo import to_item

from tests.integration.conftest import Stack
from tests.integration.test_audit_api import ELDERLY, Audit, clean, ids, period, today


def _put(audit: Audit, record: dict[str, Any]) -> None:
    audit.dynamodb.put_item(TableName=audit.decisions_table, Item=to_item(record))


def test_malformed_records_list_and_replay_as_mismatches(stack: Stack, audit: Audit) -> None:
    # Given four approvals of today, three of them altered in the table: one without its
    # rule-set hash, one with an evidence status no source gives, one with no application date
    audit.decide(clean(stack))
    (first,) = audit.records()
    audit.copies(first, 3)
    records = sorted(audit.records(), key=lambda r: r["decidedAt"])
    no_hash, bad_status, bad_date, intact = records
    _put(audit, {k: v for k, v in no_hash.items() if k != "ruleSetHash"})
    alias = sorted(bad_status["evidence"])[0]
    evidence = {**bad_status["evidence"], alias: {**bad_status["evidence"][alias], "status": "X"}}
    _put(audit, {**bad_status, "evidence": evidence})
    _put(audit, {**bad_date, "applicationDate": "not-a-date"})
    query = period(today(), today(), serviceId=ELDERLY)
    # When an auditor lists the day's decisions, then every one is listed (no 500)
    listed = audit.pages("decisions", query)
    assert sorted(ids(listed)) == sorted(r["decisionId"] for r in records)
    row = next(i for p in listed for i in p["items"] if i["decisionId"] == no_hash["decisionId"])
    assert "ruleSetHash" not in row
    # When the day is replayed, then the malformed ones are MISMATCHes that name the field,
    # and the intact one reproduces
    replayed = {i["decisionId"]: i for p in audit.pages("replays", query) for i in p["items"]}
    assert replayed[intact["decisionId"]]["status"] == "REPRODUCED"
    assert replayed[bad_status["decisionId"]]["status"] == "MISMATCH"
    note = replayed[bad_status["decisionId"]]["note"]
    assert note == f"record malformed: evidence.{alias}.status"
    assert replayed[bad_date["decisionId"]]["status"] == "MISMATCH"
    assert replayed[bad_date["decisionId"]]["note"] == "record malformed: applicationDate"
    assert replayed[no_hash["decisionId"]]["status"] == "MISMATCH"
    assert "not-a-date" not in str(replayed)
