"""GET /applications and GET /applications/{applicationId}: an applicant's own applications."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from miaopi_platform.aws.errors import NotFound
from miaopi_platform.aws.http import caller_id, json_response
from miaopi_platform.records.views import ApplicationPage, ApplicationView, view
from miaopi_platform.wiring import Dependencies

router = Router()


@router.get(
    "/applications",
    summary="The caller's own applications, newest first",
    responses={
        200: {"description": "A page", "content": {"application/json": {"model": ApplicationPage}}}
    },
    security=[{"cognito": []}],
    tags=["Applications"],
)
def list_applications(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[str]:
    deps: Dependencies = router.context["deps"]
    items, token = deps.store.list_for(caller_id(router), limit, next_token)  # type: ignore[arg-type]
    return json_response(
        200, ApplicationPage(items=[view(i) for i in items], next_token=token).wire()
    )


@router.get(
    "/applications/<applicationId>",
    summary="One of the caller's applications",
    responses={
        200: {
            "description": "The application",
            "content": {"application/json": {"model": ApplicationView}},
        },
        404: {"description": "No such application of the caller's"},
    },
    security=[{"cognito": []}],
    tags=["Applications"],
)
def get_application(
    application_id: Annotated[str, Path(alias="applicationId", max_length=64)],
) -> Response[str]:
    deps: Dependencies = router.context["deps"]
    item = deps.store.get(application_id)
    # Another applicant's application is as absent as one that does not exist.
    if item is None or item.get("applicantId") != caller_id(router):  # type: ignore[arg-type]
        raise NotFound("no such application")
    return json_response(200, view(item).wire())
