"""The local identity provider: what the government identity platform (统一身份认证) is to the API
on AWS, on loopback, for the local stack and the tests.

It keeps an RSA signing key in the stack's state directory (`idp/signing-key.pem`, made on first
start and kept, so a restarted stack's identities and key stay the same), serves OIDC discovery
(`/.well-known/openid-configuration`) and its JWKS (`/jwks.json`) over HTTP on loopback, and
mints tokens with exactly the claims `miaopi_platform.identity.claims` documents. The stack
fills the template's OIDC parameters with its URLs, so the real authorizer function verifies
these tokens as it would the platform's.

Minting needs only the key file, not the server: the tests, the demos and
`python -m infra.local.token` mint in their own process (`infra.local.stack_file.token_for`).
There is no sign-in page: locally, whoever can read the state directory is anyone they like.

An account's `sub` is a keyed hash of its subject (type and ID number or credit code) under a
key derived from the signing key: one real-name person is one account, stable across restarts,
and the ID number cannot be read back from it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from miaopi_platform.identity import claims as names
from miaopi_platform.identity.context import Assurance, SubjectType
from miaopi_platform.identity.settings import IdentitySettings
from stdnum.cn import ric, uscc

from infra.local.template import LocalTemplate

log = logging.getLogger("miaopi.local.idp")

#: the IdP's files in the stack's state directory
IDP_DIR = "idp"
KEY_FILE = "signing-key.pem"
#: the audience (this API's client id at the IdP) of the local stack's tokens
AUDIENCE = "miaopi-local"
ALGORITHM = "RS256"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks.json"
#: how long a minted token is valid
TOKEN_LIFETIME_SECONDS = 3600
#: the real-name level of a citizen's token unless asked otherwise (bank-card or phone
#: real-name check: what a mobile sign-in gives), and of a staff member's (face compared)
CITIZEN_ASSURANCE = Assurance.L2
STAFF_ASSURANCE = Assurance.L3

_SHENZHEN_AREAS = ("440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀兰霞平刚桂英华玉萍"


# ---------------------------------------------------------------- identities


@dataclass(frozen=True)
class LocalIdentity:
    """Someone the local IdP signs in: a person (ID number) or a legal person (credit code),
    with a real-name level and, for staff, roles `role:scope`."""

    subject_type: SubjectType
    identifier: str
    name: str
    assurance: Assurance
    roles: tuple[str, ...] = ()

    @classmethod
    def person(
        cls,
        id_number: str,
        name: str,
        *,
        roles: tuple[str, ...] = (),
        assurance: Assurance | None = None,
    ) -> LocalIdentity:
        """A person; L3 for staff (anyone with roles), L2 for a citizen, unless given."""
        level = assurance or (STAFF_ASSURANCE if roles else CITIZEN_ASSURANCE)
        return cls(SubjectType.PERSON, id_number.upper(), name, level, tuple(roles))

    @classmethod
    def legal_person(
        cls, credit_code: str, name: str, *, assurance: Assurance | None = None
    ) -> LocalIdentity:
        return cls(
            SubjectType.LEGAL_PERSON, credit_code.upper(), name, assurance or CITIZEN_ASSURANCE
        )

    def claims(self) -> dict[str, Any]:
        """The identity's own claims (claims.py); the issuer adds iss, aud, sub and the times."""
        identifier_claim = names.IDENTIFIER[self.subject_type][0]
        out: dict[str, Any] = {
            names.SUBJECT_TYPE: self.subject_type.value,
            identifier_claim: self.identifier,
            names.NAME: self.name,
            names.ASSURANCE: self.assurance.name,
        }
        if self.roles:
            out[names.ROLES] = list(self.roles)
        return out


def random_id_number(rng: random.Random, born: tuple[int, int] = (1950, 2000)) -> str:
    """A resident ID number with a valid check digit: a Shenzhen area, a birth date in the years
    `born` (inclusive), a sequence number."""
    year = rng.randint(*born)
    day = rng.randint(1, 28)
    first = f"{rng.choice(_SHENZHEN_AREAS)}{year}{rng.randint(1, 12):02d}{day:02d}"
    first += f"{rng.randrange(1000):03d}"
    return first + ric.calc_check_digit(first + "0")


def random_credit_code(rng: random.Random) -> str:
    """A unified social credit code with a valid check digit (an enterprise of Shenzhen)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91440300" + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def random_name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))


# ---------------------------------------------------------------- demo users


@dataclass(frozen=True)
class DemoUser:
    """A demo user of the local stack: a citizen, or staff with roles `role:scope`."""

    username: str
    roles: tuple[str, ...] = ()

    def identity(self, stack_name: str) -> LocalIdentity:
        """The user's person: an ID number and a name that depend only on the stack's and the
        user's names, so they are the same after a restart or a fresh state directory."""
        seed = hashlib.sha256(f"{stack_name}/{self.username}".encode()).digest()
        rng = random.Random(seed)
        return LocalIdentity.person(
            random_id_number(rng, (1960, 1999)), random_name(rng), roles=self.roles
        )


DEMO_USERS = (
    DemoUser("citizen"),
    DemoUser("citizen2"),
    # city-wide: decides every service's tasks (the demo's reviewer)
    DemoUser("reviewer", ("reviewer:*",)),
    DemoUser("reviewer-transport", ("reviewer:transport",)),
    DemoUser("reviewer-market", ("reviewer:market-regulation",)),
    # a clerk of the Bao'an civil affairs service hall (线下办事厅)
    DemoUser("clerk", ("counter:baoan-civil-affairs",)),
    DemoUser("auditor", ("auditor:*",)),
    DemoUser("admin", ("admin:*",)),
)


def demo_user(username: str) -> DemoUser | None:
    return next((u for u in DEMO_USERS if u.username == username), None)


# ---------------------------------------------------------------- the signing key


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def in_dir(cls, state_dir: Path) -> SigningKey:
        """The key kept in `state_dir` (made there, readable by its owner only, when absent)."""
        path = state_dir / IDP_DIR / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(pem)
            partial.chmod(0o600)
            partial.replace(path)
        stat = path.stat()
        return _loaded(str(path), (stat.st_ino, stat.st_mtime_ns, stat.st_size))

    def public_jwk(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def subject_key(self) -> bytes:
        """The key of the accounts' `sub` hashes: derived from (so kept with) the signing key."""
        der = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return hashlib.sha256(b"miaopi local idp: account ids\0" + der).digest()


@functools.lru_cache(maxsize=8)
def _loaded(path: str, _version: tuple[int, int, int]) -> SigningKey:
    """The key file parsed once per version of it (inode, mtime, size): parsing a 2048-bit key
    costs ~10 ms of CPU, and the demo and the benches mint a token per person, in the process
    that also runs the stack (a third of its CPU in the http bench before this)."""
    loaded = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return SigningKey(loaded, _thumbprint(loaded))


def _thumbprint(key: rsa.RSAPrivateKey) -> str:
    """The JWK thumbprint (RFC 7638) of the public key: a kid that changes with the key."""
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps(
        {"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# ---------------------------------------------------------------- minting


@dataclass(frozen=True)
class Issuer:
    """Mints the local IdP's tokens: its issuer URL, audience and key."""

    issuer: str
    audience: str
    key: SigningKey

    def subject_id(self, identity: LocalIdentity) -> str:
        """The account id (`sub`) of a real-name subject: the same subject, the same account."""
        text = f"{identity.subject_type.value}:{identity.identifier}".encode()
        return "u-" + hmac.new(self.key.subject_key(), text, hashlib.sha256).hexdigest()[:32]

    def claims(
        self,
        identity: LocalIdentity,
        *,
        now: float | None = None,
        lifetime: int = TOKEN_LIFETIME_SECONDS,
    ) -> dict[str, Any]:
        issued = int(time.time() if now is None else now)
        return {
            names.ISSUER: self.issuer,
            names.AUDIENCE: self.audience,
            names.SUBJECT: self.subject_id(identity),
            names.ISSUED_AT: issued,
            names.EXPIRES: issued + lifetime,
            **identity.claims(),
        }

    def mint(self, identity: LocalIdentity, **overrides: Any) -> str:
        """A signed token of `identity`; `overrides` replace claims (a value None removes one):
        what a test needs to make a token that is wrong in exactly one way."""
        payload = {**self.claims(identity), **overrides}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.kid}
        )

    def describe(self, state_dir: Path) -> dict[str, str]:
        """What the stack's description (stack.json) says of its IdP."""
        return {
            "issuer": self.issuer,
            "audience": self.audience,
            "jwksUrl": self.issuer + JWKS_PATH,
            "discoveryUrl": self.issuer + DISCOVERY_PATH,
            "stateDir": str(state_dir.resolve()),
        }

    @classmethod
    def described(cls, info: Mapping[str, str]) -> Issuer:
        """The issuer a stack's description names, with the key from its state directory."""
        return cls(info["issuer"], info["audience"], SigningKey.in_dir(Path(info["stateDir"])))


# ---------------------------------------------------------------- the server


@dataclass
class IdentityProvider:
    """OIDC discovery and JWKS on loopback, for `state_dir`'s key; `start()` then `stop()`."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    audience: str = AUDIENCE
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _issuer: Issuer | None = field(default=None, init=False, repr=False)

    def start(self) -> IdentityProvider:
        key = SigningKey.in_dir(self.state_dir)
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        port = int(self._server.server_address[1])
        self._issuer = Issuer(f"http://{self.host}:{port}", self.audience, key)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-idp", daemon=True
        )
        self._thread.start()
        log.info("identity provider at %s", self._issuer.issuer)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> IdentityProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def issuer(self) -> Issuer:
        if self._issuer is None:
            raise RuntimeError("the identity provider is not started")
        return self._issuer

    def discovery(self) -> dict[str, Any]:
        """The OIDC discovery document (only what this provider does: it has no sign-in page)."""
        issuer = self.issuer
        return {
            "issuer": issuer.issuer,
            "jwks_uri": issuer.issuer + JWKS_PATH,
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
            "acr_values_supported": [level.name for level in Assurance],
            "claims_supported": [
                names.ISSUER,
                names.AUDIENCE,
                names.SUBJECT,
                names.EXPIRES,
                names.ISSUED_AT,
                names.ASSURANCE,
                names.SUBJECT_TYPE,
                names.ID_NUMBER,
                names.CREDIT_CODE,
                names.NAME,
                names.ROLES,
            ],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.issuer.key.public_jwk()]}

    def parameters(self, template: LocalTemplate) -> dict[str, str]:
        """The template's OIDC parameters for this provider."""
        return oidc_parameters(template, self.issuer.issuer, self.issuer.audience)


def oidc_parameters(template: LocalTemplate, issuer: str, audience: str) -> dict[str, str]:
    """The template's parameters for the identity provider at `issuer`: each parameter the
    template sets an identity setting from (`OIDC_ISSUER: !Ref ...`), by the name the template
    gives it, so the names are written once (template.yaml)."""
    values = {"issuer": issuer, "audience": audience, "jwks_url": issuer + JWKS_PATH}
    fields = IdentitySettings.model_fields
    return {
        template.parameter_of_variable(str(fields[name].alias)): value
        for name, value in values.items()
    }


def _handler(idp: IdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            documents = {DISCOVERY_PATH: idp.discovery, JWKS_PATH: idp.jwks}
            found = documents.get(path)
            status, body = (200, found()) if found else (404, {"error": "not_found"})
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler
