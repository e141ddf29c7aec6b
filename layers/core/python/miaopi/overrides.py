"""What-if candidates written as parameter overrides on top of a published rule set.

Raising a minimum age for a what-if should not need a copy of the whole rule set (which then
drifts from the published one). An overrides file names the service, the base (the rule set in
force on a day, or a version) and the parameters to change; the candidate is the base with those
values, checked and compiled exactly like a published rule set, under its own version label and
content hash. Pure: text in, RuleSet out, RuleLoadError naming the file, the key and the reason.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from miaopi.errors import RuleLoadError
from miaopi.files import OverridesFile, ParameterSetting, ParameterValue
from miaopi.loader import compile_rule_set, content_hash, parse_yaml, validate
from miaopi.model import RuleSet, ServiceDefinition
from miaopi.texts import show

#: the key only an overrides file has (a rule-set file forbids it)
BASE_KEY = "base"
OVERRIDES_FILE = "overrides.yaml"
_DATED = "a list of dated values [{from: YYYY-MM-DD, value: ...}]"


def is_overrides(raw: Any) -> bool:
    return isinstance(raw, dict) and BASE_KEY in raw


def candidate_from_text(
    service: ServiceDefinition, text: str, file: str = OVERRIDES_FILE
) -> RuleSet | None:
    """The candidate an overrides file describes, or None when `text` is not an overrides file
    (it is a full rule set, loaded as one)."""
    raw = parse_yaml(text, file)
    if not is_overrides(raw):
        return None
    settings = raw.get("parameters")
    for name, setting in settings.items() if isinstance(settings, dict) else ():
        if isinstance(setting, dict):  # a common slip: {value: 85} without the list of dates
            raise RuleLoadError(file, f"parameters.{name}", f"write a value, or {_DATED}")
    overrides: OverridesFile = validate(OverridesFile, raw, file)
    return apply_overrides(service, overrides, file)


def apply_overrides(
    service: ServiceDefinition, overrides: OverridesFile, file: str = OVERRIDES_FILE
) -> RuleSet:
    if overrides.service != service.id:
        raise RuleLoadError(
            file, "service", f"the overrides are for {overrides.service!r}, not {service.id!r}"
        )
    base = _base(service, overrides, file)
    parameters = dict(base.file.parameters)
    for name, setting in overrides.parameters.items():
        where = f"parameters.{name}"
        parameter = parameters.get(name)
        if parameter is None:
            raise RuleLoadError(
                file,
                where,
                f"rule set {base.version} has no parameter {name!r}; known: {sorted(parameters)}",
            )
        old = parameter.values
        if isinstance(setting, list) and all(isinstance(v, ParameterValue) for v in setting):
            dated: list[ParameterValue] = [v for v in setting if isinstance(v, ParameterValue)]
            if not dated:
                raise RuleLoadError(file, where, f"write a value, or {_DATED}")
            values = [v for v in old if v.from_ < dated[0].from_] + dated
        else:
            value: Any = setting
            values = [ParameterValue.model_validate({"from": old[0].from_, "value": value})]
        for value in values:
            _same_kind(value.value, old[0].value, file, where)
        parameters[name] = parameter.model_copy(update={"values": values})
    if parameters == base.file.parameters:
        raise RuleLoadError(file, "parameters", f"the overrides change nothing in {base.version}")
    parsed = base.file.model_copy(update={"parameters": parameters})
    digest = content_hash(service.file, parsed.model_dump(mode="json", by_alias=True))
    return compile_rule_set(
        service, parsed, file, digest, version=f"{base.version}+{overrides.label}"
    )


def _base(service: ServiceDefinition, overrides: OverridesFile, file: str) -> RuleSet:
    choice = overrides.base
    if (choice.version is None) == (choice.in_force_on is None):
        raise RuleLoadError(file, "base", "give either inForceOn (a date) or version")
    if choice.version is not None:
        for rule_set in service.rule_sets:
            if rule_set.version == choice.version:
                return rule_set
        known = [r.version for r in service.rule_sets]
        raise RuleLoadError(
            file, "base.version", f"{service.id} has no rule set {choice.version}; known: {known}"
        )
    assert choice.in_force_on is not None
    in_force = service.rule_set_on(choice.in_force_on)
    if in_force is None:
        on = choice.in_force_on
        raise RuleLoadError(file, "base.inForceOn", f"no rule set of {service.id} in force on {on}")
    return in_force


def _kind(value: ParameterSetting) -> str:
    if isinstance(value, bool):
        return "a yes/no"
    if isinstance(value, Decimal):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "a word"


def _quoted_number(value: ParameterSetting) -> bool:
    try:
        return isinstance(value, str) and Decimal(value).is_finite()
    except InvalidOperation:
        return False


def _same_kind(value: ParameterSetting, base: ParameterSetting, file: str, where: str) -> None:
    """An override keeps the parameter's kind: a rule comparing numbers must not get a word."""
    if _kind(value) != _kind(base):
        hint = " (write numbers without quotes)" if _quoted_number(value) else ""
        raise RuleLoadError(
            file,
            where,
            f"{show(value, 'en')!r} is {_kind(value)}; the base's value is {_kind(base)}{hint}",
        )


__all__ = ["apply_overrides", "candidate_from_text", "is_overrides"]
