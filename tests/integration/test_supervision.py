"""Post-approval supervision in process: re-verification, revocation, the credit list and its
repair, spot checks through the review workflow, and redelivered stream batches."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from miaopi.loader import load_service
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.supervision.items import draw_value
from miaopi_rules import SERVICES_DIR

from infra.local.seed import Persona, evidence_keys
from tests.integration.conftest import CITIZEN, Invoke, Stack, _Context, insert_event, staff
from tests.integration.test_review_flow import REVIEWER, Review
from tests.integration.test_submit_handler import submit

ELDERLY = "elderly-allowance"
ADMIN = staff("44444444-aaaa-bbbb-cccc-000000000004", "admin:*")


class Supervision:
    def __init__(self, stack: Stack, invoke: Invoke) -> None:
        self.stack = stack
        self.invoke = invoke
        self.db = stack.clients.dynamodb
        self._restore: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        self.keys = 0

    # -- applications and decisions
    def apply(
        self, persona: Persona, service_id: str = ELDERLY, application: Any = None
    ) -> dict[str, Any]:
        self.keys += 1
        body = application if application is not None else persona.application
        answer = submit(
            self.invoke, self.stack, body, key=f"key-sup-{uuid.uuid4().hex}", service_id=service_id
        )
        assert answer["statusCode"] == 201, answer["json"]
        result: dict[str, Any] = answer["json"]
        return result

    def records(self, application_id: str) -> list[dict[str, Any]]:
        """The application's decision records as stored (DynamoDB JSON), in order."""
        items = [
            i
            for i in self.stack.items("DECISIONS_TABLE")
            if i["applicationId"]["S"] == application_id
        ]
        return sorted(items, key=lambda i: (i["decidedAt"]["S"], int(i["sequence"]["N"])))

    def application(self, application_id: str) -> dict[str, Any]:
        table = self.stack.table("APPLICATIONS_TABLE")
        item = self.db.get_item(TableName=table, Key={"applicationId": {"S": application_id}})
        return from_item(item["Item"])

    def deliver(self, *items: dict[str, Any]) -> dict[str, Any]:
        """The decisions stream's INSERT records for these items, through supervision."""
        module = self.stack.module("SupervisionFunction")
        answer: dict[str, Any] = module.lambda_handler(insert_event(*items), _Context("sup"))
        return answer

    def supervision(self, decision_id: str) -> dict[str, Any] | None:
        table = self.stack.table("SUPERVISION_TABLE")
        item = self.db.get_item(TableName=table, Key={"decisionId": {"S": decision_id}})
        return from_item(item["Item"]) if "Item" in item else None

    # -- other departments' data and the credit list (restored after the test)
    def change_reference(self, persona: Persona, alias: str, changes: dict[str, Any]) -> None:
        service = load_service(SERVICES_DIR / persona.service_id)
        source, key = evidence_keys(service, persona.application)[alias]
        table = self.stack.table("REFERENCE_TABLE")
        item_key = {"source": {"S": source}, "key": {"S": key}}
        original = self.db.get_item(TableName=table, Key=item_key)["Item"]
        self._remember(table, item_key, original)
        record = from_item(original)["record"] | changes
        self.db.update_item(
            TableName=table,
            Key=item_key,
            UpdateExpression="SET #r = :r",
            ExpressionAttributeNames={"#r": "record"},
            ExpressionAttributeValues={":r": {"M": _m(record)}},
        )

    def restore_reference(self) -> None:
        table = self.stack.table("REFERENCE_TABLE")
        for where, _key, original in list(self._restore):
            if where == table and original is not None:
                self.db.put_item(TableName=table, Item=original)

    def credit_entry(self, subject_hash: str) -> dict[str, Any] | None:
        table = self.stack.table("CREDIT_LIST_TABLE")
        item = self.db.get_item(TableName=table, Key={"subjectHash": {"S": subject_hash}})
        return from_item(item["Item"]) if "Item" in item else None

    def guard_credit(self, subject_hash: str) -> None:
        table = self.stack.table("CREDIT_LIST_TABLE")
        key = {"subjectHash": {"S": subject_hash}}
        self._remember(table, key, self.db.get_item(TableName=table, Key=key).get("Item"))

    def credit_stream(self, subject_hash: str, old: dict[str, Any] | None = None) -> None:
        """The credit list's stream record for the subject's entry, through the re-check."""
        table = self.stack.table("CREDIT_LIST_TABLE")
        item = self.db.get_item(TableName=table, Key={"subjectHash": {"S": subject_hash}})["Item"]
        event = insert_event(item, key="subjectHash")
        if old is not None:
            event["Records"][0]["eventName"] = "MODIFY"
            event["Records"][0]["dynamodb"]["OldImage"] = old
        module = self.stack.module("CreditRecheckFunction")
        assert module.lambda_handler(event, _Context("recheck")) == {"batchItemFailures": []}

    def admin(self, path: str, body: dict[str, Any], caller: dict[str, Any] = ADMIN) -> Any:
        return self.invoke(
            "CreditAdminFunction",
            "POST",
            path,
            path,
            body=body,
            caller=caller,
            headers={"Content-Type": "application/json"},
        )

    def _remember(self, table: str, key: dict[str, Any], original: dict[str, Any] | None) -> None:
        self._restore.append((table, key, copy.deepcopy(original)))

    def undo(self) -> None:
        for table, key, original in reversed(self._restore):
            if original is None:
                self.db.delete_item(TableName=table, Key=key)
            else:
                self.db.put_item(TableName=table, Item=original)


def _m(record: dict[str, Any]) -> dict[str, Any]:
    from miaopi_platform.aws.dynamo import to_item

    return to_item(record)


@pytest.fixture
def sup(stack: Stack, invoke: Invoke) -> Iterator[Supervision]:
    stack.clear(
        "SUPERVISION_TABLE", "IDEMPOTENCY_TABLE", "CREDIT_HISTORY_TABLE", "REVIEW_TASKS_TABLE"
    )
    s = Supervision(stack, invoke)
    review = Review(stack, invoke)
    review.notifications()
    review.notifications("SupervisorNotificationsQueue")
    yield s
    s.undo()


def clean_elder(stack: Stack) -> Persona:
    return stack.persona(ELDERLY, "APPROVED", [])


def test_an_approval_on_falsified_data_is_revoked_and_the_subject_listed(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    # Given an elder's automatic approval, whose household registration turns out to be false
    persona = clean_elder(stack)
    approved = sup.apply(persona)
    assert approved["status"] == "APPROVED"
    [approval] = sup.records(approved["applicationId"])
    subject = approval["subjectHash"]["S"]
    sup.guard_credit(subject)
    sup.change_reference(persona, "population", {"hukouCity": "广州市"})
    # When the decisions stream delivers the approval to supervision
    assert sup.deliver(approval) == {"batchItemFailures": []}
    # Then a new decision record revokes it: the approval itself is not edited
    first, revocation = sup.records(approved["applicationId"])
    assert first == approval
    revoked = from_item(revocation)
    assert revoked["outcome"] == "REVOKED" and revoked["revokes"] == approval["decisionId"]["S"]
    assert revoked["cause"] == "FALSE_DATA" and revoked["deciderId"] == "supervision"
    # (and it carries the auditors' index keys, like every decision record)
    assert revoked["deciderKey"] == "supervision"
    assert "#REVOKED#" in revoked["serviceOutcomeShard"]
    assert [r["ruleId"] for r in revoked["reasons"]] == ["EA-HUKOU"]
    # And the application and its certificate are revoked
    application = sup.application(approved["applicationId"])
    assert application["status"] == "REVOKED"
    assert application["certificate"]["status"] == "REVOKED"
    assert sup.supervision(approval["decisionId"]["S"])["status"] == "REVOKED"  # type: ignore[index]
    # And the elder's grant is released by the revocation, in its transaction
    [grant] = stack.items("GRANTS_TABLE")
    assert grant["status"]["S"] == "RELEASED"
    assert grant["changedBy"]["S"] == revoked["decisionId"]
    # And the applicant's view names the approval revoked and no longer shows the allowance
    app_id = approved["applicationId"]
    shown = invoke(
        "ApplicationsFunction",
        "GET",
        "/applications/{applicationId}",
        f"/applications/{app_id}",
        path_parameters={"applicationId": app_id},
        caller=CITIZEN,
    )["json"]
    assert shown["status"] == "REVOKED"
    assert shown["decision"]["revokes"] == approval["decisionId"]["S"]
    assert not shown.get("outputs")
    # And the subject is on the credit list already, in the same transaction as the revocation,
    # citing it, with a validity period
    entry = sup.credit_entry(subject)
    assert entry is not None and entry["status"] == "LISTED"
    assert (
        entry["reasonCode"] == "FALSE_DATA" and entry["sourceDecisionId"] == revoked["decisionId"]
    )
    assert entry["validUntil"] > approved["submittedAt"][:10]
    assert "*" in entry["subjectMasked"]
    # When the revocation's own stream record arrives
    assert sup.deliver(revocation) == {"batchItemFailures": []}
    # Then nothing is added: the same entry
    assert sup.credit_entry(subject) == entry
    # And staff and the applicant were told (ids and statuses only)
    review = Review(stack, invoke)
    assert [n["body"]["status"] for n in review.notifications()] == ["APPROVED", "REVOKED"]
    staff = review.notifications("SupervisorNotificationsQueue")
    assert [(n["body"]["kind"], n["body"]["cause"]) for n in staff] == [
        ("REVOCATION", "FALSE_DATA")
    ]
    assert persona.application["idNumber"] not in json.dumps(staff, ensure_ascii=False)
    # When the same subject applies again (the register now corrected back)
    sup.restore_reference()
    again = sup.apply(persona)
    # Then the credit list rejects it, saying so and how repair works
    assert again["status"] == "REJECTED"
    [reason] = again["decision"]["reasons"]
    assert reason["ruleId"] == "EA-CREDIT" and "信用修复" in reason["remedy"]["zh"]


def test_credit_repair_lets_the_subject_apply_again(sup: Supervision, stack: Stack) -> None:
    # Given an administrator lists a subject who never applied (an audited change)
    persona = clean_elder(stack)
    subject = stack.hasher.digest(persona.application["idNumber"])
    sup.guard_credit(subject)
    listed = sup.admin(
        "/credit-list/entries",
        {
            "subjectId": persona.application["idNumber"],
            "reasonCode": "COURT_JUDGMENT",
            "reason": {"zh": "失信被执行人(示意)", "en": "Judgment defaulter (illustrative)"},
            "validUntil": "2099-12-31",
        },
    )
    assert listed["statusCode"] == 201, listed["json"]
    assert persona.application["idNumber"] not in listed["body"]
    refused = sup.apply(persona)
    assert refused["status"] == "REJECTED"
    assert [r["ruleId"] for r in refused["decision"]["reasons"]] == ["EA-CREDIT"]
    # When the administrator repairs the entry (信用修复)
    repaired = sup.admin(
        "/credit-list/repair",
        {"subjectId": persona.application["idNumber"], "reason": "判决已履行"},
    )
    # Then the entry stays on record as REPAIRED, with its history, and the subject is approved
    assert repaired["statusCode"] == 200 and repaired["json"]["status"] == "REPAIRED"
    looked_up = sup.admin("/credit-list/lookup", {"subjectId": persona.application["idNumber"]})
    assert [c["action"] for c in looked_up["json"]["history"]] == ["LISTED", "REPAIRED"]
    assert sup.apply(persona)["status"] == "APPROVED"


def test_only_admins_change_the_credit_list_and_bad_input_changes_nothing(
    sup: Supervision, stack: Stack
) -> None:
    # Given a subject not on the list
    persona = clean_elder(stack)
    body = {
        "subjectId": persona.application["idNumber"],
        "reasonCode": "OTHER",
        "reason": {"zh": "示意", "en": "illustrative"},
        "validUntil": "2099-12-31",
    }
    # When a citizen or a reviewer tries to list them, or an admin sends bad input
    citizen = sup.admin("/credit-list/entries", body, caller=CITIZEN)
    reviewer = sup.admin("/credit-list/entries", body, caller=REVIEWER)
    bad_id = sup.admin("/credit-list/entries", {**body, "subjectId": "440306194103150219"})
    past = sup.admin("/credit-list/entries", {**body, "validUntil": "2001-01-01"})
    # Then 403, 403, 422 (the number is not echoed), 422; and the subject is not listed
    assert [r["statusCode"] for r in (citizen, reviewer, bad_id, past)] == [403, 403, 422, 422]
    assert "440306194103150219" not in bad_id["body"]
    assert sup.admin("/credit-list/lookup", {"subjectId": body["subjectId"]})["statusCode"] == 404


def test_a_new_credit_entry_revokes_the_subjects_approvals_under_supervision(
    sup: Supervision, stack: Stack
) -> None:
    # Given an approval under supervision (verified, not sampled or sampled: either way open)
    persona = clean_elder(stack)
    approved = sup.apply(persona)
    [approval] = sup.records(approved["applicationId"])
    sup.deliver(approval)
    assert sup.supervision(approval["decisionId"]["S"])["status"] == "UNDER_SUPERVISION"  # type: ignore[index]
    subject = approval["subjectHash"]["S"]
    sup.guard_credit(subject)
    # When an administrator lists the subject and the credit list's stream delivers the entry
    sup.admin(
        "/credit-list/entries",
        {
            "subjectId": persona.application["idNumber"],
            "reasonCode": "ADMINISTRATIVE_PENALTY",
            "reason": {"zh": "示意", "en": "illustrative"},
            "validUntil": "2099-12-31",
        },
    )
    sup.credit_stream(subject)
    # Then the approval is revoked because of the listing (not for false data: no second entry)
    revocation = from_item(sup.records(approved["applicationId"])[-1])
    assert revocation["outcome"] == "REVOKED" and revocation["cause"] == "CREDIT_LISTED"
    assert [r["ruleId"] for r in revocation["reasons"]] == ["EA-CREDIT"]
    assert sup.application(approved["applicationId"])["status"] == "REVOKED"


def test_the_same_batch_delivered_twice_has_each_effect_once(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    # Given an approval on false data
    persona = clean_elder(stack)
    approved = sup.apply(persona)
    [approval] = sup.records(approved["applicationId"])
    sup.guard_credit(approval["subjectHash"]["S"])
    sup.change_reference(persona, "population", {"alive": False})
    # When the approval's batch is delivered twice, and then the revocation's batch twice
    sup.deliver(approval)
    sup.deliver(approval)
    revocation = sup.records(approved["applicationId"])[-1]
    sup.deliver(revocation)
    sup.deliver(revocation)
    # Then one revocation, one credit-list entry with one history record, one notice each
    assert [r["outcome"]["S"] for r in sup.records(approved["applicationId"])] == [
        "APPROVED",
        "REVOKED",
    ]
    history = stack.items("CREDIT_HISTORY_TABLE")
    assert [h["action"]["S"] for h in history] == ["LISTED"]
    review = Review(stack, invoke)
    assert [n["body"]["kind"] for n in review.notifications()] == ["DECISION", "REVOCATION"]
    assert len(review.notifications("SupervisorNotificationsQueue")) == 1


def test_a_poison_record_fails_alone_and_the_rest_of_its_batch_is_processed(
    sup: Supervision, stack: Stack
) -> None:
    # Given a batch: two elders' approvals around a record of a service that does not exist
    first, second, *_ = [
        p for p in stack.personas if p.service_id == ELDERLY and p.expected_outcome == "APPROVED"
    ]
    one = sup.records(sup.apply(first)["applicationId"])[0]
    two = sup.records(sup.apply(second)["applicationId"])[0]
    poison = {**copy.deepcopy(one), "decisionId": {"S": "DECPOISON"}}
    poison["serviceId"] = {"S": "no-such-service"}
    # When it is delivered
    answer = sup.deliver(one, poison, two)
    # Then only the poison is reported failed (by its sequence number); the others are supervised
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"{100001:021d}"}]}
    assert sup.supervision(one["decisionId"]["S"]) is not None
    assert sup.supervision(two["decisionId"]["S"]) is not None
    assert sup.supervision("DECPOISON") is None


def major_project(stack: Stack) -> tuple[Persona, dict[str, Any]]:
    persona = stack.persona("enterprise-investment-filing", "APPROVED", [])
    return persona, {**persona.application, "totalInvestment": "80000000.00"}


@pytest.mark.parametrize(("finding", "status"), [("VALID", "APPROVED"), ("INVALID", "REVOKED")])
def test_a_sampled_approval_is_spot_checked_by_a_reviewer(
    sup: Supervision, stack: Stack, invoke: Invoke, finding: str, status: str
) -> None:
    # Given a major project's automatic filing (its risk factor samples it for a spot check)
    persona, application = major_project(stack)
    approved = sup.apply(persona, "enterprise-investment-filing", application)
    [approval] = sup.records(approved["applicationId"])
    sup.guard_credit(approval["subjectHash"]["S"])
    # When supervision draws it, the review workflow sends a SPOT_CHECK task
    assert sup.deliver(approval) == {"batchItemFailures": []}
    drawn = sup.supervision(approval["decisionId"]["S"])
    assert drawn is not None and drawn["sampling"]["sampled"] is True
    assert drawn["sampling"]["riskFactors"] == ["majorProject"]
    # (and auditors see the draw with its seed, and can reproduce it)
    audited = invoke(
        "AuditFunction",
        "GET",
        "/audit/decisions/{decisionId}",
        f"/audit/decisions/{approval['decisionId']['S']}",
        path_parameters={"decisionId": approval["decisionId"]["S"]},
        caller=staff("auditor-1", "auditor:*"),
    )["json"]
    sampling = audited["supervision"]["sampling"]
    assert draw_value(sampling["seed"]) == sampling["draw"] and sampling["sampled"] is True
    review = Review(stack, invoke)
    [message] = review.deliver_tasks(1, approved["applicationId"])
    task_id = message["task"]["taskId"]
    task = review.api("GET", f"/reviews/{task_id}")["json"]
    assert task["kind"] == "SPOT_CHECK" and task["checkReason"] == "SAMPLED"
    # And a reviewer settles it (an INVALID finding names the rule the false data broke)
    body: dict[str, Any] = {"decision": finding}
    if finding == "INVALID":
        body["reasonCodes"] = ["EF-REGISTERED"]
    answer = review.api("POST", f"/reviews/{task_id}/decision", body=body)
    assert answer["statusCode"] == 202, answer["json"]
    execution = review.sfn.describe_execution(
        executionArn=review.machine.replace(":stateMachine:", ":execution:") + f":{task_id}"
    )
    assert review.wait_finished_arn(execution["executionArn"])["status"] == "SUCCEEDED"
    # Then the application stands or is revoked, and a revocation lists the subject
    application_now = sup.application(approved["applicationId"])
    assert application_now["status"] == status
    assert application_now["spotCheck"]["result"] == finding
    last = sup.records(approved["applicationId"])[-1]
    sup.deliver(last)
    entry = sup.credit_entry(approval["subjectHash"]["S"])
    if finding == "INVALID":
        assert application_now["certificate"]["status"] == "REVOKED"
        assert application_now["decision"]["revokes"] == approval["decisionId"]["S"]
        assert entry is not None and entry["sourceDecisionId"] == last["decisionId"]["S"]
        code = application["enterpriseCreditCode"]
        assert entry["subjectMasked"] == code[:4] + "*" * 12 + code[-2:]
    else:  # a VALID finding lists nobody: the entry is what it was before the test
        before = next(
            o for t, k, o in sup._restore if k == {"subjectHash": approval["subjectHash"]}
        )
        assert entry == (from_item(before) if before else None)


def test_a_spot_check_task_takes_only_spot_check_findings(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    # Given a spot-check task
    persona, application = major_project(stack)
    approved = sup.apply(persona, "enterprise-investment-filing", application)
    sup.deliver(*sup.records(approved["applicationId"]))
    review = Review(stack, invoke)
    task_id = review.deliver_tasks(1, approved["applicationId"])[0]["task"]["taskId"]
    # When a reviewer answers it as if it were a referral, or finds it INVALID without a rule
    wrong = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    bare = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "INVALID"})
    # Then both are 422 and the task is still open
    assert (wrong["statusCode"], bare["statusCode"]) == (422, 422)
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"


def test_a_reviewer_cannot_approve_a_subject_on_the_credit_list(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    # Given a referred application whose subject is listed while it waits for a reviewer
    persona = stack.persona("graduate-hukou", "PENDING_REVIEW")
    referred = sup.apply(persona, "graduate-hukou")
    review = Review(stack, invoke)
    review.start(referred["applicationId"])
    task_id = review.deliver_tasks(1, referred["applicationId"])[0]["task"]["taskId"]
    sup.guard_credit(sup.records(referred["applicationId"])[0]["subjectHash"]["S"])
    listed = sup.admin(
        "/credit-list/entries",
        {
            "subjectId": persona.application["idNumber"],
            "reasonCode": "OTHER",
            "reason": {"zh": "示意", "en": "illustrative"},
            "validUntil": "2099-12-31",
        },
    )
    assert listed["statusCode"] == 201
    # When the reviewer tries to approve it
    answer = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "APPROVE"})
    # Then it is refused, saying why, and the task stays open for a rejection
    assert answer["statusCode"] == 409
    assert answer["json"]["error"]["details"][0]["code"] == "subject_on_credit_list"
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"


def test_a_spot_check_of_an_approval_no_longer_in_force_is_refused(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    # Given a spot-check task whose approval was revoked meanwhile
    persona, application = major_project(stack)
    approved = sup.apply(persona, "enterprise-investment-filing", application)
    sup.deliver(*sup.records(approved["applicationId"]))
    review = Review(stack, invoke)
    task_id = review.deliver_tasks(1, approved["applicationId"])[0]["task"]["taskId"]
    stack.clients.dynamodb.update_item(
        TableName=stack.table("APPLICATIONS_TABLE"),
        Key={"applicationId": {"S": approved["applicationId"]}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "REVOKED"}},
    )
    # When a reviewer settles it
    answer = review.api("POST", f"/reviews/{task_id}/decision", body={"decision": "VALID"})
    # Then there is nothing left to check: 409, nothing recorded
    assert answer["statusCode"] == 409
    assert answer["json"]["error"]["details"][0]["code"] == "superseded"
    assert len(sup.records(approved["applicationId"])) == 1


def spot_check_task(sup: Supervision, stack: Stack, review: Review) -> tuple[str, str, str]:
    """A major project's automatic filing drawn for a spot check: (application id, subject
    hash, task id), the subject's credit entry restored after the test."""
    persona, application = major_project(stack)
    approved = sup.apply(persona, "enterprise-investment-filing", application)
    [approval] = sup.records(approved["applicationId"])
    subject = approval["subjectHash"]["S"]
    sup.guard_credit(subject)
    assert sup.deliver(approval) == {"batchItemFailures": []}
    task_id = review.deliver_tasks(1, approved["applicationId"])[0]["task"]["taskId"]
    return approved["applicationId"], subject, task_id


def test_an_invalid_spot_check_lists_the_subject_in_the_revocations_transaction(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    # Given a spot-check task of an automatic approval
    review = Review(stack, invoke)
    application_id, subject, task_id = spot_check_task(sup, stack, review)
    code = sup.records(application_id)[0]["application"]["M"]["enterpriseCreditCode"]["S"]
    # When a reviewer finds it INVALID and the workflow records the finding
    answer = review.api(
        "POST",
        f"/reviews/{task_id}/decision",
        body={"decision": "INVALID", "reasonCodes": ["EF-REGISTERED"]},
    )
    assert answer["statusCode"] == 202, answer["json"]
    arn = review.machine.replace(":stateMachine:", ":execution:") + f":{task_id}"
    assert review.wait_finished_arn(arn)["status"] == "SUCCEEDED"
    # Then, before supervision has seen the revocation, the application is revoked and the
    # subject is listed citing it: an admin's lookup finds the entry and its history record
    revocation_id = answer["json"]["decisionId"]
    assert sup.application(application_id)["status"] == "REVOKED"
    entry = sup.credit_entry(subject)
    assert entry is not None and entry["status"] == "LISTED"
    assert entry["sourceDecisionId"] == revocation_id
    assert entry["listedBy"] == REVIEWER["principalId"]
    lookup = sup.admin("/credit-list/lookup", {"subjectId": code})
    assert lookup["statusCode"] == 200 and lookup["json"]["inForce"] is True
    assert [(c["action"], c["sourceDecisionId"]) for c in lookup["json"]["history"]] == [
        ("LISTED", revocation_id)
    ]
    # When the revocation's stream record reaches supervision
    assert sup.deliver(sup.records(application_id)[-1]) == {"batchItemFailures": []}
    # Then nothing is added: the same entry, one history record
    assert sup.credit_entry(subject) == entry
    again = sup.admin("/credit-list/lookup", {"subjectId": code})["json"]
    assert len(again["history"]) == 1


def test_an_invalid_finding_over_a_changed_entry_is_not_recorded_and_the_task_reopens(
    sup: Supervision, stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a spot-check task whose subject an admin lists and repairs after the reviewer's
    # decision read the credit list (it saw no entry)
    review = Review(stack, invoke)
    application_id, subject, task_id = spot_check_task(sup, stack, review)
    code = sup.records(application_id)[0]["application"]["M"]["enterpriseCreditCode"]["S"]
    credit = stack.module("ReviewsFunction").dependencies.credit
    monkeypatch.setattr(credit, "get", lambda subject_hash: None)
    listed = sup.admin(
        "/credit-list/entries",
        {
            "subjectId": code,
            "reasonCode": "OTHER",
            "reason": {"zh": "示意", "en": "illustrative"},
            "validUntil": "2099-12-31",
        },
    )
    assert listed["statusCode"] == 201
    assert (
        sup.admin("/credit-list/repair", {"subjectId": code, "reason": "ok"})["statusCode"] == 200
    )
    entry = sup.credit_entry(subject)
    # When the reviewer finds the approval INVALID
    answer = review.api(
        "POST",
        f"/reviews/{task_id}/decision",
        body={"decision": "INVALID", "reasonCodes": ["EF-REGISTERED"]},
    )
    assert answer["statusCode"] == 202
    # Then the workflow records nothing (neither the revocation nor the listing): supervisors
    # are told, and the task is open again for a decision on the entry as it is
    notice = None
    deadline = time.monotonic() + 20
    while notice is None and time.monotonic() < deadline:
        found = review.notifications("SupervisorNotificationsQueue")
        notice = next((n for n in found if n["body"]["kind"] == "REVIEW_NOT_RECORDED"), None)
        time.sleep(0.2)
    assert notice is not None and notice["body"]["taskId"] == task_id
    review.deliver_tasks(1, application_id)
    assert review.api("GET", f"/reviews/{task_id}")["json"]["status"] == "OPEN"
    assert sup.application(application_id)["status"] == "APPROVED"
    assert len(sup.records(application_id)) == 1
    assert sup.credit_entry(subject) == entry
