"""Compiled definitions the engine runs, and the decision it returns.

Plain slotted dataclasses: `decide` builds these in microseconds. The API and storage layers map
them to their own models at the boundary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from miaopi.files import LegalBasis, Text

if TYPE_CHECKING:
    from pydantic import BaseModel

    from miaopi.expressions import Compiled
    from miaopi.files import Note, RuleSetFile, ServiceFile
    from miaopi.tables import Table
    from miaopi.texts import RuleTemplates


#: the platform's own grants, read as evidence like any other department's data
GRANT_SOURCE = "platform-grants"
#: the evidence alias the loader declares for them: rules read `ev.grant` (null: none held)
GRANT_ALIAS = "grant"
#: joins the unique-by values into the grant's evidence key (a character no value contains)
GRANT_KEY_SEPARATOR = "\u001f"
#: what `ev.grant.status` reads: the grant is held by an approval, or by an application that
#: is still being decided
GRANT_IN_FORCE = "IN_FORCE"
GRANT_DECIDING = "DECIDING"


class Capacity(StrEnum):
    """In what capacity someone submits for the subject of an application."""

    #: the subject in person (a person, or a legal person signed in as itself)
    SELF = "SELF"
    #: a person acting for the subject (代办), e.g. the elder's child
    AGENT = "AGENT"
    #: the enterprise itself, signed in with its credit code
    LEGAL_PERSON = "LEGAL_PERSON"
    #: the person registered as the enterprise's legal representative or operator
    OPERATOR = "OPERATOR"


class Outcome(StrEnum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PENDING_REVIEW = "PENDING_REVIEW"
    #: never the rules' outcome: an approval overturned after the fact (supervision)
    REVOKED = "REVOKED"


class RuleResult(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    #: evidence the rule needs is missing or its source did not answer: refers, never passes
    EVIDENCE_MISSING = "EVIDENCE_MISSING"
    #: the rule could not be evaluated on these values (a data defect): refers, never passes
    ERROR = "ERROR"


class EvidenceStatus(StrEnum):
    FOUND = "FOUND"
    #: the source answered that it holds no record
    ABSENT = "ABSENT"
    #: the source did not answer (down, throttled, timed out)
    UNAVAILABLE = "UNAVAILABLE"
    #: not requested for this application (its key is empty or its `when` does not hold)
    NOT_REQUESTED = "NOT_REQUESTED"
    #: the source answered with a record that lacks attributes the rules need
    MALFORMED = "MALFORMED"


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    status: EvidenceStatus
    record: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRequest:
    alias: str
    source: str
    key: str


@dataclass(frozen=True, slots=True)
class EvidenceDefinition:
    alias: str
    source: str
    title: Text
    key: Compiled
    when: Compiled | None
    absent_is_missing: bool
    required_attributes: tuple[str, ...]
    attribute_types: dict[str, str]
    #: (attribute, declared type, required), checked on every record the source returns
    checks: tuple[tuple[str, str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class FactDefinition:
    name: str
    fn: str
    function: Callable[..., Any]
    args: tuple[Compiled, ...]
    title: Text
    #: evidence aliases this fact reads, directly or through other facts
    sources: frozenset[str]


@dataclass(frozen=True, slots=True)
class RiskFactorDefinition:
    id: str
    title: Text
    when: Compiled
    rate: float


@dataclass(frozen=True, slots=True)
class ApplicantWay:
    """One way of applying: the identity signed in must be this identifier, in this capacity."""

    capacity: Capacity
    #: one path: a form field of identifier type (app.*) or an evidence attribute (ev.*)
    identifier: Compiled
    #: identifier kinds for normalisation (e.g. ("cn.ric",)), from the field or attribute read
    kinds: tuple[str, ...]
    #: evidence aliases it reads (empty for app paths): usable only when that evidence is FOUND
    sources: frozenset[str]


@dataclass(frozen=True, slots=True)
class GrantDefinition:
    """What one grant is unique by; the loader declares `ev.grant` keyed by these values."""

    unique_by: tuple[Compiled, ...]
    title: Text


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    id: str
    file: ServiceFile
    form_model: type[BaseModel]
    evidence: dict[str, EvidenceDefinition]
    facts: dict[str, FactDefinition]
    subject: Compiled
    #: dotted form paths of decimal fields, passed to expressions as numbers
    decimal_paths: tuple[tuple[str, ...], ...]
    #: dotted form paths of personal fields, masked in displays
    personal_paths: dict[tuple[str, ...], tuple[str, ...]]
    rule_sets: tuple[RuleSet, ...] = ()
    risk_factors: tuple[RiskFactorDefinition, ...] = ()
    #: who may submit for the subject, in order of precedence
    applicants: tuple[ApplicantWay, ...] = ()
    #: what a grant is unique by; its evidence is `evidence[GRANT_ALIAS]`
    grant: GrantDefinition | None = None

    @property
    def authority_id(self) -> str:
        """The authority that decides this service: the scope of the staff roles for it."""
        return self.file.authority_id

    def rule_set_named(self, version: str) -> RuleSet:
        """The rule set of a version (a recorded decision names the one it was decided by)."""
        for rule_set in self.rule_sets:
            if rule_set.version == version:
                return rule_set
        raise LookupError(f"{self.id} has no rule set {version}")

    def rule_set_on(self, day: dt.date) -> RuleSet | None:
        """The rule set in force on `day`: the latest whose effectiveFrom is not after it."""
        chosen: RuleSet | None = None
        for rule_set in self.rule_sets:
            if rule_set.effective_from <= day:
                chosen = rule_set
        return chosen


class RuleTexts(NamedTuple):
    """A rule's title, reason and remedy as an applicant reads them on one date."""

    title: Text
    reason: Text
    remedy: Text


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    #: as written: may name parameters (`{param.minimumAge}`); `texts_on(day)` fills them
    title: Text
    reason: Text
    remedy: Text
    legal_basis: LegalBasis
    on_fail: str
    when: Compiled | None
    condition: Compiled
    #: evidence aliases the rule reads (directly or through facts)
    sources: frozenset[str]
    #: evidence aliases its `when` reads: missing there, the rule cannot tell if it applies
    when_sources: frozenset[str]
    #: the dotted paths whose values go into the trace, each with its reader
    readers: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...]
    #: the texts split at their parameter placeholders at load; None when they name none
    templates: RuleTemplates | None = None
    #: filled texts by day: a pure function of the file, so caching cannot change a reason
    filled: dict[dt.date, RuleTexts] = field(default_factory=dict, compare=False, repr=False)

    def texts_on(self, day: dt.date) -> RuleTexts:
        """Title, reason and remedy with each named parameter's value in force on `day`."""
        if self.templates is None:
            return RuleTexts(self.title, self.reason, self.remedy)
        texts = self.filled.get(day)
        if texts is None:
            texts = self.templates.on(day)
            if len(self.filled) < 4096:
                self.filled[day] = texts
        return texts


@dataclass(frozen=True, slots=True)
class CompiledOutput:
    name: str
    title: Text
    type: str
    expression: Compiled | None
    table: Table | None
    column: str | None
    sources: frozenset[str]


@dataclass(frozen=True, slots=True)
class ParameterSchedule:
    name: str
    values: tuple[tuple[dt.date, Any], ...]

    def on(self, day: dt.date) -> Any:
        chosen: Any = None
        for start, value in self.values:
            if start <= day:
                chosen = value
        return chosen


@dataclass(frozen=True, slots=True)
class RuleSet:
    service_id: str
    version: str
    effective_from: dt.date
    hash: str
    file: RuleSetFile
    path: str
    parameters: tuple[ParameterSchedule, ...]
    rules: tuple[CompiledRule, ...]
    outputs: tuple[CompiledOutput, ...]
    notes: tuple[Note, ...]
    #: every rule's `when` and condition in one compiled ZEN array, evaluated in one call
    batch: Compiled
    tables: dict[str, Table] = field(default_factory=dict)
    #: the tables rule conditions read (table.<name>.<output>), evaluated before the rules
    rule_tables: tuple[Table, ...] = ()
    #: parameter values by day: a pure function of the file, so caching cannot change a decision
    parameter_cache: dict[dt.date, dict[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )


class Reason(NamedTuple):
    """Why an application was not approved: a failing rule, or one that could not be checked."""

    rule_id: str
    on_fail: str
    result: RuleResult
    message: Text
    remedy: Text
    legal_basis: LegalBasis


class TraceEntry(NamedTuple):
    """One rule's result and the values it looked at (immutable; cheap to build per rule)."""

    rule_id: str
    result: RuleResult
    on_fail: str
    #: the values the rule looked at, by dotted path
    values: dict[str, Any]
    #: evidence aliases that were missing, for EVIDENCE_MISSING
    missing: tuple[str, ...] = ()
    error: str | None = None


class Decision(NamedTuple):
    """What `decide` returns: immutable, and built in well under a microsecond."""

    service_id: str
    outcome: Outcome
    application_date: dt.date
    rule_set_version: str
    rule_set_hash: str
    reasons: tuple[Reason, ...]
    outputs: dict[str, Any]
    facts: dict[str, Any]
    trace: tuple[TraceEntry, ...]
    evidence_status: dict[str, EvidenceStatus]

    @property
    def failing_rule_ids(self) -> list[str]:
        return [reason.rule_id for reason in self.reasons]
