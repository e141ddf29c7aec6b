"""The identity context: what the authorizer tells every function about the caller.

API Gateway hands a Lambda authorizer's `context` to the integration as
`requestContext.authorizer`, next to `principalId`, and takes only flat string, number or
boolean values. So the identity travels as four strings plus the principal:

- `principalId`: the issuer's subject id (`sub`), stable per account.
- `subjectType`: `PERSON` or `LEGAL_PERSON`.
- `subjectIdHash`: the keyed HMAC (privacy/pii.py) of the normalized resident ID number
  (persons) or unified social credit code (legal persons), 64 hex digits: equal to the
  `subjectHash` of an application about the same subject.
- `assurance`: the real-name assurance level, `L1` < `L2` < `L3`.
- `roles`: staff roles with their scope, `role:scope` separated by spaces, sorted, e.g.
  `auditor:* reviewer:market-regulation`; empty for citizens.

The ID number, the credit code and the name never leave the authorizer: only the hash does.

Assurance levels (how sure the identity provider is that the account is the real person):
- `L1`: the name and ID number given at registration matched the population register
  (身份信息核验); nothing shows the holder is the one typing.
- `L2`: L1 plus a factor bound to the real name: a bank card four-factor check (银行卡实名核验),
  the operator's real-name registration of the phone number, or the eID / NFC read of the card.
- `L3`: L2 plus a live face compared with the police photo (公安人脸比对), or the ID card checked
  in person at a counter. Staff routes should ask for L3.

Roles: `reviewer` (decides review tasks), `auditor` (reads decisions and chains), `admin`
(the credit list), `counter` (submits at a service hall for a citizen who is present). The scope
is the id of the authority the role acts for (lower-case words joined by `-`, e.g.
`market-regulation`), or `*` for every authority (city-wide). A role grants nothing outside its
scope: `reviewer:market-regulation` does not decide a hukou task.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from miaopi_platform.aws.api import PRINCIPAL_ID
from miaopi_platform.aws.errors import Unauthorized

#: the keys of the authorizer's `context` (API Gateway adds `principalId` itself)
SUBJECT_TYPE = "subjectType"
SUBJECT_ID_HASH = "subjectIdHash"
ASSURANCE = "assurance"
ROLES = "roles"

ROLE_NAMES = frozenset({"reviewer", "auditor", "admin", "counter"})
EVERY_AUTHORITY = "*"
_SCOPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HASH = re.compile(r"[0-9a-f]{64}")


class SubjectType(StrEnum):
    PERSON = "PERSON"  # a natural person, identified by the resident ID number
    LEGAL_PERSON = "LEGAL_PERSON"  # an enterprise or organisation, by its credit code


class Assurance(IntEnum):
    """Real-name assurance, ordered: `Assurance.L3 > Assurance.L2 > Assurance.L1`."""

    L1 = 1
    L2 = 2
    L3 = 3

    @classmethod
    def parse(cls, value: object) -> Assurance:
        """The level named `L1`, `L2` or `L3`; ValueError for anything else."""
        if isinstance(value, str) and value in cls.__members__:
            return cls[value]
        raise ValueError("the assurance level is not one of L1, L2, L3")


@dataclass(frozen=True, slots=True, order=True)
class Role:
    name: str
    scope: str

    @classmethod
    def parse(cls, text: str) -> Role:
        """`reviewer:market-regulation` or `auditor:*`; ValueError for anything else."""
        name, sep, scope = text.partition(":")
        if not sep or name not in ROLE_NAMES:
            raise ValueError("a role is `role:scope` with a known role")
        if scope != EVERY_AUTHORITY and not _SCOPE.fullmatch(scope):
            raise ValueError("a role's scope is an authority id or *")
        return cls(name, scope)

    def covers(self, authority: str) -> bool:
        return self.scope in (EVERY_AUTHORITY, authority)

    def __str__(self) -> str:
        return f"{self.name}:{self.scope}"


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller, as the authorizer verified them. Holds no personal data but a keyed hash."""

    subject: str
    subject_type: SubjectType
    subject_id_hash: str
    assurance: Assurance
    roles: frozenset[Role] = frozenset()

    def may(self, role: str, authority: str) -> bool:
        """Whether one of the caller's roles named `role` covers `authority`."""
        return any(r.name == role and r.covers(authority) for r in self.roles)

    def has_role(self, role: str) -> bool:
        return any(r.name == role for r in self.roles)

    def to_context(self) -> dict[str, str]:
        """The authorizer's `context`: flat strings, as API Gateway requires."""
        return {
            SUBJECT_TYPE: self.subject_type.value,
            SUBJECT_ID_HASH: self.subject_id_hash,
            ASSURANCE: self.assurance.name,
            ROLES: render_roles(self.roles),
        }


def render_roles(roles: Iterable[Role]) -> str:
    return " ".join(str(r) for r in sorted(set(roles)))


def from_context(authorizer: Mapping[str, Any] | None) -> Identity:
    """The identity a function reads from `requestContext.authorizer`; 401 when it is not there
    or not what the authorizer writes (a route that is not behind the authorizer)."""
    found = authorizer or {}
    try:
        subject = found[PRINCIPAL_ID]
        id_hash = found[SUBJECT_ID_HASH]
        if not isinstance(subject, str) or not subject:
            raise ValueError("no principal")
        if not isinstance(id_hash, str) or not _HASH.fullmatch(id_hash):
            raise ValueError("no subject hash")
        return Identity(
            subject=subject,
            subject_type=SubjectType(found[SUBJECT_TYPE]),
            subject_id_hash=id_hash,
            assurance=Assurance.parse(found[ASSURANCE]),
            roles=frozenset(Role.parse(r) for r in str(found.get(ROLES) or "").split()),
        )
    except (KeyError, ValueError):
        raise Unauthorized("missing or invalid token") from None
