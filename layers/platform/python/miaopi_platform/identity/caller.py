"""Who is calling a route, and whether they may: the identity context the authorizer passed
(`identity`), and the staff check of a role, its scope and the real-name level
(`require_role`).

Routes of staff (review, audit, credit list) ask `require_role`; what a role covers is the
role's scope (`reviewer:transport`, `auditor:*`), so a route that lists (a queue, decisions)
narrows what it shows with `Identity.may`, and a route about one thing (a task, a decision)
names the thing's authority here. An applicant's own applications are those of `identity`'s
subject and of its ID hash (applications.flow.is_own).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from miaopi_platform.aws.errors import Forbidden
from miaopi_platform.aws.http import authorizer_context
from miaopi_platform.identity.context import EVERY_AUTHORITY, Assurance, Identity, from_context

#: the `details` codes of a 403 from `require_role`
ROLE_MISSING = "role_missing"
OUT_OF_SCOPE = "out_of_scope"
ASSURANCE_TOO_LOW = "assurance_too_low"
#: what staff routes need: face compared, or the ID card checked in person (context.py)
STAFF_ASSURANCE = Assurance.L3


def identity(app: BaseRouter) -> Identity:
    """The caller as the API's authorizer verified them; 401 when the request did not pass it."""
    return from_context(authorizer_context(app))


def require_role(
    app: BaseRouter,
    role: str,
    authority: str | None = None,
    *,
    assurance: Assurance = STAFF_ASSURANCE,
) -> Identity:
    """The caller when they hold `role` for `authority` (for some authority when None: the route
    narrows what it shows to the caller's scope) signed in at real-name level `assurance` or
    above; 401 without a token, 403 otherwise with a detail code saying which check failed."""
    caller = identity(app)
    if not caller.has_role(role):
        raise Forbidden(f"this needs the {role} role", [{"code": ROLE_MISSING}])
    if caller.assurance < assurance:
        raise Forbidden(
            f"this needs real-name level {assurance.name} or above; "
            f"the caller signed in at {caller.assurance.name}",
            [{"code": ASSURANCE_TOO_LOW}],
        )
    if authority is not None and not caller.may(role, authority):
        raise out_of_scope(role, authority)
    return caller


def out_of_scope(role: str, authority: str) -> Forbidden:
    """The 403 of a role that does not cover `authority` (`*`: it is not city-wide)."""
    what = "every authority (city-wide)" if authority == EVERY_AUTHORITY else authority
    return Forbidden(
        f"the caller's {role} role does not cover {what}",
        [{"code": OUT_OF_SCOPE, "field": "authority", "message": authority}],
    )
