"""The two small steps around the review workflow that need code: starting it for a referred
application, and storing the task it sends. Both are safe to repeat."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from botocore.exceptions import ClientError
from miaopi.model import Outcome

from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.review.tasks import execution_name, referral_input, task_item
from miaopi_platform.wiring import Dependencies

PENDING_REVIEW = Outcome.PENDING_REVIEW.value


def start_referral(
    deps: Dependencies, stream_record: dict[str, Any], now: dt.datetime | None = None
) -> bool:
    """Start the review workflow for a newly referred application (one stream record).
    True when this call started it; False for other records and for repeats."""
    change = stream_record.get("dynamodb") or {}
    image = change.get("NewImage")
    if stream_record.get("eventName") != "INSERT" or not image:
        return False
    application = from_item(image)
    if application.get("status") != PENDING_REVIEW:
        return False
    return start(deps, referral_input(application, now or dt.datetime.now(dt.UTC)))


def start(deps: Dependencies, workflow_input: dict[str, Any]) -> bool:
    task = workflow_input["task"]
    try:
        deps.stepfunctions.start_execution(
            stateMachineArn=deps.settings.review_state_machine_arn,
            name=execution_name(task),
            input=json.dumps(workflow_input, ensure_ascii=False),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            logger.info("review workflow exists already", extra={"taskId": task["taskId"]})
            return False
        raise
    logger.info("review workflow started", extra={"taskId": task["taskId"]})
    metrics.add_metric(name="ReviewStarted", unit="Count", value=1)
    return True


def store_task(deps: Dependencies, body: str, now: dt.datetime | None = None) -> bool:
    """Store the task a workflow sent (or renew its token). True when the task is new."""
    message = json.loads(body)
    item = task_item(
        message["task"],
        token=message["taskToken"],
        escalated=bool(message.get("escalated")),
        now=now or dt.datetime.now(dt.UTC),
        sent_at=message.get("sentAt"),
    )
    created = deps.reviews.store(item)
    logger.info(
        "review task stored" if created else "review task renewed",
        extra={"taskId": item["taskId"], "escalated": item["escalated"]},
    )
    if created:
        metrics.add_metric(name="ReviewTaskCreated", unit="Count", value=1)
    if item["escalated"]:
        metrics.add_metric(name="ReviewEscalated", unit="Count", value=1)
    return created
