"""Every case of every service (cases.yaml), run by one generic test."""

from __future__ import annotations

import pytest
from miaopi.cases import LoadedCase, all_cases, mismatches, run_case
from miaopi.coverage import gaps
from miaopi.loader import load_catalogue
from miaopi_rules import SERVICES_DIR

SERVICES = load_catalogue(SERVICES_DIR)
CASES = list(all_cases(SERVICES, SERVICES_DIR))


def test_every_seed_service_has_cases() -> None:
    assert {case.service_id for case in CASES} == set(SERVICES)


@pytest.mark.parametrize("loaded", CASES, ids=[case.id for case in CASES])
def test_case(loaded: LoadedCase) -> None:
    # Given the case's application, evidence and date; When decided; Then as expected
    decision = run_case(SERVICES[loaded.service_id], loaded)
    assert mismatches(loaded, decision) == []


def test_coverage_report_is_empty() -> None:
    missing, failures, count = gaps(SERVICES, SERVICES_DIR)
    assert count == len(CASES)
    assert missing == [] and failures == []
