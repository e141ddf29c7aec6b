"""The applicant's inbox (主动送达): NotificationsTable, one item per outcome event about one
application, found by whoever owns the application (the account that submitted it, byApplicant,
and the person or enterprise it is for, byHolder), newest first. An event delivered twice is
stored once (the notification id derives from the event id)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict, cast

from miaopi_platform.aws.dynamo import ConditionFailed, dynamodb_errors, from_item, to_item
from miaopi_platform.aws.paging import decode_token, encode_token, newest_of, partition_page

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

BY_APPLICANT = "byApplicant"
BY_HOLDER = "byHolder"
_CURSOR_KEYS = frozenset({"position"})


class NotificationItem(TypedDict):
    notificationId: str
    #: the outcome event's id (and kind), as published
    eventId: str
    kind: str
    applicationId: str
    serviceId: str
    outcome: str
    decidedBy: str
    occurredAt: str
    certificateNumber: NotRequired[str]
    #: newest first: occurredAt, then the id
    position: str
    #: who may read it (never returned)
    applicantId: str
    holderHash: NotRequired[str]
    readAt: NotRequired[str]


Unread = Literal["all", "unread"]


class Inbox:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, item: NotificationItem) -> bool:
        """True when stored now; False when this event's notification is there already."""
        try:
            with dynamodb_errors("the inbox"):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(notificationId)",
                )
        except ConditionFailed:
            return False
        return True

    def get(self, notification_id: str) -> NotificationItem | None:
        with dynamodb_errors("the inbox"):
            answer = self._client.get_item(
                TableName=self._table,
                Key={"notificationId": {"S": notification_id}},
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return cast(NotificationItem, from_item(item)) if item else None

    def mark_read(self, notification_id: str, at: str) -> NotificationItem:
        """Read once: the first reading time stays."""
        with dynamodb_errors("the inbox"):
            answer = self._client.update_item(
                TableName=self._table,
                Key={"notificationId": {"S": notification_id}},
                UpdateExpression="SET readAt = if_not_exists(readAt, :at)",
                ConditionExpression="attribute_exists(notificationId)",
                ExpressionAttributeValues={":at": {"S": at}},
                ReturnValues="ALL_NEW",
            )
        return cast(NotificationItem, from_item(answer["Attributes"]))

    def list_own(
        self, applicant_id: str, holder_hash: str, limit: int, next_token: str | None
    ) -> tuple[list[NotificationItem], str | None]:
        """One's notifications, newest first, from both indexes; the page token is the last
        position returned, so the two page together."""
        cursor = None
        if next_token:
            cursor = str(decode_token(next_token, _CURSOR_KEYS, {})["position"].get("S"))
        parts = (
            self._newest(BY_APPLICANT, "applicantId", applicant_id, cursor, limit),
            self._newest(BY_HOLDER, "holderHash", holder_hash, cursor, limit),
        )
        page, more = newest_of(parts, lambda i: i["notificationId"], lambda i: i["position"], limit)
        if not more:
            return page, None
        return page, encode_token({"position": {"S": page[-1]["position"]}})

    def _newest(
        self, index: str, name: str, value: str, cursor: str | None, limit: int
    ) -> tuple[list[NotificationItem], bool]:
        query: QueryInputTypeDef = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": {":v": {"S": value}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if cursor is not None:
            query["KeyConditionExpression"] += " AND #p < :p"
            query["ExpressionAttributeNames"] = {"#k": name, "#p": "position"}
            query["ExpressionAttributeValues"] = {":v": {"S": value}, ":p": {"S": cursor}}
        return partition_page(self._client, query, limit, "the inbox")
