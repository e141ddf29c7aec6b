"""Manual review end to end in process: a referred application starts a workflow on moto's
executing Step Functions, its task reaches the queue, a reviewer decides through the API, and
the workflow records the decision, updates the application and notifies the applicant."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.records.seal import content_hash

from infra.local.events import sqs_event
from tests.integration.conftest import CITIZEN, OTHER, Invoke, Stack, _Context, staff
from tests.integration.test_submit_handler import submit

SERVICE = "graduate-hukou"
REVIEWER = staff("33333333-aaaa-bbbb-cccc-000000000003", "reviewer:*")
#: a reviewer who is also an applicant
WAIT_S = 20.0


class Review:
    """Drives the pieces the local stack's pollers would: stream -> starter, queue -> tasks."""

    def __init__(self, stack: Stack, invoke: Invoke) -> None:
        self.stack = stack
        self.invoke = invoke
        self.sfn = stack.clients.stepfunctions
        self.sqs = stack.clients.sqs
        self.queues = stack.deployment.queues
        self.machine = stack.deployment.state_machines["ReviewStateMachine"]

    def refer(self, key: str = "key-review-0001", caller: dict[str, Any] | None = None) -> str:
        persona = self.stack.persona(SERVICE, "PENDING_REVIEW")
        who = {"caller": caller} if caller is not None else {}
        response = submit(
            self.invoke, self.stack, persona.application, key=key, service_id=SERVICE, **who
        )
        assert response["json"]["status"] == "PENDING_REVIEW", response["json"]
        return str(response["json"]["applicationId"])

    def start(self, application_id: str, now: dt.datetime | None = None) -> None:
        """The applications stream's INSERT record for it, through the starter function."""
        table = self.stack.table("APPLICATIONS_TABLE")
        item = self.stack.clients.dynamodb.get_item(
            TableName=table, Key={"applicationId": {"S": application_id}}
        )["Item"]
        record = {
            "eventID": "1",
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"applicationId": item["applicationId"]},
                "NewImage": item,
                "SequenceNumber": str(time.time_ns()),
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }
        module = self.stack.module("ReviewStarterFunction")
        if now is None:
            answer = module.lambda_handler({"Records": [record]}, _Context("starter"))
            assert answer == {"batchItemFailures": []}
        else:
            from miaopi_platform.review.flow import start_referral

            start_referral(module.dependencies, record, now=now)

    def deliver_tasks(
        self, expected: int = 1, application: str | None = None
    ) -> list[dict[str, Any]]:
        """Review queue -> the task function, as Lambda's SQS poller would; the messages about
        `application` (any, if None). Workflows of earlier test modules may still be running
        in moto's threads, so other messages are delivered too but not returned."""
        url = self.queues["ReviewQueue"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + WAIT_S
        while len(got) < expected and time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                time.sleep(0.1)
                continue
            module = self.stack.module("ReviewTaskFunction")
            module.lambda_handler(sqs_event(messages, arn, "us-east-1"), _Context("t"))
            for m in messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            bodies = [json.loads(m["Body"]) for m in messages]
            got += [b for b in bodies if application in (None, b["task"]["applicationId"])]
        assert len(got) == expected, got
        return got

    def inbox_events(self, application_id: str) -> list[dict[str, Any]]:
        """The outcome events about one application the bus delivered to the inbox's queue."""
        url = self.queues["InboxQueue"]
        found: list[dict[str, Any]] = []
        while got := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for message in got:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                event = json.loads(message["Body"])
                if event["detail"]["applicationId"] == application_id:
                    found.append(event)
        return found

    def api(self, method: str, path: str, caller: dict[str, Any] = REVIEWER, **kw: Any) -> Any:
        parts = path.strip("/").split("/")
        resource = "/reviews"
        params: dict[str, str] = {}
        if len(parts) >= 2:
            resource += "/{taskId}"
            params["taskId"] = parts[1]
        if len(parts) == 3:
            resource += "/decision"
        return self.invoke(
            "ReviewsFunction",
            method,
            resource,
            path,
            path_parameters=params or None,
            caller=caller,
            headers={"Content-Type": "application/json"},
            **kw,
        )

    def execution(self, application_id: str) -> dict[str, Any]:
        arn = self.machine.replace(":stateMachine:", ":execution:") + f":{application_id}"
        return dict(self.sfn.describe_execution(executionArn=arn))

    def wait_finished(self, application_id: str) -> dict[str, Any]:
        arn = self.machine.replace(":stateMachine:", ":execution:") + f":{application_id}"
        return self.wait_finished_arn(arn)

    def wait_finished_arn(self, arn: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            described = dict(self.sfn.describe_execution(executionArn=arn))
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.1)
        raise AssertionError("the review workflow did not finish")

    def application(self, application_id: str, caller: dict[str, Any] = CITIZEN) -> Any:
        return self.invoke(
            "ApplicationsFunction",
            "GET",
            "/applications/{applicationId}",
            f"/applications/{application_id}",
            path_parameters={"applicationId": application_id},
            caller=caller,
        )["json"]

    def decisions(self, application_id: str) -> list[dict[str, Any]]:
        items = self.stack.items("DECISIONS_TABLE")
        return sorted(
            (i for i in items if i["applicationId"]["S"] == application_id),
            key=lambda i: int(i["sequence"]["N"]),
        )

    def notifications(self, queue: str = "ApplicantNotificationsQueue") -> list[dict[str, Any]]:
        url = self.queues[queue]
        out = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(
                    {"body": json.loads(m["Body"]), "attributes": m.get("MessageAttributes")}
                )
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def review(stack: Stack, invoke: Invoke) -> Review:
    stack.clear("REVIEW_TASKS_TABLE")
    r = Review(stack, invoke)
    r.notifications()  # start from empty notification queues
    r.notifications("SupervisorNotificationsQueue")
    return r


def test_referred_case_reaches_the_queue_and_an_approval_is_recorded(review: Review) -> None:
    # Given a referred graduate-hukou application whose workflow has sent its task
    app_id = review.refer()
    review.start(app_id)
    review.deliver_tasks(1, app_id)
    # When a reviewer lists the queue, opens the task and approves it
    queue = review.api("GET", "/reviews")["json"]["items"]
    task = next(t for t in queue if t["applicationId"] == app_id)
    assert task["status"] == "OPEN" and task["kind"] == "REFERRAL"
    assert "taskToken" not in task
    detail = review.api("GET", f"/reviews/{task['taskId']}")["json"]
    assert detail["referredRules"] and detail["reasons"][0]["onFail"] == "REFER"
    assert detail["evidence"] and "taskToken" not in detail
    decided = review.api(
        "POST", f"/reviews/{task['taskId']}/decision", body={"decision": "APPROVE", "comment": "ok"}
    )
    assert decided["statusCode"] == 202, decided["json"]
    # Then the workflow records it: the application is APPROVED by a reviewer, with a certificate
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    application = review.application(app_id)
    assert application["status"] == "APPROVED"
    assert application["decision"]["decidedBy"] == "REVIEWER"
    assert application["certificate"]["number"]
    assert "review" not in application
    # And the decision records hold the system referral and the reviewer's approval
    records = review.decisions(app_id)
    assert [r["outcome"]["S"] for r in records] == ["PENDING_REVIEW", "APPROVED"]
    assert records[1]["deciderId"]["S"] == REVIEWER["principalId"]
    assert records[1]["reviewOf"]["S"] == records[0]["decisionId"]["S"]
    # And each carries the hash of its content as stored (tamper evidence)
    for record in records:
        assert content_hash(from_item(record)) == record["contentHash"]["S"]
    # And the task is closed, and the applicant notified (ids and status, no personal data)
    closed = review.api("GET", f"/reviews/{task['taskId']}")["json"]
    assert closed["status"] == "DECIDED" and closed["reviewerId"] == REVIEWER["principalId"]
    notes = review.notifications()
    assert [n["body"]["status"] for n in notes] == ["APPROVED"]
    assert notes[0]["body"]["applicationId"] == app_id
    assert notes[0]["attributes"]["applicantId"]["StringValue"] == CITIZEN["principalId"]


def test_rejection_names_the_rules_and_reaches_the_applicant(review: Review) -> None:
    # Given a task in the queue
    app_id = review.refer(key="key-review-0002")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    rule = review.api("GET", f"/reviews/{task_id}")["json"]["referredRules"][0]
    # When the reviewer rejects it, naming the rule that failed
    answer = review.api(
        "POST", f"/reviews/{task_id}/decision", body={"decision": "REJECT", "reasonCodes": [rule]}
    )
    assert answer["statusCode"] == 202
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    # Then the applicant sees a REJECTED decision with that rule's reason, remedy and basis
    application = review.application(app_id)
    assert application["status"] == "REJECTED" and "certificate" not in application
    reason = application["decision"]["reasons"][0]
    assert reason["ruleId"] == rule and reason["remedy"]["zh"] and reason["legalBasis"]
    assert [n["body"]["status"] for n in review.notifications()] == ["REJECTED"]


def test_a_task_is_decided_once(review: Review) -> None:
    # Given a task a reviewer has decided
    app_id = review.refer(key="key-review-0003")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    first = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    assert first["statusCode"] == 202
    # When another decision arrives for it (before and after the workflow recorded the first)
    second = review.api(
        "POST", f"/reviews/{task_id}/decision", body={"decision": "REJECT", "reasonCodes": ["x"]}
    )
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    third = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    # Then both are 409 and the workflow advanced once: one reviewer record, one notification
    assert second["statusCode"] == 409 and third["statusCode"] == 409
    assert second["json"]["error"]["code"] == "CONFLICT"
    assert [r["outcome"]["S"] for r in review.decisions(app_id)] == ["PENDING_REVIEW", "APPROVED"]
    assert len(review.notifications()) == 1


def test_reviewers_cannot_decide_their_own_application(review: Review) -> None:
    # Given an application a reviewer submitted for themselves, as a citizen
    persona = review.stack.persona(SERVICE, "PENDING_REVIEW")
    reviewer_citizen = {
        **review.stack.applicant(SERVICE, persona.application),
        "roles": "reviewer:*",
        "assurance": "L3",
    }
    app_id = review.refer(key="key-review-0004", caller=reviewer_citizen)
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    # When they try to approve it
    answer = review.api(
        "POST",
        f"/reviews/{task_id}/decision",
        caller=reviewer_citizen,
        body={"decision": "APPROVE"},
    )
    # Then it is forbidden and the task stays open
    assert answer["statusCode"] == 403
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"


def test_reviewers_cannot_decide_an_application_someone_else_submitted_for_them(
    review: Review,
) -> None:
    # Given an application for a reviewer, submitted on another account (an agent, a counter)
    persona = review.stack.persona(SERVICE, "PENDING_REVIEW")
    for_them = review.stack.applicant(SERVICE, persona.application, sub="someone-else")
    app_id = review.refer(key="key-review-0005", caller=for_them)
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    # When the reviewer it is about tries to approve it on their own account
    themselves = {
        **for_them,
        "principalId": "the-reviewer",
        "roles": "reviewer:*",
        "assurance": "L3",
    }
    answer = review.api(
        "POST", f"/reviews/{task_id}/decision", caller=themselves, body={"decision": "APPROVE"}
    )
    # Then it is forbidden (回避) and the task stays open
    assert answer["statusCode"] == 403
    assert "themselves" in answer["json"]["error"]["message"]
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"


def test_only_reviewers_see_the_queue(review: Review) -> None:
    # Given a citizen without the reviewers group
    # When they ask for the queue, a task, or to decide
    listing = review.api("GET", "/reviews", caller=OTHER)
    deciding = review.api(
        "POST", "/reviews/TSKX/decision", caller=OTHER, body={"decision": "APPROVE"}
    )
    # Then each is 403 with the JSON error format
    assert listing["statusCode"] == 403 and deciding["statusCode"] == 403
    assert listing["json"]["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "MAYBE"}, "decision"),
        ({"decision": "REJECT"}, "reasonCodes"),
        ({"decision": "REJECT", "reasonCodes": ["NO-SUCH-RULE"]}, "reasonCodes"),
        ({"decision": "APPROVE", "extra": 1}, "extra"),
        ({"decision": "APPROVE", "comment": "x" * 2001}, "comment"),
    ],
)
def test_an_invalid_decision_is_422_and_changes_nothing(
    review: Review, body: dict[str, Any], field: str
) -> None:
    # Given an open task
    app_id = review.refer(key=f"key-review-bad-{field}-{len(json.dumps(body))}")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    # When the reviewer sends an invalid decision
    answer = review.api("POST", f"/reviews/{task_id}/decision", body=body)
    # Then it is 422 naming the field, and the task is still open and undecided
    assert answer["statusCode"] == 422, answer["json"]
    assert field in [d["field"] for d in answer["json"]["error"]["details"]]
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"
    assert review.execution(app_id)["status"] == "RUNNING"


def test_past_the_deadline_the_task_is_escalated_and_never_decided(review: Review) -> None:
    # Given a referral whose deadline is one second away when its workflow starts
    app_id = review.refer(key="key-review-late")
    due_at = dt.datetime.fromisoformat(review.application(app_id)["review"]["dueAt"])
    review.start(app_id, now=due_at - dt.timedelta(seconds=1))
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    # When the deadline passes without a decision
    renewed = review.deliver_tasks(1, app_id)[0]
    # Then supervisors are told, the task is marked escalated and stays open (new token) ...
    assert renewed["escalated"] is True
    overdue = review.notifications("SupervisorNotificationsQueue")
    assert [n["body"]["kind"] for n in overdue] == ["REVIEW_OVERDUE"]
    assert overdue[0]["body"]["taskId"] == task_id
    task = review.api("GET", f"/reviews/{task_id}")["json"]
    assert task["escalated"] is True and task["status"] == "OPEN"
    # ... the applicant's inbox is sent a "review overdue" event, ids only ...
    [event] = review.inbox_events(app_id)
    assert event["detail-type"] == "Review overdue"
    assert event["detail"]["outcome"] == "PENDING_REVIEW" and event["detail"]["departments"] == []
    # ... the application is still pending (a timeout never approves or rejects) ...
    time.sleep(1.0)
    assert review.application(app_id)["status"] == "PENDING_REVIEW"
    assert review.execution(app_id)["status"] == "RUNNING"
    assert review.notifications() == []
    # ... and a reviewer can still decide it, with the renewed token
    answer = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    assert answer["statusCode"] == 202
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    assert review.application(app_id)["status"] == "APPROVED"


def test_a_repeated_start_does_not_start_a_second_workflow(review: Review) -> None:
    # Given a referral whose workflow has started and sent its task
    app_id = review.refer(key="key-review-twice")
    review.start(app_id)
    review.deliver_tasks(1, app_id)
    # When the same stream record is delivered again
    review.start(app_id)
    # Then no second task message is sent
    time.sleep(0.5)
    assert review.sqs.receive_message(QueueUrl=review.queues["ReviewQueue"]).get("Messages") in (
        None,
        [],
    )


def _task_item(review: Review, task_id: str) -> dict[str, Any]:
    table = review.stack.table("REVIEW_TASKS_TABLE")
    item = review.stack.clients.dynamodb.get_item(TableName=table, Key={"taskId": {"S": task_id}})
    return dict(item["Item"])


def _set(review: Review, task_id: str, **values: str) -> None:
    table = review.stack.table("REVIEW_TASKS_TABLE")
    review.stack.clients.dynamodb.update_item(
        TableName=table,
        Key={"taskId": {"S": task_id}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
        ExpressionAttributeNames={f"#{k}": k for k in values},
        ExpressionAttributeValues={f":{k}": {"S": v} for k, v in values.items()},
    )


def test_two_claims_racing_for_one_task_let_one_through(review: Review) -> None:
    # Given an open task, read by two reviewers at the same moment
    app_id = review.refer(key="key-review-race")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    store = review.stack.module("ReviewsFunction").dependencies.reviews
    task = store.get(task_id)
    # When both claim it (the store's conditional write is what settles the race)
    store.claim(task, {"claimId": "a", "decisionId": "DEC-A"}, "2000-01-01")
    from miaopi_platform.aws.errors import Conflict

    # Then the second claim is a conflict, and the task holds the first
    with pytest.raises(Conflict):
        store.claim(task, {"claimId": "b", "decisionId": "DEC-B"}, "2000-01-01")
    assert store.get(task_id)["claimId"] == "a"


def test_a_decision_the_workflow_does_not_take_is_released_and_can_be_sent_again(
    review: Review,
) -> None:
    # Given an open task whose stored token the workflow no longer accepts
    app_id = review.refer(key="key-review-dead-token")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    good = _task_item(review, task_id)["taskToken"]["S"]
    _set(review, task_id, taskToken="not-a-token")
    # When a reviewer decides
    answer = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    # Then it is 503 with Retry-After, and the task is open again, undecided
    assert answer["statusCode"] == 503 and answer["headers"]["retry-after"]
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"
    # And once the token is good again the same decision goes through
    _set(review, task_id, taskToken=good)
    again = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    assert again["statusCode"] == 202
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    assert review.application(app_id)["status"] == "APPROVED"


def test_a_claim_whose_function_died_can_be_made_again(review: Review) -> None:
    # Given a task claimed two minutes ago whose decision never reached the workflow
    app_id = review.refer(key="key-review-stale")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    _set(review, task_id, status="DECIDING", claimedAt="2000-01-01T00:00:00.000Z", claimId="x")
    # When a reviewer decides it
    answer = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    # Then the stale claim is replaced and the decision recorded
    assert answer["statusCode"] == 202, answer["json"]
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    assert review.application(app_id)["status"] == "APPROVED"


def test_an_older_message_never_replaces_a_newer_token(review: Review) -> None:
    # Given a stored task whose token came with the workflow's latest message
    app_id = review.refer(key="key-review-order")
    review.start(app_id)
    message = review.deliver_tasks(1, app_id)[0]
    task_id = message["task"]["taskId"]
    current = _task_item(review, task_id)["taskToken"]["S"]
    # When an older message (sent before it) is delivered late
    from miaopi_platform.review.flow import store_task

    deps = review.stack.module("ReviewTaskFunction").dependencies
    stale = {**message, "taskToken": "older-token", "sentAt": "2000-01-01T00:00:00+00:00"}
    assert store_task(deps, json.dumps(stale)) is False
    # Then the task keeps the newer token
    assert _task_item(review, task_id)["taskToken"]["S"] == current


def test_a_decision_that_cannot_be_recorded_reopens_the_task(review: Review) -> None:
    # Given an open task whose application changed meanwhile (no longer pending)
    app_id = review.refer(key="key-review-unrecordable")
    review.start(app_id)
    task_id = review.deliver_tasks(1, app_id)[0]["task"]["taskId"]
    table = review.stack.table("APPLICATIONS_TABLE")
    review.stack.clients.dynamodb.update_item(
        TableName=table,
        Key={"applicationId": {"S": app_id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "REJECTED"}},
    )
    # When a reviewer decides
    assert (
        review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})[
            "statusCode"
        ]
        == 202
    )
    # Then the workflow cannot record it: supervisors are told, the task is open again and waits
    notice = None
    deadline = time.monotonic() + WAIT_S
    while notice is None and time.monotonic() < deadline:
        found = review.notifications("SupervisorNotificationsQueue")
        notice = next((n for n in found if n["body"]["kind"] == "REVIEW_NOT_RECORDED"), None)
        time.sleep(0.2)
    assert notice is not None and notice["body"]["taskId"] == task_id
    review.deliver_tasks(1, app_id)
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"
    assert review.execution(app_id)["status"] == "RUNNING"
    assert len(review.decisions(app_id)) == 1


def test_a_workflow_restarted_for_an_escalated_task_does_not_escalate_again(
    review: Review,
) -> None:
    # Given a referral whose task was escalated before a restart (its workflow is gone)
    app_id = review.refer(key="key-review-resume")
    application = review.stack.clients.dynamodb.get_item(
        TableName=review.stack.table("APPLICATIONS_TABLE"),
        Key={"applicationId": {"S": app_id}},
    )["Item"]
    from miaopi_platform.aws.dynamo import from_item
    from miaopi_platform.review.flow import start
    from miaopi_platform.review.tasks import referral_input

    deps = review.stack.module("ReviewStarterFunction").dependencies
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    # When its workflow is started again, resumed as escalated, past its deadline
    start(deps, referral_input(from_item(application), late, escalated=True))
    # Then the task comes back escalated, with no second notice to supervisors
    [message] = review.deliver_tasks(1, app_id)
    assert message["escalated"] is True
    time.sleep(0.5)
    assert review.notifications("SupervisorNotificationsQueue") == []
