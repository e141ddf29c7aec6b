"""Verifying a bearer token of the configured issuer, with PyJWT (no cryptography of our own).

In this order, each refusal an InvalidToken with its reason:
1. the header's `alg` is RS256 or ES256: `none`, every HMAC (HS256 signed with the issuer's
   public key as the secret is the classic confusion) and every other algorithm are refused
   before any key is looked up, so they cannot even make the JWKS be fetched;
2. the header names a `kid`, and the issuer's JWKS has a key by that name (keys.py), whose
   type is the algorithm's (an ES256 header on an RSA key is refused);
3. the signature verifies with that key (RSA keys of at least 2048 bits);
4. `iss` is the issuer, `aud` contains the audience, and the token is in force: `exp`, `nbf` and
   `iat` with a leeway of 60 seconds for the clocks of the issuer and of Lambda;
5. the claims are what claims.py says, and become an Identity.
"""

from __future__ import annotations

from collections.abc import Callable

import jwt
from jwt import exceptions as jwt_errors

from miaopi_platform.identity import errors
from miaopi_platform.identity.claims import REQUIRED, identity_from_claims
from miaopi_platform.identity.context import Identity
from miaopi_platform.identity.errors import InvalidToken
from miaopi_platform.identity.keys import ALGORITHMS, SigningKeys, jwks_over_https
from miaopi_platform.identity.settings import IdentitySettings
from miaopi_platform.privacy.pii import PiiHasher

LEEWAY_SECONDS = 60

# PyJWT's refusals, most specific first (ExpiredSignatureError is an InvalidTokenError, ...)
_REASONS: tuple[tuple[type[jwt_errors.PyJWTError], str], ...] = (
    (jwt_errors.ExpiredSignatureError, errors.EXPIRED),
    (jwt_errors.ImmatureSignatureError, errors.NOT_YET_VALID),
    (jwt_errors.InvalidIssuerError, errors.ISSUER),
    (jwt_errors.InvalidAudienceError, errors.AUDIENCE),
    (jwt_errors.MissingRequiredClaimError, errors.MISSING_CLAIM),
    (jwt_errors.InvalidAlgorithmError, errors.ALGORITHM),
    (jwt_errors.InvalidSignatureError, errors.SIGNATURE),
    (jwt_errors.InvalidKeyError, errors.SIGNATURE),
    (jwt_errors.InvalidIssuedAtError, errors.INVALID_CLAIM),
    (jwt_errors.InvalidSubjectError, errors.INVALID_CLAIM),
    (jwt_errors.InvalidJTIError, errors.INVALID_CLAIM),
)


class TokenVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        keys: SigningKeys,
        hasher: PiiHasher,
        leeway: int = LEEWAY_SECONDS,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys = keys
        self._hasher = hasher
        self._leeway = leeway

    @classmethod
    def from_settings(
        cls,
        settings: IdentitySettings,
        hasher: PiiHasher,
        keys: Callable[[str], SigningKeys] | None = None,
    ) -> TokenVerifier:
        """The verifier of the configured issuer; its keys fetched from the JWKS URL unless
        `keys` (given the URL) says otherwise."""
        found = keys(settings.jwks_url) if keys else SigningKeys(jwks_over_https(settings.jwks_url))
        return cls(settings.issuer, settings.audience, found, hasher)

    def verify(self, token: str) -> Identity:
        """The identity of a valid token; InvalidToken with the reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt_errors.PyJWTError:
            raise InvalidToken(errors.MALFORMED, "not a signed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise InvalidToken(errors.ALGORITHM, "the token's algorithm is not RS256 or ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken(errors.NO_KEY_ID, "the token names no signing key")
        key = self._keys.key(kid)
        if key.algorithm_name != algorithm:
            raise InvalidToken(errors.ALGORITHM, "the token's algorithm is not its key's")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),  # fixed, never from the token (RFC 8725)
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED), "enforce_minimum_key_length": True},
            )
        except jwt_errors.PyJWTError as exc:
            raise InvalidToken(_reason(exc), type(exc).__name__) from None
        return identity_from_claims(claims, self._hasher)


def _reason(exc: jwt_errors.PyJWTError) -> str:
    return next((reason for kind, reason in _REASONS if isinstance(exc, kind)), errors.MALFORMED)
