"""A what-if candidate written as a few parameter overrides on top of the published rule set:
it decides like the base with those values, under its own version and hash; a wrong file is
refused with the key and the reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from miaopi import Decision, Outcome, RuleSet, decide
from miaopi.cases import LoadedCase, load_cases
from miaopi.errors import RuleLoadError
from miaopi.forms import normalize
from miaopi.loader import load_service
from miaopi.overrides import candidate_from_text
from miaopi_platform.audit.replay import load_candidate
from miaopi_platform.aws.errors import UnprocessableEntity
from miaopi_rules import SERVICES_DIR

ROOT = Path(__file__).resolve().parents[2]
ELDERLY = "elderly-allowance"
SERVICE = load_service(SERVICES_DIR / ELDERLY)
CASES = load_cases(SERVICE, SERVICES_DIR / ELDERLY)
FULL_CANDIDATE = ROOT / "infra/whatif/elderly-allowance-minimum-age-85.yaml"
OVERRIDES_EXAMPLE = ROOT / "infra/whatif/elderly-allowance-minimum-age-85-overrides.yaml"
AGE_85 = """
service: elderly-allowance
base: {inForceOn: 2026-11-27}
label: minimum-age-85
parameters:
  minimumAge: 85
"""


def _case(name: str) -> LoadedCase:
    return next(c for c in CASES if c.case.name == name)


def _decide(rule_set: RuleSet, case: LoadedCase, on: dt.date | None = None) -> Decision:
    day = on or case.case.date
    assert day is not None
    application = normalize(SERVICE.form_model, case.application)
    return decide(SERVICE, rule_set, application, case.evidence, day)


def _candidate(text: str) -> RuleSet:
    candidate = candidate_from_text(SERVICE, text)
    assert candidate is not None
    return candidate


def test_an_override_of_the_minimum_age_rejects_an_elder_the_published_rules_approve() -> None:
    # Given the published rule set and a candidate that only raises the minimum age to 85
    base = SERVICE.rule_set_on(dt.date(2026, 11, 27))
    assert base is not None
    candidate = _candidate(AGE_85)
    elder = _case("turns 80 on the application date, approved")
    # When the same 80-year-old is decided by each
    by_base, by_candidate = _decide(base, elder), _decide(candidate, elder)
    # Then the base approves, the candidate rejects by EA-AGE with the new age in its reason
    assert by_base.outcome is Outcome.APPROVED
    assert by_candidate.outcome is Outcome.REJECTED
    (reason,) = by_candidate.reasons
    assert (reason.rule_id, reason.message.en) == ("EA-AGE", "Under 85 on the application date.")
    # And the candidate carries its own version label and content hash
    assert candidate.version == "2024.1+minimum-age-85" != base.version
    assert candidate.hash.startswith("sha256:") and candidate.hash != base.hash
    assert candidate.effective_from == base.effective_from
    # And the published rule set is untouched
    assert _decide(base, elder).outcome is Outcome.APPROVED


def test_a_dated_override_changes_the_value_from_its_date_on() -> None:
    # Given a candidate on version 2024.1 raising the minimum age to 85 from 1 July 2027 only
    candidate = _candidate(
        "service: elderly-allowance\n"
        'base: {version: "2024.1"}\n'
        "parameters:\n"
        "  minimumAge: [{from: 2027-07-01, value: 85}]\n"
    )
    elder = _case("aged 79 rejected")  # born 1 June 1947: aged 80 in mid-2027
    # When the elder applies the day before and the day of the change
    before = _decide(candidate, elder, dt.date(2027, 6, 30))
    after = _decide(candidate, elder, dt.date(2027, 7, 1))
    # Then the base's 80 still holds before, and 85 from the date on
    assert before.outcome is Outcome.APPROVED
    assert after.outcome is Outcome.REJECTED and after.failing_rule_ids == ["EA-AGE"]
    assert candidate.version == "2024.1+overrides"


def test_the_example_overrides_decide_every_case_like_the_full_candidate() -> None:
    # Given the two example candidates in infra/whatif: a copied rule set, and the overrides
    full = load_candidate(SERVICE, FULL_CANDIDATE.read_text(encoding="utf-8"))
    overrides = load_candidate(SERVICE, OVERRIDES_EXAMPLE.read_text(encoding="utf-8"))
    # When each decides every elderly-allowance case
    outcomes = {
        name: [
            (d.outcome, d.failing_rule_ids, [r.message for r in d.reasons])
            for d in (_decide(candidate, case) for case in CASES)
        ]
        for name, candidate in (("full", full), ("overrides", overrides))
    }
    # Then they agree on every outcome, failing rule and reason, and some approvals now fail
    assert outcomes["full"] == outcomes["overrides"]
    assert any(
        base.outcome is Outcome.APPROVED and now[0] is Outcome.REJECTED
        for base, now in zip(
            (_decide(SERVICE.rule_sets[0], case) for case in CASES),
            outcomes["overrides"],
            strict=True,
        )
    )
    assert overrides.version == "2024.1+minimum-age-85"


def test_a_full_rule_set_is_not_taken_for_overrides() -> None:
    # Given the copied-rule-set candidate; When read as an overrides file; Then it is not one
    assert candidate_from_text(SERVICE, FULL_CANDIDATE.read_text(encoding="utf-8")) is None


@pytest.mark.parametrize(
    ("text", "where", "complaint"),
    [
        (AGE_85.replace("minimumAge: 85", "minAge: 85"), "parameters.minAge", "'minimumAge'"),
        (AGE_85.replace("minimumAge: 85", 'minimumAge: "85"'), "parameters.minimumAge", "quotes"),
        (
            AGE_85.replace("minimumAge: 85", "minimumAge: eighty-five"),
            "parameters.minimumAge",
            "a word",
        ),
        (AGE_85.replace("minimumAge: 85", "minimumAge: 80"), "parameters", "change nothing"),
        (AGE_85.replace("service: elderly-allowance", "service: graduate-hukou"), "service", "for"),
        (AGE_85.replace("inForceOn: 2026-11-27", 'version: "2023.1"'), "base.version", "2024.1"),
        (AGE_85.replace("2026-11-27", "2020-01-01"), "base.inForceOn", "2020-01-01"),
        (AGE_85.replace("{inForceOn: 2026-11-27}", "{}"), "base", "inForceOn"),
        (AGE_85.replace("parameters:", "paramters:"), "parameters", "required"),
        (AGE_85.replace("label: minimum-age-85", "label: Age 85!"), "label", "pattern"),
        (
            AGE_85.replace("minimumAge: 85", "minimumAge: {value: 85}"),
            "parameters.minimumAge",
            "dated",
        ),
        (AGE_85.replace("minimumAge: 85", "minimumAge: ["), "yaml", "expected"),
    ],
)
def test_a_wrong_overrides_file_is_refused_naming_the_key(
    text: str, where: str, complaint: str
) -> None:
    # When a wrong overrides file is read
    with pytest.raises(RuleLoadError) as error:
        candidate_from_text(SERVICE, text)
    # Then the error names the key and says what is wrong
    assert error.value.where == where
    assert complaint in error.value.reason


def test_the_what_if_answers_422_for_a_wrong_overrides_file() -> None:
    # Given overrides naming a parameter the rule set does not have
    text = AGE_85.replace("minimumAge: 85", "minAge: 85")
    # When it is given to the what-if as its candidate
    with pytest.raises(UnprocessableEntity) as error:
        load_candidate(SERVICE, text)
    # Then the refusal names the key and the parameters there are
    (detail,) = error.value.details
    assert detail["field"] == "ruleSet"
    assert detail["message"].startswith("parameters.minAge: ") and "minimumAge" in detail["message"]
