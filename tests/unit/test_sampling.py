"""Spot-check sampling (双随机): reproducible from the recorded seed, at the configured rate."""

from __future__ import annotations

import math
from typing import Any

import pytest
from miaopi_platform.catalogue.services import find
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.supervision.items import draw_value, spot_check_draw

HASHER = PiiHasher(b"test-key-for-sampling")
APPROVALS = 4000


def approval(n: int, age: int = 85, investment: str = "6000000.00") -> dict[str, Any]:
    return {
        "decisionId": f"DEC{n:021d}",
        "applicationDate": "2026-11-27",
        "application": {"idNumber": "440306194103150218", "totalInvestment": investment},
        "facts": {"age": age},
    }


def seed(n: int) -> str:
    return HASHER.derive("spot-check", f"DEC{n:021d}")


def within(count: int, n: int, rate: float, sigmas: float = 4.0) -> bool:
    """A binomial count within `sigmas` standard deviations of n * rate."""
    return abs(count - n * rate) <= sigmas * math.sqrt(n * rate * (1 - rate))


def test_a_draw_is_reproducible_from_its_recorded_seed() -> None:
    # Given a draw made for an approval and recorded in its supervision record
    recorded = spot_check_draw(find("elderly-allowance"), approval(7), seed(7)).as_record(0.05)
    # When an auditor recomputes it from the recorded seed alone
    again = draw_value(recorded["seed"])
    # Then it is the same number, and so the same sampling decision
    assert again == recorded["draw"]
    assert (again < recorded["rate"]) == recorded["sampled"]


@pytest.mark.parametrize(
    ("service_id", "kwargs", "rate"),
    [
        ("elderly-allowance", {}, 0.05),  # the service's base rate
        ("elderly-allowance", {"age": 101}, 0.5),  # the centenarian risk factor
        ("ride-hailing-driver-permit", {}, 0.1),
        ("enterprise-investment-filing", {"investment": "80000000.00"}, 1.0),  # major project
    ],
)
def test_the_sample_matches_the_configured_rate(
    service_id: str, kwargs: dict[str, Any], rate: float
) -> None:
    # Given a few thousand automatic approvals of a service, each with its keyed seed
    service = find(service_id)
    # When each is drawn
    draws = [spot_check_draw(service, approval(n, **kwargs), seed(n)) for n in range(APPROVALS)]
    sampled = sum(d.sampled for d in draws)
    # Then the rate applied is the configured one and the count is within 4 sigma of it
    assert {d.rate for d in draws} == {rate}
    assert within(sampled, APPROVALS, rate), (sampled, APPROVALS * rate)


def test_the_draw_cannot_be_steered_without_the_key() -> None:
    # Given the same approvals drawn under two different keys
    other = PiiHasher(b"another-key")
    service = find("elderly-allowance")
    mine = [spot_check_draw(service, approval(n), seed(n)).sampled for n in range(APPROVALS)]
    theirs = [
        spot_check_draw(service, approval(n), other.derive("spot-check", f"DEC{n:021d}")).sampled
        for n in range(APPROVALS)
    ]
    # Then the samples differ: knowing a decision id does not tell whether it is checked
    assert mine != theirs
