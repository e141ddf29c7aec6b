"""Rule tests as data: each service's cases.yaml, run by one generic runner.

A case is a clean base application and evidence with a few values changed, an application date
and what must come out: the outcome, the failing rule ids and any outputs. Evidence values: a
mapping is a record (merged over the base record), `null` means the source holds no record, and
"UNAVAILABLE" means the source did not answer.

When a new rule-set version comes into force, `base.alsoOn` lists dates in its period: every case
that gives no date of its own runs on the base date and again on each of them (named
"<case> (on <date>)"), so the rules the versions share keep their cases without a copy. A case
whose outcome depends on its date (an age, an expiry) names its date and runs on it alone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from miaopi.engine import decide
from miaopi.errors import RuleLoadError
from miaopi.files import RuleId, Strict
from miaopi.forms import normalize
from miaopi.loader import read_yaml, validate
from miaopi.model import Decision, EvidenceItem, EvidenceStatus, ServiceDefinition

CASES_FILE = "cases.yaml"


# The cases file's shape. Here, not in miaopi.files: only tests and the coverage report read
# cases, so functions do not build these models at cold start.
class CaseExpectation(Strict):
    outcome: Literal["APPROVED", "REJECTED", "PENDING_REVIEW"]
    failing: list[RuleId] = Field(default_factory=list)
    outputs: dict[str, Any] | None = None


class Case(Strict):
    """A rule test as data: application + evidence + date -> expected outcome."""

    name: Annotated[str, StringConstraints(min_length=1)]
    date: dt.date | None = None
    #: merged over the base application, field by field
    application: dict[str, Any] = Field(default_factory=dict)
    #: merged over the base evidence, alias by alias and attribute by attribute; `null` means no
    #: record; the string "UNAVAILABLE" means the source did not answer
    evidence: dict[str, Any] = Field(default_factory=dict)
    expect: CaseExpectation


class CaseBase(Strict):
    date: dt.date
    #: more dates (each in a later rule set's period) on which every undated case runs again
    also_on: list[dt.date] = Field(default_factory=list, alias="alsoOn")
    application: dict[str, Any]
    evidence: dict[str, Any] = Field(default_factory=dict)


class CasesFile(Strict):
    #: the clean application every case starts from
    base: CaseBase
    cases: Annotated[list[Case], Field(min_length=1)]


UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class LoadedCase:
    service_id: str
    file: str
    case: Case
    application: dict[str, Any]
    evidence: dict[str, EvidenceItem]
    #: a run of an undated case on one of `base.alsoOn` (the same path, a later rule set)
    again: bool = False

    @property
    def id(self) -> str:
        return f"{self.service_id}: {self.case.name}"


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def evidence_item(value: Any) -> EvidenceItem:
    if value is None:
        return EvidenceItem(EvidenceStatus.ABSENT)
    if value == UNAVAILABLE:
        return EvidenceItem(EvidenceStatus.UNAVAILABLE)
    if isinstance(value, dict):
        return EvidenceItem(EvidenceStatus.FOUND, value)
    raise ValueError("evidence is a record, null or UNAVAILABLE")


def load_cases(service: ServiceDefinition, folder: Path) -> list[LoadedCase]:
    path = folder / CASES_FILE
    if not path.exists():
        raise RuleLoadError(str(path), "(file)", "every service needs its cases")
    parsed: CasesFile = validate(CasesFile, read_yaml(path), path)
    loaded = []
    for case in parsed.cases:
        raw_app = _merge(parsed.base.application, case.application)
        # as the sources deliver them: JSON, dates as "YYYY-MM-DD" strings
        evidence_values = json.loads(
            json.dumps(_merge(parsed.base.evidence, case.evidence), default=str)
        )
        unknown = set(evidence_values) - set(service.evidence)
        if unknown:
            raise RuleLoadError(str(path), f"case {case.name!r}", f"unknown evidence {unknown}")
        try:
            evidence = {alias: evidence_item(v) for alias, v in evidence_values.items()}
        except ValueError as exc:
            raise RuleLoadError(str(path), f"case {case.name!r}", str(exc)) from None
        if case.date is not None:
            loaded.append(LoadedCase(service.id, str(path), case, raw_app, evidence))
            continue
        for day in (parsed.base.date, *parsed.base.also_on):
            name = case.name if day == parsed.base.date else f"{case.name} (on {day})"
            dated = case.model_copy(update={"date": day, "name": name})
            again = day != parsed.base.date
            loaded.append(LoadedCase(service.id, str(path), dated, raw_app, evidence, again))
    return loaded


def run_case(service: ServiceDefinition, loaded: LoadedCase) -> Decision:
    assert loaded.case.date is not None
    rule_set = service.rule_set_on(loaded.case.date)
    if rule_set is None:
        raise RuleLoadError(loaded.file, f"case {loaded.case.name!r}", "no rule set in force")
    application = normalize(service.form_model, loaded.application)
    return decide(service, rule_set, application, loaded.evidence, loaded.case.date)


def mismatches(loaded: LoadedCase, decision: Decision) -> list[str]:
    """What differs from the case's expectation, in words; empty when the case holds."""
    expect = loaded.case.expect
    problems = []
    if decision.outcome.value != expect.outcome:
        problems.append(f"outcome {decision.outcome.value}, expected {expect.outcome}")
    failing = sorted(decision.failing_rule_ids)
    if failing != sorted(expect.failing):
        problems.append(f"failing rules {failing}, expected {sorted(expect.failing)}")
    for name, value in (expect.outputs or {}).items():
        actual = decision.outputs.get(name)
        if str(actual) != str(value):
            problems.append(f"output {name} = {actual}, expected {value}")
    if expect.outputs is not None:
        extra = set(decision.outputs) - set(expect.outputs)
        if extra:
            problems.append(f"unexpected outputs {sorted(extra)}")
    return problems


def all_cases(services: dict[str, ServiceDefinition], root: Path) -> Iterator[LoadedCase]:
    for service_id, service in services.items():
        yield from load_cases(service, root / service_id)
