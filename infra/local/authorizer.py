"""API Gateway's Lambda authorizers, locally: the template's authorizer function called the way
API Gateway calls it, its answer cached and enforced the way API Gateway does.

For a route behind a Lambda authorizer (template.yaml's `Auth.Authorizers`):
- the identity source (the `Identity.Headers`) must be in the request, or it is 401 without a
  call, when answers are cached (a TTL above 0, as API Gateway requires then);
- the function gets a REQUEST event (the request's headers, query, path parameters and context,
  no body) with the `methodArn` of the request, in the stack's partition, region and account;
- `Exception("Unauthorized")` is 401; any other failure or a malformed answer is 500;
- the answer (principal, policy, context) is cached per identity source for `ReauthorizeEvery`
  seconds (requests with the same identity at once make one call) and its policy evaluated
  against each request's method ARN: an explicit Deny, or no Allow that matches, is 403;
- the function behind the route gets `principalId` and the context, every value a string, as
  `requestContext.authorizer`.

Refusals are rendered with the API's GatewayResponses from the template (the specific response
type, else DEFAULT_4XX / DEFAULT_5XX), so the error body is the one API Gateway would send.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.local.deploy import Deployment
from infra.local.events import authorizer_request_event
from infra.local.runtime import Runtime
from infra.local.template import LambdaAuthorizer, LocalTemplate

#: the exact message of an authorizer's exception that API Gateway answers with 401
UNAUTHORIZED = "Unauthorized"


class Refused(Exception):
    """What API Gateway answers instead of calling the route's function."""

    def __init__(self, status: int, response_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = response_type
        self.message = message


def _unauthorized() -> Refused:
    return Refused(401, "UNAUTHORIZED", UNAUTHORIZED)


def _denied(explicit: bool) -> Refused:
    message = "User is not authorized to access this resource"
    return Refused(403, "ACCESS_DENIED", message + (" with an explicit deny" if explicit else ""))


@dataclass(frozen=True)
class Answer:
    """An authorizer's answer, as cached."""

    principal_id: str
    statements: tuple[tuple[str, str], ...]  # (effect, resource pattern) of execute-api:Invoke
    context: dict[str, str]
    expires_at: float


class GatewayResponses:
    """The API's GatewayResponses by response type: templates (application/json), and the
    status codes and headers a response type sets."""

    def __init__(
        self,
        templates: Mapping[str, str],
        statuses: Mapping[str, int] | None = None,
        headers: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.templates = dict(templates)
        self.statuses = dict(statuses or {})
        self.headers_by_type = {k: dict(v) for k, v in (headers or {}).items()}

    @classmethod
    def from_template(cls, template: LocalTemplate) -> GatewayResponses:
        found: dict[str, str] = {}
        statuses: dict[str, int] = {}
        headers: dict[str, dict[str, str]] = {}
        for api_id in template.of_type("AWS::Serverless::Api"):
            responses = template.properties(api_id).get("GatewayResponses") or {}
            for response_type, decl in responses.items():
                text = ((decl or {}).get("ResponseTemplates") or {}).get("application/json")
                if isinstance(text, str):
                    found[str(response_type)] = text
                if (decl or {}).get("StatusCode") is not None:
                    statuses[str(response_type)] = int(decl["StatusCode"])
                declared = ((decl or {}).get("ResponseParameters") or {}).get("Headers") or {}
                # a static value is quoted, as API Gateway's mapping expressions are
                headers[str(response_type)] = {
                    str(name): str(value).strip("'") for name, value in declared.items()
                }
        return cls(found, statuses, headers)

    def status(self, refused: Refused) -> int:
        """The status API Gateway answers a refusal with (the response type's, if it sets one)."""
        return self.statuses.get(refused.code, refused.status)

    def headers(self, refused: Refused) -> dict[str, str]:
        """The headers the refusal's response type adds."""
        return dict(self.headers_by_type.get(refused.code, {}))

    def body(self, refused: Refused) -> bytes | None:
        """The body API Gateway would send for a refusal; None when the template has none."""
        default = "DEFAULT_4XX" if refused.status < 500 else "DEFAULT_5XX"
        text = self.templates.get(refused.code) or self.templates.get(default)
        if text is None:
            return None
        rendered = (
            text.replace("$context.error.responseType", refused.code)
            .replace("$context.error.messageString", json.dumps(refused.message))
            .replace("$context.error.message", refused.message)
        )
        return json.dumps(json.loads(rendered)).encode()  # a template that is not JSON fails here


class Authorizers:
    """The API's Lambda authorizers, run on `runtime`; `authorize(name, event)` per request."""

    def __init__(
        self,
        authorizers: Mapping[str, LambdaAuthorizer],
        runtime: Runtime,
        *,
        partition: str,
        region: str,
        responses: GatewayResponses,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.authorizers = dict(authorizers)
        self.runtime = runtime
        self.partition = partition
        self.region = region
        self.responses = responses
        #: what the cache ages by (a test moves it)
        self.clock = clock
        self._cache: dict[tuple[str, tuple[str, ...]], Answer] = {}
        self._callers: dict[tuple[str, tuple[str, ...]], threading.Lock] = {}
        self._lock = threading.Lock()
        #: how often each authorizer's function was called (a cached answer is not a call)
        self.calls: dict[str, int] = dict.fromkeys(self.authorizers, 0)

    @classmethod
    def from_deployment(cls, deployment: Deployment, runtime: Runtime) -> Authorizers:
        return cls(
            deployment.template.lambda_authorizers(),
            runtime,
            partition=str(deployment.resolver.pseudo("AWS::Partition")),
            region=deployment.region,
            responses=GatewayResponses.from_template(deployment.template),
        )

    def error_body(self, refused: Refused) -> bytes | None:
        return self.responses.body(refused)

    def error_status(self, refused: Refused) -> int:
        return self.responses.status(refused)

    def error_headers(self, refused: Refused) -> dict[str, str]:
        return self.responses.headers(refused)

    def method_arn(self, event: Mapping[str, Any]) -> str:
        context = event["requestContext"]
        resource = f"{context['apiId']}/{context['stage']}/{event['httpMethod']}{event['path']}"
        return f"arn:{self.partition}:execute-api:{self.region}:{context['accountId']}:{resource}"

    def authorize(self, name: str, event: Mapping[str, Any]) -> dict[str, str]:
        """`requestContext.authorizer` for a proxy event of a route behind authorizer `name`;
        Refused when API Gateway would not call the route's function."""
        config = self.authorizers.get(name)
        if config is None:
            raise Refused(500, "AUTHORIZER_CONFIGURATION_ERROR", f"no Lambda authorizer {name}")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        identity = tuple(headers.get(h.lower(), "") for h in config.identity_headers)
        if config.ttl_seconds > 0 and not all(identity):
            raise _unauthorized()
        method_arn = self.method_arn(event)
        key = (name, identity)
        if config.ttl_seconds <= 0:
            answer = self._call(config, event, method_arn, self.clock())
        else:
            with self._lock:
                one_caller = self._callers.setdefault(key, threading.Lock())
            # requests with the same token at once: one call, the others wait for its answer
            with one_caller:
                now = self.clock()
                cached = self._cache.get(key)
                if cached is None or cached.expires_at <= now:
                    cached = self._call(config, event, method_arn, now)
                    with self._lock:
                        self._cache[key] = cached
            answer = cached
        verdict = _evaluate(answer.statements, method_arn)
        if verdict is not True:
            raise _denied(explicit=verdict is False)
        return {"principalId": answer.principal_id, **answer.context}

    def _call(
        self, config: LambdaAuthorizer, event: Mapping[str, Any], method_arn: str, now: float
    ) -> Answer:
        with self._lock:
            self.calls[config.name] = self.calls.get(config.name, 0) + 1
        request = authorizer_request_event(event, method_arn)
        result = self.runtime.invoke(config.function_id, request)
        if not result.ok:
            if (result.error or {}).get("errorMessage") == UNAUTHORIZED:
                raise _unauthorized()
            raise Refused(500, "AUTHORIZER_FAILURE", "the authorizer failed")
        try:
            return _answer(result.payload, now + config.ttl_seconds)
        except (KeyError, TypeError, ValueError):
            raise Refused(
                500, "AUTHORIZER_CONFIGURATION_ERROR", "the authorizer's answer is malformed"
            ) from None


def _answer(payload: Any, expires_at: float) -> Answer:
    """An authorizer's answer as API Gateway reads it; ValueError (or KeyError, TypeError) when
    it lacks a principal or a policy, or its context has a value that is not flat."""
    principal = payload["principalId"]
    if not isinstance(principal, str) or not principal:
        raise ValueError("principalId")
    statements = payload["policyDocument"]["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    found: list[tuple[str, str]] = []
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions):
            continue
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            found.append((str(statement["Effect"]), str(resource)))
    context: dict[str, str] = {}
    for name, value in (payload.get("context") or {}).items():
        if isinstance(value, dict | list) or value is None:
            raise ValueError("context values are strings, numbers or booleans")
        context[str(name)] = (
            ("true" if value else "false") if isinstance(value, bool) else str(value)
        )
    return Answer(principal, tuple(found), context, expires_at)


def _evaluate(statements: tuple[tuple[str, str], ...], method_arn: str) -> bool | None:
    """True when an Allow matches and no Deny does; False for a matching Deny; None for no
    matching statement (an implicit deny)."""
    matching = {effect for effect, pattern in statements if _arn_pattern(pattern).match(method_arn)}
    if "Deny" in matching:
        return False
    return True if "Allow" in matching else None


def _arn_pattern(pattern: str) -> re.Pattern[str]:
    """IAM's wildcards in a resource: `*` any run of characters, `?` any one."""
    escaped = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"{escaped}\\Z", re.DOTALL)
