"""Departments' data in: a delivered file is loaded by version, its refused lines reported by
number and reason (never by value), its source's freshness recorded; and what it loads decides
the next application."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from miaopi_platform.catalogue.services import find
from miaopi_platform.intake.store import SourceLoads

from infra.local.intake import object_created_event, scheduled_event, subscription
from infra.local.seed import evidence_keys
from tests.integration.conftest import Invoke, Stack, _Context
from tests.integration.test_submit_handler import submit

FUNCTION = "IntakeFunction"


def deliver(stack: Stack, key: str, lines: list[Any]) -> dict[str, Any]:
    """Put a file into the intake bucket and call the loader as S3's notification would."""
    bucket = subscription(stack.deployment).bucket
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    stack.clients.s3.put_object(Bucket=bucket, Key=key, Body=body)
    event = object_created_event(bucket, key, len(body), "us-east-1")
    answer = stack.module(FUNCTION).lambda_handler(event, _Context(FUNCTION))
    return dict(answer["reports"][0])


def stored(stack: Stack, source: str, key: str) -> dict[str, Any] | None:
    answer = stack.clients.dynamodb.get_item(
        TableName=stack.table("REFERENCE_TABLE"),
        Key={"source": {"S": source}, "key": {"S": key}},
        ConsistentRead=True,
    )
    return answer.get("Item")


def report_text(stack: Stack, key: str) -> str:
    bucket = subscription(stack.deployment).bucket
    answer = stack.clients.s3.get_object(Bucket=bucket, Key=key)
    return str(answer["Body"].read().decode("utf-8"))


ELDER = "110101193001010018"  # a valid resident ID (check digit), of nobody in the data set
OTHER_ELDER = "110101193505050013"
RECORD = {"name": "王秀英", "hukouCity": "深圳市", "hukouDistrict": "宝安区", "alive": True}


def line(key: str, version: int, **changes: Any) -> dict[str, Any]:
    return {"key": key, "version": version, "record": {**RECORD, **changes}}


def test_a_valid_file_loads_every_record_and_reports_its_counts(stack: Stack) -> None:
    # Given a population register file of two records
    lines = [line(ELDER, 1), line(OTHER_ELDER, 1)]
    # When it is delivered
    report = deliver(stack, "population-register/2026-11-30-valid.jsonl", lines)
    # Then both are stored, as the data-sharing port reads them, and the report says so
    assert report["counts"] == {"lines": 2, "loaded": 2, "unchanged": 0, "rejected": 0}
    item = stored(stack, "population-register", ELDER)
    assert item is not None and item["record"]["M"]["alive"] == {"BOOL": True}
    text = report_text(stack, "reports/population-register/2026-11-30-valid.json")
    assert json.loads(text)["counts"]["loaded"] == 2


def test_a_bad_line_is_refused_by_number_and_reason_and_the_good_lines_still_load(
    stack: Stack, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file whose second line says "alive" with a word, and third is not JSON
    lines = [
        line("11010119400202001X", 1),
        line("110101194503030013", 1, alive="是"),
        '{"key": "110101195004040019", "version": 1, "record": {',
        line("110101195505050012", 1),
    ]
    # When it is delivered
    with caplog.at_level(logging.INFO):
        report = deliver(stack, "population-register/2026-11-30-bad.jsonl", lines)
    # Then the good lines load, the bad ones are listed by line, field and reason
    assert report["counts"] == {"lines": 4, "loaded": 2, "unchanged": 0, "rejected": 2}
    assert report["rejects"] == [
        {"line": 2, "field": "record.alive", "reason": "expected a boolean"},
        {"line": 3, "field": "(line)", "reason": "not JSON"},
    ]
    assert stored(stack, "population-register", "110101195505050012") is not None
    # And the refused record with a readable key answers as a source that did not answer
    refused = stored(stack, "population-register", "110101194503030013")
    assert refused is not None and "record" not in refused and "rejected" in refused
    # And no ID number, name or value reaches the report or the logs
    logs = caplog.text + capsys.readouterr().out  # Powertools' JSON lines go to stdout
    assert "source file loaded" in logs
    text = report_text(stack, "reports/population-register/2026-11-30-bad.json") + logs
    for personal in ("110101194503030013", "110101195004040019", "王秀英", "是"):
        assert personal not in text


def test_a_redelivered_file_changes_nothing_and_a_newer_version_replaces(stack: Stack) -> None:
    # Given a file loaded once
    key = "110101196006060018"
    first = deliver(stack, "population-register/again.jsonl", [line(key, 5)])
    before = stored(stack, "population-register", key)
    # When the same file comes again, and then an older version
    again = deliver(stack, "population-register/again.jsonl", [line(key, 5)])
    older = deliver(stack, "population-register/older.jsonl", [line(key, 4, alive=False)])
    # Then nothing changed
    assert first["counts"]["loaded"] == 1
    assert again["counts"] == {"lines": 1, "loaded": 0, "unchanged": 1, "rejected": 0}
    assert older["counts"]["unchanged"] == 1
    assert stored(stack, "population-register", key) == before
    # And a newer version replaces the record
    newer = deliver(stack, "population-register/newer.jsonl", [line(key, 6, alive=False)])
    assert newer["counts"]["loaded"] == 1
    item = stored(stack, "population-register", key)
    assert item is not None and item["record"]["M"]["alive"] == {"BOOL": False}


def test_each_load_is_recorded_and_the_schedule_names_the_stale_sources(stack: Stack) -> None:
    # Given a delivery to the residence permits only
    deliver(stack, "residence-permit/today.jsonl", [{"key": ELDER, "version": 1,
            "record": {"validUntil": "2030-01-01"}}])  # fmt: skip
    # When the scheduled check runs
    answer = stack.module(FUNCTION).lambda_handler(scheduled_event("us-east-1"), _Context(FUNCTION))
    # Then the residence permits are fresh, and a source never delivered is stale
    loads = SourceLoads(stack.clients.dynamodb, stack.table("REFERENCE_TABLE")).all()
    assert loads["residence-permit"]["lastCounts"]["loaded"] == 1
    assert "lastLoadAt" in loads["residence-permit"]
    assert "residence-permit" not in answer["staleSources"]
    assert "vehicle-insurance" in answer["staleSources"]


def test_a_newly_loaded_record_changes_the_next_applications_decision(
    stack: Stack, invoke: Invoke
) -> None:
    # Given an elder whose application would be approved, and one approved that way
    persona = stack.persona("elderly-allowance", "APPROVED")
    first, second = stack.fresh(persona), stack.fresh(persona)
    assert (
        submit(invoke, stack, first.application, key="intake-first-0001")["json"]["status"]
        == "APPROVED"
    )
    # When the population register delivers that the second elder has died
    source, key = evidence_keys(find(persona.service_id), second.application)["population"]
    record = {**second.evidence["population"], "alive": False}
    report = deliver(
        stack, f"{source}/deaths.jsonl", [{"key": key, "version": 1, "record": record}]
    )
    assert report["counts"]["loaded"] == 1
    # Then the next application for them is not approved
    answer = submit(invoke, stack, second.application, key="intake-second-01")
    assert answer["json"]["status"] != "APPROVED"


def test_ops_list_every_source_with_its_last_load_and_see_the_stale_ones(stack: Stack) -> None:
    from typer.testing import CliRunner

    from infra.cli.sources import app

    # Given a delivery to the criminal records
    line_ = {"key": ELDER, "version": 1, "record": {"violent": False, "drug": False,
             "trafficCrime": False, "dangerousDriving": False}}  # fmt: skip
    deliver(stack, "criminal-record/today.jsonl", [line_])
    # When ops list the sources
    result = CliRunner().invoke(app, ["--table", stack.table("REFERENCE_TABLE"), "--json"])
    # Then each source is listed, the criminal records fresh with their counts, and the exit
    # status says some source is stale (never delivered here)
    rows = {r["source"]: r for r in json.loads(result.stdout)}
    assert rows["criminal-record"]["stale"] is False and rows["criminal-record"]["loaded"] == 1
    assert rows["vehicle-register"]["stale"] is True
    assert result.exit_code == 1
