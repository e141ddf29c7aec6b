"""Manual review at work: starting the workflow for a referred application, storing the task it
sends (both safe to repeat), a reviewer's view of a case, and a reviewer's decision — claimed
once, vetoed by the credit list, handed to the waiting workflow, which records it.

A spot check found INVALID revokes the approval for false data: the subject's credit listing is
prepared here and recorded by the workflow in the revocation's transaction.

The flow receives what it needs through `ReviewPorts`; the function's wiring provides them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError
from miaopi.model import Outcome

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.errors import Conflict, DependencyUnavailable, Forbidden, NotFound
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import all_services, find
from miaopi_platform.credit.flow import false_data_listing
from miaopi_platform.credit.store import AlreadyListed, CreditList, Listing, in_force
from miaopi_platform.identity.caller import out_of_scope
from miaopi_platform.identity.context import EVERY_AUTHORITY, Identity
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.privacy.text import masked_comment
from miaopi_platform.records import grants
from miaopi_platform.records.ids import decision_id, decision_id_for
from miaopi_platform.records.items import ApplicationItem, DecisionRecord
from miaopi_platform.records.personal import personal_values
from miaopi_platform.records.store import ApplicationStore
from miaopi_platform.records.views import EvidenceSnapshotView, TraceView, view
from miaopi_platform.review.items import ReviewTask, TaskMessage, WorkflowInput, WorkflowOutput
from miaopi_platform.review.store import ReviewStore
from miaopi_platform.review.tasks import (
    DECIDING,
    OPEN,
    OUTCOMES,
    SPOT_CHECK,
    ReviewerChoice,
    execution_name,
    referral_input,
    reviewer_decision,
    task_item,
)
from miaopi_platform.review.views import (
    ReviewDecisionAccepted,
    ReviewDecisionRequest,
    ReviewTaskDetail,
)

PENDING_REVIEW = Outcome.PENDING_REVIEW.value
#: the staff role that decides review tasks, for the authorities it names
REVIEWER = "reviewer"
#: a claim the workflow has not recorded after this long (its function died) can be made again
CLAIM_EXPIRES = dt.timedelta(minutes=1)


class ReviewPorts(Protocol):
    """The stores and clients review works with."""

    @property
    def settings(self) -> Settings: ...
    @property
    def reviews(self) -> ReviewStore: ...
    @property
    def store(self) -> ApplicationStore: ...
    @property
    def credit(self) -> CreditList: ...
    @property
    def hasher(self) -> PiiHasher: ...
    @property
    def stepfunctions(self) -> Any: ...


class WorkflowPorts(Protocol):
    """What starting a review workflow needs."""

    @property
    def settings(self) -> Settings: ...
    @property
    def stepfunctions(self) -> Any: ...


class TaskPorts(Protocol):
    """What storing a workflow's task needs."""

    @property
    def reviews(self) -> ReviewStore: ...


def start_referral(
    deps: WorkflowPorts, stream_record: dict[str, Any], now: dt.datetime | None = None
) -> bool:
    """Start the review workflow for a newly referred application (one stream record).
    True when this call started it; False for other records and for repeats."""
    change = stream_record.get("dynamodb") or {}
    image = change.get("NewImage")
    if stream_record.get("eventName") != "INSERT" or not image:
        return False
    application = cast("ApplicationItem", from_item(image))
    if application.get("status") != PENDING_REVIEW:
        return False
    return start(deps, referral_input(application, now or dt.datetime.now(dt.UTC)))


def start(deps: WorkflowPorts, workflow_input: WorkflowInput, name: str | None = None) -> bool:
    """Start a task's workflow under its fixed name (`name`: a restart's, reconcile/reviews.py);
    False when that execution exists already."""
    task = workflow_input["task"]
    try:
        deps.stepfunctions.start_execution(
            stateMachineArn=deps.settings.review_state_machine_arn,
            name=name or execution_name(task),
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


def store_task(deps: TaskPorts, body: str, now: dt.datetime | None = None) -> bool:
    """Store the task a workflow sent (or renew its token). True when the task is new."""
    message: TaskMessage = json.loads(body)
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


# ---------------------------------------------------------------- the reviewers


def task(ports: ReviewPorts, task_id: str) -> ReviewTask:
    found = ports.reviews.get(task_id)
    if found is None:
        raise NotFound("no such review task")
    return found


def task_in_scope(ports: ReviewPorts, task_id: str, reviewer: Identity) -> ReviewTask:
    """A task of a service whose authority the reviewer's roles cover; 403 for any other."""
    found = task(ports, task_id)
    authority = find(found["serviceId"]).authority_id
    if not reviewer.may(REVIEWER, authority):
        raise out_of_scope(REVIEWER, authority)
    return found


def queue(
    ports: ReviewPorts,
    reviewer: Identity,
    status: str,
    service_id: str | None,
    limit: int,
    next_token: str | None,
) -> tuple[list[ReviewTask], str | None]:
    """The reviewer's queue: one service's (403 when its authority is not theirs), or those of
    every service their roles cover."""
    if service_id is not None:
        authority = find(service_id).authority_id  # an unknown (or empty) service is a 404
        if not reviewer.may(REVIEWER, authority):
            raise out_of_scope(REVIEWER, authority)
        return ports.reviews.queue(status, service_id, limit, next_token)
    if reviewer.may(REVIEWER, EVERY_AUTHORITY):
        return ports.reviews.queue(status, None, limit, next_token)
    among = [s.id for s in all_services().values() if reviewer.may(REVIEWER, s.authority_id)]
    return ports.reviews.queue(status, None, limit, next_token, among=among)


def case_of(ports: ReviewPorts, task_id: str, reader: Identity) -> ReviewTaskDetail:
    """One task (of the reader's authorities) with its case: the application, the evidence and
    the rules that referred it; the decision's comment (once decided) in clear for its author
    only, masked for any other reviewer against the case's personal values (privacy.text)."""
    found = task_in_scope(ports, task_id, reader)
    application = ports.store.get(found["applicationId"])
    source = _decision(ports, found["sourceDecisionId"])
    if application is None or source is None:
        raise NotFound("no such review task")
    service = find(found["serviceId"])
    evidence = [
        EvidenceSnapshotView(
            alias=alias,
            source=service.evidence[alias].source if alias in service.evidence else alias,
            status=snapshot["status"],
            record=snapshot.get("record"),
        )
        for alias, snapshot in sorted(source.get("evidence", {}).items())
    ]
    return ReviewTaskDetail.model_validate(
        {
            **found,
            "application": view(application),
            "reasons": source.get("reasons", []),
            "trace": [TraceView.model_validate(t) for t in source.get("trace", [])],
            "evidence": evidence,
            "facts": source.get("facts", {}),
            "ruleSetVersion": source["ruleSetVersion"],
            "ruleSetHash": source["ruleSetHash"],
            "comment": masked_comment(
                found.get("comment"),
                reader.subject,
                found.get("reviewerId"),
                personal_values(service, [source]),
            ),
        }
    )


def decide(
    ports: ReviewPorts,
    task_id: str,
    caller: Identity,
    request: ReviewDecisionRequest,
    now: dt.datetime | None = None,
) -> ReviewDecisionAccepted:
    """A reviewer's decision on a task of their authorities (403 for another's), once: claimed
    (a second decision is 409), checked against the credit list, and handed to the waiting
    workflow, which records it."""
    found = task_in_scope(ports, task_id, caller)
    reviewer = caller.subject
    if found.get("applicantId") == reviewer:
        raise Forbidden("a reviewer cannot decide their own application")
    moment = now or dt.datetime.now(dt.UTC)
    stale_before = iso(moment - CLAIM_EXPIRES)
    claimable = found["status"] == OPEN or (
        found["status"] == DECIDING and str(found.get("claimedAt", "")) < stale_before
    )
    if not claimable:  # the conditional claim below settles races; this answers the plain case
        raise Conflict(
            "this task has already been decided", [{"field": "taskId", "code": "already_decided"}]
        )
    source = _decision(ports, found["sourceDecisionId"])
    if source is None:
        raise NotFound("no such review task")
    if source.get("subjectHash") == caller.subject_id_hash:  # 回避: submitted for them by another
        raise Forbidden("a reviewer cannot decide an application about themselves")
    _still_decidable(ports, found, source, request.decision, moment)
    choice = ReviewerChoice(
        decision=request.decision,
        reason_codes=tuple(dict.fromkeys(request.reason_codes)),
        comment=request.comment,
        reviewer_id=reviewer,
    )
    claim_id = uuid.uuid4().hex
    decision_id = _decision_id(ports, found, source)
    revokes = OUTCOMES[found["kind"]].get(request.decision) is Outcome.REVOKED
    service = find(found["serviceId"])
    decided = reviewer_decision(
        service,
        found,
        source,
        choice,
        decision_id,
        moment,
        claim_id,
        _listing(ports, source, decision_id, choice, moment) if revokes else None,
        grant_key=grants.held_by(ports.hasher, service, source),
    )
    ports.reviews.claim(found, decided.claim, stale_before)
    _hand_to_workflow(ports, found, claim_id, decided.workflow_output)
    logger.info(
        "review decided",
        extra={"taskId": task_id, "decisionId": decided.decision_id, "outcome": decided.outcome},
    )
    metrics.add_metric(name=f"Review{decided.outcome.value.title()}", unit="Count", value=1)
    return ReviewDecisionAccepted.model_validate(
        {
            "taskId": task_id,
            "status": DECIDING,
            "decisionId": decided.decision_id,
            "outcome": decided.outcome.value,
        }
    )


def _decision(ports: ReviewPorts, decision_id: str) -> DecisionRecord | None:
    return ports.store.get_decision(decision_id)


def _still_decidable(
    ports: ReviewPorts,
    found: ReviewTask,
    source: DecisionRecord,
    decision: str,
    now: dt.datetime,
) -> None:
    """A spot check of an approval revoked meanwhile has nothing left to check; an approval
    is not given to a subject on the credit list (every decision consults it)."""
    if found["kind"] == SPOT_CHECK:
        application = ports.store.get(found["applicationId"])
        in_force_now = application["decision"]["decisionId"] if application else None
        if (
            application is None
            or application["status"] != "APPROVED"
            or (in_force_now != source["decisionId"])
        ):
            raise Conflict(
                "the approval this spot check is about is no longer in force",
                [{"field": "taskId", "code": "superseded"}],
            )
    if decision in ("APPROVE", "VALID"):
        entry = ports.credit.get(str(source.get("subjectHash", "")))
        if in_force(entry, now):
            raise Conflict(
                "the subject is on the credit list: the application cannot be approved",
                [{"field": "decision", "code": "subject_on_credit_list"}],
            )


def _listing(
    ports: ReviewPorts,
    source: DecisionRecord,
    decision_id: str,
    choice: ReviewerChoice,
    now: dt.datetime,
) -> Listing | None:
    """The credit listing of the subject of an approval revoked for false data, prepared from
    the entry as it is now (the workflow writes it only over that version); None when an entry
    is in force already."""
    try:
        return false_data_listing(
            ports.credit,
            find(source["serviceId"]),
            source.get("application") or {},
            subject_hash=source["subjectHash"],
            decision_id=decision_id,
            rules=choice.reason_codes,
            by=choice.reviewer_id,
            now=now,
        )
    except AlreadyListed:
        return None


def _decision_id(ports: ReviewPorts, found: ReviewTask, source: DecisionRecord) -> str:
    if found["kind"] == SPOT_CHECK:
        return decision_id_for(
            ports.hasher, found["applicationId"], "spot-check", source["decisionId"]
        )
    return decision_id(ports.hasher, found["applicationId"], int(source.get("sequence", 1)) + 1)


def _hand_to_workflow(
    ports: ReviewPorts, found: ReviewTask, claim_id: str, output: WorkflowOutput
) -> None:
    """SendTaskSuccess with the claimed decision. If the workflow does not take it (its token
    just expired because the task was escalated, or Step Functions is down), the claim is
    released so the reviewer can send it again; the workflow renews the token in seconds."""
    try:
        ports.stepfunctions.send_task_success(
            taskToken=found["taskToken"], output=json.dumps(output, ensure_ascii=False)
        )
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        logger.warning("review workflow did not take the decision", extra={"code": code})
        ports.reviews.release(found, claim_id)
        raise DependencyUnavailable(
            "the review workflow did not take the decision; send it again shortly",
            [{"code": code or "unavailable"}],
        ) from None
