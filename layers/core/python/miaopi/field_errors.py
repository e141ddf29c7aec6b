"""Validation errors in the API's words: which field, and what it expects.

pydantic's messages are written for Python programmers ("Datetimes provided to dates should have
zero time - e.g. be exact dates" for a date sent as a number); a person filling in a form needs
the field as they sent it and what it takes: "graduationDate: expected a date as YYYY-MM-DD".
Application forms and every request body and parameter of the API report their errors through
here. Messages never hold the submitted value (it may be personal data), and a key that is not a
plain field name (an unknown key can be anything, an ID number too) is not echoed either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from miaopi.errors import FieldError

#: a field name as the API spells them (camelCase, or a header's Word-Word); list positions too
_NAME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_-]{0,63}|[0-9]{1,6})$")
UNKNOWN_FIELD = "(unknown field)"

_DATE = "a date as YYYY-MM-DD"
_DATETIME = "a date and time as YYYY-MM-DDThh:mm:ss with a UTC offset"
_WHOLE = "a whole number"
_DECIMAL = 'a decimal number, e.g. "1234.50"'
_NUMBER = "a number"
_BOOLEAN = "true or false"
_TEXT = "text"
_OBJECT = "an object"
_LIST = "a list"

#: pydantic's error type -> what the field expects (types whose context adds a bound: below)
_EXPECTED: dict[str, str] = {
    **dict.fromkeys(
        (
            "date_type",
            "date_parsing",
            "date_from_datetime_parsing",
            "date_from_datetime_inexact",
            "date_future",
            "date_past",
        ),
        _DATE,
    ),
    **dict.fromkeys(
        (
            "datetime_type",
            "datetime_parsing",
            "datetime_from_date_parsing",
            "datetime_object_invalid",
            "timezone_aware",
        ),
        _DATETIME,
    ),
    **dict.fromkeys(
        ("int_type", "int_parsing", "int_from_float", "int_parsing_size"),
        _WHOLE,
    ),
    **dict.fromkeys(("decimal_type", "decimal_parsing", "decimal_finite_number"), _DECIMAL),
    **dict.fromkeys(("float_type", "float_parsing", "finite_number"), _NUMBER),
    **dict.fromkeys(("bool_type", "bool_parsing"), _BOOLEAN),
    **dict.fromkeys(("string_type", "string_sub_type"), _TEXT),
    "string_unicode": "text in valid Unicode (no unpaired surrogates)",
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), _OBJECT),
    **dict.fromkeys(("list_type", "tuple_type", "set_type", "iterable_type"), _LIST),
}

#: pydantic's error type -> what the field expects, from the error's context (the bound)
_BOUNDED: dict[str, str] = {
    "string_too_short": "at least {min_length} character(s)",
    "string_too_long": "at most {max_length} characters",
    "string_pattern_mismatch": "text matching {pattern}",
    "too_short": "at least {min_length} item(s)",
    "too_long": "at most {max_length} items",
    "greater_than": "a number greater than {gt}",
    "greater_than_equal": "a number of at least {ge}",
    "less_than": "a number less than {lt}",
    "less_than_equal": "a number of at most {le}",
    "multiple_of": "a multiple of {multiple_of}",
    "decimal_max_places": "at most {decimal_places} decimal places",
    "decimal_max_digits": "at most {max_digits} digits",
    "decimal_whole_digits": "at most {whole_digits} digits before the decimal point",
    "literal_error": "one of {expected}",
    "enum": "one of {expected}",
}

#: errors whose words are pydantic's own or a custom validator's free text: never shown
_OPAQUE = frozenset({"value_error", "assertion_error"})


def field_name(loc: Sequence[int | str], root: str = "(body)") -> str:
    """The field's path as the client wrote it, e.g. `agent.idNumber` or `reasonCodes.0`."""
    parts = [str(p) if _NAME.fullmatch(str(p)) else UNKNOWN_FIELD for p in loc]
    return ".".join(parts) or root


def explain(error: Mapping[str, Any]) -> str:
    """What is wrong with the field, or what it expects (without its name or value)."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "not an accepted field"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}"
    if kind in _BOUNDED:
        try:
            return "expected " + _BOUNDED[kind].format(**{k: str(v) for k, v in context.items()})
        except KeyError:
            return "not valid"
    if kind in _OPAQUE or not error.get("msg"):
        return "not valid"
    # the rest: the platform's and the core's own checks (identifiers, text), already in our
    # words; and pydantic's other messages, which describe the rule, never the value
    return str(error["msg"])


def field_error(name: str, error: Mapping[str, Any]) -> FieldError:
    """One entry: the field, a machine-readable code (pydantic's or ours) and
    `field: what is wrong`."""
    return FieldError(name, str(error.get("type") or "invalid"), f"{name}: {explain(error)}")


def field_errors(errors: Iterable[Mapping[str, Any]], root: str = "(body)") -> list[FieldError]:
    """One entry per error of a validated object (a form, a request body)."""
    return [field_error(field_name(tuple(e.get("loc", ())), root), e) for e in errors]
