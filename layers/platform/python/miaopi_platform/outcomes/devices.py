"""Mobile push (主动送达 to the phone): the devices an account registered, and SNS mobile push to
them when a notification is stored. The inbox stays the record and the fallback: a push is sent
once, when its notification is first stored, and a push that fails is logged, never retried.

DevicesTable: one item per (account, device), the account's principal as the key and the
person's keyed hash in the `byPerson` index, so a notification reaches the devices of whoever
submitted the application and of whom it is for. The device token goes to SNS only (it creates
the platform endpoint); the table keeps the endpoint's ARN.

Where the partition offers no mobile push (the China regions: SNS mobile push is not available
in Beijing and Ningxia), `PushPlatformApplications` is empty and registering answers which
platforms are offered here: none.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast, get_args

from botocore.exceptions import ClientError

from miaopi_platform.aws.dependencies import dependency_errors
from miaopi_platform.aws.dynamo import ConditionFailed, dynamodb_errors, from_item, to_item

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient

BY_PERSON = "byPerson"
#: SNS's platform names (GCM is Firebase Cloud Messaging)
Platform = Literal["APNS", "APNS_SANDBOX", "GCM", "BAIDU", "ADM", "WNS"]
PLATFORMS: tuple[str, ...] = get_args(Platform)


class DeviceItem(TypedDict):
    ownerId: str
    deviceId: str
    personHash: str
    platform: str
    endpointArn: str
    registeredAt: str


def device_id(platform: str, token: str) -> str:
    """Derived from the token, so registering the same phone again is the same device."""
    return "DEV" + hashlib.sha256(f"{platform}\x1f{token}".encode()).hexdigest()[:21].upper()


def offered(setting: str) -> dict[str, str]:
    """`PUSH_PLATFORM_APPLICATIONS` (`GCM=arn:…,APNS=arn:…`) as platform -> application ARN;
    a platform SNS does not know is left out."""
    pairs = (part.partition("=") for part in setting.split(",") if part.strip())
    return {
        name.strip(): arn.strip()
        for name, _, arn in pairs
        if name.strip() in PLATFORMS and arn.strip()
    }


class Devices:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, item: DeviceItem) -> bool:
        """True when stored now; False when this account has this device already."""
        try:
            with dynamodb_errors("the devices"):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(deviceId)",
                )
        except ConditionFailed:
            return False
        return True

    def get(self, owner: str, device: str) -> DeviceItem | None:
        with dynamodb_errors("the devices"):
            answer = self._client.get_item(
                TableName=self._table,
                Key={"ownerId": {"S": owner}, "deviceId": {"S": device}},
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return cast(DeviceItem, from_item(item)) if item else None

    def of_owner(self, owner: str) -> list[DeviceItem]:
        return self._query(None, "ownerId", owner)

    def of_person(self, person_hash: str) -> list[DeviceItem]:
        return self._query(BY_PERSON, "personHash", person_hash)

    def remove(self, owner: str, device: str) -> None:
        with dynamodb_errors("the devices"):
            self._client.delete_item(
                TableName=self._table,
                Key={"ownerId": {"S": owner}, "deviceId": {"S": device}},
            )

    def _query(self, index: str | None, name: str, value: str) -> list[DeviceItem]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": {":v": {"S": value}},
        }
        if index is not None:
            query["IndexName"] = index
        found: list[DeviceItem] = []
        while True:
            with dynamodb_errors("the devices"):
                answer = self._client.query(**query)
            found.extend(cast(DeviceItem, from_item(raw)) for raw in answer["Items"])
            if not answer.get("LastEvaluatedKey"):
                return found
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


class EndpointGone(Exception):
    """The platform disabled the endpoint (the app was uninstalled, the token expired)."""


class Push:
    """SNS mobile push: platform endpoints made from device tokens, messages published to them."""

    def __init__(self, sns: Any, applications: dict[str, str]) -> None:
        self._sns = sns
        self.applications = applications

    def endpoint(self, platform: str, token: str, device: str) -> str:
        with dependency_errors("mobile push"):
            answer = self._sns.create_platform_endpoint(
                PlatformApplicationArn=self.applications[platform],
                Token=token,
                CustomUserData=device,
            )
        return str(answer["EndpointArn"])

    def send(self, endpoint_arn: str, title: str, body: str, data: dict[str, str]) -> None:
        """One message to one endpoint, in each platform's format; EndpointGone when the
        platform disabled it."""
        android = {"notification": {"title": title, "body": body}, "data": data}
        apple = {"aps": {"alert": {"title": title, "body": body}}, **data}
        message = {
            "default": body,
            "GCM": json.dumps({"fcmV1Message": {"message": android}}, ensure_ascii=False),
            "APNS": json.dumps(apple, ensure_ascii=False),
            "APNS_SANDBOX": json.dumps(apple, ensure_ascii=False),
        }
        try:
            with dependency_errors("mobile push"):
                self._sns.publish(
                    TargetArn=endpoint_arn,
                    Message=json.dumps(message, ensure_ascii=False),
                    MessageStructure="json",
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EndpointDisabled":
                raise EndpointGone(endpoint_arn) from None
            raise

    def forget(self, endpoint_arn: str) -> None:
        with dependency_errors("mobile push"):
            self._sns.delete_endpoint(EndpointArn=endpoint_arn)
