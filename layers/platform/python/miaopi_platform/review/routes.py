"""The reviewers' API (role `reviewer`): the queue, one task with its case, and the decision —
each for the services of the authorities the reviewer's roles name (`reviewer:transport`), or
every service (`reviewer:*`); a task of another authority is 403. Signed in at L3.

A decision claims the task (OPEN -> DECIDING, conditionally: a second decision is 409) and hands
it to the waiting workflow with SendTaskSuccess; the workflow records it and closes the task.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from miaopi_platform.aws.api import errors, request_body, signed_in
from miaopi_platform.aws.http import json_body, json_response, parse_body
from miaopi_platform.identity.caller import require_role
from miaopi_platform.review.flow import REVIEWER, ReviewPorts, case_of, decide, queue
from miaopi_platform.review.views import (
    ReviewDecisionAccepted,
    ReviewDecisionRequest,
    ReviewTaskDetail,
    ReviewTaskPage,
    ReviewTaskSummary,
    TaskStatus,
)

router = Router()
_TASK_ID = Annotated[str, Path(alias="taskId", max_length=64)]


@router.get(
    "/reviews",
    summary="Review tasks, the earliest deadline first",
    operation_id="listReviews",
    responses={
        200: {"description": "A page", "content": {"application/json": {"model": ReviewTaskPage}}},
        **errors(
            [400, 401, 422, 503],
            {
                403: "Not a reviewer, not at L3, or the service is of another authority",
                404: "Unknown service",
            },
        ),
    },
    security=signed_in(REVIEWER),
    tags=["Reviews"],
)
def list_reviews(
    status: Annotated[TaskStatus, Query()] = "OPEN",
    service_id: Annotated[str | None, Query(alias="serviceId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[str]:
    reviewer = require_role(router, REVIEWER)
    items, token = queue(_ports(), reviewer, status, service_id, limit, next_token)
    page = ReviewTaskPage(
        items=[ReviewTaskSummary.model_validate(i) for i in items], next_token=token
    )
    return json_response(200, page.wire())


@router.get(
    "/reviews/<taskId>",
    summary="One review task: the application, the evidence and the rules that referred it",
    operation_id="getReview",
    responses={
        200: {
            "description": "The task",
            "content": {"application/json": {"model": ReviewTaskDetail}},
        },
        **errors(
            [401, 422, 503],
            {
                403: "Not a reviewer, not at L3, or the task is of another authority",
                404: "No such task",
            },
        ),
    },
    security=signed_in(REVIEWER),
    tags=["Reviews"],
)
def get_review(task_id: _TASK_ID) -> Response[str]:
    reviewer = require_role(router, REVIEWER)
    return json_response(200, case_of(_ports(), task_id, reviewer).wire())


@router.post(
    "/reviews/<taskId>/decision",
    summary="Decide a review task (once): APPROVE or REJECT, with reason codes and a comment",
    operation_id="decideReview",
    openapi_extensions=request_body(ReviewDecisionRequest, "The reviewer's decision"),
    responses={
        202: {
            "description": "The decision was handed to the workflow, which records it",
            "content": {"application/json": {"model": ReviewDecisionAccepted}},
        },
        **errors(
            [400, 401, 413, 415, 503],
            {
                403: "Not a reviewer, not at L3, the task is of another authority, or the "
                "reviewer's own application",
                404: "No such task",
                409: "The task was decided already, or the subject is on the credit list",
                422: "Invalid decision: one entry per field in error.details",
            },
        ),
    },
    security=signed_in(REVIEWER),
    tags=["Reviews"],
)
def decide_review(task_id: _TASK_ID) -> Response[str]:
    reviewer = require_role(router, REVIEWER)
    ports = _ports()
    body = json_body(router, ports.settings.max_body_bytes)
    request = parse_body(ReviewDecisionRequest, body, "decision")
    return json_response(202, decide(ports, task_id, reviewer, request).wire())


def _ports() -> ReviewPorts:
    ports: ReviewPorts = router.context["deps"]
    return ports
