"""GET /applications and GET /applications/{applicationId}: an applicant's own applications."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from miaopi_platform.applications.flow import ApplicantPorts, own_application
from miaopi_platform.aws.api import errors, signed_in
from miaopi_platform.aws.http import json_response, public_base_url
from miaopi_platform.identity.caller import identity
from miaopi_platform.records.views import ApplicationPage, ApplicationView, view

router = Router()


@router.get(
    "/applications",
    summary="The caller's own applications, newest first",
    description="What the caller submitted (for themselves, as an agent, at a counter as a "
    "clerk) and what was submitted for them (by an agent, by a clerk at a counter).",
    operation_id="listApplications",
    responses={
        200: {"description": "A page", "content": {"application/json": {"model": ApplicationPage}}},
        **errors([400, 401, 422, 503]),
    },
    security=signed_in(),
    tags=["Applications"],
)
def list_applications(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[str]:
    ports: ApplicantPorts = router.context["deps"]
    me = identity(router)
    items, token = ports.store.list_own(me.subject, me.subject_id_hash, limit, next_token)
    base = public_base_url(router)
    return json_response(
        200, ApplicationPage(items=[view(i, base) for i in items], next_token=token).wire()
    )


@router.get(
    "/applications/<applicationId>",
    summary="One of the caller's applications",
    operation_id="getApplication",
    responses={
        200: {
            "description": "The application",
            "content": {"application/json": {"model": ApplicationView}},
        },
        **errors([401, 422, 503], {404: "No such application of the caller's"}),
    },
    security=signed_in(),
    tags=["Applications"],
)
def get_application(
    application_id: Annotated[str, Path(alias="applicationId", max_length=64)],
) -> Response[str]:
    ports: ApplicantPorts = router.context["deps"]
    item = own_application(ports.store, identity(router), application_id)
    return json_response(200, view(item, public_base_url(router)).wire())
