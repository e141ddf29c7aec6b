"""Outcome events in process: the publisher on the applications stream, moto's EventBridge
delivering through the template's rules, a department stand-in applying the effect once, the
approval's own effect not revoking it, and the applicant's inbox."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from miaopi_platform.aws.dynamo import from_item

from infra.local.departments import Department, department_queues
from tests.integration.conftest import Invoke, Stack, _Context, insert_event
from tests.integration.test_supervision import Supervision

HUKOU = "graduate-hukou"


@pytest.fixture
def sup(stack: Stack, invoke: Invoke) -> Iterator[Supervision]:
    stack.clear("SUPERVISION_TABLE", "IDEMPOTENCY_TABLE", "NOTIFICATIONS_TABLE")
    s = Supervision(stack, invoke)
    drain(stack)
    yield s
    s.undo()


def queue_url(stack: Stack, logical_id: str) -> str:
    return stack.deployment.queues[logical_id]


def drain(stack: Stack) -> None:
    for lid in ("InboxQueue", "ELicenceLibraryQueue", "PublicSecurityHukouQueue"):
        url = queue_url(stack, lid)
        while got := stack.clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for m in got:
                stack.clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def received(stack: Stack, logical_id: str) -> list[str]:
    got = stack.clients.sqs.receive_message(
        QueueUrl=queue_url(stack, logical_id), MaxNumberOfMessages=10
    ).get("Messages", [])
    return [m["Body"] for m in got]


def publish(stack: Stack, application_id: str) -> None:
    """The applications stream's record of the item as it is now, through the publisher."""
    table = stack.table("APPLICATIONS_TABLE")
    item = stack.clients.dynamodb.get_item(
        TableName=table, Key={"applicationId": {"S": application_id}}
    )["Item"]
    module = stack.module("OutcomePublisherFunction")
    event = insert_event(item, key="applicationId")
    assert module.lambda_handler(event, _Context("pub")) == {"batchItemFailures": []}


def population(stack: Stack, sup: Supervision, persona: Any) -> dict[str, Any]:
    table = stack.table("REFERENCE_TABLE")
    item = stack.clients.dynamodb.get_item(
        TableName=table,
        Key={"source": {"S": "population-register"}, "key": {"S": persona.application["idNumber"]}},
    )["Item"]
    record: dict[str, Any] = from_item(item)["record"]
    return record


def test_every_department_the_services_name_has_a_rule_and_a_queue(stack: Stack) -> None:
    from miaopi_platform.catalogue.services import all_services

    # Given the departments the services' results name
    named = {r.department for s in all_services().values() for r in s.file.results}
    # When the template's rules are read as the local stand-ins read them
    routed = {q.department: q.queue_url for q in department_queues(stack.deployment)}
    # Then each has its own rule and queue on the outcome bus
    assert named and named == set(routed)
    assert len(set(routed.values())) == len(routed)


def test_a_hukou_approval_moves_the_hukou_once_and_supervision_keeps_it(
    sup: Supervision, stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a graduate's automatic approval, published as an outcome event
    persona = stack.fresh(stack.persona(HUKOU, "APPROVED", []))
    sup.change_reference(persona, "population", {})  # restored after the test
    approved = sup.apply(persona, service_id=HUKOU)
    assert approved["status"] == "APPROVED"
    publish(stack, approved["applicationId"])
    # Then the public security hukou system's queue receives it, ids only
    [body] = received(stack, "PublicSecurityHukouQueue")
    detail = json.loads(body)["detail"]
    assert detail["outcome"] == "APPROVED" and detail["version"] == "1"
    assert detail["departments"] == ["public-security-hukou"]
    assert persona.application["idNumber"] not in body and persona.name not in body
    # When the department's stand-in receives it, and receives it again
    department = Department(stack.deployment, stack.clients, "public-security-hukou")
    with caplog.at_level(logging.INFO, logger="miaopi.local.departments"):
        first, again = department.receive(body), department.receive(body)
    # Then the hukou is in Shenzhen, marked with the approval, changed once, and the stand-in's
    # log says so without the record's key (personal: an ID number's hash, a plate)
    assert len(first) == 1 and again == []
    assert "changed by" in caplog.text and first[0].key not in caplog.text
    record = population(stack, sup, persona)
    assert record["hukouCity"] == "深圳市"
    assert record["effectOf"]["applicationId"] == approved["applicationId"]
    # When supervision re-verifies the approval after the effect
    [approval] = sup.records(approved["applicationId"])
    assert sup.deliver(approval) == {"batchItemFailures": []}
    # Then the approval stands: its own effect is judged as the facts stood for it
    assert sup.application(approved["applicationId"])["status"] == "APPROVED"
    assert len(sup.records(approved["applicationId"])) == 1


def test_a_shenzhen_hukou_the_approval_did_not_cause_still_revokes_it(
    sup: Supervision, stack: Stack
) -> None:
    # Given a graduate's approval, and a register that shows a Shenzhen hukou of other origin
    persona = stack.fresh(stack.persona(HUKOU, "APPROVED", []))
    approved = sup.apply(persona, service_id=HUKOU)
    sup.change_reference(persona, "population", {"hukouCity": "深圳市"})
    sup.guard_credit(from_item(sup.records(approved["applicationId"])[0])["subjectHash"])
    # When supervision re-verifies it
    [approval] = sup.records(approved["applicationId"])
    assert sup.deliver(approval) == {"batchItemFailures": []}
    # Then it is revoked: only the approval's own effect is recognised
    assert sup.application(approved["applicationId"])["status"] == "REVOKED"


def test_the_inbox_lists_own_notifications_newest_first_in_pages(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    # Given three elders' approvals published; each event delivered twice to the inbox
    elders = [stack.fresh(stack.persona("elderly-allowance", "APPROVED", [])) for _ in range(3)]
    ids = []
    for elder in elders:
        answer = sup.apply(elder)
        publish(stack, answer["applicationId"])
        ids.append(answer["applicationId"])
    bodies = received(stack, "InboxQueue")
    assert len(bodies) == 3
    inbox = stack.module("InboxFunction")
    records = [{"messageId": str(n), "body": b, "receiptHandle": "h"} for n, b in enumerate(bodies)]
    event = {"Records": [{**r, "eventSource": "aws:sqs", "attributes": {}} for r in records]}
    for _ in range(2):
        assert inbox.lambda_handler(event, _Context("inbox")) == {"batchItemFailures": []}
    assert len(stack.items("NOTIFICATIONS_TABLE")) == 3
    # When the account that submitted them lists its inbox, two at a time
    me = stack.applicant("elderly-allowance", elders[0].application)
    pages: list[list[dict[str, Any]]] = []
    token: str | None = None
    while True:
        query = {"limit": "2", **({"nextToken": token} if token else {})}
        page = invoke(
            "NotificationsFunction",
            "GET",
            "/notifications",
            "/notifications",
            query=query,
            caller=me,
        )["json"]
        pages.append(page["items"])
        token = page.get("nextToken")
        if not token:
            break
    # Then it sees all three, newest first, unread, in words, each once
    assert [len(p) for p in pages] == [2, 1]
    listed = [n for p in pages for n in p]
    assert [n["applicationId"] for n in listed] == ids[::-1]
    assert all(n["read"] is False and "高龄" in n["message"]["zh"] for n in listed)
    # And the second elder, signed in on an account of their own, sees only theirs (byHolder)
    elder = stack.applicant("elderly-allowance", elders[1].application, sub="elder-2-own-account")
    theirs = invoke(
        "NotificationsFunction", "GET", "/notifications", "/notifications", caller=elder
    )["json"]["items"]
    assert [n["applicationId"] for n in theirs] == [ids[1]]
    # When the elder marks it read, twice
    note = theirs[0]
    read = mark_read(invoke, elder, note["notificationId"])
    again = mark_read(invoke, elder, note["notificationId"])
    # Then it is read, at the first reading's time
    assert read["json"]["read"] is True and again["json"]["readAt"] == read["json"]["readAt"]
    # And the third elder, on an account of their own, gets a 404 for it
    other = stack.applicant("elderly-allowance", elders[2].application, sub="elder-3-account")
    refused = mark_read(invoke, other, note["notificationId"])
    assert refused["statusCode"] == 404


def pushed(endpoint_arn: str) -> list[dict[str, Any]]:
    """What moto's SNS kept as published to one platform endpoint (a phone)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    endpoint = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints[endpoint_arn]
    return [json.loads(m) for m in endpoint.messages.values()]


def devices(invoke: Invoke, caller: Any, method: str = "GET", **kw: Any) -> dict[str, Any]:
    return invoke("NotificationsFunction", method, "/devices", "/devices", caller=caller, **kw)


def mark_read(invoke: Invoke, caller: Any, notification_id: str) -> dict[str, Any]:
    return invoke(
        "NotificationsFunction",
        "PATCH",
        "/notifications/{notificationId}",
        f"/notifications/{notification_id}",
        body={"read": True},
        path_parameters={"notificationId": notification_id},
        caller=caller,
    )


def remove_device(invoke: Invoke, caller: Any, device_id: str) -> dict[str, Any]:
    return invoke(
        "NotificationsFunction",
        "DELETE",
        "/devices/{deviceId}",
        f"/devices/{device_id}",
        path_parameters={"deviceId": device_id},
        caller=caller,
    )


def test_a_registered_phone_is_pushed_each_new_notification_once(
    sup: Supervision, stack: Stack, invoke: Invoke
) -> None:
    stack.clear("DEVICES_TABLE")
    # Given an elder who registered a phone, twice (the app registers on every start)
    elder = stack.fresh(stack.persona("elderly-allowance", "APPROVED", []))
    me = stack.applicant("elderly-allowance", elder.application)
    phone = {"platform": "GCM", "token": "fcm-token-elder-0001"}
    first = devices(invoke, me, "POST", body=phone)
    again = devices(invoke, me, "POST", body=phone)
    assert first["statusCode"] == 201 and again["statusCode"] == 200, first["json"]
    assert again["json"]["deviceId"] == first["json"]["deviceId"]
    listed = devices(invoke, me)["json"]
    assert [d["deviceId"] for d in listed["items"]] == [first["json"]["deviceId"]]
    assert listed["offered"] == ["GCM"] and "token" not in json.dumps(listed)
    [device] = [from_item(i) for i in stack.items("DEVICES_TABLE")]
    # When the elder's approval is published and its event delivered to the inbox twice
    answer = sup.apply(elder)
    publish(stack, answer["applicationId"])
    bodies = [b for b in received(stack, "InboxQueue") if answer["applicationId"] in b]
    inbox = stack.module("InboxFunction")
    records = [{"messageId": "1", "body": bodies[0], "receiptHandle": "h"}]
    event = {"Records": [{**r, "eventSource": "aws:sqs", "attributes": {}} for r in records]}
    for _ in range(2):
        assert inbox.lambda_handler(event, _Context("inbox")) == {"batchItemFailures": []}
    # Then the phone got one push saying so, in both languages, with no personal data
    [message] = pushed(device["endpointArn"])
    android = json.loads(message["GCM"])["fcmV1Message"]["message"]
    assert "高龄" in android["notification"]["title"]
    assert android["data"]["applicationId"] == answer["applicationId"]
    text = json.dumps(message, ensure_ascii=False)
    assert elder.application["idNumber"] not in text and elder.name not in text
    # When the elder removes the phone
    removed = remove_device(invoke, me, device["deviceId"])
    # Then it is gone, and someone else removing it gets a 404
    assert removed["statusCode"] == 204
    assert devices(invoke, me)["json"]["items"] == []
    other = stack.applicant("elderly-allowance", elder.application, sub="someone-else")
    gone = remove_device(invoke, other, device["deviceId"])
    assert gone["statusCode"] == 404


def test_a_phone_passed_on_is_pushed_only_for_its_new_account(stack: Stack, invoke: Invoke) -> None:
    stack.clear("DEVICES_TABLE")
    # Given a phone registered by one account
    first = stack.applicant(
        "elderly-allowance", stack.persona("elderly-allowance", "APPROVED").application
    )
    second = stack.applicant(
        "graduate-hukou", stack.persona("graduate-hukou", "APPROVED").application, sub="second"
    )
    phone = {"platform": "GCM", "token": "fcm-token-family-phone"}
    assert devices(invoke, first, "POST", body=phone)["statusCode"] == 201
    # When another account signs in on it and registers it
    moved = devices(invoke, second, "POST", body=phone)
    # Then it is the second account's, and the first no longer has it (nor can remove it)
    assert moved["statusCode"] == 201
    assert devices(invoke, first)["json"]["items"] == []
    assert [d["deviceId"] for d in devices(invoke, second)["json"]["items"]] == [
        moved["json"]["deviceId"]
    ]
    assert remove_device(invoke, first, moved["json"]["deviceId"])["statusCode"] == 404
    # When the second account registers ten more phones
    answers = [
        devices(invoke, second, "POST", body={"platform": "GCM", "token": f"fcm-extra-{n}"})
        for n in range(10)
    ]
    # Then the tenth device is its last: the eleventh is refused, and nothing more is stored
    assert [a["statusCode"] for a in answers] == [201] * 9 + [409]
    assert len(stack.items("DEVICES_TABLE")) == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "APNS", "token": "apns-token"}, "platform"),
        ({"platform": "PAGER", "token": "x"}, "platform"),
        ({"platform": "GCM", "token": ""}, "token"),
        ({"platform": "GCM", "token": "has spaces"}, "token"),
        ({"platform": "GCM"}, "token"),
    ],
)
def test_a_device_this_deployment_cannot_push_to_is_a_clear_error_and_stores_nothing(
    stack: Stack, invoke: Invoke, body: dict[str, Any], field: str
) -> None:
    stack.clear("DEVICES_TABLE")
    # Given a deployment that pushes through GCM only
    me = stack.applicant(
        "elderly-allowance", stack.persona("elderly-allowance", "APPROVED").application
    )
    # When a device of another platform, or a malformed one, is registered
    answer = devices(invoke, me, "POST", body=body)
    # Then it is a 422 naming the field, and nothing is stored
    assert answer["statusCode"] == 422, answer["json"]
    assert field in [d["field"] for d in answer["json"]["error"]["details"]]
    assert stack.items("DEVICES_TABLE") == []
