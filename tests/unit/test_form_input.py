"""Application forms and identifiers take what people type: errors in the API's words that name
the field and what it expects, text without control or bidi characters, dates written as dates,
and identifiers the same in full-width as in ASCII, for every kind."""

from __future__ import annotations

from typing import Any

import pytest
from miaopi.cases import all_cases
from miaopi.errors import ApplicationInvalid
from miaopi.field_errors import explain, field_name
from miaopi.forms import normalize
from miaopi.identifiers import IdentifierInvalid
from miaopi.identifiers import normalize as identifier
from miaopi.inputs import printable
from miaopi.loader import load_catalogue
from miaopi_rules import SERVICES_DIR

SERVICES = load_catalogue(SERVICES_DIR)
#: the first case of each service is its clean approval
CLEAN = {c.service_id: c.application for c in reversed(list(all_cases(SERVICES, SERVICES_DIR)))}
_FULL_WIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}


def errors_of(service_id: str, changes: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(ApplicationInvalid) as invalid:
        normalize(SERVICES[service_id].form_model, {**CLEAN[service_id], **changes})
    return [(e.field, e.code, e.message) for e in invalid.value.errors]


@pytest.mark.parametrize("sent", [1_719_792_000, 1_719_792_001, 20240701, True, "2024-02-30"])
def test_a_date_that_is_not_a_written_date_says_what_the_field_takes(sent: object) -> None:
    # Given a graduation date sent as a Unix time (midnight or not), a number, a boolean, or
    # a day that does not exist
    # When the form is validated
    [(field, _code, message)] = errors_of("graduate-hukou", {"graduationDate": sent})
    # Then the error names the field and the format, never the value
    assert field == "graduationDate"
    assert message == "graduationDate: expected a date as YYYY-MM-DD"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "林" * 51}, "name: expected at most 50 characters"),
        ({"name": "   "}, "name: expected at least 1 character(s)"),
        ({"district": "SHANGHAI"}, "district: expected one of 'FUTIAN', 'LUOHU', 'YANTIAN'"),
        ({"idNumber": None}, "idNumber: expected text"),
        ({"agent": "my son"}, "agent: expected an object"),
        ({"agent": {"relation": "CHILD"}}, "agent.name: required"),
        ({"idNumber": "440306194103150217"}, "idNumber: the check digit of the resident ID"),
        ({"phone": "12345"}, "phone: expected a mobile phone number: 11 digits starting 13-19"),
    ],
)
def test_each_error_names_the_field_and_what_it_takes(
    changes: dict[str, Any], expected: str
) -> None:
    # Given an elder's application with one field wrong
    # When it is validated
    messages = [message for _f, _c, message in errors_of("elderly-allowance", changes)]
    # Then the first error says, in the API's words, which field and what it takes
    assert messages[0].startswith(expected)
    for value in changes.values():
        if isinstance(value, str) and value.strip():
            assert value not in " ".join(messages)


def test_a_key_that_is_not_a_field_name_is_not_echoed() -> None:
    # Given an application with an ID number as a key
    number = CLEAN["elderly-allowance"]["idNumber"]
    # When it is validated
    errors = errors_of("elderly-allowance", {number: "x"})
    # Then it is an unknown field, unnamed
    assert errors == [
        ("(unknown field)", "extra_forbidden", "(unknown field): not an accepted field")
    ]


@pytest.mark.parametrize("character", ["\u0000", "\u001b", "\u202e", "\u2067", "\u200b", "\ufeff"])
def test_names_refuse_control_bidi_and_invisible_characters(character: str) -> None:
    # Given an elder's name holding a control or format character
    # When the form is validated
    [(field, code, message)] = errors_of("elderly-allowance", {"name": f"林{character}兰秀"})
    # Then the name is refused, naming the field
    assert (field, code) == ("name", "unprintable_character")
    assert message.startswith("name: ")


def test_names_keep_every_visible_character() -> None:
    # Given names with a middle dot, a rare character and an ideographic space inside
    for name in ("阿依古丽·买买提", "王𠈌", "林\u3000兰秀", "\ue000林"):
        application = {**CLEAN["elderly-allowance"], "name": name}
        # Then each is taken as typed
        assert normalize(SERVICES["elderly-allowance"].form_model, application)["name"] == name


def test_multi_line_text_keeps_its_lines_and_tabs_only() -> None:
    assert printable("第一行\n\t第二行\r\n", multi_line=True)
    assert not printable("第一行\n第二行")
    assert not printable("第一行\n\u202e第二行", multi_line=True)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("cn.ric", "440306194103150218"),
        ("cn.ric", "11010519491231002X"),
        ("cn.uscc", "91110000600037341L"),
        ("bankcard", "6222020200000000014"),
        ("cn.mobile", "+86 138-0013-8000"),
        ("vin", "LSGPC52U6AF102554"),
        ("cn.plate", "粤B12345"),
    ],
)
def test_every_identifier_kind_takes_full_width_as_ascii(kind: str, value: str) -> None:
    # Given an identifier typed in full-width (an input method's full-width mode)
    wide = value.translate(_FULL_WIDTH).replace(" ", "\u3000")
    assert wide != value
    # When it is normalized
    # Then it is the same identifier as typed in ASCII
    assert identifier((kind,), wide) == identifier((kind,), value)
    assert not any("\uff01" <= c <= "\uff5e" for c in identifier((kind,), wide))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("cn.ric", "440306194103150218"),
        ("bankcard", "6222020200000000014"),
        ("cn.mobile", "13800138000"),
    ],
)
def test_digits_of_other_scripts_are_refused_by_every_kind(kind: str, value: str) -> None:
    # Given an identifier written with Arabic-Indic digits (not full-width: not folded)
    other = value.translate({code: code - 0x30 + 0x0660 for code in range(0x30, 0x3A)})
    # Then it is not valid, whatever the kind
    with pytest.raises(IdentifierInvalid) as error:
        identifier((kind,), other)
    assert other not in str(error.value)


def test_field_names_are_the_clients_and_bounds_come_from_the_rule() -> None:
    assert field_name(("agent", "idNumber")) == "agent.idNumber"
    assert field_name(("reasonCodes", 3)) == "reasonCodes.3"
    assert field_name(()) == "(body)"
    assert (
        explain({"type": "less_than_equal", "ctx": {"le": 100}})
        == "expected a number of at most 100"
    )
    assert explain({"type": "value_error", "msg": "Value error, 4403061941 is bad"}) == "not valid"
