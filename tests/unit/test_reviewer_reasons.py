"""A reviewer's rejection gives the applicant the rule's own words, its parameters filled."""

from __future__ import annotations

import datetime as dt

from miaopi.engine import parameters_on
from miaopi_platform.catalogue.services import find
from miaopi_platform.review.tasks import REFERRAL, ReviewerChoice, reviewer_decision


def test_a_reviewer_rejection_fills_the_rules_parameters_for_the_application_date() -> None:
    # Given a referred graduate-hukou case decided under the published rule set
    service = find("graduate-hukou")
    rule_set = service.rule_set_on(dt.date(2026, 11, 2))
    assert rule_set is not None
    source = {
        "decisionId": "DEC1",
        "applicationId": "APP1",
        "serviceId": service.id,
        "decidedAt": "2026-11-02T02:00:00.000Z",
        "applicationDate": "2026-11-02",
        "sequence": 1,
        "applicantId": "sub-1",
        "subjectHash": "h" * 64,
        "ruleSetVersion": rule_set.version,
        "ruleSetHash": rule_set.hash,
    }
    task = {"taskId": "TSK1", "kind": REFERRAL, "applicationId": "APP1", "serviceId": service.id}
    choice = ReviewerChoice("REJECT", ("GH-PERIOD",), None, "reviewer-1")
    # When the reviewer rejects it on the job-seeking period rule
    decided = reviewer_decision(
        service,
        task,
        source,
        choice,
        "DEC2",
        dt.datetime(2026, 11, 3, tzinfo=dt.UTC),
        grant_key="g" * 64,
    )
    # Then the applicant reads the period in years, not a placeholder
    reason = decided.workflow_output["notification"]
    assert reason["status"] == "REJECTED"
    stored = decided.workflow_output["decision"]["reasons"]["L"][0]["M"]
    message = stored["message"]["M"]
    years = parameters_on(rule_set, dt.date(2026, 11, 2))["jobSeekingPeriodYears"]
    assert f"{years:g}年" in message["zh"]["S"]
    assert f"{years:g} years" in message["en"]["S"]
    assert "{param" not in message["en"]["S"] + stored["remedy"]["M"]["en"]["S"]
