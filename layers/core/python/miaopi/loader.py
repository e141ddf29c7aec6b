"""Load service definitions and rule sets from the rules layer, checking everything at once.

Loading is the cold start of every function: each file is parsed, validated against its schema,
every expression compiled and every name checked, decision tables checked for overlaps and gaps.
Any problem raises RuleLoadError naming the file, the rule (or key) and the reason.
"""

from __future__ import annotations

import datetime as dt
import graphlib
import hashlib
import itertools
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from miaopi import facts as fact_functions
from miaopi import identifiers
from miaopi.errors import RuleLoadError
from miaopi.expressions import (
    Compiled,
    ExpressionError,
    compile_batch,
    compile_expression,
    getter,
    joined,
)
from miaopi.files import Applicant, CalendarFile, Form, RuleSetFile, ServiceFile
from miaopi.forms import build_model, form_paths
from miaopi.model import (
    GRANT_ALIAS,
    GRANT_KEY_SEPARATOR,
    GRANT_SOURCE,
    ApplicantWay,
    Capacity,
    CompiledOutput,
    CompiledRule,
    EvidenceDefinition,
    FactDefinition,
    GrantDefinition,
    ParameterSchedule,
    RiskFactorDefinition,
    RuleSet,
    ServiceDefinition,
)
from miaopi.tables import Column, Table, TableError, build_table, parse_interval, parse_set
from miaopi.texts import PlaceholderError, rule_templates
from miaopi.workdays import Calendar, OfficialYear

SERVICE_FILE = "service.yaml"
#: the context entry saying, per evidence alias, whether its evidence is present
PRESENT = "present"
RULESETS_DIR = "rulesets"
#: the attributes of the platform's grant evidence (`ev.grant`): (type, required)
GRANT_ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "status": ("string", True),
    "since": ("date", False),
}
#: identifier kinds a capacity's identifier must accept: a person's ID number, a credit code
_CAPACITY_KINDS: dict[Capacity, tuple[str, ...]] = {
    Capacity.SELF: ("cn.ric", "cn.uscc"),
    Capacity.AGENT: ("cn.ric",),
    Capacity.LEGAL_PERSON: ("cn.uscc",),
    Capacity.OPERATOR: ("cn.ric",),
}


def read_yaml(path: Path) -> Any:
    return parse_yaml(path.read_text(encoding="utf-8"), str(path))


def parse_yaml(text: str, file: str) -> Any:
    """YAML text as data (safe loader); a RuleLoadError naming `file` when it is not YAML.
    PyYAML is imported here, not at module import: a function loads its compiled rules
    (miaopi.compiled) and never parses YAML at cold start."""
    import yaml

    #: libyaml's parser when the wheel has it (several times faster)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise RuleLoadError(file, "yaml", str(exc).replace("\n", " ")) from None


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """A readable location; under `rules[i]` it names the rule id."""
    parts: list[str] = []
    node = raw
    for step in loc:
        if isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
            rule_id = node.get("id") if isinstance(node, dict) else None
            parts.append(f"rule {rule_id}" if rule_id else f"[{step}]")
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(str(step))
    return ".".join(parts) or "(file)"


def validate(model: Any, raw: Any, path: Path | str) -> Any:
    """`raw` as `model`; the first problem as a RuleLoadError naming the file and the key."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        raise RuleLoadError(str(path), _where(raw, err["loc"]), err["msg"]) from None


class _Names:
    """What an expression of one service may read; answers with a reason for unknown names."""

    def __init__(
        self,
        service: ServiceFile,
        parameters: set[str] | None,
        facts: set[str],
    ) -> None:
        self.form = {".".join(p): spec for p, spec in form_paths(service.form).items()}
        #: alias -> its attributes; the grant evidence the loader declares for `grant:`
        self.evidence: dict[str, set[str]] = {
            alias: set(spec.attributes) for alias, spec in service.evidence.items()
        }
        if service.grant is not None:
            self.evidence[GRANT_ALIAS] = set(GRANT_ATTRIBUTES)
        self.parameters = parameters
        self.facts = facts
        #: table name -> its outputs, once the rule set's tables are loaded
        self.tables: dict[str, Table] = {}

    def __call__(self, path: str) -> str | None:
        root, *rest = path.split(".")
        if root == "date":
            return None if not rest else f"{path!r}: date has no attributes"
        if not rest:
            return f"{path!r} names a namespace, not a value"
        if root == "app":
            for depth in range(len(rest), 0, -1):
                spec = self.form.get(".".join(rest[:depth]))
                if spec is not None:
                    return (
                        None
                        if depth == len(rest) or spec.type == "object"
                        else (f"unknown field {path!r}")
                    )
            return f"unknown field {path!r}"
        if root == "ev":
            source = self.evidence.get(rest[0])
            if source is None:
                return f"unknown evidence {'.'.join([root, rest[0]])!r}"
            if len(rest) > 1 and rest[1] not in source:
                return f"unknown evidence attribute {path!r}"
            return None
        if root == "param":
            if self.parameters is None:
                return f"{path!r}: parameters are not available here"
            return None if rest[0] in self.parameters else f"unknown parameter {path!r}"
        if root == "fact":
            return None if rest[0] in self.facts else f"unknown fact {path!r}"
        if root == "table":
            table = self.tables.get(rest[0])
            if table is None:
                return f"unknown table {path!r}"
            if len(rest) != 2 or rest[1] not in table.rows[0].outputs:
                return f"{path!r}: read one output of the table, table.<name>.<output>"
            return None
        return f"unknown name {path!r}"


def _compile(text: str, names: Callable[[str], str | None], file: str, where: str) -> Compiled:
    try:
        return compile_expression(text, names)
    except ExpressionError as exc:
        raise RuleLoadError(file, where, str(exc)) from None


def _sources(
    compiled: Compiled,
    facts: dict[str, FactDefinition],
    tables: dict[str, Table] | None = None,
) -> frozenset[str]:
    """Evidence aliases an expression reads, directly or through facts and tables."""
    out: set[str] = set()
    for path in compiled.paths:
        parts = path.split(".")
        if parts[0] == "ev":
            out.add(parts[1])
        elif parts[0] == "fact" and parts[1] in facts:
            out |= facts[parts[1]].sources
        elif parts[0] == "table" and tables and parts[1] in tables:
            for column in tables[parts[1]].columns:
                out |= _sources(column.expression, facts)
    return frozenset(out)


def load_service(folder: Path) -> ServiceDefinition:
    """A service folder's service.yaml and rule sets, parsed, validated and compiled."""
    path = folder / SERVICE_FILE
    service: ServiceFile = validate(ServiceFile, read_yaml(path), path)
    rule_sets = []
    for rule_set_path in sorted((folder / RULESETS_DIR).glob("*.yaml")):
        raw = read_yaml(rule_set_path)
        parsed: RuleSetFile = validate(RuleSetFile, raw, rule_set_path)
        rule_sets.append((str(rule_set_path), parsed, content_hash(service, raw)))
    return service_definition(folder, service, rule_sets)


def service_definition(
    folder: Path, service: ServiceFile, rule_set_files: list[tuple[str, RuleSetFile, str]]
) -> ServiceDefinition:
    """Check and compile a service whose files are already validated: service.yaml as
    `service`, each rule set as (its path, the validated file, its content hash). The YAML
    loader and the compiled rules (miaopi.compiled) both end here, so both check alike."""
    path = folder / SERVICE_FILE
    file = str(path)
    if service.id != folder.name:
        raise RuleLoadError(file, "id", f"{service.id!r} differs from the folder {folder.name!r}")
    _check_declarations(service, file)
    no_params = _Names(service, None, set())
    evidence: dict[str, EvidenceDefinition] = {}
    for alias, spec in service.evidence.items():
        evidence[alias] = EvidenceDefinition(
            alias=alias,
            source=spec.source,
            title=spec.title,
            key=_compile(spec.key, no_params, file, f"evidence.{alias}.key"),
            when=_compile(spec.when, no_params, file, f"evidence.{alias}.when")
            if spec.when
            else None,
            absent_is_missing=spec.when_absent == "MISSING",
            required_attributes=tuple(k for k, a in spec.attributes.items() if a.required),
            attribute_types={k: a.type for k, a in spec.attributes.items()},
            checks=tuple((k, a.type, a.required) for k, a in spec.attributes.items()),
        )
    grant = _load_grant(service, no_params, file)
    if grant is not None:
        evidence[GRANT_ALIAS] = _grant_evidence(grant)
    facts = _load_facts(service, file)
    names = _Names(service, None, set(facts))
    subject = _compile(service.subject, names, file, "subject")
    applicants = tuple(
        _applicant_way(service, way, i, no_params, file) for i, way in enumerate(service.applicants)
    )
    seen_ways: set[tuple[Capacity, str]] = set()
    for i, way in enumerate(applicants):
        if (way.capacity, way.identifier.text) in seen_ways:
            raise RuleLoadError(file, f"applicants[{i}]", "this way of applying is listed twice")
        seen_ways.add((way.capacity, way.identifier.text))
    risk_factors = tuple(
        RiskFactorDefinition(
            id=name,
            title=factor.title,
            when=_compile(
                factor.when, _no_evidence(names), file, f"supervision.riskFactors.{name}"
            ),
            rate=float(factor.rate),
        )
        for name, factor in service.supervision.risk_factors.items()
    )
    paths = form_paths(service.form)
    definition = ServiceDefinition(
        id=service.id,
        file=service,
        form_model=build_model(_model_name(service.id), service.form),
        evidence=evidence,
        facts=facts,
        subject=subject,
        decimal_paths=tuple(p for p, spec in paths.items() if spec.type == "decimal"),
        personal_paths={p: tuple(spec.kinds or ()) for p, spec in paths.items() if spec.personal},
        risk_factors=risk_factors,
        applicants=applicants,
        grant=grant,
    )
    rule_sets = sorted(
        (
            compile_rule_set(definition, parsed, rule_set_path, digest)
            for rule_set_path, parsed, digest in rule_set_files
        ),
        key=lambda rs: rs.effective_from,
    )
    if not rule_sets:
        raise RuleLoadError(str(folder / RULESETS_DIR), "(folder)", "no rule set")
    for earlier, later in itertools.pairwise(rule_sets):
        if earlier.effective_from == later.effective_from:
            raise RuleLoadError(later.path, "effectiveFrom", "another rule set starts that day")
    object.__setattr__(definition, "rule_sets", tuple(rule_sets))
    return definition


def _check_results(service: ServiceFile, file: str) -> None:
    """Each department once; an effect names one record: an evidence alias or a new source's."""
    seen: set[str] = set()
    for i, result in enumerate(service.results):
        where = f"results[{i}]"
        if result.department in seen:
            raise RuleLoadError(file, f"{where}.department", "this department is listed twice")
        seen.add(result.department)
        effect = result.effect
        if effect is None:
            continue
        if "APPROVED" not in result.outcomes:
            raise RuleLoadError(
                file, f"{where}.effect", "an effect needs `outcomes` to list APPROVED"
            )
        if (effect.evidence is None) == (effect.source is None):
            raise RuleLoadError(
                file, f"{where}.effect", "name either `evidence` (an alias) or `source`"
            )
        if effect.evidence is not None and effect.evidence not in service.evidence:
            raise RuleLoadError(
                file, f"{where}.effect.evidence", f"no evidence alias {effect.evidence!r}"
            )
        if effect.source == GRANT_SOURCE:
            raise RuleLoadError(file, f"{where}.effect.source", "the grants are the platform's")
        overlap = set(effect.dated) & set(effect.set)
        if overlap:
            raise RuleLoadError(
                file, f"{where}.effect.dated", f"set and dated both: {sorted(overlap)}"
            )


def _check_declarations(service: ServiceFile, file: str) -> None:
    """Every service says who may apply and what a grant is unique by; the platform's grants
    are declared by the loader alone."""
    if not service.applicants:
        raise RuleLoadError(
            file,
            "applicants",
            "declare who may submit for the subject: at least one way "
            "(capacity SELF | AGENT | LEGAL_PERSON | OPERATOR, and the identifier it reads)",
        )
    if service.grant is None:
        raise RuleLoadError(
            file, "grant", "declare what one grant is unique by (grant.uniqueBy, grant.title)"
        )
    if GRANT_ALIAS in service.evidence:
        raise RuleLoadError(
            file,
            f"evidence.{GRANT_ALIAS}",
            f"the alias {GRANT_ALIAS!r} is the platform's grants, declared by `grant:`",
        )
    _check_results(service, file)
    for alias, spec in service.evidence.items():
        if spec.source == GRANT_SOURCE:
            raise RuleLoadError(
                file,
                f"evidence.{alias}.source",
                f"{GRANT_SOURCE!r} is the platform's own: declare `grant:` instead",
            )
        for name, attribute in spec.attributes.items():
            unknown = [k for k in attribute.kinds or () if k not in identifiers.KINDS]
            if unknown:
                raise RuleLoadError(
                    file,
                    f"evidence.{alias}.attributes.{name}.kinds",
                    f"unknown identifier kind {unknown[0]!r}; known: {sorted(identifiers.KINDS)}",
                )


def _load_grant(service: ServiceFile, names: _Names, file: str) -> GrantDefinition | None:
    if service.grant is None:
        return None

    def app_only(path: str) -> str | None:
        if path.split(".")[0] != "app":
            return f"{path!r}: a grant is unique by values of the form (app.*)"
        return names(path)

    unique_by = tuple(
        _compile(text, app_only, file, f"grant.uniqueBy[{i}]")
        for i, text in enumerate(service.grant.unique_by)
    )
    return GrantDefinition(unique_by=unique_by, title=service.grant.title)


def _grant_evidence(grant: GrantDefinition) -> EvidenceDefinition:
    """`ev.grant`: the platform's grant for these unique-by values. No record is a fact (no
    grant held), never missing evidence."""
    return EvidenceDefinition(
        alias=GRANT_ALIAS,
        source=GRANT_SOURCE,
        title=grant.title,
        key=joined(grant.unique_by, GRANT_KEY_SEPARATOR),
        when=None,
        absent_is_missing=False,
        required_attributes=tuple(k for k, (_, required) in GRANT_ATTRIBUTES.items() if required),
        attribute_types={k: kind for k, (kind, _) in GRANT_ATTRIBUTES.items()},
        checks=tuple((k, kind, required) for k, (kind, required) in GRANT_ATTRIBUTES.items()),
    )


def _applicant_way(
    service: ServiceFile, way: Applicant, index: int, names: _Names, file: str
) -> ApplicantWay:
    where = f"applicants[{index}].identifier"
    compiled = _compile(way.identifier, names, file, where)
    path = compiled.simple_path
    one = "read one identifier: a form field (app.idNumber) or an evidence attribute"
    if path is None:
        raise RuleLoadError(file, where, one)
    kinds: tuple[str, ...]
    if path[0] == "app":
        spec = names.form.get(".".join(path[1:]))
        if spec is None or spec.type != "identifier":
            raise RuleLoadError(
                file, where, f"{compiled.text!r} is not a form field of type identifier"
            )
        kinds, sources = tuple(spec.kinds or ()), frozenset[str]()
    elif path[0] == "ev" and len(path) == 3 and path[1] in service.evidence:
        attribute = service.evidence[path[1]].attributes[path[2]]
        if not attribute.kinds or attribute.type != "string":
            raise RuleLoadError(
                file,
                where,
                f"{compiled.text!r}: give the attribute its identifier kinds "
                "(type: string, kinds: [cn.ric]) so it is normalised as the form is",
            )
        kinds, sources = tuple(attribute.kinds), frozenset({path[1]})
    else:
        raise RuleLoadError(file, where, one)
    capacity = Capacity(way.capacity)
    accepted = _CAPACITY_KINDS[capacity]
    if not set(kinds) & set(accepted):
        raise RuleLoadError(
            file,
            where,
            f"{capacity} needs an identifier of kind {' or '.join(accepted)}, "
            f"{compiled.text!r} is {', '.join(kinds)}",
        )
    return ApplicantWay(capacity=capacity, identifier=compiled, kinds=kinds, sources=sources)


def _no_evidence(names: _Names) -> Callable[[str], str | None]:
    """Risk factors read what a decision record holds of the application: form and facts."""

    def check(path: str) -> str | None:
        if path.split(".")[0] == "ev":
            return f"{path!r}: risk factors read the application and facts, not evidence"
        return names(path)

    return check


def _model_name(service_id: str) -> str:
    return "".join(part.title() for part in service_id.split("-")) + "Application"


def _load_facts(service: ServiceFile, file: str) -> dict[str, FactDefinition]:
    order = graphlib.TopologicalSorter(
        {
            name: {
                p.split(".")[1]
                for arg in spec.args
                for p in _quick_refs(arg)
                if p.startswith("fact.") and p.count(".") >= 1
            }
            for name, spec in service.facts.items()
        }
    )
    try:
        sequence = list(order.static_order())
    except graphlib.CycleError as exc:
        raise RuleLoadError(file, "facts", f"facts depend on each other: {exc.args[1]}") from None
    facts: dict[str, FactDefinition] = {}
    for name in sequence:
        spec = service.facts.get(name)
        if spec is None:
            raise RuleLoadError(file, "facts", f"unknown fact {name!r}")
        if spec.fn not in fact_functions.FUNCTIONS:
            raise RuleLoadError(
                file,
                f"facts.{name}",
                f"unknown function {spec.fn!r}; known: {sorted(fact_functions.FUNCTIONS)}",
            )
        names = _Names(service, None, set(facts))
        args = tuple(
            _compile(arg, names, file, f"facts.{name}.args[{i}]") for i, arg in enumerate(spec.args)
        )
        sources: set[str] = set()
        for arg in args:
            sources |= _sources(arg, facts)
        facts[name] = FactDefinition(
            name,
            spec.fn,
            fact_functions.FUNCTIONS[spec.fn],
            args,
            spec.title,
            frozenset(sources),
        )
    return facts


def _quick_refs(text: str) -> tuple[str, ...]:
    from miaopi.expressions import references

    return references(text)


def content_hash(service: ServiceFile, raw_rule_set: Any) -> str:
    """SHA-256 of everything that decides: the rule set, and the service's form (it shapes what
    `app.` reads), evidence, facts and subject."""
    content = {
        "ruleSet": raw_rule_set,
        "form": service.model_dump(mode="json", by_alias=True)["form"],
        "evidence": service.model_dump(mode="json", by_alias=True)["evidence"],
        "facts": service.model_dump(mode="json", by_alias=True)["facts"],
        "subject": service.subject,
    }
    if service.grant is not None:  # it keys `ev.grant`
        content["grant"] = service.model_dump(mode="json", by_alias=True)["grant"]
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_rule_set(service: ServiceDefinition, path: Path) -> RuleSet:
    raw = read_yaml(path)
    parsed: RuleSetFile = validate(RuleSetFile, raw, path)
    return compile_rule_set(service, parsed, str(path), content_hash(service.file, raw))


def compile_rule_set(
    service: ServiceDefinition,
    parsed: RuleSetFile,
    file: str,
    digest: str,
    version: str | None = None,
) -> RuleSet:
    """Check and compile a validated rule-set file whose content hash is `digest`; `version`
    labels a what-if candidate."""
    names = _Names(service.file, set(parsed.parameters), set(service.facts))
    seen: set[str] = set()
    for rule in parsed.rules:
        if rule.id in seen:
            raise RuleLoadError(file, f"rule {rule.id}", "rule id used twice")
        seen.add(rule.id)
    for name, parameter in parsed.parameters.items():
        starts = [v.from_ for v in parameter.values]
        if starts != sorted(set(starts)):
            raise RuleLoadError(file, f"parameters.{name}", "values must have increasing dates")
        for value in parameter.values:
            if isinstance(value.value, str) and _looks_numeric(value.value):
                raise RuleLoadError(
                    file,
                    f"parameters.{name}",
                    f"{value.value!r} is quoted: write numbers without quotes so rules compare "
                    "them as numbers",
                )
        if starts[0] > parsed.effective_from:
            raise RuleLoadError(
                file, f"parameters.{name}", "no value in force on the rule set's effectiveFrom"
            )
    schedules = {
        name: ParameterSchedule(name, tuple((v.from_, v.value) for v in p.values))
        for name, p in parsed.parameters.items()
    }
    tables = {name: _load_table(name, spec, names, file) for name, spec in parsed.tables.items()}
    names.tables = tables
    rules = []
    for rule in parsed.rules:
        where = f"rule {rule.id}"
        try:
            templates = rule_templates(
                {"title": rule.title, "reason": rule.reason, "remedy": rule.remedy}, schedules
            )
        except PlaceholderError as exc:
            raise RuleLoadError(file, where, str(exc)) from None
        when = _compile(rule.when, names, file, f"{where} when") if rule.when else None
        condition = _compile(rule.condition, names, file, f"{where} condition")
        when_sources = _sources(when, service.facts, tables) if when else frozenset()
        sources = _sources(condition, service.facts, tables) | when_sources
        paths = tuple(dict.fromkeys((when.paths if when else ()) + condition.paths))
        rules.append(
            CompiledRule(
                id=rule.id,
                title=rule.title,
                reason=rule.reason,
                remedy=rule.remedy,
                legal_basis=rule.legal_basis,
                on_fail=rule.on_fail,
                when=when,
                condition=condition,
                sources=sources,
                when_sources=when_sources,
                readers=tuple((p, getter(tuple(p.split(".")))) for p in paths),
                templates=templates,
            )
        )
    outputs = []
    for name, spec in parsed.outputs.items():
        where = f"outputs.{name}"
        if (spec.expression is None) == (spec.table is None):
            raise RuleLoadError(file, where, "give either an expression or a table")
        expression = _compile(spec.expression, names, file, where) if spec.expression else None
        table = tables.get(spec.table) if spec.table else None
        if spec.table and table is None:
            raise RuleLoadError(file, where, f"unknown table {spec.table!r}")
        if table is not None:
            column = spec.column or name
            if column not in table.rows[0].outputs:
                raise RuleLoadError(file, where, f"table {spec.table!r} has no output {column!r}")
            sources = frozenset().union(
                *(_sources(c.expression, service.facts) for c in table.columns)
            )
        else:
            assert expression is not None
            sources = _sources(expression, service.facts)
        outputs.append(
            CompiledOutput(
                name, spec.title, spec.type, expression, table, spec.column or name, sources
            )
        )
    # One ZEN call per decision: every rule's `when` and condition, then the outputs that are
    # expressions; each guarded by the presence of the evidence it reads, so a missing source
    # yields null for the rules that need it instead of failing the whole call.
    texts = []
    for compiled in rules:
        when_text = compiled.when.text if compiled.when else None
        texts.append(_guarded(when_text, compiled.when_sources) if when_text else "true")
        texts.append(_guarded(compiled.condition.text, compiled.sources))
    texts += [
        _guarded(output.expression.text, output.sources)
        for output in outputs
        if output.expression is not None
    ]
    batch = compile_batch(texts)
    return RuleSet(
        service_id=service.id,
        version=version or parsed.version,
        effective_from=parsed.effective_from,
        hash=digest,
        file=parsed,
        path=file,
        parameters=tuple(schedules.values()),
        rules=tuple(rules),
        outputs=tuple(outputs),
        notes=tuple(parsed.notes),
        batch=batch,
        tables=tables,
        rule_tables=tuple(
            tables[name]
            for name in dict.fromkeys(
                path.split(".")[1] for path in batch.paths if path.startswith("table.")
            )
        ),
    )


def _guarded(text: str, sources: frozenset[str]) -> str:
    if not sources:
        return text
    guard = " and ".join(f"{PRESENT}.{alias}" for alias in sorted(sources))
    return f"(({guard}) ? ({text}) : null)"


def _looks_numeric(text: str) -> bool:
    try:
        Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        return False
    return True


def _load_table(name: str, spec: Any, names: _Names, file: str) -> Table:
    where = f"tables.{name}"
    columns = []
    for column in spec.inputs:
        expression = _compile(column.expression, names, file, f"{where}.inputs.{column.name}")
        numeric = not isinstance(column.domain, list)
        try:
            domain = (
                parse_set(column.domain)
                if not numeric
                else (parse_interval(column.domain) if column.domain is not None else None)
            )
        except TableError as exc:
            raise RuleLoadError(file, f"{where}.inputs.{column.name}.domain", str(exc)) from None
        columns.append(Column(column.name, expression, numeric, domain))
    try:
        return build_table(
            name,
            spec.hit_policy,
            columns,
            {out.name: out.type for out in spec.outputs},
            spec.rows,
        )
    except TableError as exc:
        raise RuleLoadError(file, where, str(exc)) from None


def load_catalogue(root: Path) -> dict[str, ServiceDefinition]:
    """Every service folder under `root` (a folder holding service.yaml), by service id."""
    services = {}
    for folder in sorted(p.parent for p in root.glob(f"*/{SERVICE_FILE}")):
        service = load_service(folder)
        services[service.id] = service
    if not services:
        raise RuleLoadError(str(root), "(folder)", "no service definitions found")
    return services


def load_calendar(folder: Path, *, fictional: bool = False) -> Calendar:
    """The official calendar years in `folder` (`<year>.yaml` each, a State Council notice as
    data), checked as a whole: a file for the year it names, every day in that year, a holiday
    period in order, a make-up workday on a weekend and never a holiday. No folder, no years.
    A fictional calendar (a test's) is refused unless `fictional` is asked for."""
    years = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        raw = read_yaml(path)
        spec: CalendarFile = validate(CalendarFile, raw, path)
        if spec.notice.fictional and not fictional:
            raise RuleLoadError(str(path), "notice.fictional", "a fictional calendar")
        years.append(_official_year(spec, path))
    return Calendar.of(years)


def _official_year(spec: CalendarFile, path: Path) -> OfficialYear:
    file = str(path)
    if path.stem != str(spec.year):
        raise RuleLoadError(file, "year", f"the file of {spec.year} must be named {spec.year}.yaml")
    off: set[dt.date] = set()
    for i, period in enumerate(spec.holidays):
        where = f"holidays[{i}]"
        if period.last < period.first:
            raise RuleLoadError(file, where, "'to' is before 'from'")
        days = {
            period.first + dt.timedelta(days=n)
            for n in range((period.last - period.first).days + 1)
        }
        if any(day.year != spec.year for day in days):
            raise RuleLoadError(file, where, f"a holiday outside {spec.year}")
        if off & days:
            raise RuleLoadError(file, where, "overlaps another holiday")
        off |= days
    on: set[dt.date] = set()
    for i, workday in enumerate(spec.make_up_workdays):
        where = f"makeUpWorkdays[{i}]"
        if workday.date.year != spec.year:
            raise RuleLoadError(file, where, f"a make-up workday outside {spec.year}")
        if workday.date.weekday() < 5:
            raise RuleLoadError(file, where, "a make-up workday is a Saturday or a Sunday")
        if workday.date in off:
            raise RuleLoadError(file, where, "a make-up workday cannot be a holiday too")
        on.add(workday.date)
    return OfficialYear(spec.year, frozenset(off), frozenset(on), spec.notice.document_number)


__all__ = [
    "Form",
    "compile_rule_set",
    "load_calendar",
    "load_catalogue",
    "load_rule_set",
    "load_service",
    "read_yaml",
    "service_definition",
]
