"""The identity context travels from the authorizer to the functions as flat strings and comes
back the same; a request without it is 401."""

from __future__ import annotations

import pytest
from miaopi_platform.aws.errors import Unauthorized
from miaopi_platform.identity.context import (
    Assurance,
    Identity,
    Role,
    SubjectType,
    from_context,
)

from .conftest import HASHER, ID_NUMBER

STAFF = Identity(
    subject="u-staff-7",
    subject_type=SubjectType.PERSON,
    subject_id_hash=HASHER.digest(ID_NUMBER),
    assurance=Assurance.L3,
    roles=frozenset({Role("reviewer", "market-regulation"), Role("auditor", "*")}),
)


def test_an_identity_survives_the_trip_through_api_gateway() -> None:
    # Given a staff member's identity as the authorizer puts it in its context
    context = STAFF.to_context()

    # When API Gateway hands it to a function next to the principal id
    found = from_context({"principalId": "u-staff-7", "integrationLatency": 12, **context})

    # Then the function reads the same identity, from strings only
    assert found == STAFF
    assert all(isinstance(v, str) for v in context.values())
    assert context["roles"] == "auditor:* reviewer:market-regulation"


def test_assurance_levels_are_ordered() -> None:
    # Given the three levels
    # When they are compared, then L1 < L2 < L3
    assert Assurance.L1 < Assurance.L2 < Assurance.L3
    assert Assurance.parse("L3") >= Assurance.L2


@pytest.mark.parametrize(
    "authorizer",
    [
        None,
        {},
        {"claims": {"sub": "cognito-user"}},
        {**STAFF.to_context(), "principalId": ""},
        {**STAFF.to_context(), "principalId": "u-1", "subjectIdHash": "11010519491231002X"},
        {**STAFF.to_context(), "principalId": "u-1", "assurance": "L0"},
        {**STAFF.to_context(), "principalId": "u-1", "roles": "root"},
    ],
    ids=["none", "empty", "cognito", "no-principal", "raw-id", "bad-level", "bad-role"],
)
def test_a_request_without_a_valid_identity_context_is_401(authorizer: object) -> None:
    # Given a request context that is not what the authorizer writes
    # When a function reads the identity, then it is 401
    with pytest.raises(Unauthorized):
        from_context(authorizer)  # type: ignore[arg-type]
