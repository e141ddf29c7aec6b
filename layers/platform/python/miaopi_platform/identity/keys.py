"""The issuer's signing keys: its JWKS, fetched over HTTPS, cached, and rotated by `kid`.

An authorizer's execution environment verifies thousands of tokens with the same few keys, so
the JWKS is fetched once and kept for `max_age` (an hour). Issuers rotate by publishing the new
key next to the old one and then signing with it: a token naming a `kid` the cache does not know
makes one refetch, at most once per `cooldown` (30 s), so a stream of made-up kids cannot turn
the authorizer into a load generator against the issuer. When a refetch fails the cached keys
are kept (a known key stays usable while the issuer is briefly unreachable).

Only keys that can verify an algorithm we accept are kept: RSA keys for RS256 and P-256 keys
for ES256, for signing (`use` absent or `sig`), with a `kid`. A symmetric (`oct`) key in the
JWKS is ignored, so no token can be verified with an HMAC.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from jwt import PyJWK, PyJWTError

from miaopi_platform.aws.observability import logger
from miaopi_platform.identity.errors import KEYS_UNAVAILABLE, UNKNOWN_KEY, InvalidToken

#: the only signature algorithms accepted, each with the key type and curve it needs
ALGORITHMS: dict[str, tuple[str, str | None]] = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}
MAX_AGE_SECONDS = 3600.0
COOLDOWN_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 3.0
MAX_JWKS_BYTES = 256 * 1024

type Fetch = Callable[[], Mapping[str, Any]]


def check_url(url: str, what: str) -> str:
    """`url` when it is HTTPS, or plain HTTP to a loopback address (the local stack's identity
    provider; nothing listens on loopback in Lambda). ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return url
    raise ValueError(f"{what} must be an https:// URL (http:// only on loopback)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead from HTTPS to plain HTTP or elsewhere: the configured URL or none."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def jwks_over_https(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> Fetch:
    """A fetch of the JWKS document at `url` (checked by `check_url`), without redirects."""
    check_url(url, "the JWKS URL")
    opener = urllib.request.build_opener(_RefuseRedirects)

    def fetch() -> Mapping[str, Any]:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
        with opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("the JWKS document is too large")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("the JWKS document is not a JSON object")
        return document

    return fetch


def usable_keys(document: Mapping[str, Any]) -> dict[str, PyJWK]:
    """The JWKS's keys we may verify with, by kid; the others are skipped."""
    keys: dict[str, PyJWK] = {}
    entries = document.get("keys")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or kid in keys:
            continue
        try:
            key = PyJWK(entry)
        except PyJWTError:
            continue
        kty, crv = ALGORITHMS.get(key.algorithm_name, (None, None))
        if entry.get("kty") == kty and entry.get("crv") == crv:
            keys[kid] = key
    return keys


class SigningKeys:
    """The issuer's keys by kid, cached for `max_age` and refetched for an unknown kid at most
    once per `cooldown`. Safe to share between threads (the local gateway serves several)."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        max_age: float = MAX_AGE_SECONDS,
        cooldown: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age
        self._cooldown = cooldown
        self._clock = clock
        self._keys: dict[str, PyJWK] | None = None
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK:
        """The key named `kid`; InvalidToken when the issuer has none by that name (or its
        keys cannot be fetched and none are cached)."""
        with self._lock:
            now = self._clock()
            stale = now - self._fetched_at >= self._max_age
            if (stale or kid not in (self._keys or {})) and self._may_fetch(now):
                self._refresh(now)
            if self._keys is None:
                raise InvalidToken(KEYS_UNAVAILABLE, "the issuer's signing keys are unavailable")
            if kid not in self._keys:
                raise InvalidToken(UNKNOWN_KEY, "the token's signing key is not the issuer's")
            return self._keys[kid]

    def _may_fetch(self, now: float) -> bool:
        return self._keys is None or now - self._attempted_at >= self._cooldown

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            keys = usable_keys(self._fetch())
        except Exception as exc:  # any failure to fetch or parse: keep what we have
            logger.warning("JWKS fetch failed", extra={"error": type(exc).__name__})
            return
        if not keys:
            logger.warning("JWKS has no usable key")
            return
        self._keys, self._fetched_at = keys, now
