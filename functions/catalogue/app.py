"""The public catalogue, the OpenAPI document and its Swagger UI page; also answers submissions
to services that do not exist (each real service has its own function)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from miaopi_platform.aws.errors import NotFound
from miaopi_platform.aws.http import api_handler, json_response, make_resolver
from miaopi_platform.catalogue import routes as catalogue
from miaopi_platform.catalogue.services import find
from miaopi_platform.openapi import SWAGGER_PAGE, document

# The services are compiled when a request needs them (the list: all of them, once; a service:
# that one), not at cold start: a city's hundreds would not fit Lambda's 10 s initialisation.
app = make_resolver()
app.include_router(catalogue.router)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    # Paths are relative to the stage the document is served from (e.g. /v1).
    stage = app.current_event.request_context.stage
    return json_response(200, {**document(), "servers": [{"url": f"/{stage}" if stage else "/"}]})


@app.get("/docs", include_in_schema=False)
def docs() -> Response[str]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=SWAGGER_PAGE)


@app.post("/services/<serviceId>/applications", include_in_schema=False)
def submit_to_unknown(service_id: Annotated[str, Path(alias="serviceId")]) -> Response[str]:
    find(service_id)  # 404 for an unknown service
    raise NotFound("this service takes applications at its own endpoint")


lambda_handler = api_handler(app)
