"""The OpenAPI document, generated from the routers' code, and a Swagger UI page for it."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey

from miaopi_platform.aws.http import make_resolver

TITLE = "miaopi (秒批) API"
VERSION = "1.0.0"


@cache
def document() -> dict[str, Any]:
    from miaopi_platform.applications import routes as applications
    from miaopi_platform.applications import submit_route as submit
    from miaopi_platform.audit import routes as audit
    from miaopi_platform.catalogue import routes as catalogue
    from miaopi_platform.credit import routes as credit
    from miaopi_platform.review import routes as reviews

    app = make_resolver()
    for module in (catalogue, submit, applications, reviews, credit, audit):
        app.include_router(module.router)
    spec = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="Government-service applications decided in seconds from published rules.",
        security_schemes={
            "cognito": APIKey.model_validate(
                {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The Cognito ID token: `Authorization: Bearer <token>`",
                }
            )
        },
    )
    parsed: dict[str, Any] = json.loads(spec)
    return parsed


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
