"""An issuer made in the test: RSA and EC keys generated here, its JWKS served by a stub that
counts fetches (no network), a clock the test moves, and tokens minted like the issuer would."""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from miaopi_platform.aws.observability import logger
from miaopi_platform.identity.keys import SigningKeys
from miaopi_platform.identity.token import TokenVerifier
from miaopi_platform.privacy.pii import PiiHasher

ISSUER = "https://sso.example.gov.cn/oidc"
AUDIENCE = "miaopi-api"
ID_NUMBER = "11010519491231002X"  # GB 11643's own example: a valid check digit
CREDIT_CODE = "91110000600037341L"  # a valid unified social credit code
NAME = "张三丰"
HASHER = PiiHasher(b"the PII key of the tests")
METHOD_ARN = "arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3/v1/POST/services/x/applications"

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
_OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}
    jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": "ES256", "use": "sig"}


@dataclass
class Jwks:
    """The issuer's JWKS endpoint: what it serves now, and how often it was asked."""

    keys: list[dict[str, Any]]
    fetches: int = 0
    down: bool = False

    def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise TimeoutError("the issuer does not answer")
        return {"keys": copy.deepcopy(self.keys)}


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Issuer:
    rsa: Any = _RSA
    ec: Any = _EC
    other_rsa: Any = _OTHER_RSA
    jwks: Jwks = field(
        default_factory=lambda: Jwks([public_jwk(_RSA, "rsa-1"), public_jwk(_EC, "ec-1")])
    )

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "u-0001",
            "iat": now,
            "exp": now + 600,
            "subject_type": "PERSON",
            "id_number": ID_NUMBER,
            "name": NAME,
            "acr": "L2",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self, key: Any = None, kid: str = "rsa-1", alg: str | None = None, **overrides: Any
    ) -> str:
        key = key or self.rsa
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(self.claims(**overrides), key, algorithm=alg, headers={"kid": kid})

    def unsigned(self, header: dict[str, Any], claims: dict[str, Any], signature: bytes) -> str:
        """A token put together by hand: what an attacker sends, not what a library makes."""
        head = b64url(json.dumps(header).encode())
        body = b64url(json.dumps(claims).encode())
        return f"{head}.{body}.{b64url(signature)}"


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(issuer: Issuer, clock: Clock) -> TokenVerifier:
    return TokenVerifier(ISSUER, AUDIENCE, SigningKeys(issuer.jwks, clock=clock), HASHER)


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The log stream as Lambda would ship it."""
    import io

    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    yield stream
