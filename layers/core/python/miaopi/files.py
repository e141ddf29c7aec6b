"""The shape of the policy owners' files (service.yaml, rule sets, cases), checked on load.

These models are the boundary between YAML written by people and the compiled definitions the
engine runs; `extra="forbid"` makes a misspelt key a load error instead of a silent default.

No `from __future__ import annotations` here: every function's cold start defines these some
thirty classes, and pydantic would then compile and evaluate each field's annotation as a string.
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-zA-Z0-9]*$")]
RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")]
#: a service's id, as its folder is named; an authority's id
SERVICE_ID_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
AUTHORITY_ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
ServiceId = Annotated[str, StringConstraints(pattern=SERVICE_ID_PATTERN)]
AuthorityId = Annotated[str, StringConstraints(pattern=AUTHORITY_ID_PATTERN)]
Expression = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class Text(Strict):
    """Bilingual text: every message a citizen or reviewer reads exists in Chinese and English."""

    zh: Annotated[str, StringConstraints(min_length=1)]
    en: Annotated[str, StringConstraints(min_length=1)]


class LegalBasis(Strict):
    """Where a rule or parameter comes from. `illustrative` marks values that are not quoted law."""

    citation: Annotated[str, StringConstraints(min_length=1)]
    article: str | None = None
    url: str | None = None
    illustrative: bool = False


FieldType = Literal[
    "string", "enum", "date", "decimal", "integer", "boolean", "identifier", "object"
]


class FormField(Strict):
    type: FieldType
    title: Text
    required: bool = True
    #: identifier kinds accepted, in order (e.g. [cn.ric, cn.uscc] for "ID number or credit code")
    kinds: list[str] | None = None
    values: list[str] | None = None
    min_length: int | None = Field(default=None, alias="minLength")
    max_length: int | None = Field(default=None, alias="maxLength")
    pattern: str | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    #: personal data: masked in every display and never logged
    personal: bool = False
    fields: "dict[Identifier, FormField] | None" = None


class Form(Strict):
    fields: dict[Identifier, FormField]


AttributeType = Literal["string", "date", "number", "boolean", "list", "object"]


class EvidenceAttribute(Strict):
    type: AttributeType
    required: bool = True
    #: for an identifier a way of applying reads (applicants), its kinds, as a form field's
    #: (e.g. [cn.ric]): the value is normalised as the form normalises what people type
    kinds: list[str] | None = None


class EvidenceSource(Strict):
    """One piece of evidence a service needs, read from another department's data (数据共享)."""

    source: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]
    title: Text
    key: Expression
    #: fetch only when this holds (e.g. a residence permit only for RESIDENCE_PERMIT applicants)
    when: Expression | None = None
    #: MISSING: no record means the evidence is missing (refer); NONE: no record is a fact
    #: (no criminal record, not on the credit list)
    when_absent: Literal["MISSING", "NONE"] = Field(default="MISSING", alias="whenAbsent")
    attributes: dict[Identifier, EvidenceAttribute]


class Fact(Strict):
    """A derived fact, computed once from the application, evidence and application date."""

    fn: Identifier
    args: list[Expression]
    title: Text


class Certificate(Strict):
    kind: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z_]*$")]
    title: Text
    prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,6}$")]
    #: the form field (a dotted path) naming the holder, printed masked on the signed
    #: certificate; none for a service whose form names no holder
    holder_name: (
        Annotated[
            str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")
        ]
        | None
    ) = Field(default=None, alias="holderName")


class RiskFactor(Strict):
    """A reason to check an automatic approval more often (e.g. a high amount)."""

    title: Text
    #: over the application (`app.*`), the derived facts (`fact.*`) and `date`
    when: Expression
    rate: Annotated[Decimal, Field(ge=0, le=1)]


class Supervision(Strict):
    """Post-approval supervision (事后监管) of automatic approvals."""

    #: how long an automatic approval stays under supervision (re-checks on new credit entries)
    days: Annotated[int, Field(ge=1, le=3650)] = 365
    #: the share of automatic approvals drawn for a human spot check (双随机)
    sample_rate: Annotated[Decimal, Field(ge=0, le=1)] = Field(
        default=Decimal("0.05"), alias="sampleRate"
    )
    #: higher rates for riskier approvals; the highest matching rate applies
    risk_factors: dict[Identifier, RiskFactor] = Field(default_factory=dict, alias="riskFactors")
    #: how long false data keeps the subject on the credit list
    listing_days: Annotated[int, Field(ge=1, le=3650)] = Field(default=1095, alias="listingDays")
    #: working days a reviewer has for a spot check
    spot_check_working_days: Annotated[int, Field(ge=1, le=30)] = Field(
        default=5, alias="spotCheckWorkingDays"
    )


CapacityName = Literal["SELF", "AGENT", "LEGAL_PERSON", "OPERATOR"]


class Applicant(Strict):
    """One way someone may submit for the subject: in what capacity, and the identifier (a form
    field or an evidence attribute) the signed-in identity must equal."""

    capacity: CapacityName
    identifier: Expression


class Grant(Strict):
    """What one grant of the service is unique by (one allowance per elder): a second
    application while a grant is in force or being decided is refused by a rule."""

    unique_by: Annotated[list[Expression], Field(min_length=1)] = Field(alias="uniqueBy")
    title: Text


SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]
#: outcomes a department can receive (结果推送): the final ones
ResultOutcome = Literal["APPROVED", "REJECTED", "REVOKED"]
ScalarValue = str | bool | int


class ResultEffect(Strict):
    """What the receiving department's system does with an approval (the local stack's
    department stand-ins apply it to the reference data): set attributes of the record one of
    the service's evidence aliases reads (`evidence`), or of a new record of `source` keyed by
    the certificate number; `dated` attributes get the decision's date."""

    evidence: Identifier | None = None
    source: SourceName | None = None
    set: Annotated[dict[Identifier, ScalarValue], Field(min_length=1)]
    dated: list[Identifier] = Field(default_factory=list)


class Result(Strict):
    """A department that receives the service's outcomes (数据传递、结果推送)."""

    department: SourceName
    title: Text
    outcomes: Annotated[list[ResultOutcome], Field(min_length=1)]
    effect: ResultEffect | None = None


class ServiceFile(Strict):
    id: ServiceId
    name: Text
    authority: Text
    #: the authority's id, the scope staff roles name (`reviewer:market-regulation`)
    authority_id: AuthorityId = Field(alias="authorityId")
    description: Text
    seed: Text | None = None
    #: the manual-review deadline in working days on the Chinese calendar
    sla_working_days: Annotated[int, Field(ge=1, le=30)] = Field(default=2, alias="slaWorkingDays")
    certificate: Certificate
    #: who the decision is about: checked against the credit list, indexed for auditors
    subject: Expression
    form: Form
    evidence: dict[Identifier, EvidenceSource]
    facts: dict[Identifier, Fact] = Field(default_factory=dict)
    supervision: Supervision = Field(default_factory=Supervision)
    #: who may submit for the subject, in order of precedence (the loader requires one at least)
    applicants: list[Applicant] = Field(default_factory=list)
    #: what a grant is unique by (the loader requires it)
    grant: Grant | None = None
    #: who receives which outcomes, and what an approval changes in their data
    results: list[Result] = Field(default_factory=list)


class ParameterValue(Strict):
    from_: dt.date = Field(alias="from")
    #: a number, a word, a yes/no, or a list (e.g. qualifying licence classes)
    value: Decimal | bool | str | list[Decimal | str]


class Parameter(Strict):
    title: Text
    unit: str | None = None
    legal_basis: LegalBasis = Field(alias="legalBasis")
    values: Annotated[list[ParameterValue], Field(min_length=1)]


class TableInput(Strict):
    name: Identifier
    expression: Expression
    #: for numbers: the interval the rows must cover (gaps are load errors for UNIQUE tables);
    #: for strings: the values the rows must cover
    domain: str | list[str] | None = None


class TableOutput(Strict):
    name: Identifier
    type: Literal["decimal", "string", "integer"]


class DecisionTable(Strict):
    title: Text
    legal_basis: LegalBasis = Field(alias="legalBasis")
    hit_policy: Literal["FIRST", "UNIQUE"] = Field(alias="hitPolicy")
    inputs: Annotated[list[TableInput], Field(min_length=1)]
    outputs: Annotated[list[TableOutput], Field(min_length=1)]
    rows: Annotated[list[dict[str, Any]], Field(min_length=1)]


class Rule(Strict):
    id: RuleId
    title: Text
    reason: Text
    remedy: Text
    legal_basis: LegalBasis = Field(alias="legalBasis")
    when: Expression | None = None
    condition: Expression
    on_fail: Literal["REJECT", "REFER"] = Field(alias="onFail")


class Output(Strict):
    title: Text
    expression: Expression | None = None
    table: Identifier | None = None
    column: Identifier | None = None
    type: Literal["decimal", "string", "integer", "date"] = "string"


class Note(Strict):
    id: Identifier
    text: Text
    legal_basis: LegalBasis = Field(alias="legalBasis")


class RuleSetFile(Strict):
    version: Annotated[str, StringConstraints(pattern=r"^\d{4}\.\d+$")]
    effective_from: dt.date = Field(alias="effectiveFrom")
    title: Text
    notes: list[Note] = Field(default_factory=list)
    parameters: dict[Identifier, Parameter] = Field(default_factory=dict)
    tables: dict[Identifier, DecisionTable] = Field(default_factory=dict)
    rules: Annotated[list[Rule], Field(min_length=1)]
    outputs: dict[Identifier, Output] = Field(default_factory=dict)


ParameterSetting = Decimal | bool | str | list[Decimal | str]


class OverrideBase(Strict):
    """The published rule set a what-if's overrides sit on: the one in force on a day, or a
    version. Exactly one of the two."""

    in_force_on: dt.date | None = Field(default=None, alias="inForceOn")
    version: Annotated[str, StringConstraints(pattern=r"^\d{4}\.\d+$")] | None = None


class OverridesFile(Strict):
    """A what-if candidate written as a few parameter changes on top of a published rule set.

    A value alone replaces the parameter's values; a list of dated values replaces them from
    its first date on (earlier dates keep the base's values)."""

    service: ServiceId
    base: OverrideBase
    #: names the candidate: its version reads `<base version>+<label>`
    label: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")] = "overrides"
    parameters: Annotated[
        dict[Identifier, list[ParameterValue] | ParameterSetting], Field(min_length=1)
    ]


class CalendarNotice(Strict):
    """The State Council notice a year's calendar is taken from (…部分节假日安排的通知)."""

    title: Annotated[str, StringConstraints(min_length=1)]
    #: e.g. 国办发明电〔YYYY〕N号, exactly as the notice prints it
    document_number: Annotated[str, StringConstraints(min_length=1)] = Field(alias="documentNumber")
    issued: dt.date
    url: Annotated[str, StringConstraints(pattern=r"^https://")]
    #: a made-up calendar (tests only): never shipped in the rules layer
    fictional: bool = False


class HolidayPeriod(Strict):
    """One holiday as the notice lists it: its name and its days off, first to last."""

    name: Text
    first: dt.date = Field(alias="from")
    last: dt.date = Field(alias="to")


class MakeUpWorkday(Strict):
    """A weekend day the notice makes a working day (调休上班), and the holiday it pays for."""

    date: dt.date
    for_holiday: Annotated[str, StringConstraints(min_length=1)] = Field(alias="for")


class CalendarFile(Strict):
    """One year of the official working-day calendar: `calendar/<year>.yaml` in the rules layer."""

    year: Annotated[int, Field(ge=2000, le=9999)]
    notice: CalendarNotice
    holidays: Annotated[list[HolidayPeriod], Field(min_length=1)]
    make_up_workdays: list[MakeUpWorkday] = Field(default_factory=list, alias="makeUpWorkdays")
