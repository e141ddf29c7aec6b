"""Identifiers are checked with their real check digits; errors never echo the value."""

from __future__ import annotations

import pytest
from miaopi.identifiers import IdentifierInvalid, mask, normalize

VALID = {
    "cn.ric": "440306194103150218",
    "cn.uscc": "91110000600037341L",
    "bankcard": "6222020200000000014",
    "vin": "LSGPC52U6AF102554",
}


@pytest.mark.parametrize("kind,value", sorted(VALID.items()))
def test_valid_identifiers_normalize(kind: str, value: str) -> None:
    assert normalize((kind,), value.lower() if kind != "bankcard" else value) == value


@pytest.mark.parametrize(
    "kind,value",
    [
        ("cn.ric", "440306194103150217"),
        ("cn.uscc", "91110000600037341M"),
        ("bankcard", "6222020200000000015"),
        ("vin", "LSGPC52U7AF102554"),
    ],
)
def test_a_wrong_check_digit_is_named_and_not_echoed(kind: str, value: str) -> None:
    with pytest.raises(IdentifierInvalid) as error:
        normalize((kind,), value)
    assert error.value.code == "invalid_check_digit"
    assert value not in str(error.value)


def test_elders_ids_with_district_codes_newer_than_their_birth_are_valid() -> None:
    # Bao'an's code 440306 dates from 1993; elders born in 1941 carry it on their cards.
    assert normalize(("cn.ric",), "440306194103150218") == "440306194103150218"


def test_an_impossible_birth_date_is_rejected() -> None:
    from stdnum.cn import ric

    first = "44030619411331021"  # month 13
    with pytest.raises(IdentifierInvalid) as error:
        normalize(("cn.ric",), first + ric.calc_check_digit(first + "0"))
    assert error.value.code == "invalid_component"


def test_either_kind_is_accepted_in_order() -> None:
    assert normalize(("cn.ric", "cn.uscc"), "91110000600037341L") == "91110000600037341L"


def test_mobile_numbers_lose_the_country_code() -> None:
    assert normalize(("cn.mobile",), "+86 138-0013-8000") == "13800138000"


def test_masking_reveals_only_the_ends() -> None:
    assert mask("cn.ric", "440306194103150218") == "440*************18"
    assert mask("bankcard", "6222020200000000014") == "6222***********0014"
