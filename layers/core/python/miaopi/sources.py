"""What each department's source must deliver, derived from the services' evidence declarations.

The rules data says which sources exist (`evidence.<alias>.source`), what a record's key is (the
form field its `key` reads, with that field's identifier kinds) and which attributes the rules
read, of which type. A delivered line is checked against exactly that, here and nowhere else, so
a source added to a service's data is a source the loader accepts, without a second list.

A line is one JSON object: `{"key": ..., "version": ..., "record": {...}}`. The version is the
source's own order of changes (a sequence number or epoch milliseconds): a newer one replaces
the stored record, the same one again changes nothing. Attributes no service declares are
dropped (the platform keeps only what a rule reads). Problems name the field and what it
expects, never the value: a line of a population register is personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from miaopi import identifiers
from miaopi.engine import conforms
from miaopi.forms import form_paths
from miaopi.model import GRANT_SOURCE, ServiceDefinition

#: the fields of a delivered line
LINE_FIELDS = ("key", "version", "record")


@dataclass(frozen=True, slots=True)
class SourceSchema:
    """One source as the services read it."""

    name: str
    #: identifier kinds a key may be of (normalised as the form normalises them); empty: any text
    key_kinds: tuple[str, ...]
    #: attribute -> the types its declarations give it (a value must have each)
    types: dict[str, tuple[str, ...]]
    #: attributes every declaration of the source requires
    required: frozenset[str]
    #: the services that read it, for people
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a line was refused: the field (`record.alive`, `key`, `(line)`) and the reason."""

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Checked:
    """A line as checked: its key and version when readable (a refused line with both still
    tells which record it meant), the record to store, and the problems (none: accepted)."""

    key: str | None = None
    version: int | None = None
    record: dict[str, Any] | None = None
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def accepted(self) -> bool:
        return not self.problems and self.record is not None


def source_schemas(services: Mapping[str, ServiceDefinition]) -> dict[str, SourceSchema]:
    """Every source some service reads (the platform's own grants excepted), by name."""
    kinds: dict[str, list[str]] = {}
    any_text: set[str] = set()
    types: dict[str, dict[str, list[str]]] = {}
    required: dict[str, set[str]] = {}
    readers: dict[str, list[str]] = {}
    for service in services.values():
        fields = form_paths(service.file.form)
        for alias, spec in service.file.evidence.items():
            name = spec.source
            if name == GRANT_SOURCE:
                continue
            readers.setdefault(name, [])
            if service.id not in readers[name]:
                readers[name].append(service.id)
            path = service.evidence[alias].key.simple_path
            form_field = fields.get(path[1:]) if path and path[0] == "app" else None
            if form_field is not None and form_field.type == "identifier" and form_field.kinds:
                known = kinds.setdefault(name, [])
                known += [k for k in form_field.kinds if k not in known]
            else:
                any_text.add(name)
            of_source = types.setdefault(name, {})
            for attribute, declared in spec.attributes.items():
                listed = of_source.setdefault(attribute, [])
                if declared.type not in listed:
                    listed.append(declared.type)
            needed = {a for a, declared in spec.attributes.items() if declared.required}
            required[name] = required[name] & needed if name in required else needed
    return {
        name: SourceSchema(
            name=name,
            key_kinds=() if name in any_text else tuple(kinds.get(name, ())),
            types={a: tuple(t) for a, t in sorted(types[name].items())},
            required=frozenset(required[name]),
            services=tuple(readers[name]),
        )
        for name in sorted(readers)
    }


def check_line(schema: SourceSchema, text: str) -> Checked:
    """One delivered line, checked against what the services read of its source."""
    try:
        line = json.loads(text)
    except ValueError:
        return Checked(problems=(Problem("(line)", "not JSON"),))
    if not isinstance(line, dict):
        return Checked(problems=(Problem("(line)", "not a JSON object"),))
    problems = [
        Problem(str(name)[:64], "unknown field") for name in line if name not in LINE_FIELDS
    ]
    key = _key(schema, line.get("key"), problems)
    version = line.get("version")
    if version.__class__ is not int or version < 0:
        problems.append(Problem("version", "expected a whole number of at least 0"))
        version = None
    record = line.get("record")
    if not isinstance(record, dict):
        problems.append(Problem("record", "expected an object"))
        return Checked(key, version, None, tuple(problems))
    kept: dict[str, Any] = {}
    for attribute, declared in schema.types.items():
        value = record.get(attribute)
        if value is None:
            if attribute in schema.required:
                problems.append(Problem(f"record.{attribute}", "required"))
            continue
        wrong = next((t for t in declared if not conforms(t, value)), None)
        if wrong is not None:
            problems.append(Problem(f"record.{attribute}", f"expected a {wrong}"))
            continue
        kept[attribute] = value
    return Checked(key, version, kept, tuple(problems))


def _key(schema: SourceSchema, value: Any, problems: list[Problem]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem("key", "expected text"))
        return None
    if not schema.key_kinds:
        return value
    try:
        return identifiers.normalize(schema.key_kinds, value)
    except identifiers.IdentifierInvalid:
        problems.append(
            Problem("key", f"expected an identifier of kind {'|'.join(schema.key_kinds)}")
        )
        return None
