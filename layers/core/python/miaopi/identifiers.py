"""Identifier kinds with their real check digits, normalisation and masking.

Check digits come from well-kept libraries (python-stdnum for the resident ID number, the unified
social credit code and Luhn; vininfo for the VIN check digit of GB 16735 / ISO 3779). Errors name
the kind and the problem, never the value: identifiers are personal data.

Every kind takes full-width characters as their ASCII forms: a Chinese input method in full-width
mode types "１３８" for "138", and it is the same number. Folding them (rather than refusing them)
stores one form, so the keyed hash, the credit list and other departments' records match however
the number was typed. Every other character outside ASCII is refused by each kind's format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError


class IdentifierInvalid(ValueError):
    """An identifier failed validation. `code` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class IdentifierKind:
    name: str
    title: str
    normalize: Callable[[str], str]
    mask: Callable[[str], str]
    #: JSON Schema pattern of the normalized form, published with the application form.
    pattern: str
    #: what a valid value is, check digit included: the field's description in the published
    #: form (GET /services/{id} and the OpenAPI document), where a client reads it
    rule: str = ""


def _stdnum(module: object, title: str) -> Callable[[str], str]:
    validate: Callable[[str], str] = module.validate  # type: ignore[attr-defined]

    def normalize(value: str) -> str:
        try:
            return validate(value.strip().upper())
        except InvalidChecksum as exc:
            raise IdentifierInvalid(
                "invalid_check_digit", f"the check digit of the {title} is wrong"
            ) from exc
        except InvalidComponent as exc:
            raise IdentifierInvalid(
                "invalid_component", f"expected a {title}: a part of it is not valid"
            ) from exc
        except ValidationError as exc:
            raise IdentifierInvalid(
                "invalid_format", f"expected a {title}: the format is not valid"
            ) from exc

    return normalize


#: full-width ASCII (U+FF01-U+FF5E) and the ideographic space, to their ASCII forms
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def half_width(value: str) -> str:
    """`value` with full-width digits, letters and signs as ASCII ("１３８" -> "138")."""
    return value.translate(_HALF_WIDTH)


def _resident_id(value: str) -> str:
    """Length, digits, check digit and birth date with stdnum's own functions.

    Not stdnum's `validate`: it also requires the area code to have existed in the birth year,
    but area codes are assigned when the card is issued, so it rejects the real numbers of, for
    example, every Bao'an elder born before the district was created (440306, 1993).
    """
    number = ric.compact(value.strip().upper())
    if len(number) != 18:
        raise IdentifierInvalid("invalid_length", "expected a resident ID number of 18 characters")
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        raise IdentifierInvalid(
            "invalid_format", "expected a resident ID number: 17 digits and a digit or X"
        )
    if number[-1] != ric.calc_check_digit(number):
        raise IdentifierInvalid(
            "invalid_check_digit", "the check digit of the resident ID number is wrong"
        )
    try:
        ric.get_birth_date(number)
    except ValidationError as exc:
        raise IdentifierInvalid(
            "invalid_component", "the birth date in the resident ID number does not exist"
        ) from exc
    return number


def _bank_card(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"[0-9]{12,19}", digits):
        raise IdentifierInvalid("invalid_format", "expected a bank card number of 12 to 19 digits")
    if not luhn.is_valid(digits):
        raise IdentifierInvalid(
            "invalid_check_digit", "the check digit of the bank card number is wrong"
        )
    return digits


def _mobile(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    digits = digits.removeprefix("+86")
    if not re.fullmatch(r"1[3-9][0-9]{9}", digits):
        raise IdentifierInvalid(
            "invalid_format", "expected a mobile phone number: 11 digits starting 13-19"
        )
    return digits


def _vin(value: str) -> str:
    # imported on first use: only the vehicle permit needs it, every function would pay for it
    from vininfo import Vin
    from vininfo.exceptions import ValidationError as VinValidationError

    number = value.strip().upper()
    if not re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", number):
        raise IdentifierInvalid("invalid_format", "expected a VIN: 17 characters without I, O, Q")
    try:
        valid = Vin(number).verify_checksum(check_year=False)
    except VinValidationError as exc:
        raise IdentifierInvalid(
            "invalid_format", "expected a VIN: the format is not valid"
        ) from exc
    if not valid:
        raise IdentifierInvalid("invalid_check_digit", "the check digit of the VIN is wrong")
    return number


_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][A-HJ-NP-Z0-9]{5,6}"
)


def _plate(value: str) -> str:
    plate = value.strip().upper().replace(" ", "").replace("·", "")
    if not _PLATE.fullmatch(plate):
        raise IdentifierInvalid("invalid_format", "expected a mainland plate number")
    return plate


def _keep(head: int, tail: int) -> Callable[[str], str]:
    def mask(value: str) -> str:
        if len(value) <= head + tail:
            return "*" * len(value)
        return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]

    return mask


KINDS: dict[str, IdentifierKind] = {
    kind.name: kind
    for kind in (
        IdentifierKind(
            "cn.ric",
            "resident identity card number",
            _resident_id,
            _keep(3, 2),
            r"^\d{17}[\dX]$",
            rule="Resident identity card number (GB 11643-1999): 18 characters, 17 digits then a "
            "check character (ISO 7064 MOD 11-2 over the 17 digits: 0-9 or X); digits 7-14 are a "
            "real birth date YYYYMMDD. Spaces are ignored and a lower-case x reads as X.",
        ),
        IdentifierKind(
            "cn.uscc",
            "unified social credit code",
            _stdnum(uscc, "unified social credit code"),
            _keep(4, 2),
            r"^[0-9A-HJ-NPQRTUWXY]{18}$",
            rule="Unified social credit code (GB 32100-2015): 18 characters, the first 8 digits, "
            "the rest digits or letters without I, O, S, V, Z; the 18th is a check character "
            "(weighted MOD 31 over the first 17). Spaces are ignored, letters read upper-case.",
        ),
        IdentifierKind(
            "bankcard",
            "bank card number",
            _bank_card,
            _keep(4, 4),
            r"^\d{12,19}$",
            rule="Bank card number: 12 to 19 digits, the last a Luhn check digit "
            "(ISO/IEC 7812-1). Spaces and hyphens are ignored.",
        ),
        IdentifierKind(
            "cn.mobile",
            "mobile phone number",
            _mobile,
            _keep(3, 4),
            r"^1[3-9]\d{9}$",
            rule="Mainland mobile phone number: 11 digits starting 13-19, optionally after +86 "
            "(no check digit). Spaces and hyphens are ignored.",
        ),
        IdentifierKind(
            "vin",
            "vehicle identification number",
            _vin,
            _keep(3, 4),
            r"^[A-HJ-NPR-Z0-9]{17}$",
            rule="Vehicle identification number (GB 16735 / ISO 3779): 17 letters or digits "
            "without I, O, Q; the 9th is a check character (weighted MOD 11, 10 written X).",
        ),
        IdentifierKind(
            "cn.plate",
            "vehicle plate number",
            _plate,
            _keep(2, 2),
            _PLATE.pattern,
            rule="Mainland plate number: a province character, a letter, then 5 letters or "
            "digits (6 for new-energy vehicles) without I and O (no check digit). Spaces and "
            "the separator · are ignored.",
        ),
    )
}


def normalize(kinds: tuple[str, ...], value: str) -> str:
    """Normalize `value` as the first of `kinds` it is valid for; raise the first kind's error.
    Full-width characters count as their ASCII forms, for every kind."""
    value = half_width(value)
    first: IdentifierInvalid | None = None
    for name in kinds:
        try:
            return KINDS[name].normalize(value)
        except IdentifierInvalid as exc:
            first = first or exc
    assert first is not None
    raise first


def mask(kind: str, value: str) -> str:
    """A display form that reveals only a few characters (for responses and audit views)."""
    return KINDS[kind].mask(value)
