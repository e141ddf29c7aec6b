"""After a restart of the local stack: start the review workflows of pending applications again.

moto keeps Step Functions executions in memory, so a restarted stack has its tables back (see
persist.py) but no waiting workflow and no valid task token. For every open task (referrals and
spot checks) this starts its workflow again under its usual name, from the stored task: the new
workflow sends the task again, the task function renews the stored token (status, escalation
and history kept), and a reviewer's decision goes through as before. A claim left DECIDING by
the stop (sent to a workflow that no longer exists, nothing recorded) is released so it can be
sent again. An escalated task is resumed escalated: supervisors are not told twice. Referred
applications whose task was not stored yet start from the application.

On AWS executions outlive any restart; this is the local stack's counterpart of that.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.observability import metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.records.items import ApplicationItem
from miaopi_platform.review.flow import PENDING_REVIEW, start
from miaopi_platform.review.items import ReviewTask
from miaopi_platform.review.tasks import DECIDING, OPEN, REFERRAL, referral_input, resumed_input
from miaopi_platform.wiring import Dependencies

from infra.local.deploy import AwsClients, Deployment

log = logging.getLogger("miaopi.local.resume")


def resume_reviews(
    deployment: Deployment, clients: AwsClients, now: dt.datetime | None = None
) -> int:
    """Start the workflow of every open review task and every referral without a task again;
    returns how many were started."""
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
    # resumed here, in the stack's process, not in a function: the metrics it emits need the
    # functions' namespace (Powertools refuses to flush without one, at 100 values)
    metrics.namespace = env.get("POWERTOOLS_METRICS_NAMESPACE", "Miaopi")
    try:
        return _resume(clients, deps, now)
    finally:
        metrics.flush_metrics()


def _resume(clients: AwsClients, deps: Dependencies, now: dt.datetime | None) -> int:
    moment = now or dt.datetime.now(dt.UTC)
    started = 0
    resumed: set[str] = set()
    tasks = _scan(
        clients,
        deps.settings.review_tasks_table,
        "#status IN (:open, :deciding)",
        {":open": {"S": OPEN}, ":deciding": {"S": DECIDING}},
    )
    for task in cast("list[ReviewTask]", tasks):
        if task["status"] == DECIDING:  # sent to a workflow that no longer exists
            deps.reviews.release(task, str(task.get("claimId", "")))
        started += start(deps, resumed_input(task, moment))
        resumed.add(task["applicationId"] + "#" + task["kind"])
    pending = _scan(
        clients,
        deps.settings.applications_table,
        "#status = :pending",
        {":pending": {"S": PENDING_REVIEW}},
    )
    for application in pending:
        if f"{application.get('applicationId')}#{REFERRAL}" in resumed:
            continue
        if not {"review", "decision", "applicantId"} <= set(application):
            log.warning(
                "not resumed (not a referred application): %s", application.get("applicationId")
            )
            continue
        # referred before the stop, its task not stored yet
        started += start(deps, referral_input(cast("ApplicationItem", application), moment))
    if started:
        log.info("resumed %d review workflows", started)
    return started


def _scan(
    clients: AwsClients, table: str, condition: str, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """Items matching a condition (a scan: local tooling, never an API path)."""
    out = []
    for page in clients.dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression=condition,
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=values,
    ):
        out += [from_item(item) for item in page.get("Items", [])]
    return out


def resume_hook(deployment: Deployment, clients: AwsClients) -> None:
    resume_reviews(deployment, clients)
