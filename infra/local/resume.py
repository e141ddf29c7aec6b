"""After a restart of the local stack: start the review workflows of pending applications again.

moto keeps Step Functions executions in memory, so a restarted stack has its tables back (see
persist.py) but no waiting workflow and no valid task token. For every application still
PENDING_REVIEW this starts the workflow again under its usual name: the new workflow sends its
task, the task function renews the stored task's token (status, escalation and history kept), and
a reviewer's decision goes through as before. A claim left DECIDING by the stop (decision sent
to a workflow that no longer exists, nothing recorded) is released so it can be sent again. A
task that was escalated is resumed escalated: supervisors are not told twice.

On AWS executions outlive any restart; this is the local stack's counterpart of that.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from miaopi_platform.dependencies import Dependencies
from miaopi_platform.dynamo import from_item
from miaopi_platform.review_flow import PENDING_REVIEW, start
from miaopi_platform.reviews import DECIDING, REFERRAL, referral_input, task_id
from miaopi_platform.settings import Settings

from infra.local.deploy import AwsClients, Deployment

log = logging.getLogger("miaopi.local.resume")


def resume_reviews(
    deployment: Deployment, clients: AwsClients, now: dt.datetime | None = None
) -> int:
    """Start the workflow of every PENDING_REVIEW application again; returns how many."""
    if not {"ReviewStarterFunction", "ReviewsFunction"} <= set(deployment.functions):
        return 0  # a template without manual review
    env = {
        **deployment.functions["ReviewStarterFunction"].environment,
        **deployment.functions["ReviewsFunction"].environment,
    }
    deps = Dependencies(
        Settings.from_env(env),
        dynamodb=clients.dynamodb,
        stepfunctions=clients.stepfunctions,
    )
    moment = now or dt.datetime.now(dt.UTC)
    started = 0
    for application in _pending(clients, deps.settings.applications_table):
        if not {"review", "decision", "applicantId"} <= set(application):
            log.warning(
                "not resumed (not a referred application): %s", application.get("applicationId")
            )
            continue
        task = deps.reviews.get(task_id(REFERRAL, application["applicationId"]))
        if task and task["status"] == DECIDING:
            deps.reviews.release(task, task["decisionId"])
        escalated = bool(task and task.get("escalated"))
        started += start(deps, referral_input(application, moment, escalated=escalated))
    if started:
        log.info("resumed %d review workflows", started)
    return started


def _pending(clients: AwsClients, table: str) -> list[dict[str, Any]]:
    """Applications waiting for a person (a scan: local tooling, never an API path)."""
    out = []
    for page in clients.dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="#status = :pending",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":pending": {"S": PENDING_REVIEW}},
    ):
        out += [from_item(item) for item in page.get("Items", [])]
    return out


def resume_hook(deployment: Deployment, clients: AwsClients) -> None:
    resume_reviews(deployment, clients)
