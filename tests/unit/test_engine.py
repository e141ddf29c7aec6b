"""decide() on records that are there but wrong: never a pass."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from miaopi import EvidenceItem, EvidenceStatus, Outcome, RuleResult, decide
from miaopi.cases import all_cases
from miaopi.forms import normalize
from miaopi.loader import load_catalogue, load_service
from miaopi_rules import SERVICES_DIR

SERVICES = load_catalogue(SERVICES_DIR)
CLEAN = {
    c.service_id: c for c in reversed(list(all_cases(SERVICES, SERVICES_DIR)))
}  # the first case of each service is its clean approval


def _decide(service_id: str, evidence_changes: dict[str, Any]) -> Any:
    case = CLEAN[service_id]
    service = SERVICES[service_id]
    assert case.case.date is not None
    evidence = dict(case.evidence)
    for alias, record in evidence_changes.items():
        evidence[alias] = EvidenceItem(EvidenceStatus.FOUND, record)
    application = normalize(service.form_model, case.application)
    rule_set = service.rule_set_on(case.case.date)
    assert rule_set is not None
    return decide(service, rule_set, application, evidence, case.case.date)


def test_the_clean_cases_are_approved() -> None:
    for service_id in SERVICES:
        assert _decide(service_id, {}).outcome is Outcome.APPROVED, service_id


@pytest.mark.parametrize("until", ["", "permanent", "2099-13-01", 20991231])
@pytest.mark.parametrize("service_id", sorted(SERVICES))
def test_a_listed_subject_with_an_unreadable_end_date_is_never_approved(
    service_id: str, until: Any
) -> None:
    # Given the credit list answering LISTED with an end date that is not a date
    decision = _decide(service_id, {"credit": {"status": "LISTED", "validUntil": until}})
    # Then the record is malformed evidence: the case goes to a person, it does not pass
    assert decision.outcome is Outcome.PENDING_REVIEW
    assert decision.evidence_status["credit"] is EvidenceStatus.MALFORMED
    credit = next(t for t in decision.trace if t.rule_id.endswith("-CREDIT"))
    assert credit.result is RuleResult.EVIDENCE_MISSING


def test_a_wrongly_typed_attribute_is_missing_evidence() -> None:
    record = {"name": "陈秀英", "hukouCity": "深圳市", "hukouDistrict": "BAOAN", "alive": "yes"}
    decision = _decide("elderly-allowance", {"population": record})
    assert decision.outcome is Outcome.PENDING_REVIEW
    assert decision.evidence_status["population"] is EvidenceStatus.MALFORMED


def test_a_when_that_is_not_boolean_is_an_error_not_a_skip(tmp_path: Path) -> None:
    # Given a rule whose applicability reads a text field (a rules defect)
    folder = tmp_path / "elderly-allowance"
    shutil.copytree(SERVICES_DIR / "elderly-allowance", folder)
    path = folder / "rulesets/2024-01-01.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "    condition: ev.population.alive == true",
        "    when: app.name\n    condition: ev.population.alive == true",
    )
    path.write_text(text, encoding="utf-8")
    service = load_service(folder)
    case = CLEAN["elderly-allowance"]
    on = case.case.date or dt.date(2026, 11, 27)
    decision = decide(
        service,
        service.rule_sets[0],
        normalize(service.form_model, case.application),
        case.evidence,
        on,
    )
    # Then the rule is not skipped: it cannot be decided automatically and refers
    alive = next(t for t in decision.trace if t.rule_id == "EA-ALIVE")
    assert alive.result is RuleResult.ERROR
    assert decision.outcome is Outcome.PENDING_REVIEW
