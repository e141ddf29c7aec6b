"""The API contract's base (v1): JSON, camelCase on the wire, and the one error body.

Each capability's own API models live in its package (`records.views`, `catalogue.views`,
`review.views`, `audit.views`, `credit.routes`); they all derive from `ApiModel`. A route
declares its body (`request_body`) and its error statuses (`errors`) with the helpers below,
so the OpenAPI document says what the route parses and answers (`miaopi_platform.openapi`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

#: where the OpenAPI document keeps its schemas
COMPONENTS = "#/components/schemas/"
#: the OpenAPI security scheme's name: the identity platform's token as an HTTP bearer JWT
BEARER = "bearerAuth"
#: where API Gateway puts the principal a Lambda authorizer answered, in
#: `requestContext.authorizer` next to the authorizer's context
PRINCIPAL_ID = "principalId"


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


#: the config of an API model that only some functions answer (a page, a review's evidence, the
#: error body the OpenAPI document shows): pydantic builds its validator and serializer when it
#: is first used, not at the cold start of every function that imports its module
BUILT_ON_FIRST_USE = ConfigDict(defer_build=True)


class Localized(ApiModel):
    zh: str
    en: str


class ErrorDetail(ApiModel):
    model_config = BUILT_ON_FIRST_USE

    field: str | None = None
    code: str
    message: str | None = None


class ErrorInfo(ApiModel):
    model_config = BUILT_ON_FIRST_USE

    #: machine-readable, e.g. VALIDATION_FAILED, NOT_FOUND, DEPENDENCY_UNAVAILABLE
    code: str
    #: for people; never carries a submitted value
    message: str
    #: one entry per field at fault (422), or what was wrong (400, 404, 409)
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(ApiModel):
    """Every error the API answers, whatever the status (the handlers write it as a dict: this
    model is the OpenAPI document's)."""

    model_config = BUILT_ON_FIRST_USE

    error: ErrorInfo


#: what each error status means, unless a route says more
ERRORS: dict[int, str] = {
    400: "Malformed request: the body is not JSON, or a nextToken is not one this API gave",
    401: "Missing, expired or invalid bearer token",
    403: "The caller lacks the role this operation needs, for the authority it concerns, or "
    "the real-name level",
    404: "Not found",
    409: "Conflicts with the resource's current state",
    410: "No longer available",
    413: "The body exceeds the size limit",
    415: "The body is not declared as application/json (charset utf-8 at most)",
    422: "Invalid fields: one entry per field in error.details",
    503: "A dependency is unavailable: retry after Retry-After seconds",
}


def errors(statuses: Iterable[int], described: Mapping[int, str] | None = None) -> dict[int, Any]:
    """OpenAPI responses for error statuses, each the error object (ErrorBody): `statuses` with
    the default descriptions, `described` with the route's own."""
    described = described or {}
    out: dict[int, Any] = {}
    for status in sorted({*statuses, *described}):
        response: dict[str, Any] = {
            "description": described.get(status, ERRORS[status]),
            "content": {"application/json": {"model": ErrorBody}},
        }
        if status == 503:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
        out[status] = response
    return out


def request_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """The `openapi_extensions` that document a JSON body the route parses itself (with
    `json_body` and `parse_body`, so malformed, oversized and invalid bodies keep the API's
    400/413/422); `miaopi_platform.openapi` moves the schema into the document's components."""
    schema = model.model_json_schema(by_alias=True, ref_template=f"{COMPONENTS}{{model}}")
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def signed_in(*roles: str) -> list[dict[str, list[str]]]:
    """A route's OpenAPI security: a bearer token of someone holding one of `roles` (staff
    roles, each scoped to authorities; OpenAPI 3.1 lets a non-OAuth requirement list roles), or
    of anyone signed in."""
    return [{BEARER: list(roles)}]
