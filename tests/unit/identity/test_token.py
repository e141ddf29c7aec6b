"""A bearer token of the configured issuer becomes an identity; every other token is refused,
with a reason the logs can count and without saying what the token carried."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from miaopi_platform.identity import errors
from miaopi_platform.identity.context import Assurance, Identity, Role, SubjectType
from miaopi_platform.identity.errors import InvalidToken
from miaopi_platform.identity.token import TokenVerifier

from .conftest import CREDIT_CODE, HASHER, ID_NUMBER, Clock, Issuer, b64url, public_jwk


def refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.reason


def test_a_persons_rs256_token_becomes_their_identity(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given a token of the issuer for a person at L2, signed with its RSA key
    token = issuer.mint(sub="u-42", acr="L2")

    # When it is verified
    identity = verifier.verify(token)

    # Then the identity is the person's, with the keyed hash of their ID number, not the number
    assert identity == Identity(
        subject="u-42",
        subject_type=SubjectType.PERSON,
        subject_id_hash=HASHER.digest(ID_NUMBER),
        assurance=Assurance.L2,
        roles=frozenset(),
    )


def test_a_legal_persons_es256_token_carries_the_hash_of_its_credit_code(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given an enterprise's token signed with the issuer's EC key
    token = issuer.mint(
        key=issuer.ec, kid="ec-1", subject_type="LEGAL_PERSON", id_number=None,
        credit_code=CREDIT_CODE.lower(), acr="L3",
    )  # fmt: skip

    # When it is verified
    identity = verifier.verify(token)

    # Then it is a legal person, hashed on the normalized code (as the forms normalize it)
    assert identity.subject_type is SubjectType.LEGAL_PERSON
    assert identity.subject_id_hash == HASHER.digest(CREDIT_CODE)
    assert identity.assurance is Assurance.L3


def test_staff_roles_come_with_their_scope_and_unknown_ones_are_dropped(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given a staff member's token with two roles, a group of another system and a bad scope
    roles = ["reviewer:market-regulation", "auditor:*", "wiki-editors", "admin:Not A Scope"]
    token = issuer.mint(roles=roles, acr="L3")

    # When it is verified
    identity = verifier.verify(token)

    # Then the two roles are there with their scope, and they cover only that scope
    assert identity.roles == {Role("reviewer", "market-regulation"), Role("auditor", "*")}
    assert identity.may("reviewer", "market-regulation")
    assert not identity.may("reviewer", "public-security")
    assert identity.may("auditor", "public-security")
    assert not identity.has_role("admin")


def test_a_token_a_little_past_its_expiry_is_within_the_leeway(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given a token that expired 30 seconds ago (clocks differ; the leeway is 60 seconds)
    now = int(time.time())
    token = issuer.mint(iat=now - 600, exp=now - 30)

    # When it is verified
    identity = verifier.verify(token)

    # Then it is still accepted
    assert identity.subject == "u-0001"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": -120}, errors.EXPIRED),
        ({"nbf": 300}, errors.NOT_YET_VALID),
        ({"iat": 300}, errors.NOT_YET_VALID),
        ({"iss": "https://sso.example.com/oidc"}, errors.ISSUER),
        ({"aud": "another-client"}, errors.AUDIENCE),
        ({"sub": None}, errors.MISSING_CLAIM),
        ({"exp": None}, errors.MISSING_CLAIM),
        ({"acr": None}, errors.MISSING_CLAIM),
        ({"acr": "L9"}, errors.INVALID_CLAIM),
        ({"subject_type": "ROBOT"}, errors.INVALID_CLAIM),
        ({"id_number": None}, errors.MISSING_CLAIM),
        ({"roles": "reviewer:market-regulation"}, errors.INVALID_CLAIM),
    ],
    ids=[
        "expired", "not-before", "issued-in-future", "wrong-issuer", "wrong-audience",
        "no-sub", "no-exp", "no-acr", "unknown-acr", "unknown-subject-type", "no-id-number",
        "roles-not-a-list",
    ],
)  # fmt: skip
def test_a_token_outside_the_contract_is_refused(
    issuer: Issuer, verifier: TokenVerifier, claims: dict[str, object], reason: str
) -> None:
    # Given a token of the issuer with one claim out of place (times relative to now)
    now = int(time.time())
    overrides: dict[str, Any] = {
        k: now + v if k in ("exp", "nbf", "iat") and isinstance(v, int) else v
        for k, v in claims.items()
    }
    token = issuer.mint(**overrides)

    # When it is verified, then it is refused for that reason
    assert refusal(verifier, token) == reason


def test_an_id_number_with_a_wrong_check_digit_is_refused_without_echoing_it(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given a token whose ID number has a wrong check digit
    wrong = ID_NUMBER[:-1] + "5"
    token = issuer.mint(id_number=wrong)

    # When it is verified
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)

    # Then it is refused, and the message names the claim and the problem, not the number
    assert caught.value.reason == errors.INVALID_CLAIM
    assert "id_number" in str(caught.value) and "check digit" in str(caught.value)
    assert wrong not in str(caught.value)


def test_a_legal_persons_token_with_staff_roles_is_refused(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given an enterprise's token that claims a reviewer role
    token = issuer.mint(
        subject_type="LEGAL_PERSON", id_number=None, credit_code=CREDIT_CODE,
        roles=["reviewer:*"],
    )  # fmt: skip

    # When it is verified, then it is refused: staff sign in as persons
    assert refusal(verifier, token) == errors.INVALID_CLAIM


def test_a_token_signed_by_another_key_under_the_issuers_kid_is_refused(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given a token signed by a key that is not the issuer's, naming the issuer's kid
    token = issuer.mint(key=issuer.other_rsa, kid="rsa-1")

    # When it is verified, then the signature does not verify
    assert refusal(verifier, token) == errors.SIGNATURE


def test_a_tampered_payload_is_refused(issuer: Issuer, verifier: TokenVerifier) -> None:
    # Given a valid token whose payload is swapped for one naming another ID number and L3
    head, _, signature = issuer.mint().split(".")
    forged = issuer.claims(id_number="11010119900307803X", acr="L3")
    token = f"{head}.{b64url(json.dumps(forged).encode())}.{signature}"

    # When it is verified, then the signature does not verify
    assert refusal(verifier, token) == errors.SIGNATURE


def test_alg_none_is_refused_without_asking_for_keys(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given an unsigned token (`alg: none`) naming the issuer's kid
    token = issuer.unsigned({"alg": "none", "kid": "rsa-1", "typ": "JWT"}, issuer.claims(), b"")

    # When it is verified
    reason = refusal(verifier, token)

    # Then the algorithm is refused, and the JWKS was never fetched for it
    assert reason == errors.ALGORITHM
    assert issuer.jwks.fetches == 0


def test_hs256_signed_with_the_issuers_public_key_is_refused(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given the classic confusion: an HMAC over the token with the public key's PEM as secret
    secret = issuer.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(issuer.claims(acr="L3")).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64url(mac)}"

    # When it is verified, then the algorithm is refused
    assert refusal(verifier, token) == errors.ALGORITHM


@pytest.mark.parametrize("alg", ["HS256", "RS512", "ES384", "PS256", "EdDSA"])
def test_every_algorithm_but_rs256_and_es256_is_refused(
    issuer: Issuer, verifier: TokenVerifier, alg: str
) -> None:
    # Given a token whose header names another algorithm
    token = issuer.unsigned({"alg": alg, "kid": "rsa-1"}, issuer.claims(), b"x" * 64)

    # When it is verified, then the algorithm is refused
    assert refusal(verifier, token) == errors.ALGORITHM


def test_an_es256_header_on_the_issuers_rsa_key_is_refused(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given an EC-signed token that names the issuer's RSA key
    token = issuer.mint(key=issuer.ec, kid="rsa-1")

    # When it is verified, then the algorithm is not the key's
    assert refusal(verifier, token) == errors.ALGORITHM


def test_a_token_without_a_kid_or_not_a_jwt_is_refused(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given a signed token with no kid, and a string that is no JWT at all
    import jwt

    no_kid = jwt.encode(issuer.claims(), issuer.rsa, algorithm="RS256")

    # When they are verified, then each is refused for its reason
    assert refusal(verifier, no_kid) == errors.NO_KEY_ID
    assert refusal(verifier, "not-a-token") == errors.MALFORMED


def test_an_unknown_kid_is_refused_until_the_jwks_publishes_it(
    issuer: Issuer, verifier: TokenVerifier, clock: Clock
) -> None:
    # Given the keys were cached a while ago, and the issuer signs with a key it has not
    # published yet
    assert verifier.verify(issuer.mint()).subject == "u-0001"
    clock.now += 60
    token = issuer.mint(key=issuer.other_rsa, kid="rsa-2")

    # When the token is verified, then it is refused after one refetch
    assert refusal(verifier, token) == errors.UNKNOWN_KEY
    assert issuer.jwks.fetches == 2

    # When the JWKS gains the key (rotation) and the 30-second cooldown has passed
    issuer.jwks.keys.append(public_jwk(issuer.other_rsa, "rsa-2"))
    clock.now += 31
    identity = verifier.verify(token)

    # Then the token is accepted, after one more fetch, and the old key still works
    assert identity.subject == "u-0001"
    assert issuer.jwks.fetches == 3
    assert verifier.verify(issuer.mint()).subject == "u-0001"


def test_made_up_kids_refetch_the_jwks_at_most_once_per_cooldown(
    issuer: Issuer, verifier: TokenVerifier, clock: Clock
) -> None:
    # Given the keys were cached a minute ago
    verifier.verify(issuer.mint())
    clock.now += 60

    # When a hundred tokens name kids the issuer never had, within 30 seconds
    reasons = {refusal(verifier, issuer.mint(kid=f"made-up-{i}")) for i in range(100)}

    # Then each is refused and the JWKS was fetched once more, not a hundred times
    assert reasons == {errors.UNKNOWN_KEY}
    assert issuer.jwks.fetches == 2
