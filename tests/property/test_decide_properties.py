"""Properties of `decide` over generated applications and evidence, for every service.

Values are drawn from each service's own cases (so records look like the sources' records) mixed
with absent, unavailable and malformed evidence and arbitrary application dates.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miaopi import EvidenceItem, EvidenceStatus, Outcome, RuleResult, decide
from miaopi.cases import all_cases
from miaopi.forms import normalize
from miaopi.loader import load_catalogue
from miaopi.model import ServiceDefinition
from miaopi_rules import SERVICES_DIR

SERVICES = load_catalogue(SERVICES_DIR)
CASES = list(all_cases(SERVICES, SERVICES_DIR))


def _pools() -> dict[str, dict[str, Any]]:
    """Per service: normalized applications, and evidence records and values by alias."""
    pools: dict[str, dict[str, Any]] = {}
    for loaded in CASES:
        service = SERVICES[loaded.service_id]
        pool = pools.setdefault(
            service.id,
            {"apps": [], "records": defaultdict(list), "values": defaultdict(set)},
        )
        pool["apps"].append(normalize(service.form_model, loaded.application))
        for alias, item in loaded.evidence.items():
            if item.record is not None:
                pool["records"][alias].append(item.record)
                for key, value in item.record.items():
                    if isinstance(value, str | int | float | bool):
                        pool["values"][(alias, key)].add(value)
    return pools


POOLS = _pools()


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[ServiceDefinition, dict[str, Any], dict[str, EvidenceItem], dt.date]:
    service = SERVICES[draw(st.sampled_from(sorted(SERVICES)))]
    pool = POOLS[service.id]
    application = draw(st.sampled_from(pool["apps"]))
    evidence: dict[str, EvidenceItem] = {}
    for alias in service.evidence:
        records = pool["records"].get(alias) or [{}]
        record = dict(draw(st.sampled_from(records)))
        for key in list(record):
            values = sorted(pool["values"].get((alias, key), set()), key=repr)
            if values and draw(st.booleans()):
                record[key] = draw(st.sampled_from(values))
            elif draw(st.integers(0, 9)) == 0:  # a source answering nonsense
                record[key] = draw(st.sampled_from(BAD_VALUES))
        kind = draw(
            st.sampled_from(
                [EvidenceStatus.FOUND] * 4
                + [EvidenceStatus.ABSENT, EvidenceStatus.UNAVAILABLE, EvidenceStatus.MALFORMED]
            )
        )
        if kind is EvidenceStatus.MALFORMED:
            record.pop(next(iter(record)), None) if record else None
            evidence[alias] = EvidenceItem(EvidenceStatus.FOUND, record)
        elif kind is EvidenceStatus.FOUND:
            evidence[alias] = EvidenceItem(EvidenceStatus.FOUND, record)
        else:
            evidence[alias] = EvidenceItem(kind)
    day = draw(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 31)))
    return service, application, evidence, day


def _decide(scenario: tuple[ServiceDefinition, dict[str, Any], dict[str, EvidenceItem], dt.date]):  # type: ignore[no-untyped-def]
    service, application, evidence, day = scenario
    rule_set = service.rule_set_on(day)
    assert rule_set is not None
    return decide(service, rule_set, application, evidence, day)


#: what a source may answer that is not what it declared: never to be taken as a pass
BAD_VALUES: list[Any] = ["", "permanent", "2099-13-01", "n/a", 0, 1.5, True, [], {}]


def valid(kind: str, value: Any) -> bool:
    """The declared attribute types, written independently of the engine."""
    if kind == "date":
        try:
            return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
        except ValueError:
            return False
    return {
        "string": isinstance(value, str) and value != "",
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "list": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_same_inputs_same_decision_and_trace(scenario: Any) -> None:
    assert _decide(scenario) == _decide(scenario)


@SETTINGS
@given(scenarios())
def test_a_failing_reject_rule_rejects_and_only_that_rejects(scenario: Any) -> None:
    decision = _decide(scenario)
    rejecting = [t for t in decision.trace if t.result is RuleResult.FAIL and t.on_fail == "REJECT"]
    assert (decision.outcome is Outcome.REJECTED) == bool(rejecting)


@SETTINGS
@given(scenarios())
def test_never_approved_while_evidence_a_rule_needs_is_missing(scenario: Any) -> None:
    service, _, evidence, _ = scenario
    decision = _decide(scenario)
    if decision.outcome is not Outcome.APPROVED:
        return
    rule_set = service.rule_set_on(scenario[3])
    applied = {t.rule_id for t in decision.trace if t.result is not RuleResult.NOT_APPLICABLE}
    for rule in rule_set.rules:
        if rule.id not in applied:
            continue
        for alias in rule.sources:
            item = evidence[alias]
            definition = service.evidence[alias]
            assert item.status in (EvidenceStatus.FOUND, EvidenceStatus.ABSENT)
            if item.status is EvidenceStatus.ABSENT:
                assert not definition.absent_is_missing
                continue
            assert item.record is not None
            for attribute, kind in definition.attribute_types.items():
                value = item.record.get(attribute)
                if value is None:
                    assert attribute not in definition.required_attributes
                else:
                    assert valid(kind, value), f"{alias}.{attribute}={value!r} was believed"
    assert all(t.result in (RuleResult.PASS, RuleResult.NOT_APPLICABLE) for t in decision.trace)


@SETTINGS
@given(scenarios())
def test_reasons_name_existing_rules_and_every_rule_is_traced(scenario: Any) -> None:
    service, _, _, day = scenario
    decision = _decide(scenario)
    rule_ids = [rule.id for rule in service.rule_set_on(day).rules]  # type: ignore[union-attr]
    assert [t.rule_id for t in decision.trace] == rule_ids
    assert set(decision.failing_rule_ids) <= set(rule_ids)
    assert decision.reasons or decision.outcome is Outcome.APPROVED
