"""The reviewers' API (group `reviewers`): the queue, one task with its case, and the decision.

A decision claims the task (OPEN -> DECIDING, conditionally: a second decision is 409) and hands
it to the waiting workflow with SendTaskSuccess; the workflow records it and closes the task.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from botocore.exceptions import BotoCoreError, ClientError

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.errors import Conflict, DependencyUnavailable, Forbidden, NotFound
from miaopi_platform.aws.http import json_body, json_response, parse_body, require_group
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.catalogue.services import find
from miaopi_platform.credit.store import in_force
from miaopi_platform.records.ids import decision_id, decision_id_for
from miaopi_platform.records.views import EvidenceSnapshotView, TraceView, view
from miaopi_platform.review.tasks import (
    DECIDING,
    OPEN,
    SPOT_CHECK,
    ReviewerChoice,
    reviewer_decision,
)
from miaopi_platform.review.views import (
    ReviewDecisionAccepted,
    ReviewDecisionRequest,
    ReviewTaskDetail,
    ReviewTaskPage,
    ReviewTaskSummary,
    TaskStatus,
)
from miaopi_platform.wiring import Dependencies

router = Router()
REVIEWERS = "reviewers"
#: a claim the workflow has not recorded after this long (its function died) can be made again
CLAIM_EXPIRES = dt.timedelta(minutes=1)
_TASK_ID = Annotated[str, Path(alias="taskId", max_length=64)]


@router.get(
    "/reviews",
    summary="Review tasks, the earliest deadline first",
    responses={
        200: {"description": "A page", "content": {"application/json": {"model": ReviewTaskPage}}}
    },
    security=[{"cognito": []}],
    tags=["Reviews"],
)
def list_reviews(
    status: Annotated[TaskStatus, Query()] = "OPEN",
    service_id: Annotated[str | None, Query(alias="serviceId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[str]:
    require_group(router, REVIEWERS)  # type: ignore[arg-type]
    deps: Dependencies = router.context["deps"]
    if service_id:
        find(service_id)  # an unknown service is a 404, not an empty queue
    items, token = deps.reviews.queue(status, service_id, limit, next_token)
    page = ReviewTaskPage(
        items=[ReviewTaskSummary.model_validate(i) for i in items], next_token=token
    )
    return json_response(200, page.wire())


@router.get(
    "/reviews/<taskId>",
    summary="One review task: the application, the evidence and the rules that referred it",
    responses={
        200: {
            "description": "The task",
            "content": {"application/json": {"model": ReviewTaskDetail}},
        },
        404: {"description": "No such task"},
    },
    security=[{"cognito": []}],
    tags=["Reviews"],
)
def get_review(task_id: _TASK_ID) -> Response[str]:
    require_group(router, REVIEWERS)  # type: ignore[arg-type]
    deps: Dependencies = router.context["deps"]
    task = _task(deps, task_id)
    application = deps.store.get(task["applicationId"])
    source = deps.store.get_decision(task["sourceDecisionId"])
    if application is None or source is None:
        raise NotFound("no such review task")
    service = find(task["serviceId"])
    evidence = [
        EvidenceSnapshotView(
            alias=alias,
            source=service.evidence[alias].source if alias in service.evidence else alias,
            status=snapshot["status"],
            record=snapshot.get("record"),
        )
        for alias, snapshot in sorted(source.get("evidence", {}).items())
    ]
    detail = ReviewTaskDetail.model_validate(
        {
            **task,
            "application": view(application),
            "reasons": source.get("reasons", []),
            "trace": [TraceView.model_validate(t) for t in source.get("trace", [])],
            "evidence": evidence,
            "facts": source.get("facts", {}),
            "ruleSetVersion": source["ruleSetVersion"],
            "ruleSetHash": source["ruleSetHash"],
        }
    )
    return json_response(200, detail.wire())


@router.post(
    "/reviews/<taskId>/decision",
    summary="Decide a review task (once): APPROVE or REJECT, with reason codes and a comment",
    responses={
        202: {
            "description": "The decision was handed to the workflow, which records it",
            "content": {"application/json": {"model": ReviewDecisionAccepted}},
        },
        403: {"description": "Not a reviewer, or the reviewer's own application"},
        409: {"description": "The task was decided already"},
        422: {"description": "Invalid decision"},
    },
    security=[{"cognito": []}],
    tags=["Reviews"],
)
def decide_review(task_id: _TASK_ID) -> Response[str]:
    reviewer = require_group(router, REVIEWERS)  # type: ignore[arg-type]
    deps: Dependencies = router.context["deps"]
    request = _decision_request(json_body(router, deps.settings.max_body_bytes))  # type: ignore[arg-type]
    task = _task(deps, task_id)
    if task.get("applicantId") == reviewer:
        raise Forbidden("a reviewer cannot decide their own application")
    now = dt.datetime.now(dt.UTC)
    stale_before = iso(now - CLAIM_EXPIRES)
    claimable = task["status"] == OPEN or (
        task["status"] == DECIDING and str(task.get("claimedAt", "")) < stale_before
    )
    if not claimable:  # the conditional claim below settles races; this answers the plain case
        raise Conflict(
            "this task has already been decided", [{"field": "taskId", "code": "already_decided"}]
        )
    source = deps.store.get_decision(task["sourceDecisionId"])
    if source is None:
        raise NotFound("no such review task")
    _still_decidable(deps, task, source, request.decision)
    choice = ReviewerChoice(
        decision=request.decision,
        reason_codes=tuple(dict.fromkeys(request.reason_codes)),
        comment=request.comment,
        reviewer_id=reviewer,
    )
    claim_id = uuid.uuid4().hex
    decided = reviewer_decision(
        find(task["serviceId"]),
        task,
        source,
        choice,
        _decision_id(deps, task, source),
        now,
        claim_id,
    )
    deps.reviews.claim(task, decided.claim, stale_before)
    _hand_to_workflow(deps, task, claim_id, decided.workflow_output)
    logger.info(
        "review decided",
        extra={"taskId": task_id, "decisionId": decided.decision_id, "outcome": decided.outcome},
    )
    metrics.add_metric(name=f"Review{decided.outcome.value.title()}", unit="Count", value=1)
    accepted = ReviewDecisionAccepted(
        task_id=task_id,
        status="DECIDING",
        decision_id=decided.decision_id,
        outcome=decided.outcome.value,  # type: ignore[arg-type]
    )
    return json_response(202, accepted.wire())


def _still_decidable(
    deps: Dependencies, task: dict[str, Any], source: dict[str, Any], decision: str
) -> None:
    """A spot check of an approval revoked meanwhile has nothing left to check; an approval
    is not given to a subject on the credit list (every decision consults it)."""
    if task["kind"] == SPOT_CHECK:
        application = deps.store.get(task["applicationId"]) or {}
        in_force_now = (application.get("decision") or {}).get("decisionId")
        if application.get("status") != "APPROVED" or in_force_now != source["decisionId"]:
            raise Conflict(
                "the approval this spot check is about is no longer in force",
                [{"field": "taskId", "code": "superseded"}],
            )
    if decision in ("APPROVE", "VALID"):
        entry = deps.credit.get(str(source.get("subjectHash", "")))
        if in_force(entry, dt.datetime.now(dt.UTC)):
            raise Conflict(
                "the subject is on the credit list: the application cannot be approved",
                [{"field": "decision", "code": "subject_on_credit_list"}],
            )


def _decision_id(deps: Dependencies, task: dict[str, Any], source: dict[str, Any]) -> str:
    if task["kind"] == SPOT_CHECK:
        return decision_id_for(
            deps.hasher, task["applicationId"], "spot-check", source["decisionId"]
        )
    return decision_id(deps.hasher, task["applicationId"], int(source.get("sequence", 1)) + 1)


def _task(deps: Dependencies, task_id: str) -> dict[str, Any]:
    task = deps.reviews.get(task_id)
    if task is None:
        raise NotFound("no such review task")
    return task


def _decision_request(body: object) -> ReviewDecisionRequest:
    return parse_body(ReviewDecisionRequest, body, "decision")


def _hand_to_workflow(
    deps: Dependencies, task: dict[str, Any], claim_id: str, output: dict[str, Any]
) -> None:
    """SendTaskSuccess with the claimed decision. If the workflow does not take it (its token
    just expired because the task was escalated, or Step Functions is down), the claim is
    released so the reviewer can send it again; the workflow renews the token in seconds."""
    try:
        deps.stepfunctions.send_task_success(
            taskToken=task["taskToken"], output=json.dumps(output, ensure_ascii=False)
        )
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        logger.warning("review workflow did not take the decision", extra={"code": code})
        deps.reviews.release(task, claim_id)
        raise DependencyUnavailable(
            "the review workflow did not take the decision; send it again shortly",
            [{"code": code or "unavailable"}],
        ) from None
