"""The OpenAPI document, generated from the routers' code, and a Swagger UI page for it.

What a route declares (its parameters, responses, `request_body` and `signed_in` roles, see
`aws/api.py`) is the contract; this module only assembles it for clients and generators:
request bodies' schemas become named components; the one submit route becomes one operation
per service with that service's form as its body (each service is its own function and route
in template.yaml); header names keep their capitals; and Powertools' own validation-error
schema, which the API never answers (http.py maps it to the error object), becomes the error
object.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from pydantic.json_schema import models_json_schema

from miaopi_platform.aws.api import BEARER, COMPONENTS, ERRORS, ErrorBody
from miaopi_platform.aws.http import make_resolver

TITLE = "miaopi (秒批) API"
VERSION = "1.0.0"
SUBMIT_PATH = "/services/{serviceId}/applications"
_POWERTOOLS_ONLY = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


@cache
def document() -> dict[str, Any]:
    from miaopi_platform.applications import routes as applications
    from miaopi_platform.applications import submit_route as submit
    from miaopi_platform.audit import routes as audit
    from miaopi_platform.catalogue import routes as catalogue
    from miaopi_platform.certificates import routes as certificates
    from miaopi_platform.credit import routes as credit
    from miaopi_platform.outcomes import routes as notifications
    from miaopi_platform.review import routes as reviews

    app = make_resolver()
    for module in (
        catalogue,
        submit,
        applications,
        certificates,
        notifications,
        reviews,
        credit,
        audit,
    ):
        app.include_router(module.router)
    spec = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="Government-service applications decided in seconds from published rules. "
        "Every error answers the error object (ErrorBody); identifiers in forms carry their "
        "check-digit rules in their descriptions.",
        security_schemes={
            BEARER: HTTPBearer(
                bearerFormat="JWT",
                description="A token of the government identity platform (OpenID Connect, "
                "real-name claims): `Authorization: Bearer <token>`. An operation's security "
                "requirement lists the staff roles it needs (none: anyone signed in); a role "
                "acts for the authorities its scope names (`reviewer:transport`, `auditor:*`) "
                "and staff sign in at real-name level L3.",
            )
        },
    )
    parsed: dict[str, Any] = json.loads(spec)
    schemas: dict[str, Any] = parsed.setdefault("components", {}).setdefault("schemas", {})
    for operations in parsed["paths"].values():
        for operation in operations.values():
            _hoist_body(operation, schemas)
            _header_names(operation)
    _submit_per_service(parsed, schemas)
    _error_object_only(parsed, schemas)
    _service_ids(parsed, schemas)
    return parsed


def _hoist_body(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A body schema from `request_body` becomes a named component (generators name the
    model after it), its `$defs` components beside it."""
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not media or "$ref" in media["schema"]:
        return
    schema = media["schema"]
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas[schema["title"]] = schema
    media["schema"] = {"$ref": f"{COMPONENTS}{schema['title']}"}


def _header_names(operation: dict[str, Any]) -> None:
    """Header parameters as clients write them (Powertools lower-cases them)."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header":
            parameter["name"] = "-".join(w.capitalize() for w in parameter["name"].split("-"))


def _submit_per_service(spec: dict[str, Any], schemas: dict[str, Any]) -> None:
    """POST /services/{id}/applications for each service, its form as the body."""
    from miaopi_platform.catalogue.services import all_services

    generic = spec["paths"].pop(SUBMIT_PATH)["post"]
    generic["parameters"] = [p for p in generic["parameters"] if p["name"] != "serviceId"]
    services = sorted(all_services().values(), key=lambda s: s.id)
    forms, definitions = models_json_schema(
        [(s.form_model, "validation") for s in services], ref_template=f"{COMPONENTS}{{model}}"
    )
    schemas.update(definitions.get("$defs", {}))
    for service in services:
        form = forms[(service.form_model, "validation")]
        operation = copy.deepcopy(generic)
        operation["operationId"] = f"submit{service.form_model.__name__}"
        operation["summary"] = f"{generic['summary']}: {service.file.name.en}"
        operation["requestBody"] = {
            "required": True,
            "description": f"The application form of {service.file.name.en} "
            f"({service.file.name.zh})",
            "content": {"application/json": {"schema": form}},
        }
        spec["paths"][SUBMIT_PATH.replace("{serviceId}", service.id)] = {"post": operation}


def _service_ids(spec: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A `serviceId` a client sends is one of the published services (from the rules data)."""
    from miaopi_platform.catalogue.services import all_services

    known = sorted(all_services())
    for operations in spec["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "serviceId":
                    _enum(parameter["schema"], known)
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                target = schemas[body["schema"]["$ref"].removeprefix(COMPONENTS)]
                if "serviceId" in target.get("properties", {}):
                    _enum(target["properties"]["serviceId"], known)


def _enum(schema: dict[str, Any], values: list[str]) -> None:
    """`values` as the string's choices, wherever it sits in an optional's anyOf."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string":
            option["enum"] = values
            option.pop("maxLength", None)


def _error_object_only(spec: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Powertools documents a 422 of its own on every route; the API answers ErrorBody."""
    error = {"$ref": f"{COMPONENTS}{ErrorBody.__name__}"}
    for operations in spec["paths"].values():
        for operation in operations.values():
            for response in operation["responses"].values():
                media = response.get("content", {}).get("application/json", {})
                if media.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    media["schema"] = error
                    response["description"] = ERRORS[422]
    for name in _POWERTOOLS_ONLY:
        schemas.pop(name, None)
    # API Gateway itself refuses a request line and headers past its 10 KB limit on any route
    # (gateway response REQUEST_TOO_LARGE, in the error object: template.yaml GatewayResponses)
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation["responses"].setdefault(
                "413",
                {
                    "description": "The request (line and headers, or body) exceeds the limit",
                    "content": {"application/json": {"schema": error}},
                },
            )


SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>miaopi API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
  const base = window.location.pathname.replace(/\\/docs\\/?$/, "");
  SwaggerUIBundle({url: base + "/openapi.json", dom_id: "#ui"});
</script></body></html>
"""
