"""Mobile push (主动送达 to the phone): the devices an account registered, and SNS mobile push to
them when a notification is stored. The inbox stays the record and the fallback: a push is sent
once, when its notification is first stored, and a push that fails is logged, never retried.

DevicesTable: one item per phone (the device id derives from its token), owned by one account
at a time: registering a phone another account had moves it (whoever holds the phone holds its
token), so a phone passed on in a family stops receiving the first account's notifications. The
`byOwner` index finds an account's phones, `byPerson` (the person's keyed hash) the phones of
whom an application is for. The token goes to SNS only (it makes the platform endpoint); the
table keeps the endpoint's ARN.

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

BY_OWNER = "byOwner"
BY_PERSON = "byPerson"
#: phones per account: enough for a family's, few enough that one account cannot fan out
MAX_DEVICES = 10
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

    def put(self, item: DeviceItem) -> None:
        """Store the phone as the caller's (moving it from another account that had it)."""
        with dynamodb_errors("the devices"):
            self._client.put_item(TableName=self._table, Item=to_item(item))

    def get(self, device: str) -> DeviceItem | None:
        with dynamodb_errors("the devices"):
            answer = self._client.get_item(
                TableName=self._table, Key={"deviceId": {"S": device}}, ConsistentRead=True
            )
        item = answer.get("Item")
        return cast(DeviceItem, from_item(item)) if item else None

    def of_owner(self, owner: str) -> list[DeviceItem]:
        return self._query(BY_OWNER, "ownerId", owner)

    def of_person(self, person_hash: str) -> list[DeviceItem]:
        return self._query(BY_PERSON, "personHash", person_hash)

    def remove(self, device: str, owner: str) -> bool:
        """Remove the phone while `owner` has it; False when another account has it now."""
        try:
            with dynamodb_errors("the devices"):
                self._client.delete_item(
                    TableName=self._table,
                    Key={"deviceId": {"S": device}},
                    ConditionExpression="ownerId = :owner",
                    ExpressionAttributeValues={":owner": {"S": owner}},
                )
        except ConditionFailed:
            return False
        return True

    def _query(self, index: str, name: str, value: str) -> list[DeviceItem]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": {":v": {"S": value}},
        }
        found: list[DeviceItem] = []
        while True:
            with dynamodb_errors("the devices"):
                answer = self._client.query(**query)
            found.extend(cast(DeviceItem, from_item(raw)) for raw in answer["Items"])
            if not answer.get("LastEvaluatedKey"):
                return found
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


class EndpointGone(Exception):
    """The platform disabled the endpoint (the app was uninstalled, the token expired), or it
    was deleted."""


class InvalidToken(ValueError):
    """SNS refused the token for the platform (malformed)."""


#: what SNS answers for an endpoint that will not deliver again
_GONE = frozenset({"EndpointDisabled", "NotFound"})


class Push:
    """SNS mobile push: platform endpoints made from device tokens, messages published to them."""

    def __init__(self, sns: Any, applications: dict[str, str]) -> None:
        self._sns = sns
        self.applications = applications

    def endpoint(self, platform: str, token: str, device: str) -> str:
        """The phone's endpoint, made or found (SNS answers the same one for the same token)
        and enabled again: a phone registering anew is reachable even if its endpoint was
        disabled once. InvalidToken for a token SNS refuses."""
        try:
            with dependency_errors("mobile push"):
                answer = self._sns.create_platform_endpoint(
                    PlatformApplicationArn=self.applications[platform],
                    Token=token,
                    CustomUserData=device,
                )
                arn = str(answer["EndpointArn"])
                self._sns.set_endpoint_attributes(
                    EndpointArn=arn, Attributes={"Enabled": "true", "Token": token}
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidParameter":
                raise InvalidToken(platform) from None
            raise
        return arn

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
            if exc.response.get("Error", {}).get("Code") in _GONE:
                raise EndpointGone(endpoint_arn) from None
            raise

    def forget(self, endpoint_arn: str) -> None:
        """Delete the endpoint (deleting one that is gone already is no error in SNS)."""
        with dependency_errors("mobile push"):
            self._sns.delete_endpoint(EndpointArn=endpoint_arn)
