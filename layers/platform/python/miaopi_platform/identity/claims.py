"""The token's claims: the one place their names are written, and how they become an identity.

Chinese government services sign people in through a government unified identity platform
(统一身份认证), which knows each account's real name. What it says about an account is mapped onto
these OIDC claims (by the platform's OIDC profile or a claim mapper at a federation broker; the
local identity provider mints them as they are):

- `sub` (string, 1-255): the account's unique id (用户唯一标识); becomes `principalId`.
- `subject_type` (`PERSON` / `LEGAL_PERSON`): the user type, natural person (个人) or legal
  person (法人); becomes `subjectType`.
- `id_number` (persons): the resident ID number (居民身份证号码, GB 11643); becomes
  `subjectIdHash`, the number itself goes nowhere.
- `credit_code` (legal persons): the unified social credit code (统一社会信用代码, GB 32100);
  becomes `subjectIdHash`.
- `name`: the name (姓名) or the legal person's name (单位名称); becomes nothing.
- `acr` (`L1` / `L2` / `L3`): the real-name level (实名认证等级); becomes `assurance`.
- `roles` (list of `role:scope`): staff roles and the authority each acts for (工作人员角色);
  becomes `roles`.

Required: `iss`, `aud`, `sub`, `exp`, `iat`, `acr`, `subject_type`, and the identifier of the
subject type (`id_number` for a person, `credit_code` for a legal person); `nbf` is checked when
present. The identifier is validated with its check digit and normalized as the application
forms normalize it, then hashed with the PII key, so the hash equals the `subjectHash` of an
application about the same subject. `name` is part of the real-name profile but is deliberately
read by nobody: no route needs it, and what is not passed cannot leak. A legal person's token
carries no roles (staff sign in as persons); roles of an unknown name or a malformed scope are
dropped (an identity provider may send groups of other systems), a `roles` claim that is not a
list of strings refuses the token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from miaopi.identifiers import IdentifierInvalid, normalize

from miaopi_platform.aws.observability import logger
from miaopi_platform.identity.context import Assurance, Identity, Role, SubjectType
from miaopi_platform.identity.errors import INVALID_CLAIM, MISSING_CLAIM, InvalidToken
from miaopi_platform.privacy.pii import PiiHasher

ISSUER = "iss"
AUDIENCE = "aud"
SUBJECT = "sub"
EXPIRES = "exp"
NOT_BEFORE = "nbf"
ISSUED_AT = "iat"
ASSURANCE = "acr"
SUBJECT_TYPE = "subject_type"
ID_NUMBER = "id_number"
CREDIT_CODE = "credit_code"
NAME = "name"
ROLES = "roles"

#: checked by the JWT library before any claim is read
REQUIRED = (ISSUER, AUDIENCE, SUBJECT, EXPIRES, ISSUED_AT)
#: the identifier claim of each subject type and its kind in miaopi.identifiers
IDENTIFIER = {
    SubjectType.PERSON: (ID_NUMBER, "cn.ric"),
    SubjectType.LEGAL_PERSON: (CREDIT_CODE, "cn.uscc"),
}
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f]{1,255}")


def identity_from_claims(claims: Mapping[str, Any], hasher: PiiHasher) -> Identity:
    """The identity of a verified token's claims; InvalidToken (naming the claim, never its
    value) when they are not what the contract above says."""
    subject = _required(claims, SUBJECT)
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise InvalidToken(INVALID_CLAIM, f"{SUBJECT}: 1 to 255 printable characters expected")
    try:
        subject_type = SubjectType(_required(claims, SUBJECT_TYPE))
    except ValueError:
        raise InvalidToken(INVALID_CLAIM, f"{SUBJECT_TYPE}: PERSON or LEGAL_PERSON") from None
    try:
        assurance = Assurance.parse(_required(claims, ASSURANCE))
    except ValueError:
        raise InvalidToken(INVALID_CLAIM, f"{ASSURANCE}: L1, L2 or L3") from None
    claim, kind = IDENTIFIER[subject_type]
    value = _required(claims, claim)
    try:
        if not isinstance(value, str):
            raise IdentifierInvalid("invalid_format", "a string is expected")
        identifier = normalize((kind,), value)
    except IdentifierInvalid as exc:
        # the library's message names the kind and the problem, never the value
        raise InvalidToken(INVALID_CLAIM, f"{claim}: {exc}") from None
    roles = _roles(claims.get(ROLES))
    if roles and subject_type is SubjectType.LEGAL_PERSON:
        raise InvalidToken(INVALID_CLAIM, f"{ROLES}: staff sign in as persons")
    return Identity(subject, subject_type, hasher.digest(identifier), assurance, roles)


def _required(claims: Mapping[str, Any], name: str) -> Any:
    value = claims.get(name)
    if value is None or value == "":
        raise InvalidToken(MISSING_CLAIM, f"the token has no {name} claim")
    return value


def _roles(value: Any) -> frozenset[Role]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidToken(INVALID_CLAIM, f"{ROLES}: a list of `role:scope` strings expected")
    roles: set[Role] = set()
    for text in value:
        try:
            roles.add(Role.parse(text))
        except ValueError:
            continue
    if len(roles) < len(set(value)):
        # how many, not which: the strings come from the token
        logger.warning("roles dropped", extra={"dropped": len(set(value)) - len(roles)})
    return frozenset(roles)
