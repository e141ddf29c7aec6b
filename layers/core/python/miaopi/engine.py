"""`decide`: the pure function at the heart of 秒批.

(service, rule set, normalized application, evidence, application date) -> Decision.
Any REJECT rule failing rejects (every failing reason listed); otherwise any REFER rule failing,
any evidence missing or any rule that cannot be evaluated refers to a reviewer; otherwise the
application is approved. Missing evidence never passes. Same inputs, same decision.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from miaopi import identifiers
from miaopi.files import Text
from miaopi.loader import PRESENT
from miaopi.model import (
    Capacity,
    CompiledRule,
    Decision,
    EvidenceItem,
    EvidenceRequest,
    EvidenceStatus,
    Outcome,
    Reason,
    RiskFactorDefinition,
    RuleResult,
    RuleSet,
    ServiceDefinition,
    TraceEntry,
)

_UNAVAILABLE = EvidenceItem(EvidenceStatus.UNAVAILABLE)
_PASS = RuleResult.PASS
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_date(value: Any) -> bool:
    if value.__class__ is not str or not _ISO_DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


#: a source's record is believed only when each attribute has its declared type: ZEN reads
#: d("") or d("permanent") as an "Invalid date" that compares, so a malformed record is missing
#: evidence (refers), never a pass
_VALID: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: v.__class__ is str and v != "",
    "date": _is_date,
    "number": lambda v: v.__class__ in (int, float),
    "boolean": lambda v: v.__class__ is bool,
    "list": lambda v: v.__class__ is list,
    "object": lambda v: v.__class__ is dict,
}
_FOUND = EvidenceStatus.FOUND
_NOTHING: frozenset[str] = frozenset()
_new = tuple.__new__
# Text.model_construct: the platform's own texts need no validation (and building Text's
# validator at import would cost the cold start)
_REMEDY_REVIEW = Text.model_construct(
    zh="无需补充材料,审核人员将在办理时限内作出决定。",
    en="Nothing to do: a reviewer will decide within the service's deadline.",
)


def conforms(kind: str, value: Any) -> bool:
    """Whether a source's value has its declared attribute type (`EvidenceAttribute.type`), as
    the decision believes it: the departments' loader checks records with the same test."""
    return _VALID[kind](value)


def _zen_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_zen_value(v) for v in value]
    return value


def parameters_on(rule_set: RuleSet, day: dt.date) -> dict[str, Any]:
    """Parameter values in force on `day`, as ZEN reads them (decimals as numbers)."""
    cached = rule_set.parameter_cache.get(day)
    if cached is None:
        cached = {p.name: _zen_value(p.on(day)) for p in rule_set.parameters}
        if len(rule_set.parameter_cache) < 4096:
            rule_set.parameter_cache[day] = cached
    return cached  # read-only: nothing writes into a decision's context


def _application_context(service: ServiceDefinition, application: dict[str, Any]) -> dict[str, Any]:
    if not service.decimal_paths:
        return application
    out = dict(application)
    for path in service.decimal_paths:
        parent = out
        for part in path[:-1]:
            child = parent.get(part)
            if not isinstance(child, dict):
                break
            parent = parent[part] = dict(child)
        else:
            value = parent.get(path[-1])
            if value is not None:
                parent[path[-1]] = float(value)
    return out


def evidence_state(
    service: ServiceDefinition, evidence: Mapping[str, EvidenceItem]
) -> tuple[dict[str, Any], dict[str, EvidenceStatus], frozenset[str]]:
    """Records by alias, statuses by alias, and the aliases whose evidence is missing."""
    records, statuses, present = _evidence(service, evidence)
    return records, statuses, frozenset(a for a, here in present.items() if not here)


def _evidence(
    service: ServiceDefinition, evidence: Mapping[str, EvidenceItem]
) -> tuple[dict[str, Any], dict[str, EvidenceStatus], dict[str, bool]]:
    """Records, statuses, and whether each alias's evidence is present (not missing)."""
    records: dict[str, Any] = {}
    statuses: dict[str, EvidenceStatus] = {}
    present: dict[str, bool] = {}
    for definition in service.evidence.values():
        alias = definition.alias
        item = evidence.get(alias, _UNAVAILABLE)
        status = item.status
        if status is _FOUND:
            record = item.record or {}
            for attribute, kind, required in definition.checks:
                value = record.get(attribute)
                if value is None:
                    if required:
                        status = EvidenceStatus.MALFORMED
                        break
                elif not _VALID[kind](value):
                    status = EvidenceStatus.MALFORMED
                    break
            else:
                records[alias] = record
                statuses[alias] = status
                present[alias] = True
                continue
        records[alias] = None
        statuses[alias] = status
        present[alias] = status is EvidenceStatus.ABSENT and not definition.absent_is_missing
    return records, statuses, present


def derive_facts(
    service: ServiceDefinition, context: dict[str, Any], missing: frozenset[str], on: dt.date
) -> dict[str, Any]:
    derived: dict[str, Any] = {}
    context["fact"] = derived
    for name, fact in service.facts.items():
        if missing and fact.sources & missing:
            derived[name] = None
            continue
        try:
            derived[name] = fact.function(*[arg.evaluate(context) for arg in fact.args], on)
        except (ValueError, TypeError):
            derived[name] = None
    return derived


def _missing_reason(
    rule: CompiledRule, title: Text, service: ServiceDefinition, aliases: tuple[str, ...]
) -> Reason:
    titles_zh = "、".join(service.evidence[a].title.zh for a in aliases)
    titles_en = ", ".join(service.evidence[a].title.en for a in aliases)
    return Reason(
        rule_id=rule.id,
        on_fail="REFER",
        result=RuleResult.EVIDENCE_MISSING,
        message=Text.model_construct(
            zh=f"{title.zh}:无法从{titles_zh}取得核验数据,转人工审核。",
            en=f"{title.en}: no data could be obtained from {titles_en}; referred.",
        ),
        remedy=_REMEDY_REVIEW,
        legal_basis=rule.legal_basis,
    )


def _error_reason(rule: CompiledRule, title: Text) -> Reason:
    return Reason(
        rule_id=rule.id,
        on_fail="REFER",
        result=RuleResult.ERROR,
        message=Text.model_construct(
            zh=f"{title.zh}:无法根据所提供的数据自动判断,转人工审核。",
            en=f"{title.en}: could not be decided automatically on these data; referred.",
        ),
        remedy=_REMEDY_REVIEW,
        legal_basis=rule.legal_basis,
    )


def _evaluate_each(rule_set: RuleSet, context: dict[str, Any]) -> list[Any]:
    """One by one, when the one-call batch failed: an error stays with the rule that raised it.
    The same layout as the batch: each rule's `when` and condition, then expression outputs."""
    expressions = [e for rule in rule_set.rules for e in (rule.when, rule.condition)]
    expressions += [o.expression for o in rule_set.outputs if o.expression is not None]
    results: list[Any] = []
    for expression in expressions:
        if expression is None:
            results.append(True)
            continue
        try:
            results.append(expression.evaluate(context))
        except RuntimeError as exc:
            results.append(_Failure(str(exc)))
    return results


class _Failure:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message.split("\n", 1)[0][:200]


def decide(
    service: ServiceDefinition,
    rule_set: RuleSet,
    application: dict[str, Any],
    evidence: Mapping[str, EvidenceItem],
    on: dt.date,
) -> Decision:
    """Decide one normalized application on the application date `on`. Pure and deterministic."""
    records, statuses, present = _evidence(service, evidence)
    missing = (
        frozenset(a for a, here in present.items() if not here)
        if not all(present.values())
        else _NOTHING
    )
    context: dict[str, Any] = {
        "app": _application_context(service, application) if service.decimal_paths else application,
        "ev": records,
        "param": rule_set.parameter_cache.get(on) or parameters_on(rule_set, on),
        "date": on.isoformat(),
        PRESENT: present,
    }
    derived = derive_facts(service, context, missing, on)
    if rule_set.rule_tables:
        context["table"] = {
            table.name: _table_row(table, context) for table in rule_set.rule_tables
        }
    try:
        results = rule_set.batch.program.evaluate(context)
    except RuntimeError:  # a data defect in some rule: find it rule by rule
        results = _evaluate_each(rule_set, context)

    trace: list[TraceEntry] = []
    reasons: list[Reason] = []
    rejected = referred = False
    answers = iter(results)
    for rule, applies, holds in zip(rule_set.rules, answers, answers, strict=False):
        values: dict[str, Any] = {}
        for path, read in rule.readers:
            values[path] = read(context)
        if holds is True and applies is True and not (missing and rule.sources & missing):
            # the common case, built without the NamedTuple's keyword machinery
            trace.append(_new(TraceEntry, (rule.id, _PASS, rule.on_fail, values, (), None)))
            continue
        lacking: tuple[str, ...] = ()
        error: str | None = None
        if missing and rule.when_sources & missing:
            lacking = tuple(sorted(rule.when_sources & missing))
            result = RuleResult.EVIDENCE_MISSING
        elif applies is not True:
            if applies is False:
                result = RuleResult.NOT_APPLICABLE
            else:  # a failure, or a `when` that is not a yes/no on these data: never skip a rule
                result = RuleResult.ERROR
                error = applies.message if applies.__class__ is _Failure else "when is not boolean"
        elif missing and rule.sources & missing:
            lacking = tuple(sorted(rule.sources & missing))
            result = RuleResult.EVIDENCE_MISSING
        elif holds.__class__ is _Failure:
            result, error = RuleResult.ERROR, holds.message
        else:
            result = RuleResult.FAIL
        trace.append(TraceEntry(rule.id, result, rule.on_fail, values, lacking, error))
        if result is RuleResult.NOT_APPLICABLE:
            continue
        texts = rule.texts_on(on)  # placeholders filled with the values in force on `on`
        if result is RuleResult.FAIL:
            if rule.on_fail == "REJECT":
                rejected = True
            else:
                referred = True
            reasons.append(
                Reason(rule.id, rule.on_fail, result, texts.reason, texts.remedy, rule.legal_basis)
            )
        elif result is RuleResult.EVIDENCE_MISSING:
            referred = True
            reasons.append(_missing_reason(rule, texts.title, service, lacking))
        else:  # RuleResult.ERROR
            referred = True
            reasons.append(_error_reason(rule, texts.title))

    if rejected:
        outcome = Outcome.REJECTED
    elif referred:
        outcome = Outcome.PENDING_REVIEW
    else:
        outcome = Outcome.APPROVED
    outputs = {} if rejected else _outputs(rule_set, context, missing, results)
    return _new(
        Decision,
        (
            service.id,
            outcome,
            on,
            rule_set.version,
            rule_set.hash,
            tuple(reasons),
            outputs,
            derived,
            tuple(trace),
            statuses,
        ),
    )


def _row(table: Any, context: dict[str, Any]) -> dict[str, Any] | None:
    try:
        row: dict[str, Any] | None = table.evaluate(context)
    except (TypeError, ValueError):  # an input of the wrong type matches no row
        return None
    return row


def _table_row(table: Any, context: dict[str, Any]) -> dict[str, Any] | None:
    """A table's row as rule conditions read it (decimals as numbers)."""
    row = _row(table, context)
    return None if row is None else {k: _zen_value(v) for k, v in row.items()}


def _outputs(
    rule_set: RuleSet, context: dict[str, Any], missing: frozenset[str], results: list[Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    position = 2 * len(rule_set.rules)  # expression outputs follow the rules in the batch
    for output in rule_set.outputs:
        if output.table is not None:
            if output.sources & missing:
                continue
            row = _row(output.table, context)
            value = None if row is None else row.get(output.column or output.name)
        else:
            value = results[position]
            position += 1
            if output.sources & missing or value.__class__ is _Failure:
                continue
        if value is None:
            continue
        if output.type == "decimal" and not isinstance(value, Decimal):
            value = Decimal(str(value))
        elif output.type == "integer":
            value = int(value)
        out[output.name] = value
    return out


def evidence_requests(
    service: ServiceDefinition, application: dict[str, Any]
) -> tuple[list[EvidenceRequest], dict[str, EvidenceItem]]:
    """What to ask the data-sharing port for, and the aliases not requested for this application."""
    context = {"app": _application_context(service, application)}
    requests: list[EvidenceRequest] = []
    skipped: dict[str, EvidenceItem] = {}
    for alias, definition in service.evidence.items():
        wanted = definition.when is None or definition.when.evaluate(context) is True
        key = definition.key.evaluate(context) if wanted else None
        if key is None or key == "":
            skipped[alias] = EvidenceItem(EvidenceStatus.NOT_REQUESTED)
        else:
            requests.append(EvidenceRequest(alias, definition.source, str(key)))
    return requests, skipped


def applicant_identifiers(
    service: ServiceDefinition,
    application: dict[str, Any],
    evidence: Mapping[str, EvidenceItem],
) -> list[tuple[Capacity, str]]:
    """Who may submit this application: each way of applying of the service, in its order, with
    the normalised identifier it names here. A way that reads evidence counts only when that
    evidence was FOUND; a way whose identifier is empty (no agent named) or not a valid
    identifier of its kinds (another department's bad record) is left out."""
    out: list[tuple[Capacity, str]] = []
    for way in service.applicants:
        records = {alias: evidence.get(alias) for alias in way.sources}
        if any(item is None or item.status is not _FOUND for item in records.values()):
            continue
        context = (
            {"ev": {alias: item.record for alias, item in records.items() if item is not None}}
            if way.sources
            else {"app": application}
        )
        value = way.identifier.evaluate(context)
        if value.__class__ is not str or not value:
            continue
        try:
            out.append((way.capacity, identifiers.normalize(way.kinds, value)))
        except identifiers.IdentifierInvalid:
            continue  # it identifies nobody
    return out


def subject_of(service: ServiceDefinition, application: dict[str, Any]) -> str:
    """Who the decision is about (an ID number or credit code): credit list, audit index."""
    return str(service.subject.evaluate({"app": application}))


def matching_risk_factors(
    service: ServiceDefinition, application: dict[str, Any], facts: dict[str, Any], on: dt.date
) -> list[RiskFactorDefinition]:
    """The service's risk factors an approved application matches. A factor that cannot be
    evaluated counts as matched: when in doubt, a person looks."""
    context = {
        "app": _application_context(service, application),
        "fact": facts,
        "date": on.isoformat(),
    }
    matched = []
    for factor in service.risk_factors:
        try:
            value = factor.when.evaluate(context)
        except Exception:
            value = True
        if value is not False:
            matched.append(factor)
    return matched
