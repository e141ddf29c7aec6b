"""What each department's source must deliver comes from the services' evidence declarations."""

from __future__ import annotations

import json

from miaopi.loader import load_catalogue
from miaopi.model import GRANT_SOURCE
from miaopi.sources import check_line, source_schemas
from miaopi_rules import SERVICES_DIR

SERVICES = load_catalogue(SERVICES_DIR)
SCHEMAS = source_schemas(SERVICES)


def test_every_declared_source_is_known_once_and_the_platforms_grants_are_not_a_source() -> None:
    # Given every evidence declaration of the published services
    declared = {e.source for s in SERVICES.values() for e in s.file.evidence.values()}
    # Then each source they read is a source the loader accepts, and no other
    assert set(SCHEMAS) == declared - {GRANT_SOURCE}
    # And a register keyed by ID number takes ID numbers, normalised as the form does
    assert SCHEMAS["population-register"].key_kinds == ("cn.ric",)
    checked = check_line(
        SCHEMAS["population-register"],
        json.dumps({"key": "11010119300101001８", "version": 1, "record": {"alive": True}}),
    )
    assert checked.accepted and checked.key == "110101193001010018"


def test_a_record_keeps_what_the_rules_read_and_refuses_a_wrong_type_without_its_value() -> None:
    # Given a vehicle insurance line with an extra attribute and a date that is no date
    schema = SCHEMAS["vehicle-insurance"]
    text = json.dumps(
        {
            "key": "1M8GDM9AXKP042788",
            "version": 3,
            "record": {"validUntil": "soon", "passengerLiability": True, "agent": "x"},
        }
    )
    # When it is checked
    checked = check_line(schema, text)
    # Then it is refused for its date, named by field, its value nowhere in the reason
    assert not checked.accepted
    assert [(p.field, p.reason) for p in checked.problems] == [
        ("record.validUntil", "expected a date")
    ]
    assert checked.version == 3 and checked.record is not None and "agent" not in checked.record


def test_a_line_without_a_version_or_with_unknown_fields_is_refused() -> None:
    # Given lines missing their version, or carrying a field the format does not have
    schema = SCHEMAS["residence-permit"]
    record = {"validUntil": "2030-01-01"}
    # Then each is refused, by field
    no_version = check_line(schema, json.dumps({"key": "110101193001010018", "record": record}))
    extra = check_line(
        schema,
        json.dumps({"key": "110101193001010018", "version": 1, "record": record, "name": "x"}),
    )
    assert [p.field for p in no_version.problems] == ["version"]
    assert [(p.field, p.reason) for p in extra.problems] == [("name", "unknown field")]
