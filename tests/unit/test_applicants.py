"""Who may apply and one grant per subject, as each service declares them: the loader refuses a
service that does not say, and `applicant_identifiers` names who may submit an application."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from miaopi.engine import applicant_identifiers, evidence_requests
from miaopi.errors import RuleLoadError
from miaopi.forms import normalize
from miaopi.loader import load_catalogue, load_service
from miaopi.model import (
    GRANT_ALIAS,
    GRANT_KEY_SEPARATOR,
    GRANT_SOURCE,
    Capacity,
    EvidenceItem,
    EvidenceStatus,
)
from miaopi_rules import SERVICES_DIR

SERVICES = load_catalogue(SERVICES_DIR)
ELDER = "440306194103150218"
AGENT = "440304198001010877"
ENTERPRISE = "91440300MA5FXXXX1Y"
OPERATOR = "440305197502140022"

ELDERLY_APPLICATION = {
    "idNumber": ELDER,
    "name": "陈秀英",
    "district": "BAOAN",
    "bankCardNumber": "6222020200000000014",
    "bankName": "中国工商银行",
    "phone": "13800138000",
}


def _copy(tmp_path: Path, service_id: str) -> Path:
    folder = tmp_path / service_id
    shutil.copytree(SERVICES_DIR / service_id, folder)
    return folder


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / "service.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not found"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _load_error(folder: Path) -> RuleLoadError:
    with pytest.raises(RuleLoadError) as error:
        load_service(folder)
    return error.value


def _elderly(**changes: object) -> dict[str, object]:
    service = SERVICES["elderly-allowance"]
    return normalize(service.form_model, {**ELDERLY_APPLICATION, **changes})


# --- the loader -------------------------------------------------------------------------------


def test_every_seed_service_says_who_may_apply_and_what_a_grant_is_unique_by() -> None:
    # Given the published catalogue
    # Then every service has a way of applying and a grant read as evidence from the platform
    for service in SERVICES.values():
        assert service.applicants, service.id
        assert service.grant is not None and service.grant.unique_by, service.id
        grant = service.evidence[GRANT_ALIAS]
        assert grant.source == GRANT_SOURCE and not grant.absent_is_missing
        assert grant.title == service.grant.title


def test_a_service_without_applicants_is_a_load_error(tmp_path: Path) -> None:
    # Given the elderly allowance with its ways of applying taken out
    folder = _copy(tmp_path, "elderly-allowance")
    text = (folder / "service.yaml").read_text(encoding="utf-8")
    start, end = text.index("applicants:"), text.index("# One allowance per elder")
    (folder / "service.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    # When it is loaded
    error = _load_error(folder)
    # Then the error names the file and the missing key, and says what to declare
    assert error.file.endswith("service.yaml") and error.where == "applicants"
    assert "at least one way" in error.reason


def test_a_service_without_a_grant_is_a_load_error(tmp_path: Path) -> None:
    # Given the graduate hukou with no grant declared
    folder = _copy(tmp_path, "graduate-hukou")
    text = (folder / "service.yaml").read_text(encoding="utf-8")
    (folder / "service.yaml").write_text(text[: text.index("grant:")], encoding="utf-8")
    # When it is loaded, then the error names the key
    error = _load_error(folder)
    assert error.where == "grant" and "uniqueBy" in error.reason


def test_an_identifier_that_is_not_an_identifier_field_is_a_load_error(tmp_path: Path) -> None:
    # Given an agent way reading the agent's name (a string field, not an identifier)
    folder = _copy(tmp_path, "elderly-allowance")
    _edit(folder, "identifier: app.agent.idNumber", "identifier: app.agent.name")
    # When it is loaded
    error = _load_error(folder)
    # Then the way is named with the reason
    assert error.where == "applicants[1].identifier"
    assert "not a form field of type identifier" in error.reason


def test_an_identifier_reading_an_unknown_field_is_a_load_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "elderly-allowance")
    _edit(folder, "identifier: app.agent.idNumber", "identifier: app.agent.idNumbr")
    error = _load_error(folder)
    assert error.where == "applicants[1].identifier" and "not a form field" in error.reason


def test_an_identifier_that_is_an_expression_is_a_load_error(tmp_path: Path) -> None:
    # Given a way whose identifier is computed, not read
    folder = _copy(tmp_path, "elderly-allowance")
    _edit(
        folder,
        "identifier: app.agent.idNumber",
        'identifier: "app.agent != null ? app.agent.idNumber : app.idNumber"',
    )
    error = _load_error(folder)
    assert error.where == "applicants[1].identifier" and "read one identifier" in error.reason


def test_an_evidence_attribute_without_identifier_kinds_is_a_load_error(tmp_path: Path) -> None:
    # Given an operator way reading the enterprise's name from the register
    folder = _copy(tmp_path, "enterprise-investment-filing")
    _edit(folder, "identifier: ev.enterprise.operatorIdNumber", "identifier: ev.enterprise.name")
    error = _load_error(folder)
    assert error.where == "applicants[1].identifier" and "kinds" in error.reason


def test_an_undeclared_evidence_attribute_is_a_load_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "enterprise-investment-filing")
    _edit(folder, "identifier: ev.enterprise.operatorIdNumber", "identifier: ev.enterprise.boss")
    error = _load_error(folder)
    assert "unknown evidence attribute" in error.reason


def test_a_capacity_reading_the_wrong_kind_of_identifier_is_a_load_error(tmp_path: Path) -> None:
    # Given the elder's ID number declared as a legal person's identifier
    folder = _copy(tmp_path, "elderly-allowance")
    _edit(folder, "capacity: SELF", "capacity: LEGAL_PERSON")
    error = _load_error(folder)
    assert error.where == "applicants[0].identifier" and "cn.uscc" in error.reason


def test_an_unknown_capacity_is_a_load_error(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "elderly-allowance")
    _edit(folder, "capacity: AGENT", "capacity: NEIGHBOUR")
    error = _load_error(folder)
    assert "applicants" in error.where and "SELF" in error.reason


def test_a_grant_unique_by_evidence_is_a_load_error(tmp_path: Path) -> None:
    # Given a grant unique by a value of another department's record
    folder = _copy(tmp_path, "elderly-allowance")
    _edit(folder, "uniqueBy: [app.idNumber]", "uniqueBy: [ev.population.name]")
    error = _load_error(folder)
    assert error.where == "grant.uniqueBy[0]" and "values of the form" in error.reason


def test_evidence_named_grant_by_the_service_is_a_load_error(tmp_path: Path) -> None:
    # Given a service declaring the platform's alias itself
    folder = _copy(tmp_path, "elderly-allowance")
    _edit(folder, "  recipients:\n", "  grant:\n")
    error = _load_error(folder)
    assert error.where == "evidence.grant" and "platform" in error.reason


def test_rules_may_read_the_grant_and_nothing_it_does_not_have(tmp_path: Path) -> None:
    # Given a rule reading an attribute the platform's grant does not have
    folder = _copy(tmp_path, "elderly-allowance")
    path = folder / "rulesets/2024-01-01.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("condition: ev.population.alive == true", "condition: ev.grant.owner == 1"),
        encoding="utf-8",
    )
    error = _load_error(folder)
    assert "unknown evidence attribute 'ev.grant.owner'" in error.reason


# --- the grant's evidence key ------------------------------------------------------------------


def test_the_grant_is_requested_by_the_elders_normalised_id_number() -> None:
    # Given an application typing the elder's ID number with a full-width digit
    service = SERVICES["elderly-allowance"]
    application = _elderly(idNumber="４40306194103150218")
    # When the evidence to ask for is worked out
    requests, _ = evidence_requests(service, application)
    # Then the grant is asked of the platform by the number as the form normalises it
    (grant,) = [r for r in requests if r.alias == GRANT_ALIAS]
    assert grant.source == GRANT_SOURCE and grant.key == ELDER


def test_a_filing_grant_is_keyed_by_enterprise_and_project_name_together() -> None:
    # Given an investment filing
    service = SERVICES["enterprise-investment-filing"]
    application = {
        "enterpriseCreditCode": ENTERPRISE.lower(),
        "projectName": " 新能源电池生产线 ",
        "district": "BAOAN",
        "industryCode": "C3841",
        "totalInvestment": "6000000.00",
        "constructionContent": "建设电池生产线一条",
        "plannedStartDate": "2027-01-01",
        "plannedEndDate": "2028-06-30",
        "contactPhone": "13800138000",
    }
    # When the evidence requests are made from the normalised application
    requests, _ = evidence_requests(service, normalize(service.form_model, application))
    # Then the grant's key is both values, normalised, joined by the unit separator
    (grant,) = [r for r in requests if r.alias == GRANT_ALIAS]
    assert grant.key == f"{ENTERPRISE}{GRANT_KEY_SEPARATOR}新能源电池生产线"


# --- who may submit ----------------------------------------------------------------------------


def test_the_elder_alone_may_submit_when_no_agent_is_named() -> None:
    # Given an elder's own application
    service = SERVICES["elderly-allowance"]
    # When the ways of applying are read
    ways = applicant_identifiers(service, _elderly(), {})
    # Then only the elder, in person
    assert ways == [(Capacity.SELF, ELDER)]


def test_the_named_agent_may_submit_after_the_elder() -> None:
    # Given an application naming the elder's son as agent
    service = SERVICES["elderly-allowance"]
    application = _elderly(agent={"name": "陈小明", "idNumber": AGENT, "relation": "CHILD"})
    # When the ways of applying are read
    ways = applicant_identifiers(service, application, {})
    # Then the elder in person first, then the agent
    assert ways == [(Capacity.SELF, ELDER), (Capacity.AGENT, AGENT)]


def _filing_evidence(
    record: dict[str, Any] | None, status: EvidenceStatus
) -> dict[str, EvidenceItem]:
    return {"enterprise": EvidenceItem(status, record)}


def test_the_registered_operator_may_submit_for_the_enterprise() -> None:
    # Given a filing and the register naming the enterprise's legal representative
    service = SERVICES["enterprise-investment-filing"]
    application = {"enterpriseCreditCode": ENTERPRISE, "projectName": "项目"}
    record = {"name": "深圳市某科技有限公司", "status": "ACTIVE", "operatorIdNumber": OPERATOR}
    # When the ways of applying are read with the register's record found
    ways = applicant_identifiers(
        service, application, _filing_evidence(record, EvidenceStatus.FOUND)
    )
    # Then the enterprise itself, then its operator
    assert ways == [(Capacity.LEGAL_PERSON, ENTERPRISE), (Capacity.OPERATOR, OPERATOR)]


def test_an_operator_identifier_from_the_register_is_normalised_as_the_form_would() -> None:
    # Given a register record typing the operator's number with a full-width digit
    service = SERVICES["enterprise-investment-filing"]
    application = {"enterpriseCreditCode": ENTERPRISE, "projectName": "项目"}
    record = {"name": "某公司", "status": "ACTIVE", "operatorIdNumber": "４40305197502140022"}
    ways = applicant_identifiers(
        service, application, _filing_evidence(record, EvidenceStatus.FOUND)
    )
    assert (Capacity.OPERATOR, OPERATOR) in ways


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (None, EvidenceStatus.UNAVAILABLE),
        (None, EvidenceStatus.ABSENT),
        ({"name": "某公司", "status": "ACTIVE"}, EvidenceStatus.FOUND),
        ({"name": "某公司", "status": "ACTIVE", "operatorIdNumber": ""}, EvidenceStatus.FOUND),
        (
            {"name": "某公司", "status": "ACTIVE", "operatorIdNumber": "440305197502140023"},
            EvidenceStatus.FOUND,
        ),
    ],
    ids=["unavailable", "absent", "not-shared", "empty", "bad-check-digit"],
)
def test_no_operator_may_submit_unless_the_register_names_a_valid_one(
    record: dict[str, Any] | None, status: EvidenceStatus
) -> None:
    # Given a filing whose register record is missing, or names no valid operator
    service = SERVICES["enterprise-investment-filing"]
    application = {"enterpriseCreditCode": ENTERPRISE, "projectName": "项目"}
    # When the ways of applying are read
    ways = applicant_identifiers(service, application, _filing_evidence(record, status))
    # Then only the enterprise itself may submit
    assert ways == [(Capacity.LEGAL_PERSON, ENTERPRISE)]


def test_a_vehicle_owned_by_an_enterprise_is_submitted_by_its_credit_code() -> None:
    # Given a vehicle permit for a vehicle an enterprise owns
    service = SERVICES["ride-hailing-vehicle-permit"]
    ways = applicant_identifiers(service, {"ownerId": ENTERPRISE}, {})
    # Then the owner in person is the enterprise
    assert ways == [(Capacity.SELF, ENTERPRISE)]
