"""Why a token is refused: a short machine-readable reason, never a claim's value.

The reason goes to the logs (and metrics); the caller only ever sees 401. Messages name the
claim or the check, never what the token said: a token carries an ID number and a name.
"""

from __future__ import annotations


class InvalidToken(Exception):
    """The token is not one this API accepts. `reason` is one of the constants below."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


MISSING = "missing"  # no bearer token
MALFORMED = "malformed"  # not a JWS compact token
ALGORITHM = "algorithm"  # alg is not RS256/ES256, or not the algorithm of the key
NO_KEY_ID = "no_key_id"  # the header names no kid
UNKNOWN_KEY = "unknown_key"  # the issuer's JWKS has no such kid, even after a refetch
KEYS_UNAVAILABLE = "keys_unavailable"  # the JWKS could not be fetched and none is cached
SIGNATURE = "signature"  # the signature does not verify (another key, a tampered token)
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"  # nbf or iat in the future, beyond the leeway
ISSUER = "issuer"
AUDIENCE = "audience"
MISSING_CLAIM = "missing_claim"
INVALID_CLAIM = "invalid_claim"  # a claim is there but not what the contract says
