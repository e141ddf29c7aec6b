"""API Gateway's side of the Lambda (REQUEST) authorizer: the bearer token in, a policy and the
identity context out.

The policy allows the whole stage
(`arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/*`), not the one method ARN:
API Gateway caches the authorizer's answer per token (identity source:
the Authorization header) and applies the cached policy to every route the token then calls, so
a policy for one method would deny the next. What a route needs beyond a valid token (a role in
scope, an assurance level) it checks itself from the context. The partition is the method ARN's
own, so the same code serves `aws` and `aws-cn`.

Any refusal raises `Exception("Unauthorized")`, the exact message API Gateway turns into 401.
When the token cannot be checked because a dependency does not answer (the key store, the
issuer's signing keys), it raises `Exception("Service unavailable")` instead: API Gateway's
AUTHORIZER_FAILURE, which template.yaml answers 503 with Retry-After. A 401 would tell the app
its user's sign-in is invalid and send them to sign in again, for an outage of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from miaopi_platform.aws.errors import DependencyUnavailable
from miaopi_platform.aws.observability import logger
from miaopi_platform.identity.context import Identity
from miaopi_platform.identity.errors import KEYS_UNAVAILABLE, MISSING, InvalidToken

UNAUTHORIZED = "Unauthorized"
#: any other message is AUTHORIZER_FAILURE for API Gateway: this one says why
UNAVAILABLE = "Service unavailable"


class Verifier(Protocol):
    def verify(self, token: str) -> Identity: ...


def authorize(event: Mapping[str, Any], verifier: Callable[[], Verifier]) -> dict[str, Any]:
    """The authorizer's response to a REQUEST event; Exception("Unauthorized") for any refusal,
    a verifier that cannot be built included. Logs the reason of a refusal, never the token or
    a claim."""
    try:
        identity = verifier().verify(bearer_token(event.get("headers")))
        response = allow(identity, str(event["methodArn"]))
    except InvalidToken as exc:
        if exc.reason == KEYS_UNAVAILABLE:  # the issuer's keys could not be fetched
            logger.warning(
                "token not checked: a dependency is unavailable", extra={"reason": exc.reason}
            )
            raise Exception(UNAVAILABLE) from None
        logger.info("token refused", extra={"reason": exc.reason})
        raise Exception(UNAUTHORIZED) from None  # API Gateway's contract: this message is 401
    except DependencyUnavailable:  # the PII key store did not answer: no verifier yet
        logger.warning(
            "token not checked: a dependency is unavailable", extra={"reason": "key_store"}
        )
        raise Exception(UNAVAILABLE) from None
    except Exception as exc:  # a bug or a misconfiguration: still no access, and no detail
        logger.error("authorizer failed", extra={"error": type(exc).__name__})
        raise Exception(UNAUTHORIZED) from None
    logger.info(
        "token accepted",
        extra={"subjectType": identity.subject_type.value, "assurance": identity.assurance.name},
    )
    return response


def bearer_token(headers: Mapping[str, Any] | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (names and scheme in any case)."""
    value = next((v for k, v in (headers or {}).items() if str(k).lower() == "authorization"), None)
    scheme, _, token = str(value or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken(MISSING, "no bearer token")
    return token


def stage_resource(method_arn: str) -> str:
    """Every method of the method ARN's API stage, in the ARN's own partition and region."""
    parts = method_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
        raise ValueError("not an execute-api method ARN")
    api_id, _, rest = parts[5].partition("/")
    stage = rest.partition("/")[0]
    if not api_id or not stage:
        raise ValueError("not an execute-api method ARN")
    return ":".join([*parts[:5], f"{api_id}/{stage}/*"])


def policy_document(effect: str, resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


def allow(identity: Identity, method_arn: str) -> dict[str, Any]:
    """The authorizer's answer for a verified identity: principal, policy, context."""
    return {
        "principalId": identity.subject,
        "policyDocument": policy_document("Allow", stage_resource(method_arn)),
        "context": identity.to_context(),
    }
