"""The audit API answers every question from keys and indexes: never a table scan (moto does not
enforce IAM, so this is checked where DynamoDB would be scanned)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import moto.dynamodb.models as dynamodb_models
import pytest

from tests.integration.conftest import Stack
from tests.integration.test_audit_api import ELDERLY, Audit, clean, period, today

CANDIDATE = (
    Path(__file__).resolve().parents[2] / "infra/whatif/elderly-allowance-minimum-age-85.yaml"
)


def test_no_audit_question_scans_a_table(
    stack: Stack, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given chained decisions, and DynamoDB refusing any scan from now on
    made = [audit.decide(clean(stack)) for _ in range(3)]
    audit.chain()
    scans: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        scans.append(kwargs.get("table_name") or args[:1])
        raise AssertionError("a scan on an audit path")

    monkeypatch.setattr(dynamodb_models.DynamoDBBackend, "scan", refuse)
    week = period(today(), today(), serviceId=ELDERLY)
    decision_id = made[0]["decision"]["decisionId"]
    # When an auditor asks every kind of question
    answers = [
        audit.api("decisions", week),
        audit.api("decisions", {**week, "outcome": "APPROVED"}),
        audit.api("decisions", {**week, "ruleSetVersion": "2024.1"}),
        audit.api("decisions", {"applicationId": made[0]["applicationId"]}),
        audit.api(f"decisions/{decision_id}"),
        audit.api("stats", week),
        audit.api("chains", week),
        audit.api("replays", week),
        audit.api(
            "what-if",
            method="POST",
            body={**week, "ruleSet": CANDIDATE.read_text(encoding="utf-8")},
        ),
    ]
    # Then all are answered, and nothing was scanned
    assert [a["statusCode"] for a in answers] == [200] * len(answers), [a["json"] for a in answers]
    assert scans == []
    # (and the guard is live: a scan now fails)
    with pytest.raises(Exception, match="scan"):
        stack.items("DECISIONS_TABLE")
