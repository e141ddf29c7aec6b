"""The issuer's signing keys: only keys for RS256/ES256, cached for an hour, kept when the
issuer is briefly unreachable, and fetched only over HTTPS (plain HTTP on loopback only)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from miaopi_platform.identity import errors
from miaopi_platform.identity.errors import InvalidToken
from miaopi_platform.identity.keys import SigningKeys, check_url, jwks_over_https, usable_keys
from miaopi_platform.identity.settings import IdentitySettings

from .conftest import Clock, Issuer, b64url, public_jwk


def test_only_signing_keys_for_rs256_and_es256_with_a_kid_are_kept(issuer: Issuer) -> None:
    # Given a JWKS with the issuer's two keys and keys we must not verify with
    rsa_jwk, ec_jwk = public_jwk(issuer.rsa, "rsa-1"), public_jwk(issuer.ec, "ec-1")
    document = {
        "keys": [
            rsa_jwk,
            ec_jwk,
            {"kty": "oct", "kid": "hmac", "k": b64url(b"a shared secret"), "alg": "HS256"},
            {**public_jwk(issuer.other_rsa, "enc"), "use": "enc"},
            {**public_jwk(issuer.other_rsa, "rs512"), "alg": "RS512"},
            {k: v for k, v in public_jwk(issuer.other_rsa, "x").items() if k != "kid"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
            "not a key",
        ]
    }

    # When the usable keys are picked
    keys = usable_keys(document)

    # Then only the RSA and P-256 signing keys remain, each bound to its algorithm
    assert {kid: key.algorithm_name for kid, key in keys.items()} == {
        "rsa-1": "RS256",
        "ec-1": "ES256",
    }


def test_keys_are_refetched_after_an_hour(issuer: Issuer, clock: Clock) -> None:
    # Given keys fetched once
    keys = SigningKeys(issuer.jwks, clock=clock)
    keys.key("rsa-1")

    # When they are used for 59 minutes, then for one more minute
    clock.now += 59 * 60
    keys.key("rsa-1")
    fetches_within_the_hour = issuer.jwks.fetches
    clock.now += 60
    keys.key("rsa-1")

    # Then they were fetched once within the hour, and again after it
    assert fetches_within_the_hour == 1
    assert issuer.jwks.fetches == 2


def test_cached_keys_stay_usable_while_the_issuer_is_unreachable(
    issuer: Issuer, clock: Clock
) -> None:
    # Given keys fetched an hour ago and an issuer that does not answer now
    keys = SigningKeys(issuer.jwks, clock=clock)
    keys.key("rsa-1")
    clock.now += 3600
    issuer.jwks.down = True

    # When a token's key is looked up twice within the cooldown
    first, second = keys.key("rsa-1"), keys.key("rsa-1")

    # Then the cached key serves, and the issuer was asked once, not on every token
    assert first is second
    assert issuer.jwks.fetches == 2


def test_without_any_keys_a_token_is_refused_as_keys_unavailable(issuer: Issuer) -> None:
    # Given an issuer that does not answer and nothing cached
    issuer.jwks.down = True
    keys = SigningKeys(issuer.jwks)

    # When a key is looked up
    with pytest.raises(InvalidToken) as caught:
        keys.key("rsa-1")

    # Then the token is refused for that reason
    assert caught.value.reason == errors.KEYS_UNAVAILABLE


@pytest.mark.parametrize(
    "url",
    [
        "https://sso.example.gov.cn/oidc/jwks",
        "http://127.0.0.1:4566/jwks",
        "http://localhost:3000/.well-known/jwks.json",
        "http://[::1]:8080/jwks",
    ],
)
def test_https_urls_and_loopback_http_urls_are_accepted(url: str) -> None:
    # Given a URL over HTTPS, or over HTTP to loopback (the local stack)
    # When it is checked, then it is accepted as it is
    assert check_url(url, "the JWKS URL") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://sso.example.gov.cn/jwks",
        "http://10.0.0.5/jwks",
        "http://localhost.example.com/jwks",
        "file:///etc/passwd",
        "ftp://sso.example.gov.cn/jwks",
        "https:///jwks",
        "",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    # Given a URL that is neither HTTPS nor loopback HTTP
    # When it is checked, then it is refused, naming the setting
    with pytest.raises(ValueError, match="the JWKS URL must be an https:// URL"):
        check_url(url, "the JWKS URL")


def test_settings_refuse_a_plain_http_issuer() -> None:
    # Given an environment whose JWKS URL is plain HTTP to a remote host
    env = {
        "OIDC_ISSUER": "https://sso.example.gov.cn/oidc",
        "OIDC_AUDIENCE": "miaopi-api",
        "OIDC_JWKS_URL": "http://sso.example.gov.cn/oidc/jwks",
        "PII_KEY_SECRET_ARN": "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:pii",
    }

    # When the settings are read, then they are refused with the setting's name
    with pytest.raises(ValueError, match="OIDC_JWKS_URL"):
        IdentitySettings.from_env(env)


class _Jwks(BaseHTTPRequestHandler):
    document: bytes = b""

    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/jwks")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_issuer(issuer: Issuer) -> Iterator[str]:
    """The issuer's JWKS served over plain HTTP on loopback, as the local stack serves it."""
    _Jwks.document = json.dumps(issuer.jwks()).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_jwks_is_fetched_from_its_url(loopback_issuer: str) -> None:
    # Given the issuer's JWKS URL on loopback
    keys = SigningKeys(jwks_over_https(f"{loopback_issuer}/jwks"))

    # When a key is looked up, then it comes from the served document
    assert keys.key("ec-1").algorithm_name == "ES256"


def test_a_redirect_is_not_followed(loopback_issuer: str) -> None:
    # Given a JWKS URL that answers with a redirect
    fetch = jwks_over_https(f"{loopback_issuer}/moved")

    # When the JWKS is fetched, then the redirect is an error, not a second request
    with pytest.raises(OSError, match="302"):
        fetch()
