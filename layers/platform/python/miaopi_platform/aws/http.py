"""HTTP plumbing: the resolver every function uses, the caller's id from the authorizer, and the ONE
place that maps domain and platform errors to statuses and the JSON error format.

The resolver runs each request within its invocation's deadline (`aws.dependencies`), so a slow
or hung dependency is a 503 with Retry-After before the function's timeout, not a 502."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from email.message import Message
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from miaopi.errors import ApplicationInvalid, NoRuleSetInForce, UnknownService
from miaopi.field_errors import explain, field_errors
from pydantic import BaseModel, ValidationError

from miaopi_platform.aws.dependencies import invocation
from miaopi_platform.aws.errors import (
    BadRequest,
    DependencyUnavailable,
    Detail,
    PayloadTooLarge,
    PlatformError,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from miaopi_platform.aws.json_input import TooDeep, loads
from miaopi_platform.aws.observability import logger, metrics, tracer

JSON = "application/json"


def error_response(
    status: int, code: str, message: str, details: list[Detail] | None = None
) -> Response[str]:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Response(
        status_code=status, content_type=JSON, body=json.dumps(body, ensure_ascii=False)
    )


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, ensure_ascii=False, default=str),
        headers=headers,
    )


def binary_response(
    status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
) -> Response[str]:
    """Bytes (a PDF) as a proxy integration returns them: base64 text with `isBase64Encoded`,
    sent as bytes by API Gateway when the request's Accept names one of the API's
    BinaryMediaTypes. Encoded here, not by the resolver, so response validation sees text."""
    response = Response(
        status_code=status,
        content_type=content_type,
        body=base64.b64encode(body).decode("ascii"),
        headers=headers,
    )
    response.base64_encoded = True
    return response


class _Resolver(APIGatewayRestResolver):
    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        with invocation.running(context):
            return super().resolve(event, context)


def api_handler(
    app: APIGatewayRestResolver, **context: Any
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """An API function's handler: the resolver `app` with its routes, each invocation logged
    (with the Lambda context), its metrics flushed (cold start counted), traced, and handed
    `context` (e.g. `deps=`, the function's dependencies) afresh, as the resolver clears it
    after each request. The API's counterpart of `batch.batch_handler`."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler
    def lambda_handler(event: dict[str, Any], lambda_context: LambdaContext) -> dict[str, Any]:
        if context:
            app.append_context(**context)
        return app.resolve(event, lambda_context)

    return lambda_handler


def make_resolver() -> APIGatewayRestResolver:
    app = _Resolver(enable_validation=True)
    app.use(middlewares=[_declared_query_only])

    @app.exception_handler(ApplicationInvalid)
    def _invalid(exc: ApplicationInvalid) -> Response[str]:
        details: list[Detail] = [
            {"field": e.field, "code": e.code, "message": e.message} for e in exc.errors
        ]
        return error_response(
            422, "VALIDATION_FAILED", "the application has invalid fields", details
        )

    @app.exception_handler(RequestValidationError)
    def _request_invalid(exc: RequestValidationError) -> Response[str]:
        details: list[Detail] = []
        for e in exc.errors():
            name = _field(e.get("loc", ()))
            code = e.get("type", "invalid")
            details.append({"field": name, "code": code, "message": f"{name}: {explain(e)}"})
        return error_response(422, "VALIDATION_FAILED", "the request has invalid fields", details)

    @app.exception_handler(UnknownService)
    def _unknown(exc: UnknownService) -> Response[str]:
        return error_response(
            404, "NOT_FOUND", "no such service", [{"field": "serviceId", "code": "unknown"}]
        )

    @app.exception_handler(NoRuleSetInForce)
    def _no_rules(exc: NoRuleSetInForce) -> Response[str]:
        return error_response(409, "NO_RULE_SET_IN_FORCE", str(exc))

    @app.exception_handler(DependencyUnavailable)
    def _down(exc: DependencyUnavailable) -> Response[str]:
        details = exc.details
        if exc.recorded is not None:  # a request that writes says whether it recorded anything
            details = [{**d, "recorded": exc.recorded} for d in details or [{"code": exc.code}]]
        response = error_response(exc.status, exc.code, exc.message, details)
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response

    @app.exception_handler(PlatformError)
    def _platform(exc: PlatformError) -> Response[str]:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.not_found
    def _route_not_found(exc: Exception) -> Response[str]:
        return error_response(404, "NOT_FOUND", "no such resource")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        # The type only: messages can carry values, values can be personal data.
        logger.error("unexpected error", extra={"error": type(exc).__name__})
        return error_response(500, "INTERNAL", "an unexpected error occurred")

    return app


def _declared_query_only(
    app: APIGatewayRestResolver, next_middleware: NextMiddleware
) -> Response[Any]:
    """On a route that takes query parameters (filters, paging), one it does not take is a 422,
    never ignored: a misspelt filter (`outcom=REJECTED`) would otherwise be answered with more
    than was asked. (A route without any, or an unknown route, has nothing to misspell.)"""
    route = app.context.get("_route")
    declared = {param.alias for param in route.dependant.query_params} if route else set()
    given = set(app.current_event.query_string_parameters or {})
    unknown = sorted(given - declared) if declared else []
    if unknown:
        raise UnprocessableEntity(
            "the request has query parameters this operation does not take",
            [
                # names only, and only names that look like one (never a value)
                {"field": name if _NAME.fullmatch(name) else "(query)", "code": "unknown_parameter"}
                for name in unknown
            ],
        )
    return next_middleware(app)


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def _field(loc: Any) -> str:
    """A parameter's name as the client wrote it (headers come lower-cased)."""
    where, *path = [str(part) for part in loc] or ["request"]
    if where == "header" and path:
        return "-".join(word.capitalize() for word in path[0].split("-"))
    return ".".join(path) or where


def json_body(app: BaseRouter, max_bytes: int) -> Any:
    """The request body parsed, or 413 / 415 / 400 with our error format."""
    raw = app.current_event.body or ""
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if size > max_bytes:
        raise PayloadTooLarge(f"the body exceeds {max_bytes} bytes")
    if not raw:
        raise BadRequest("a JSON body is required")
    _require_json(app.current_event.headers.get("content-type"))
    try:
        return loads(raw)
    except TooDeep as exc:
        raise BadRequest(
            f"the body nests arrays and objects deeper than {exc.max_depth} levels",
            [{"field": "body", "code": "too_deep"}],
        ) from None
    except ValueError:  # UnicodeDecodeError included
        raise BadRequest("the body is not valid JSON") from None


def _require_json(content_type: str | None) -> None:
    """A body is JSON in UTF-8 (RFC 8259): `application/json`, a charset of utf-8 allowed.
    Anything else (a form, text) is a 415, not parsed as JSON on a guess."""
    header = Message()
    header["content-type"] = content_type or ""
    charset = header.get_content_charset("utf-8")
    if not content_type or header.get_content_type() != JSON or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            "the body must be JSON: send Content-Type: application/json",
            [{"field": "Content-Type", "code": "unsupported"}],
        )


def authorizer_context(app: BaseRouter) -> Mapping[str, Any]:
    """What the API's authorizer passed for this request (`requestContext.authorizer`: the
    principal and the identity context, see miaopi_platform.identity); empty without one."""
    context = cast(APIGatewayProxyEvent, app.current_event).request_context
    found = context.authorizer.raw_event if context.authorizer else None
    return found if isinstance(found, Mapping) else {}


def parse_body[ModelT: BaseModel](model: type[ModelT], body: Any, what: str) -> ModelT:
    """A JSON body as an API model, or 422 with one entry per field saying what it expects
    (values never echoed)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = field_errors(exc.errors(include_input=False, include_url=False), root="body")
        details: list[Detail] = [
            {"field": e.field, "code": e.code, "message": e.message} for e in errors
        ]
        raise UnprocessableEntity(f"the {what} has invalid fields", details) from None


def first_accepted(app: BaseRouter) -> str:
    """The first media type the request's Accept header names (lower case; "" without one).
    API Gateway sends a base64 body as bytes only when this first type is one of the API's
    BinaryMediaTypes, so a binary answer is chosen by it, not by q-values: a PDF answered to
    `Accept: application/json;q=0.5, application/pdf` would arrive as base64 text."""
    header = app.current_event.headers.get("accept") or ""
    first = header.split(",")[0].split(";")
    quality = next(
        (p.partition("=")[2].strip() for p in first[1:] if p.strip().lower().startswith("q=")),
        "1",
    )
    try:
        refused = float(quality) <= 0
    except ValueError:
        refused = True
    return "" if refused else first[0].strip().lower()


def public_base_url(app: BaseRouter) -> str:
    """The API's address as the caller reached it (scheme, host, and the stage or base path a
    custom domain maps), for links a person follows later, such as a printed certificate's
    verification URL. API Gateway says the scheme in X-Forwarded-Proto and the whole path,
    stage included, in `requestContext.path`."""
    event = cast(APIGatewayProxyEvent, app.current_event)
    said = (event.headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    scheme = said if said in ("http", "https") else "https"
    host = event.headers.get("host") or event.request_context.domain_name
    full = event.request_context.path or event.path
    prefix = full[: -len(event.path)] if event.path and full.endswith(event.path) else ""
    return f"{scheme}://{host}{prefix}"
